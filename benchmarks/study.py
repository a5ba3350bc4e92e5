"""Pruning strategies judged by the confirmed objective of their winners, over study seeds.

    python -m benchmarks.study [--seeds 0 1 2] [--jobs 2] [--only LABEL ...] [--quick]
                               [--resume | --report-only]

Runs the default study (`python -m studies.run`: overfitting on Fashion-MNIST, 40 trials of
at most 20 epochs, TPE) once per strategy and sampler seed, each on a fresh journal storage
and followed by its confirmation stage, and records per run the epochs its search trained,
its wall time, its best search objective and the confirmed objective of its winner. Per
strategy: mean and sd over seeds, and the difference from no pruning paired by seed. The
strategy to make the default needs the fewest epochs while its confirmed winner stays
within one pooled seed sd of the unpruned study's, on average over the seeds.

With --jobs 2, two studies run side by side, each on a core of its own with one TensorFlow
thread, so their wall times compare with each other (not with a study that has both cores).
Every run is added to the JSON as it ends; --resume skips the runs it already holds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import cli, report
from kerasnn import stats
from studies.cli.options import count, positive_int
from studies.engine.threads import cores
from studies.errors import RuntimeFault, one_line
from studies.report.markdown import table as markdown_table
from studies.settings import SEED_LIMIT

ROOT = Path(__file__).resolve().parents[1]
JSON = ROOT / "reports" / "benchmarks-study.json"
# The page on pruning shows the comparison table of the last full run.
PRUNING_DOC = ROOT / "docs" / "pruning.md"
BASELINE = "none"
# Label -> studies.run options.
STRATEGIES = {
    BASELINE: ["--pruner", "none"],
    "median, warm-up 1": ["--pruner", "median", "--warmup", "1"],
    "median, warm-up 2": ["--pruner", "median"],
    "median, warm-up 5": ["--pruner", "median", "--warmup", "5"],
    "successive halving": ["--pruner", "sha"],
    "hyperband, random sampler": ["--pruner", "hyperband", "--sampler", "random"],
    "hyperband, TPE": ["--pruner", "hyperband"],
    "patient successive halving": ["--pruner", "sha", "--pruner-patience", "2"],
    "early stopping, patience 3": ["--pruner", "none", "--early-stopping-patience", "3"],
    "early discarding": ["--pruner", "discard"],
    # Not a pruner: the search shared by one single-threaded worker per core, judged the
    # same way (a search with several workers draws other trials than one alone).
    "one worker per core": ["--workers", str(cores())],
}


def study_command(
    options: list[str], seed: int, storage: Path, args, *, report: bool = False
) -> list[str]:
    command = [sys.executable, "-m", "studies.run", "overfitting", "--seed", str(seed)]
    command += ["--storage", str(storage), "--study-name", "benchmark"]
    command += [] if report else ["--no-report"]
    command += ["--reports", str(storage.parent / "reports")]
    command += ["--confirm-top", str(args.confirm_top), "--confirm-seeds", str(args.confirm_seeds)]
    if args.quick:
        command += ["--subset", "5000", "--trials", "12", "--epochs", "6"]
    return command + options


def run_one(
    strategy: str, seed: int, core: int | None, args, options=None, *, report: bool = False
) -> dict:
    """Runs one study and its confirmation (with `options`, by default the strategy's), and
    its report if asked; the record of what it cost and found."""
    options = list(STRATEGIES[strategy] if options is None else options)
    with tempfile.TemporaryDirectory(prefix="kerasnn-study-benchmark-") as folder:
        storage = Path(folder) / "study.log"
        command = study_command(options, seed, storage, args, report=report)
        environment = dict(os.environ)
        if core is not None:
            command = ["taskset", "-c", str(core), *command]
            environment.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or ["-"]
            raise RuntimeFault(
                f"{strategy}, seed {seed}: studies.run exited with {done.returncode}: "
                + one_line(last[0])
            )
        record = {"strategy": strategy, "seed": seed, "options": options, "seconds": seconds}
        return record | measures(storage, args)


def measures(storage: Path, args) -> dict:
    import optuna

    from studies.engine import confirm
    from studies.storage import open_for_reading

    opened = open_for_reading(str(storage))
    search = optuna.load_study(study_name="benchmark", storage=opened)
    confirmation = confirm.load_confirmation(opened, "benchmark")
    states = optuna.trial.TrialState
    finished = search.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED))
    answer = confirm.answer(search, confirmation)
    if answer is None:
        raise RuntimeFault(f"{storage}: the study ended without a confirmed configuration")
    winner = answer.winner.spreads["objective"]
    everything = search.get_trials(deepcopy=False) + confirmation.get_trials(deepcopy=False)
    return {
        "epochs": sum(int(t.user_attrs.get("epochs", 0)) for t in finished),
        "trials_complete": sum(t.state == states.COMPLETE for t in finished),
        "trials_pruned": sum(t.state == states.PRUNED for t in finished),
        "search_seconds": sum(
            (t.datetime_complete - t.datetime_start).total_seconds() for t in finished
        ),
        # What the populations spent compiling, if the study trained any: each trained
        # trial holds its share of its population's.
        "compile_seconds": sum(
            t.user_attrs.get("compile_seconds", 0.0) for t in finished + confirmation.trials
        ),
        # The programs the populations compiled, and those JAX's persistent cache held:
        # each trial holds its share of its population's (every trial, failed ones too).
        **{
            key: round(sum(t.user_attrs.get(key, 0.0) for t in everything))
            for key in ("programs_compiled", "programs_loaded")
        },
        "stopped": search.user_attrs.get("stopped"),
        "best_objective": search.best_value,
        "confirmed_objective": winner.mean,
        "confirmed_sd": winner.sd,
        "winner_trial": answer.winner.source,
        "seed_noise": answer.seed_noise,
    }


def schedule(args, records: list[dict], save) -> None:
    """Runs every missing (strategy, seed), `args.jobs` at a time.

    Raises:
        RuntimeFault: a run failed; the runs already under way finish, no new one starts.
    """
    done = {(r["strategy"], r["seed"]) for r in records}
    pending = [(s, seed) for seed in args.seeds for s in args.only if (s, seed) not in done]
    lock, cores = threading.Condition(), list(range(args.jobs)) if args.jobs > 1 else [None]
    failures: list[RuntimeFault] = []

    def worker():
        while True:
            with lock:
                if failures or not pending:
                    return
                task = pending.pop(0)
                core = cores.pop()
            try:
                record = run_one(*task, core, args)
            except Exception as error:
                with lock:
                    failures.append(_fault(task, error))
                    lock.notify_all()
                return
            print(describe_run(record), flush=True)
            with lock:
                records.append(record)
                cores.append(core)
                save(records)
                lock.notify_all()

    threads = [threading.Thread(target=worker) for _ in range(len(cores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _fault(task: tuple[str, int], error: Exception) -> RuntimeFault:
    """A run's failure as one RuntimeFault, for the main thread to report."""
    if isinstance(error, RuntimeFault):
        return error
    strategy, seed = task
    return RuntimeFault(f"{strategy}, seed {seed}: {type(error).__name__}: {error}")


def describe_run(r: dict) -> str:
    return (
        f"{r['strategy']}, seed {r['seed']}: {r['epochs']} epochs, {r['seconds']:.0f} s, "
        f"best {r['best_objective']:.4f}, confirmed {r['confirmed_objective']:.4f}"
    )


def summarise(records: list[dict]) -> dict:
    """Per strategy: mean and sd over seeds, paired differences from no pruning, and the
    choice of the default."""
    from kerasnn import stats

    baseline = {r["seed"]: r for r in records if r["strategy"] == BASELINE}
    # Pooled over the unpruned studies' confirmations: the sd of one seed's objective.
    noise = math.sqrt(statistics.fmean(r["seed_noise"] ** 2 for r in baseline.values()))
    summary = {}
    for strategy in STRATEGIES:
        rows = [r for r in records if r["strategy"] == strategy and r["seed"] in baseline]
        if not rows:
            continue
        fraction = [r["epochs"] / baseline[r["seed"]]["epochs"] for r in rows]
        difference = [
            r["confirmed_objective"] - baseline[r["seed"]]["confirmed_objective"] for r in rows
        ]
        entry = {"seeds": [r["seed"] for r in rows]}
        for key, values in (
            ("epoch_fraction", fraction),
            ("seconds", [r["seconds"] for r in rows]),
            ("best_objective", [r["best_objective"] for r in rows]),
            ("confirmed_objective", [r["confirmed_objective"] for r in rows]),
            ("confirmed_difference", difference),
        ):
            spread = stats.spread(values)
            entry[key] = {"mean": spread.mean, "sd": None if len(values) < 2 else spread.sd}
        entry["confirmed_difference"]["p"] = _paired_p(difference)
        entry["equal_answer"] = entry["confirmed_difference"]["mean"] >= -noise
        summary[strategy] = entry
    equal = [s for s, e in summary.items() if e["equal_answer"] and len(e["seeds"]) >= 3]
    default = min(equal, key=lambda s: summary[s]["epoch_fraction"]["mean"], default=None)
    return {"seed_noise": noise, "strategies": summary, "default": default}


def _paired_p(differences: list[float]) -> float | None:
    """The two-sided p of a paired t-test that the mean difference is zero (None if undefined)."""
    from scipy import stats as scipy_stats

    if len(differences) < 2 or statistics.stdev(differences) == 0:
        return None
    return float(scipy_stats.ttest_1samp(differences, 0.0).pvalue)


def table(result: dict) -> str:
    """The comparison as a markdown table: one row per strategy, mean ± sd over seeds."""

    def pm(entry, digits, scale=1.0, unit=""):
        if entry["sd"] is None:
            return f"{entry['mean'] * scale:.{digits}f}{unit} (one seed)"
        return stats.plus_minus(entry["mean"] * scale, entry["sd"] * scale, f".{digits}f", unit)

    header = ["strategy", "options", "seeds", "epochs vs none", "wall s"]
    header += ["best search objective", "confirmed objective", "confirmed − none (paired)"]
    rows = []
    for strategy, e in result["strategies"].items():
        mark = "**default**" if strategy == result["default"] else ""
        rows.append(
            [
                f"{strategy} {mark}",
                f"`{' '.join(STRATEGIES[strategy])}`",
                len(e["seeds"]),
                pm(e["epoch_fraction"], 0, 100, "%"),
                pm(e["seconds"], 0),
                pm(e["best_objective"], 4),
                pm(e["confirmed_objective"], 4),
                pm(e["confirmed_difference"], 4) + _p(e["confirmed_difference"]["p"]),
                "yes" if e["equal_answer"] else "no",
            ]
        )
    align = ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---"]
    return markdown_table([*header, "same answer"], rows, align)


def _p(p: float | None) -> str:
    return "" if p is None else f" (p = {p:.2f})"


def markdown(result: dict, args, info: dict, seconds: float) -> str:
    if args.report_only:
        how = "rebuilt from the runs in the JSON; each record holds its options"
    elif args.jobs > 1:
        how = f"{seconds / 60:.0f} min, {args.jobs} studies side by side, each on one core "
        how += "with one TensorFlow thread"
    else:
        how = f"{seconds / 60:.0f} min, one study at a time on every core"
    default = result["default"] or "none of them (no strategy kept the answer)"
    seeds = sorted({seed for entry in result["strategies"].values() for seed in entry["seeds"]})
    return "\n".join(
        [
            "## Pruning strategies over study seeds",
            "",
            f"Command: `{report.command_line()}` ({how}).",
            "",
            f"Each run is `python -m studies.run` with the options shown, one of sampler seeds "
            f"{', '.join(map(str, seeds))} (the seeds column counts a strategy's), a fresh "
            "journal storage, and a confirmation "
            f"of its top {args.confirm_top} configurations over {args.confirm_seeds} fresh "
            "seeds each. Epochs are those of the search; wall time is the whole command, "
            "start-up and confirmation included. Values are mean ± sd over the seeds; the "
            "last two columns pair each seed with the unpruned study of the same seed. "
            f"Pooled seed sd of the objective (the noise): {result['seed_noise']:.4f}. "
            "'Same answer' means the confirmed objective is on average at most one pooled "
            "seed sd below the unpruned one.",
            "",
            table(result),
            "",
            f"Default chosen (fewest epochs with the same answer): {default}.",
            "",
            *report.describe_machine(info),
        ]
    )


def write_doc_table(result: dict, path: Path = PRUNING_DOC) -> None:
    """Replaces the comparison table in docs/pruning.md with this run's."""
    start, end = "<!-- pruning table: benchmarks/study.py -->", "<!-- end of pruning table -->"
    text = path.read_text()
    if start not in text:
        return
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{start}\n{table(result)}\n{end}{tail}")


def check(parser, args) -> None:
    """Refuses, before anything runs, what the runs or the summary could not do."""
    cli.require_data_dir(parser)
    # A seed's confirmation uses the seeds after it; studies.run refuses one past the limit.
    for seed in args.seeds:
        cli.within(parser, "--seeds", seed, 0, SEED_LIMIT - 1 - args.confirm_seeds)
    if len(set(args.seeds)) < len(args.seeds):
        parser.error("argument --seeds: a seed is given twice")
    if args.confirm_seeds < 2:
        parser.error("argument --confirm-seeds: at least 2, to measure each seed's noise")
    if BASELINE not in args.only and not args.report_only:
        parser.error(f"argument --only: include {BASELINE!r}; every strategy is compared with it")
    check_stored(parser, args, json_path(args))


def check_stored(parser, args, target: Path | None) -> None:
    """--resume and --report-only read the runs kept at `target`, which must exist."""
    option = "--report-only" if args.report_only else "--resume"
    if (args.resume or args.report_only) and target is None:
        parser.error(f"{option} --quick needs --json PATH: a quick run keeps its runs only there")
    if (args.resume or args.report_only) and not target.is_file():
        parser.error(f"{option} reads the runs from {target}, which does not exist")


def json_path(args, published: Path = JSON) -> Path | None:
    """Where the runs are kept: --json, else the `published` JSON for a full run."""
    return args.json or (None if args.quick else published)


def load_stored(path: Path) -> dict:
    """The runs (and the machine they ran on) that a benchmark wrote to `path`."""
    try:
        stored = json.loads(path.read_text())
        records = stored["records"]
    except (ValueError, KeyError, TypeError) as error:
        raise RuntimeFault(f"{path} holds no runs a benchmark wrote ({error})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RuntimeFault(f"{path} holds no runs a benchmark wrote (records are not a list)")
    return stored


def measure(args) -> None:
    target = json_path(args)
    keep = args.resume or args.report_only
    stored = load_stored(target) if keep else {}
    records = stored.get("records", [])
    # The machine the runs were made on: a rebuild describes it, not the machine it runs on.
    info = (stored.get("machine") if args.report_only else None) or report.machine()

    def save(records):
        if target:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps({"records": records, "machine": info}, indent=2) + "\n")

    started = time.perf_counter()
    if not args.report_only:
        schedule(args, records, save)
    if not any(r.get("strategy") == BASELINE for r in records):
        raise RuntimeFault(f"{target} holds no run of {BASELINE!r}, which the others compare with")
    result = summarise(records)
    if target is None:
        print(json.dumps(records, indent=2))
    if target:
        output = {"records": records, "machine": info, **result}
        target.write_text(json.dumps(output, indent=2) + "\n")
        print(f"wrote {target}")
    text = markdown(result, args, info, time.perf_counter() - started)
    report.publish("study", text, [f"default: {result['default']}"], [], args_without_json(args))
    if report.report_path(args) == report.REPORT:
        write_doc_table(result)


def main(argv=None) -> int:
    parser = cli.parser("study", __doc__)
    parser.add_argument("--quick", action="store_true", help="12 trials of 6 epochs, 5,000 images")
    parser.add_argument("--seeds", type=count, nargs="+", default=[0, 1, 2], help="sampler seeds")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=1, help="studies at a time")
    parser.add_argument(
        "--confirm-top", type=positive_int, default=2, help="configurations confirmed (2)"
    )
    parser.add_argument(
        "--confirm-seeds", type=positive_int, default=3, help="fresh seeds for each, >= 2 (3)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(STRATEGIES),
        default=list(STRATEGIES),
        metavar="LABEL",
        help="run only these strategies (labels as in STRATEGIES; the baseline is needed)",
    )
    parser.add_argument("--resume", action="store_true", help="keep the runs --json holds")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: summarise the runs --json holds and write the reports again",
    )
    report.add_output_options(parser)
    return cli.run(parser, argv, check, measure)


def args_without_json(args):
    """The JSON is written above, with the summary; publish writes only the report."""
    return argparse.Namespace(**{**vars(args), "json": None})


if __name__ == "__main__":
    sys.exit(main())
