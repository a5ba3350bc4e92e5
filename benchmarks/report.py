"""Writing benchmark results into their own section of reports/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import statistics
import sys
from pathlib import Path

# TensorFlow's start-up lines (no CUDA driver, CPU instructions) would bury the results.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "benchmarks.md"
TITLE = "# Benchmarks\n"


# Options that say only where a result is written: left out of the command a result shows, so
# that no machine's paths are published with it.
OUTPUT_OPTIONS = ("--json", "--report")


def command_line() -> str:
    """The command that produced a result, as one would type it again (where it wrote its
    output aside)."""
    module = Path(sys.argv[0]).stem
    words, arguments = [], iter(sys.argv[1:])
    for word in arguments:
        if word in OUTPUT_OPTIONS:
            next(arguments, None)
        elif not word.startswith(tuple(f"{option}=" for option in OUTPUT_OPTIONS)):
            words.append(word)
    return shlex.join(["python", "-m", f"benchmarks.{module}", *words])


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    """What the figures depend on: processor, cores, memory, accelerators and versions."""
    import keras
    import numpy

    from studies.report.machine import backend, bfloat16
    from studies.report.machine import processor as processor_name

    processor = processor_name()
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GiB"
    except (OSError, ValueError):
        memory = "unknown"
    accelerators, framework = backend()
    return {
        "processor": processor,
        "bfloat16": bfloat16(),
        "cores": str(os.cpu_count()),
        "memory": memory,
        "accelerator": ", ".join(accelerators) if accelerators else "none (CPU only)",
        "versions": (
            f"Python {platform.python_version()}, {framework}, "
            f"Keras {keras.__version__} ({keras.backend.backend()} backend), "
            f"NumPy {numpy.__version__}"
        ),
        "system": platform.platform(),
    }


def describe_machine(info: dict[str, str]) -> list[str]:
    """The closing lines of a section: the machine, and whether a GPU took part."""
    gpu = on_gpu(info)
    return [
        "Machine:",
        "",
        *(f"- {key.capitalize()}: {value}" for key, value in info.items()),
        "",
        "Figures are from the GPU listed above."
        if gpu
        else "No GPU was available; every figure is CPU-only.",
    ]


def on_gpu(info: dict[str, str]) -> bool:
    return not info["accelerator"].startswith("none")


def device_section(name: str, info: dict[str, str]) -> str:
    """Section `name` of the figures measured on the device `info` describes: a GPU's get a
    section of their own, so that they never replace the CPU's, nor the CPU's theirs."""
    return f"{name}-gpu" if on_gpu(info) else name


def write_section(name: str, body: str, path: Path = REPORT) -> Path:
    """Replaces section `name` of the report (or appends it), leaving other sections alone.

    Sections are delimited by HTML comments, so the speed and study benchmarks can each
    rewrite their own results without touching the other's.
    """
    start, end = f"<!-- section: {name} -->", f"<!-- end of section: {name} -->"
    block = f"{start}\n{body.strip()}\n{end}\n"
    text = path.read_text() if path.exists() else TITLE
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def add_output_options(parser) -> None:
    """--json and --report, the same for every benchmark."""
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help=f"markdown report to write the section into (default: {REPORT.name} in reports/ "
        "for a full run; --quick writes none unless given one)",
    )


def steady(seconds: list[float]) -> float:
    """Median of the epochs after the first, which carries the compile and set-up."""
    return statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]


def report_path(args) -> Path | None:
    """Where a benchmark publishes: the given --report, else the report for a full run only.

    A --quick run is a check that the benchmark works; it never writes over the published
    figures unless a path is given.
    """
    if args.report is not None:
        return args.report
    return None if args.quick else REPORT


def publish(name: str, text: str, checks: list[str], rows: list[dict], args) -> None:
    """Writes a benchmark's section (and, with --json, its rows) and prints its verdicts."""
    path = report_path(args)
    if path is None:
        print(text)
        print("(--quick: no report written; give --report PATH to write one)")
    else:
        print(f"wrote {write_section(name, text, path)}")
    for line in checks:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"wrote {args.json}")
