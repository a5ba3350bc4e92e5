"""kerasnn's own bookkeeping as a study grows: the real engine, training replaced by a stand-in.

    python -m benchmarks.scale [--quick] [--sizes 1000 3000 10000] [--workers 1 4 16 32]
        [--storages sqlite journal postgresql] [--seconds 1] [--sampler random]
        [--report PATH] [--json PATH]

Every step of `python -m studies.run` is the real code (settings, storage, worker processes,
ask and tell, reaping, the planned stages, the report), on real storages (an SQLite file, a
journal file, PostgreSQL on 127.0.0.1 started as the tests start it), except the network's
training: the stand-in of `benchmarks/stand_in.py` sleeps `--seconds` a run and returns a
seeded history of 20 epochs, so many processes fit a small machine. Each case of the plan
(`benchmarks/scale_plan.py`: a storage, a worker count, sizes, a run's seconds, a sampler)
grows one study through its sizes (each a continuation of the last; with `--measured N`
only the last N trials of each size are trained, the study brought up to them with copies
of trained trials, marked so) and then trains its
confirmation; each process times the engine's steps, and what it trained is checked against
the storage: no trial lost, duplicated or retried without a dead worker. Then
`--report-only`, `open_study` and optuna-dashboard's study page
(`benchmarks/dashboard_load.py`) are timed on the grown study. Bookkeeping is each process's
CPU seconds (and its wall seconds) outside the stand-in, per trial. Before the cases,
Optuna's own sampling time per trial at the plan's sizes is measured in memory
(`benchmarks/sampler_cost.py`).

Without options it runs the full plan: one study grown to 10,000 trials on PostgreSQL with 16
workers, and a sweep of worker counts at 200 trials on every storage, each named with its
sampler and why in the section.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cli, dashboard_load, report, sampler_cost, scale_plan, scale_report
from benchmarks.scale_plan import Case
from benchmarks.scale_report import OPTUNA_STEPS, render
from studies.cli.options import positive_float, positive_int
from studies.storage.url import parse

SECTION = "scale"
STUDY_NAME = "scale"
EPOCHS = 20
# What one planned stage trains here: small enough for the quick form, the default shape.
STAGES = ["--confirm-top", "3", "--confirm-seeds", "3"]
# The real images the stand-in's study loads (it trains on none of them): the validation
# split needs more than 10,000 training images, the checks of the data a real sample.
TRAIN_IMAGES, TEST_IMAGES = 11_000, 1_000


def small_data(folder: Path) -> Path:
    """A copy of the first images of MNIST as IDX files, so each process loads little."""
    from kerasnn.data import DATASETS, IDX_FILES, read_idx_folder

    source = Path(os.environ["KERASNN_DATA_DIR"]) / DATASETS["mnist"]
    (x_train, y_train), (x_test, y_test) = read_idx_folder(source)
    target = folder / DATASETS["mnist"]
    target.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": x_train[:TRAIN_IMAGES],
        "train_labels": y_train[:TRAIN_IMAGES],
        "test_images": x_test[:TEST_IMAGES],
        "test_labels": y_test[:TEST_IMAGES],
    }
    for key, array in arrays.items():
        magic = 2051 if key.endswith("images") else 2049
        header = struct.pack(">II", magic, len(array))
        if array.ndim == 3:
            header += struct.pack(">II", *array.shape[1:])
        (target / IDX_FILES[key]).write_bytes(header + array.astype("uint8").tobytes())
    return folder


def environment(data: Path, logs: Path, seconds: float) -> dict[str, str]:
    """The processes' environment: the stand-in named, Keras on JAX (lighter than TensorFlow
    to start, and no network is trained)."""
    return dict(
        os.environ,
        KERAS_BACKEND="jax",
        KERASNN_STAND_IN="benchmarks.stand_in:train",
        KERASNN_STAND_IN_LOG=str(logs),
        KERASNN_STAND_IN_SECONDS=f"{seconds:g}",
        KERASNN_DATA_DIR=str(data),
        PYTHONPATH=os.pathsep.join([str(report.ROOT), os.environ.get("PYTHONPATH", "")]),
    )


def study_command(url: str, folder: Path, trials: int, workers: int, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "studies.run", "overfitting", "--dataset", "mnist"),
        *("--epochs", str(EPOCHS), "--trials", str(trials), "--study-name", STUDY_NAME),
        *("--storage", url, "--reports", str(folder / "reports"), "--no-report"),
        *(["--workers", str(workers)] if workers > 1 else []),
        *extra,
    ]


def timed(command: list[str], env: dict[str, str], log: Path) -> dict:
    """Runs `command`, returning its exit status, wall seconds, CPU seconds (its own and its
    waited-for children's) and peak memory (its own, in MB)."""
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "status": process.returncode,
        "last_lines": last_lines(log) if process.returncode else [],  # Why it failed.
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }


