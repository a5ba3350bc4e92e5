"""Seconds from typing the command to the first trial's training.

    python -m benchmarks.startup [--runs 5] [--quick]

Starts the default study (`python -m studies.run`) on a fresh storage several times and
reads, from the storage, when Optuna started its first trial: everything before that
(Python, TensorFlow, the data, the storage) is start-up. The study is cut off once that
trial has started; nothing else is measured.
"""

from __future__ import annotations

import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cli, report
from studies.cli.options import positive_int
from studies.errors import RuntimeFault

TARGET_SECONDS = 5.0  # From the command to the first trial's training; reported, not asserted.
MAX_RUNS = 100  # Each start takes seconds; more would be a typing mistake, not a benchmark.


def one_start(folder: Path) -> float:
    """Starts the default study and returns the seconds until its first trial started."""
    storage = folder / f"study-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "studies.run", "--storage", str(storage)]
    command += ["--study-name", "startup", "--reports", str(folder / "reports"), "--no-report"]
    launched = datetime.datetime.now()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while (started := first_trial_start(storage)) is None:
            if process.poll() is not None:
                raise RuntimeFault(f"studies.run exited with {process.returncode} before a trial")
            time.sleep(0.1)
        return (started - launched).total_seconds()
    finally:
        process.kill()
        process.wait()


def first_trial_start(storage: Path) -> datetime.datetime | None:
    """When the study in the journal `storage` started its first trial; None before that."""
    import warnings

    import optuna

    from studies.storage import StorageError, open_for_reading

    if not storage.exists():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # A record being written now reads as cut off.
            journal = open_for_reading(str(storage))
        trials = optuna.load_study(study_name="startup", storage=journal).get_trials()
    except (KeyError, StorageError):
        return None  # The study is not created yet (or the journal is still empty).
    return trials[0].datetime_start if trials else None


def measure(args) -> None:
    runs = 2 if args.quick else args.runs
    load_before = report.load_average()
    with tempfile.TemporaryDirectory(prefix="kerasnn-startup-") as folder:
        seconds = [one_start(Path(folder)) for _ in range(runs)]
    median = statistics.median(seconds)
    verdict = (
        f"from the command to the first trial: median {median:.2f} s over {runs} starts "
        f"(target <= {TARGET_SECONDS:g} s): " + ("met" if median <= TARGET_SECONDS else "NOT met")
    )
    text = "\n".join(
        [
            "## Start-up",
            "",
            f"Command: `{report.command_line()}`. Load average (1, 5, 15 min) before: "
            f"{load_before}; after: {report.load_average()}.",
            "",
            "Each start is the default command, `python -m studies.run`, on a fresh journal "
            "storage; the time runs from launching it to the moment Optuna started its first "
            "trial, read back from the storage.",
            "",
            "Seconds per start: " + ", ".join(f"{value:.2f}" for value in seconds) + ".",
            "",
            f"- {verdict}",
            "",
            *report.describe_machine(report.machine()),
        ]
    )
    rows = [{"start": index, "seconds": value} for index, value in enumerate(seconds)]
    report.publish("startup", text, [verdict], rows, args)


def check(parser, args) -> None:
    cli.within(parser, "--runs", args.runs, 1, MAX_RUNS)
    cli.require_data_dir(parser)


def main(argv=None) -> int:
    parser = cli.parser("startup", __doc__)
    parser.add_argument("--runs", type=positive_int, default=5, help="starts to time (5)")
    parser.add_argument("--quick", action="store_true", help="two starts, no report")
    report.add_output_options(parser)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
