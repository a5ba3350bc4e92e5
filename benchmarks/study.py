"""What a whole study costs: trials per hour, pruning against none, one worker against two.

    python -m benchmarks.study [--quick] [--trials N] [--epochs N] [--subset N] [--json PATH]

Runs the default study (`python -m studies.run`, overfitting on Fashion-MNIST, TPE
sampler, seed 0) five times on fresh journal storages in a temporary folder: with the
median pruner (the studies' default), with the percentile and the hyperband pruners,
without pruning (same sampler and seed), and with the median pruner in two worker
processes. Each run is timed from the command's start to its exit, so Python and
TensorFlow start-up count too. Epochs trained are summed over all trials, pruned ones
included; the per-trial overhead is a trial's wall time as Optuna recorded it minus its
epochs (compiling, building, storing results), for the trials that ran to the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from benchmarks import report

STUDY = "overfitting"
DATASET = "fashion_mnist"
SEED = 0
RUNS = (
    # (label, pruner, workers)
    ("median pruner, 1 worker", "median", 1),
    ("percentile pruner, 1 worker", "percentile", 1),
    ("hyperband pruner, 1 worker", "hyperband", 1),
    ("no pruning, 1 worker", "none", 1),
    ("median pruner, 2 workers", "median", 2),
)

# The target for pruning; reported, never asserted.
TARGET_EPOCH_FRACTION = 0.5
TARGET_OBJECTIVE_POINTS = 0.3


def run_study(label, pruner, workers, args, folder: Path) -> dict:
    """Runs the study with one pruner and worker count; its costs and best objective."""
    storage_path = folder / f"{pruner}-{workers}.log"
    started = time.perf_counter()
    completed = subprocess.run(
        _command(pruner, workers, args, storage_path, folder), capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(
            f"{label}: studies.run exited with {completed.returncode}:\n{completed.stderr[-2000:]}"
        )
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(storage_path))
    )
    study = optuna.load_study(study_name="benchmark", storage=storage)
    return {"run": label, "pruner": pruner, "workers": workers, **_measures(study, seconds)}


def _command(pruner, workers, args, storage_path: Path, folder: Path) -> list[str]:
    command = [sys.executable, "-m", "studies.run", STUDY, "--dataset", DATASET]
    command += ["--trials", str(args.trials), "--epochs", str(args.epochs), "--seed", str(SEED)]
    command += ["--sampler", "tpe", "--pruner", pruner, "--storage", str(storage_path)]
    command += ["--study-name", "benchmark", "--reports", str(folder / "reports")]
    command += ["--workers", str(workers), "--no-report"]
    command += ["--confirm-top", "0"]  # This benchmark measures the search alone.
    if args.subset:
        command += ["--subset", str(args.subset)]
    return command


def _measures(study, seconds: float) -> dict:
    trials = study.get_trials(deepcopy=False)
    states = optuna.trial.TrialState
    finished = [t for t in trials if t.state in (states.COMPLETE, states.PRUNED)]
    complete = [t for t in trials if t.state == states.COMPLETE]
    overheads = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        - sum(t.user_attrs["history"]["seconds"])
        for t in complete
        if "history" in t.user_attrs
    ]
    epoch_seconds = [
        s for t in complete for s in t.user_attrs.get("history", {}).get("seconds", [])
    ]
    return {
        "wall_s": seconds,
        "trials_complete": len(complete),
        "trials_pruned": sum(t.state == states.PRUNED for t in trials),
        "trials_failed": sum(t.state == states.FAIL for t in trials),
        "trials_per_hour": 3600 * len(finished) / seconds,
        "epochs_trained": sum(int(t.user_attrs.get("epochs", 0)) for t in finished),
        "best_objective": study.best_value if complete else None,
        "median_trial_overhead_s": statistics.median(overheads) if overheads else None,
        "median_epoch_s": statistics.median(epoch_seconds) if epoch_seconds else None,
    }


def verdicts(rows: list[dict]) -> list[str]:
    unpruned = next(row for row in rows if row["pruner"] == "none")
    lines = []
    for pruned in (row for row in rows if row["pruner"] != "none" and row["workers"] == 1):
        fraction = pruned["epochs_trained"] / unpruned["epochs_trained"]
        lines.append(
            f"{pruned['pruner']} pruner trains {pruned['epochs_trained']} epochs against "
            f"{unpruned['epochs_trained']} without pruning ({fraction:.0%}; target <= "
            f"{TARGET_EPOCH_FRACTION:.0%}): "
            + ("met" if fraction <= TARGET_EPOCH_FRACTION else "NOT met")
        )
        if pruned["best_objective"] is not None and unpruned["best_objective"] is not None:
            points = 100 * (unpruned["best_objective"] - pruned["best_objective"])
            lines.append(
                f"best objective with the {pruned['pruner']} pruner "
                f"{pruned['best_objective']:.4f}, without pruning "
                f"{unpruned['best_objective']:.4f} ({points:+.2f} points in favour of no "
                f"pruning; target <= {TARGET_OBJECTIVE_POINTS:g}): "
                + ("met" if points <= TARGET_OBJECTIVE_POINTS else "NOT met")
            )
    one = next(row for row in rows if row["pruner"] == "median" and row["workers"] == 1)
    two = next(row for row in rows if row["workers"] == 2)
    lines.append(
        f"two workers finish {two['trials_per_hour']:.0f} trials per hour against "
        f"{one['trials_per_hour']:.0f} for one "
        f"({two['trials_per_hour'] / one['trials_per_hour']:.2f}x)"
    )
    overheads = [r["median_trial_overhead_s"] for r in rows if r["median_trial_overhead_s"]]
    if overheads:
        lines.append(
            "median per-trial overhead (a trial's wall time minus its epochs): "
            + ", ".join(f"{value:.2f} s" for value in overheads)
            + " (target <= 1 s): "
            + ("met" if max(overheads) <= 1.0 else "NOT met")
        )
    return lines


def markdown(rows: list[dict], args, info: dict, loads: tuple[str, str], seconds: float) -> str:
    header = (
        "| run | wall s | trials complete / pruned / failed | trials per hour "
        "| epochs trained | best objective | median trial overhead s | median epoch s |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|"
    )

    def number(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        f"| {r['run']} | {r['wall_s']:.0f} | {r['trials_complete']} / {r['trials_pruned']} / "
        f"{r['trials_failed']} | {r['trials_per_hour']:.0f} | {r['epochs_trained']} "
        f"| {number(r['best_objective'], 4)} | {number(r['median_trial_overhead_s'], 2)} "
        f"| {number(r['median_epoch_s'], 3)} |"
        for r in rows
    ]
    data = (
        f"the first {args.subset:,} training images"
        if args.subset
        else "all 50,000 training images"
    )
    return "\n".join(
        [
            "## Study cost",
            "",
            f"Command: `{report.command_line()}` ({seconds:.0f} s). Load average (1, 5, 15 min) "
            f"before: {loads[0]}; after: {loads[1]}.",
            "",
            f"The default study (`{STUDY}`, penalized objective) on Fashion-MNIST, {data}, "
            f"{args.trials} trials of at most {args.epochs} epochs, TPE sampler seed {SEED}, "
            "journal storage; each run from a fresh storage, timed from start to exit. The "
            "median pruner is the studies' default (a trial goes on while its best objective "
            "so far is in the top half of the completed trials' at the same epoch; 5 start-up "
            "trials, judged from the third epoch); the percentile pruner keeps the top 10% "
            "(`--pruner percentile`, judged from the second epoch); the hyperband pruner is "
            "`--pruner hyperband` (minimum resource 2 epochs). "
            "With two workers the sampler of the second is seeded with seed + 1, so it "
            "samples other configurations.",
            "",
            header,
            *lines,
            "",
            *[f"- {line}" for line in verdicts(rows)],
            "",
            *report.describe_machine(info),
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.study", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="12 trials of 6 epochs on 10,000 images"
    )
    parser.add_argument("--trials", type=int, default=None, help="trials per run (default 30)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 10)")
    parser.add_argument("--subset", type=int, default=None, help="train on the first N images")
    report.add_output_options(parser)
    args = parser.parse_args(argv)
    args.trials = args.trials or (12 if args.quick else 30)
    args.epochs = args.epochs or (6 if args.quick else 10)
    if args.quick and not args.subset:
        args.subset = 10_000
    if not os.environ.get("KERASNN_DATA_DIR"):
        parser.error("set KERASNN_DATA_DIR to the folder holding mnist/ and fashion-mnist/")

    started = time.perf_counter()
    load_before = report.load_average()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasnn-study-benchmark-") as folder:
        for label, pruner, workers in RUNS:
            row = run_study(label, pruner, workers, args, Path(folder))
            rows.append(row)
            print(
                f"{label}: {row['wall_s']:.0f} s, {row['trials_complete']} complete, "
                f"{row['trials_pruned']} pruned, {row['epochs_trained']} epochs, "
                f"best {row['best_objective']}",
                flush=True,
            )
    loads = (load_before, report.load_average())
    text = markdown(rows, args, report.machine(), loads, time.perf_counter() - started)
    report.publish("study", text, verdicts(rows), rows, args)


if __name__ == "__main__":
    main()