def last_lines(log: Path, count: int = 3) -> list[str]:
    """The last non-empty lines of a failed command's log (read only when it failed: a long
    study's log is large, and the wall time above must not include reading it)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-count:]


def processes(logs: Path) -> list[dict]:
    """What each process that trained measured (benchmarks/stand_in.py)."""
    return [json.loads(path.read_text()) for path in sorted(logs.glob("process-*.json"))]


def segment(measured: list[dict], trials: int) -> dict:
    """Bookkeeping per trial of one segment: every step's and the total, CPU and wall."""
    steps: dict[str, list[float]] = {}
    for process in measured:
        for step, (calls, wall, cpu) in process["steps"].items():
            total = steps.setdefault(step, [0, 0.0, 0.0])
            steps[step] = [total[0] + calls, total[1] + wall, total[2] + cpu]
    per_trial = max(1, trials)
    cpu = sum(p["cpu"] - p["stand_in_cpu"] for p in measured)
    # What no timed step holds: the loops around them, the winner's test evaluation.
    timed_cpu = sum(cpu for _, _, cpu in steps.values())
    steps["other"] = [0, 0.0, max(0.0, cpu - timed_cpu)]
    wall = sum(p["wall"] - p["sleep"] for p in measured)
    own = sum(cpu for step, (_, _, cpu) in steps.items() if step not in (*OPTUNA_STEPS, "other"))
    peaks = [p["peak_rss_mb"] for p in measured]
    # CPU before a process's first run: imports, data, storage, the study's first read.
    start_ups = [p["start_up_cpu"] for p in measured]
    return {
        "cpu_per_trial": cpu / per_trial,
        "wall_per_trial": wall / per_trial,
        "own_cpu_per_trial": own / per_trial,
        "steps": {
            step: (wall / per_trial, cpu / per_trial) for step, (_, wall, cpu) in steps.items()
        },
        "peak_mb": max(peaks, default=0.0),
        "start_up_cpu": sum(start_ups) / max(1, len(start_ups)),
        "processes": len(measured),
    }


# Marks the trials the benchmark inserted (copies of trained ones), which nobody trained.
INSERTED = "inserted_by_benchmark"


def fill(url: str, target: int) -> int:
    """Brings the search study up to `target` trials with copies of its finished trials (their
    parameters, values, curves, records and artifacts' records, marked INSERTED), so that
    the engine's next trials are measured at that size; returns the study's trial count."""
    import itertools

    import optuna
    from optuna.trial import TrialState, create_trial

    from studies.storage import open_storage

    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    templates = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    copies = [
        create_trial(
            state=t.state,
            values=t.values,
            params=t.params,
            distributions=t.distributions,
            user_attrs={**t.user_attrs, INSERTED: True},
            system_attrs=t.system_attrs,
            intermediate_values=t.intermediate_values,
        )
        for t in itertools.islice(itertools.cycle(templates), max(0, target - len(trials)))
    ]
    study.add_trials(copies)
    return len(trials) + len(copies)


def no_loss(url: str, trained: list[dict], target: int) -> list[str]:
    """What breaks the no-loss rule in the grown study, against the stand-in's records: a run
    trained twice, a trained run not stored as it ended, a stored run nobody trained, a retry
    (no worker died here), a trial left RUNNING, or the wrong number of search trials."""
    import optuna
    from optuna.trial import TrialState

    from studies.engine import failures
    from studies.storage import open_for_reading

    storage = open_for_reading(url)
    problems, seen = [], {}
    for record in trained:
        key = (record["study"], record["number"])
        if key in seen:
            problems.append(f"{key[0]} trial {key[1]} was trained twice")
        seen[key] = record["outcome"]
    stored = set()
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False):
            key = (summary.study_name, trial.number)
            stored.add(key)
            problems += _trial_problems(trial, seen.get(key), key, failures, TrialState)
        if summary.study_name == STUDY_NAME:
            finished = study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
            )
            if len(finished) != target:
                problems.append(f"{len(finished)} search trials finished, not {target}")
    problems += [f"{s} trial {n} was trained but is not stored" for s, n in set(seen) - stored]
    return problems


def _trial_problems(trial, outcome, key, failures, TrialState) -> list[str]:
    name = f"{key[0]} trial {key[1]}"
    if trial.user_attrs.get(INSERTED):
        return []  # A copy the benchmark inserted: nobody trained it.
    expected = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(trial.state)
    if "retry_of" in trial.user_attrs:
        return [f"{name} is a retry, yet no worker died"]
    if trial.state in (TrialState.RUNNING, TrialState.WAITING):
        return [f"{name} was left {trial.state.name}"]
    if expected is not None and outcome != expected:
        return [f"{name} is stored {trial.state.name} but was {outcome or 'never'} trained"]
    if trial.state == TrialState.FAIL and (
        outcome is not None or failures.kind_of(trial) not in failures.STEPPED_ASIDE
    ):
        return [f"{name} failed ({trial.user_attrs.get('fail_reason')})"]
    return []


