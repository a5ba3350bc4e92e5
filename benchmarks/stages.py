"""The planned stages one run at a time against one single-threaded process per core.

    python -m benchmarks.stages [--quick] [--report PATH] [--json PATH]

Trains the default job's search once (`python -m studies.run`, the search only), then its
planned stages (the confirmation and `--effects-seeds 3`) twice from copies of that storage,
side by side in one run: with `--stage-processes 1` (one process, every thread: before) and
with one process per core (one thread each: after, the default for a stage this long). It times each stage from
the stored runs and each command whole (process start-up included), and checks that both
stored the same runs (plan, configurations, seeds) and the same answer, with the largest
difference of a run's objective between the two.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cli, report
from studies.engine.threads import cores

SECTION = "stage-processes"
STUDY_NAME = "stages"
# Asked for by number: the default would keep a quick job's short stages in one process.
WAYS = {
    "one at a time": ["--stage-processes", "1"],
    "one process per core": ["--stage-processes", str(cores())],
}
FULL = {"search": [], "stages": ["--effects-seeds", "3"]}
QUICK = {
    "search": ["--dataset", "mnist", "--subset", "2000", "--epochs", "2", "--trials", "4"],
    "stages": ["--confirm-top", "2", "--confirm-seeds", "2", "--effects-seeds", "1"],
}


def study(folder: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "studies.run", "--storage", str(folder / "s.log")),
        *("--study-name", STUDY_NAME, "--reports", str(folder / "reports"), "--no-report"),
        *extra,
    ]


def run(command: list[str], log: Path) -> float:
    """Runs `command`; its wall seconds. A failure is a RuntimeFault naming its log."""
    from studies.errors import RuntimeFault

    started = time.perf_counter()
    with open(log, "w") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise RuntimeFault(f"{' '.join(command[2:4])} exited with {done.returncode}; see {log}")
    return time.perf_counter() - started


def stage_seconds(companion) -> float:
    """From the stage's first run's start to its last run's end."""
    trials = [t for t in companion.get_trials(deepcopy=False) if t.datetime_complete]
    if not trials:
        return 0.0
    first = min(t.datetime_start for t in trials)
    return (max(t.datetime_complete for t in trials) - first).total_seconds()


def stored(folder: Path) -> dict:
    """What a way stored: each stage's seconds and runs (by run, with the objective), the
    answer's winner, and the threads and processes its runs were trained with."""
    import optuna

    from studies.engine import confirm, effects, failures
    from studies.engine.planned import run_of
    from studies.engine.plans import load_companion
    from studies.storage import open_for_reading

    storage = open_for_reading(str(folder / "s.log"))
    found = {"seconds": {}, "runs": {}, "threads": set(), "processes": set()}
    for stage in (confirm.STAGE_NAME, effects.STAGE_NAME):
        companion = load_companion(storage, STUDY_NAME, stage)
        found["seconds"][stage] = stage_seconds(companion)
        for trial in companion.get_trials(deepcopy=False):
            if failures.kind_of(trial) in failures.STEPPED_ASIDE:
                continue  # Two processes queued the same run at once: this one never trained.
            key = (stage, *map(str, run_of(trial).attrs().values()), str(trial.params))
            found["runs"][key] = trial.user_attrs.get("objective")
            found["threads"].add(trial.user_attrs.get("threads"))
            found["processes"].add(trial.user_attrs.get("worker"))
    search = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    answer = confirm.answer(search, load_companion(storage, STUDY_NAME, confirm.STAGE_NAME))
    found["winner"] = None if answer is None else answer.winner.source
    return found


def benchmark(args) -> dict:
    job = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="kerasnn-stages-") as root:
        searched = Path(root) / "searched"
        searched.mkdir()
        search = run(study(searched, *job["search"], "--confirm-top", "0"), searched / "log")
        ways = {}
        for name, options in WAYS.items():
            folder = Path(root) / name.replace(" ", "-")
            shutil.copytree(searched, folder)
            command = study(folder, *job["search"], *job["stages"], *options)
            ways[name] = {"command": run(command, folder / "log"), **stored(folder)}
    return {"search": search, "ways": ways}


def render(result: dict, info: dict[str, str]) -> tuple[str, list[str]]:
    before, after = result["ways"].values()
    same_runs = before["runs"].keys() == after["runs"].keys()
    differences = [
        abs(before["runs"][key] - after["runs"][key])
        for key in before["runs"].keys() & after["runs"].keys()
        if before["runs"][key] is not None and after["runs"][key] is not None
    ]
    lines = [
        "## The planned stages: one process per core",
        "",
        f"Command: `{report.command_line()}`",
        "",
        "The default job's planned stages trained twice from one search, side by side in one "
        "run: one run at a time in one process on every thread (`--stage-processes 1`), and "
        "one single-threaded process per core (the default). Stage seconds run from the "
        "stage's first run's start to its last run's end; the command's include each "
        "process's start-up.",
        "",
        "| | " + " | ".join(result["ways"]) + " | speed-up |",
        "|---|---|---|---|",
    ]
    for stage in ("confirmation", "effects"):
        a, b = before["seconds"][stage], after["seconds"][stage]
        lines.append(f"| {stage} (s) | {a:.1f} | {b:.1f} | {a / b if b else 0:.2f}x |")
    a, b = before["command"], after["command"]
    lines += [
        f"| whole command (s) | {a:.1f} | {b:.1f} | {a / b:.2f}x |",
        f"| processes | {len(before['processes'])} | {len(after['processes'])} | |",
        f"| threads per process | {_shown(before['threads'])} | {_shown(after['threads'])} | |",
        "",
        f"Search (once, before both): {result['search']:.1f} s.",
        "",
    ]
    checks = [
        f"same runs stored (plan, configurations, seeds): {'yes' if same_runs else 'NO'}",
        f"same confirmed winner: {'yes' if before['winner'] == after['winner'] else 'NO'} "
        f"(trial {before['winner']} / trial {after['winner']})",
        f"largest difference of a run's objective: {max(differences, default=0.0):.6f}",
    ]
    text = "\n".join(
        [*lines, *(f"- {line}" for line in checks), "", *report.describe_machine(info)]
    )
    return text, checks


def _shown(values: set) -> str:
    return ", ".join(str(v) for v in sorted(v for v in values if v is not None))


def parser():
    p = cli.parser("stages", __doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help="4 trials of 2 epochs on 2,000 images, small stages: a check that it works",
    )
    report.add_output_options(p)
    return p


def main(argv=None) -> int:
    def go(args):
        result = benchmark(args)
        text, checks = render(result, report.machine())
        rows = {
            name: {**way, "threads": sorted(way["threads"] - {None})}
            for name, way in result["ways"].items()
        }
        for way in rows.values():
            way["processes"] = len(way["processes"])
            way["runs"] = len(way["runs"])
        report.publish(SECTION, text, checks, [rows], args)

    return cli.run(parser(), argv, lambda parser, args: cli.require_data_dir(parser), go)


if __name__ == "__main__":
    sys.exit(main())
