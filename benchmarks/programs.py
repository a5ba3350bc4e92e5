"""How many programs a study's populations compile, with the fixed program shapes off and on.

    python -m benchmarks.programs [--population K] [--seed 0] [--quick]

Runs `python -m studies.run --population K` (the default job: search, confirmation of its top
3 over 3 fresh seeds, report) three times on one sampler seed: with the fixed program shapes
off (KERASNN_FIXED_SHAPES=0: each population's own shapes) on an empty JAX persistent
compilation cache, on (KERASNN_FIXED_SHAPES=1: the study's widest network, its K, every
activation and dropout, batch buckets by powers of four) on another empty cache, and on again
with that cache as the first "on" run left it. Per run: the programs its populations compiled,
those JAX's persistent cache held instead, the seconds spent compiling or loading them, the
wall time and the confirmed objective.

JAX compiles the same programs on a CPU as on a GPU, so the counts hold for both; the CPU's
seconds are its own, and on a CPU the padding the fixed shapes add is computed (which is why
studies turn them on only where JAX's default device is not a CPU).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time

from benchmarks import cli, report
from benchmarks import study as study_benchmark
from studies.cli.options import at_most, count
from studies.report.markdown import table

# The target for the default job at --population 8 with the fixed shapes.
TARGET_PROGRAMS = 6
# Label -> (KERASNN_FIXED_SHAPES, which cache: runs naming the same one share it).
RUNS = {
    "off, empty cache": ("0", "off"),
    "on, empty cache": ("1", "on"),
    "on, cache of the run above": ("1", "on"),
}


def measure(args) -> None:
    info = report.machine()
    started = time.perf_counter()
    records = run_all(args)
    text = markdown(records, args, info, time.perf_counter() - started)
    name = report.device_section("programs-quick" if args.quick else "programs", info)
    report.publish(name, text, verdicts(records, args), records, args)


def run_all(args) -> list[dict]:
    """Every run of `RUNS`, in order, on the JAX backend."""
    records = []
    with tempfile.TemporaryDirectory(prefix="kerasnn-programs-") as folder:
        for label, (fixed, cache) in RUNS.items():
            environment = {
                "KERAS_BACKEND": "jax",
                "KERASNN_FIXED_SHAPES": fixed,
                "JAX_COMPILATION_CACHE_DIR": os.path.join(folder, cache),
            }
            with environment_set(environment):
                options = ["--population", str(args.population)]
                record = study_benchmark.run_one(label, args.seed, None, args, options, report=True)
            print(f"{label}: {describe(record)}", flush=True)
            records.append(record)
    return records


@contextlib.contextmanager
def environment_set(values: dict[str, str]):
    """`values` in os.environ (which the studies inherit) for the block, then as before."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe(record: dict) -> str:
    return (
        f"{record['programs_compiled']} programs compiled, {record['programs_loaded']} loaded, "
        f"{record['compile_seconds']:.1f} s compiling, {record['seconds']:.1f} s wall"
    )


def verdicts(records: list[dict], args) -> list[str]:
    """The issue's two targets, judged on the runs."""
    off, on, warm = records
    lines = [
        f"fixed shapes: {on['programs_compiled']} programs compiled against "
        f"{off['programs_compiled']} without them"
    ]
    if not args.quick:
        met = "met" if on["programs_compiled"] <= TARGET_PROGRAMS else "missed"
        lines.append(f"at most {TARGET_PROGRAMS} programs for the default job: {met}")
    lines.append(
        f"warm cache: {warm['programs_compiled']} compiled, {warm['programs_loaded']} loaded"
    )
    return lines


def markdown(records: list[dict], args, info: dict, seconds: float) -> str:
    rows = [
        [
            label,
            str(record["programs_compiled"]),
            str(record["programs_loaded"]),
            f"{record['compile_seconds']:.1f}",
            f"{record['seconds']:.1f}",
            f"{record['confirmed_objective']:.4f}",
        ]
        for label, record in zip(RUNS, records, strict=True)
    ]
    job = (
        "the quick job (`--subset 5000 --trials 12 --epochs 6`)"
        if args.quick
        else "the default job"
    )
    title = "## Programs a study compiles, fixed shapes off and on"
    title += " (quick)" if args.quick else ""
    ran = f"Command: `{report.command_line()}` ({seconds / 60:.0f} min)."
    return "\n".join(
        [
            title,
            "",
            ran,
            "",
            f"`python -m studies.run --population {args.population}` ({job}, its confirmation "
            "of the top 3 over 3 fresh seeds and its report) on sampler seed "
            f"{args.seed}, on Keras' JAX backend: the epoch programs its populations compiled, "
            "those JAX's persistent compilation cache held instead (loaded, not compiled), the "
            "seconds spent compiling or loading every program (epochs, best-weight selection, "
            "test passes), the wall time of the whole command and the confirmed objective. "
            "Fixed shapes off and on each start on an empty cache; the last run reuses the "
            "cache the run above it filled. JAX compiles the same programs on a GPU; the "
            "seconds are this machine's, where the fixed shapes' padding is computed.",
            "",
            table(
                [
                    "fixed shapes",
                    "compiled",
                    "loaded",
                    "compile s",
                    "wall s",
                    "confirmed objective",
                ],
                rows,
            ),
            "",
            *(f"- {line}" for line in verdicts(records, args)),
            "",
            f"Load average at the end (1, 5, 15 min): {report.load_average()}.",
            "",
            *report.describe_machine(info),
        ]
    )


def main(argv=None) -> int:
    parser = cli.parser("programs", __doc__)
    parser.add_argument("--quick", action="store_true", help="12 trials of 6 epochs, 5,000 images")
    parser.add_argument("--seed", type=count, default=0, help="the sampler seed (0)")
    parser.add_argument(
        "--population", type=at_most("population"), default=8, help="the population's size K (8)"
    )
    parser.set_defaults(confirm_top=3, confirm_seeds=3)
    report.add_output_options(parser)
    return cli.run(parser, argv, lambda parser, args: cli.require_data_dir(parser), measure)


if __name__ == "__main__":
    sys.exit(main())