def storage_size(kind: str, url: str, path: Path | None) -> float:
    """The storage's size in MB: its file, or the PostgreSQL database."""
    if path is not None:
        return path.stat().st_size / 2**20
    import sqlalchemy

    with sqlalchemy.create_engine(parse(url).sqlalchemy_url).connect() as connection:
        size = connection.execute(sqlalchemy.text("SELECT pg_database_size(current_database())"))
        return size.scalar() / 2**20


def open_study_seconds(url: str, folder: Path, env: dict[str, str]) -> float:
    """Seconds `studies.open_study` takes on the grown study, in a fresh process."""
    code = (
        "import json, time\nfrom studies import open_study\nstarted = time.perf_counter()\n"
        f"open_study('overfitting', storage={url!r}, study_name={STUDY_NAME!r}, "
        f"dataset='mnist', epochs={EPOCHS}, reports={str(folder / 'reports')!r})\n"
        "print(json.dumps(time.perf_counter() - started))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"open_study failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1])


def report_only(url: str, folder: Path, env: dict[str, str]) -> dict:
    """`--report-only` on the grown study: its exit status, wall seconds and peak memory."""
    command = study_command(url, folder, 1, 1)
    command = [word for word in command if word not in ("--no-report",)]
    command[command.index("--trials") : command.index("--trials") + 2] = []
    return timed([*command, "--report-only"], env, folder / "report-only.log")


def grow(case: Case, url: str, path: Path | None, folder: Path) -> dict:
    """Grows one study through the case's sizes, then trains its confirmation; returns each
    segment's measures, the checks and the grown study's costs."""
    data = small_data(folder / "data")
    sampler = ("--sampler", case.sampler)
    segments, trained, before = [], [], 0
    sizes = case.sizes
    if case.measured is not None and sizes[0] > case.measured:
        sizes = (case.measured, *sizes)  # Trained first, the trials the copies are made of.
    for size in sizes:
        if case.measured is not None and size - case.measured > before:
            print(f"  inserting copies up to {size - case.measured:,} trials", flush=True)
            before = fill(url, size - case.measured)
        logs = folder / f"processes-{size}"
        env = environment(data, logs, case.seconds)
        ran = timed(
            study_command(url, folder, size, case.workers, *sampler, "--confirm-top", "0"),
            env,
            folder / f"study-{size}.log",
        )
        if ran["status"]:
            raise RuntimeError(
                f"the study to {size} trials exited with {ran['status']}: "
                + " | ".join(ran["last_lines"])
            )
        measured = processes(logs)
        trained += [record for process in measured for record in process["trained"]]
        row = segment(measured, size - before)
        segments.append({"size": size, "from": before, **row, "run": ran})
        before = size
    logs = folder / "processes-stages"
    env = environment(data, logs, case.seconds)
    command = study_command(url, folder, before, case.workers, *sampler, *STAGES)
    stages = timed(command, env, folder / "stages.log")
    measured = processes(logs)
    planned = [record for process in measured for record in process["trained"]]
    trained += planned
    env = environment(data, folder / "processes-report", case.seconds)
    return {
        **dataclasses.asdict(case),
        "segments": segments,
        "stages": {**segment(measured, len(planned)), "run": stages, "runs": len(planned)},
        "problems": no_loss(url, trained, before)
        + (
            [f"the stages exited with {stages['status']}: {' | '.join(stages['last_lines'])}"]
            if stages["status"]
            else []
        ),
        "storage_mb": storage_size(case.storage, url, path),
        "report_only": report_only(url, folder, env),
        "open_study_seconds": open_study_seconds(url, folder, env),
        # The URL with its driver named, as the dashboard's SQLAlchemy needs it.
        "dashboard": dashboard_load.measure(parse(url).sqlalchemy_url, STUDY_NAME, folder),
        "trained": len(trained),
    }


class Storages:
    """Fresh storages of each kind, one per folder; PostgreSQL's server is started when first
    needed, on 127.0.0.1, and stopped at the end."""

    def __init__(self):
        self.server = None

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        if self.server is not None:
            self.server[0].stop()

    def fresh(self, kind: str, folder: Path) -> tuple[str, Path | None]:
        """The storage's URL (a journal's path), and its file (None on a server)."""
        if kind == "sqlite":
            return f"sqlite:///{folder}/s.db", folder / "s.db"
        if kind == "journal":
            return str(folder / "s.log"), folder / "s.log"
        self.server = self.server or _postgres()
        return _database(self.server, folder.name), None


def _postgres():
    """A throwaway PostgreSQL server as the tests start one (tests/services.py)."""
    sys.path.insert(0, str(report.ROOT / "tests"))
    from services import ThrowawayPostgres, postgres_binaries

    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    server = ThrowawayPostgres(binaries)
    return server, server.start()


def _database(server, name: str) -> str:
    from services import create_database

    return create_database(server[1], name.replace("-", "_"))


def benchmark(cases: list[Case], args) -> dict:
    """Optuna's sampling cost at the plan's sizes, then each case; with --json, what was
    measured is written as each part ends, so a long run keeps it."""
    sizes = sorted({size for case in cases for size in case.sizes})
    print(f"Optuna's sampling cost at {', '.join(f'{n:,}' for n in sizes)} trials", flush=True)
    measured = {"command": report.command_line(), "sampling": sampler_cost.measure(sizes)}
    measured["cases"] = []
    with tempfile.TemporaryDirectory(prefix="kerasnn-scale-") as root, Storages() as storages:
        for case in cases:
            folder = Path(root) / f"{case.part.replace(' ', '_')}-{case.storage}-{case.workers}"
            folder.mkdir()
            url, path = storages.fresh(case.storage, folder)
            print(
                f"{case.storage}, {case.workers} worker(s), {case.part}: growing to "
                f"{case.sizes[-1]:,} trials with --sampler {case.sampler}",
                flush=True,
            )
            measured["cases"].append(grow(case, url, path, folder))
            measured["cases"][-1]["load_average"] = report.load_average()
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(measured, indent=2) + "\n")
            if args.keep:
                shutil.copytree(folder, args.keep / folder.name, dirs_exist_ok=True)
    return measured


def parser() -> argparse.ArgumentParser:
    p = cli.parser("scale", __doc__)
    target, quick = scale_plan.TARGET, scale_plan.QUICK
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{quick.sizes[-1]} trials in one segment, {quick.workers} workers, "
        f"{' and '.join(scale_plan.QUICK_STORAGES)}, --sampler {quick.sampler}: a check that "
        "it works",
    )
    custom = (
        "; given any of --sizes, --workers, --storages, --seconds or --sampler, the run is "
        "their cross product instead of the full plan"
    )
    p.add_argument(
        "--sizes",
        type=positive_int,
        nargs="+",
        help=f"trials the study grows through ({' '.join(map(str, target.sizes))}){custom}",
    )
    p.add_argument(
        "--workers", type=positive_int, nargs="+", help=f"worker counts ({target.workers})"
    )
    p.add_argument(
        "--storages", nargs="+", choices=scale_plan.STORAGES, help=f"storages ({target.storage})"
    )
    p.add_argument(
        "--seconds",
        type=positive_float,
        help=f"seconds the stand-in sleeps a run ({target.seconds:g})",
    )
    p.add_argument(
        "--sampler",
        choices=scale_plan.SAMPLERS,
        help=f"the studies' sampler ({target.sampler}; {quick.sampler} with --quick)",
    )
    p.add_argument(
        "--measured",
        type=positive_int,
        default=None,
        help="trials trained at the end of each size, the ones before them inserted as copies "
        f"of trained ones (the target case: {target.measured}; others train every trial)",
    )
    p.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        default=None,
        help="write the section from earlier runs' --json (a run stopped part way keeps "
        "the cases it finished there) instead of measuring; a case a later run measured "
        "again replaces the earlier one",
    )
    p.add_argument("--keep", type=Path, default=None, help="keep each study's folder here")
    report.add_output_options(p)
    return p


def measure(p: argparse.ArgumentParser, args) -> dict:
    """A run's measures: made now, or read back from an earlier run's JSON (--from-json)."""
    if args.from_json is not None:
        return scale_report.combine([read_run(path) for path in args.from_json])
    cli.require_data_dir(p)
    measured = benchmark(scale_plan.plan(args), args)
    measured["load_average"] = report.load_average()
    return measured


def read_run(path: Path) -> dict:
    measured = json.loads(path.read_text())
    if not isinstance(measured, dict) or not {"sampling", "cases"} <= measured.keys():
        raise ValueError(f"{path} holds no run of this benchmark")
    return measured


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        measured = measure(p, args)
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        print(f"{p.prog}: error: {error}", file=sys.stderr)
        return 1
    cli.import_tensorflow_quietly()  # The machine's description names its version.
    done = measured["cases"]
    text = render(measured, STAGES, report.machine())
    problems = [f"{c['storage']}, {c['workers']} workers: {m}" for c in done for m in c["problems"]]
    checks = problems or [f"no-loss rule: held in every study measured ({len(done)})"]
    report.publish(SECTION, text, checks, measured, args)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
