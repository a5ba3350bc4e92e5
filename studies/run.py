"""The one entry point: `python -m studies.run [STUDY]` runs a study and writes its report."""

from __future__ import annotations

import os

# Quiet TensorFlow's start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402


def _import_keras_quietly() -> None:
    """Imports Keras, and so TensorFlow, with the process's stderr pointed at /dev/null.

    TensorFlow writes start-up lines (oneDNN, CUDA drivers) to file descriptor 2 before its
    logging is set up, whatever TF_CPP_MIN_LOG_LEVEL says; a usage error would then not be
    the one line on stderr that it should be. Python errors still reach stderr, after it
    is restored.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_keras_quietly()

from studies import (  # noqa: E402
    overfitting,
    reproduce_000,
    reproduce_001,
    reproduce_002,
    reproduce_003,
    reproduce_004,
)

# Study name -> module. Each module has a docstring, QUESTION and suggest(trial, train_config);
# it may add SEARCH_SPACE (a grid, run by GridSampler) and DEFAULTS (option defaults:
# dataset, trials, epochs, pruner, and the pixel scale).
STUDIES = {
    "overfitting": overfitting,
    "reproduce-000": reproduce_000,
    "reproduce-001": reproduce_001,
    "reproduce-002": reproduce_002,
    "reproduce-003": reproduce_003,
    "reproduce-004": reproduce_004,
}
# Names that run several studies in turn.
GROUPS: dict[str, list[str]] = {
    "reproduce": [
        "reproduce-000",
        "reproduce-001",
        "reproduce-004",
        "reproduce-003",
        "reproduce-002",
    ],
}

DATASETS = ("mnist", "fashion_mnist")
SAMPLERS = ("tpe", "random", "qmc", "grid", "nsga2")
PRUNERS = ("median", "percentile", "hyperband", "none")
OBJECTIVES = ("penalized", "pareto")


def _number(convert, minimum, *, inclusive: bool, what: str):
    """An argparse type: `convert(text)`, finite, and above (or at) `minimum`."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value >= minimum if inclusive else value > minimum) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _number(int, 0, inclusive=False, what="a positive integer")
positive_float = _number(float, 0.0, inclusive=False, what="a positive number")
non_negative_float = _number(float, 0.0, inclusive=True, what="a number >= 0")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    defaults = _default_settings()
    p = _Parser(
        prog="python -m studies.run",
        description="Run an Optuna study of kerasnn networks and write its report.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("study", nargs="?", default="overfitting", help="which study (see --list)")
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help=f"dataset (default: the study's, else {defaults.dataset})",
    )
    p.add_argument(
        "--trials",
        type=positive_int,
        default=None,
        help="target number of finished trials of the study, across all workers "
        f"(default: the grid's size, else {defaults.trials})",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        help="stop starting trials after this many seconds",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"maximum epochs per trial (default: the study's, else {defaults.epochs})",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the sampler and every trial")
    p.add_argument(
        "--subset",
        type=positive_int,
        default=None,
        help="train on the first N training images only",
    )
    p.add_argument(
        "--storage",
        default=defaults.storage,
        help="SQLAlchemy URL (sqlite:///..., postgresql://...) or a journal path *.log",
    )
    p.add_argument(
        "--study-name",
        default=None,
        help="name in the storage (default: STUDY-DATASET, plus -pareto)",
    )
    p.add_argument("--fresh", action="store_true", help="delete the stored study and start over")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the report from the storage without training",
    )
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="tpe",
        help="Optuna sampler (grid studies always use their grid)",
    )
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        default=None,
        help="per-epoch pruner: median keeps trials in the top half of completed ones at "
        "each epoch, percentile the top 10%% (half the epochs, may miss slow starters), "
        "hyperband runs successive-halving brackets "
        f"(default: the study's, else {defaults.pruner})",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="penalized",
        help="penalized: val_acc - penalty*max(0, gap); pareto: maximise val_acc and minimise gap",
    )
    p.add_argument(
        "--penalty",
        type=non_negative_float,
        default=defaults.penalty,
        help="weight of the train-validation gap in the penalized objective",
    )
    p.add_argument(
        "--max-failures",
        type=positive_int,
        default=defaults.max_failures,
        help="stop after this many failed trials in a row",
    )
    p.add_argument("--reports", default=defaults.reports, help="folder for the reports")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="start this many local worker processes on the storage and wait for them "
        "(use a journal file or PostgreSQL; SQLite makes parallel writers wait)",
    )
    p.add_argument(
        "--rank",
        type=int,
        default=0,
        help="this worker's number when several run one study (the sampler is seeded with "
        "seed+rank, so workers try different configurations); --workers numbers its own",
    )
    p.add_argument(
        "--heartbeat",
        type=positive_int,
        default=HEARTBEAT_INTERVAL,
        help="seconds between a running trial's heartbeats in an RDB storage; a trial "
        "without one for 4 times as long (a killed worker's) is marked FAIL and retried",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="leave the report to another process (the workers of --workers do)",
    )
    return p


# Kept here rather than imported so that `--help` needs neither Optuna nor SQLAlchemy.
HEARTBEAT_INTERVAL = 10


def _default_settings():
    from studies.engine import Settings

    return Settings()


class Progress:
    """One line per trial: number, state and value, elapsed time, ETA and the best so far."""

    def __init__(self, study_name: str, target: int, already: int):
        self.name = study_name
        self.target = target
        self.already = already
        self.started = time.monotonic()

    def note(self, message: str) -> None:
        print(f"[{self.name}] {message}", flush=True)

    def trial(self, trial, finished: int) -> None:
        elapsed = time.monotonic() - self.started
        done_here = max(1, finished - self.already)
        eta = elapsed / done_here * max(0, self.target - finished)
        user = trial.user_attrs
        if trial.state.name == "COMPLETE":
            outcome = (
                f"objective {user['objective']:.4f} (val {user['val_accuracy']:.4f}, "
                f"gap {user['gap']:+.4f}, {user['epochs']} epochs)"
            )
        elif trial.state.name == "PRUNED":
            outcome = f"pruned after {user.get('epochs', '?')} epochs"
        else:
            outcome = f"failed: {user.get('fail_reason', 'see log')}"
        self.note(
            f"trial {trial.number:>3} {trial.state.name:<8} {outcome} | "
            f"{finished}/{self.target} done, elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def usage_error(message: str) -> int:
    print(f"python -m studies.run: error: {message}", file=sys.stderr)
    return 2


def _command(argv: list[str]) -> str:
    from studies.storage import redact

    shown = list(argv)
    for index, word in enumerate(shown):
        if word == "--storage" and index + 1 < len(shown):
            shown[index + 1] = redact(shown[index + 1])
        elif word.startswith("--storage="):
            shown[index] = "--storage=" + redact(word.split("=", 1)[1])
    return shlex.join(["python", "-m", "studies.run", *shown])


def _interrupt(signum, frame):
    # A second signal (Ctrl-C reaches the workers of --workers and their parent forwards
    # SIGTERM) must not interrupt the clean-up of the first.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Optuna flags heartbeats, metric names and grouped TPE as experimental; they are used
    # on purpose, and the warnings would bury the progress lines.
    warnings.filterwarnings("ignore", message=".*experimental.*")
    warnings.filterwarnings("ignore", message=".*not compatible with tight_layout.*")
    args = parser().parse_args(argv)
    if args.list:
        for name, module in STUDIES.items():
            print(f"{name:<16} {module.QUESTION}")
        for name, members in GROUPS.items():
            print(f"{name:<16} runs {', '.join(members)}")
        return 0
    if args.study not in STUDIES and args.study not in GROUPS:
        return usage_error(
            f"unknown study {args.study!r}; choose one of {', '.join([*STUDIES, *GROUPS])}"
        )
    names = GROUPS.get(args.study, [args.study])
    if args.study_name and len(names) > 1:
        return usage_error("--study-name names one study; it cannot be used with a group")
    if args.workers > 1 and len(names) > 1:
        return usage_error("--workers runs one study; start the group's studies one by one")
    if args.workers > 1 and args.report_only:
        return usage_error("--workers and --report-only cannot be combined")
    status = 0
    for name in names:
        status = run_one(name, args, argv)
        if status:
            break
    if any(name.startswith("reproduce-") for name in names) and status != 2:
        # The seed-by-seed comparison is rebuilt from the storage after any reproduce run.
        from studies.reproduction import write_reproduction

        print(f"reproduction written: {write_reproduction(args.storage, args.reports)}")
    return status


def run_one(name: str, args, argv: list[str]) -> int:
    from kerasnn import DataError, load_dataset
    from studies import engine
    from studies.report import write_report
    from studies.storage import StorageError, open_storage
    from studies.storage import check as check_storage

    module = STUDIES[name]
    study_defaults = getattr(module, "DEFAULTS", {})
    search_space = getattr(module, "SEARCH_SPACE", None)
    settings = engine.Settings()
    dataset_name = args.dataset or study_defaults.get("dataset", settings.dataset)
    objective_name = args.objective
    default_name = f"{name}-{dataset_name}" + ("-pareto" if objective_name == "pareto" else "")
    if search_space is not None:
        grid_size = 1
        for values in search_space.values():
            grid_size *= len(values)
    settings = dataclasses.replace(
        settings,
        study=name,
        dataset=dataset_name,
        trials=args.trials
        or (grid_size if search_space else study_defaults.get("trials", settings.trials)),
        epochs=args.epochs or study_defaults.get("epochs", settings.epochs),
        seed=args.seed,
        subset=args.subset,
        timeout=args.timeout,
        storage=args.storage,
        study_name=args.study_name or default_name,
        sampler=args.sampler,
        pruner=args.pruner or study_defaults.get("pruner", settings.pruner),
        objective=objective_name,
        penalty=args.penalty,
        reports=args.reports,
        max_failures=args.max_failures,
        rank=args.rank,
        command=_command(argv),
    )
    if settings.sampler == "grid" and search_space is None:
        return usage_error(f"study {name!r} has no grid; --sampler grid needs one")

    # Everything that can be checked is checked before anything is written, so that a bad
    # command leaves the storage and the reports folder as they were.
    try:
        check_storage(settings.storage)
    except StorageError as error:
        return usage_error(str(error))
    reports = Path(settings.reports)
    problem = _unwritable(reports)
    if problem:
        return usage_error(problem)

    import optuna

    # Optuna warns of every failed trial with a traceback (also for SIGTERM and diverged
    # runs) and of plots it cannot draw; the progress lines and the report say both.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    folder = reports / settings.study_name
    artifact_dir = reports / "artifacts"
    if args.report_only:
        if not _storage_exists(settings.storage):
            return usage_error(f"no storage at {_shown(settings.storage)}")
        try:
            storage = open_storage(settings.storage, args.heartbeat)
        except StorageError as error:
            return usage_error(str(error))
        if settings.study_name not in optuna.get_all_study_names(storage):
            return usage_error(f"no study {settings.study_name!r} in {_shown(settings.storage)}")
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
        for number in engine.fail_dead_trials(study):
            print(f"trial {number}'s worker died; marked FAIL and queued again")
        write_report(study, folder, settings, artifact_dir)
        print(f"report rebuilt: {folder}")
        return 0

    try:
        dataset = load_dataset(
            settings.dataset,
            scale=study_defaults.get("scale", "unit"),
        )
    except (DataError, ValueError) as error:
        return usage_error(str(error))
    if settings.subset:
        dataset = dataset.subset(settings.subset)

    try:
        storage = open_storage(settings.storage, args.heartbeat)
    except StorageError as error:
        return usage_error(str(error))
    try:
        study = engine.open_study(settings, storage, search_space, fresh=args.fresh)
    except engine.SettingsMismatch as error:
        return usage_error(str(error))
    try:
        reports.mkdir(parents=True, exist_ok=True)
        probe = reports / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        return usage_error(f"reports folder {reports} cannot be written: {error.strerror}")
    study.set_user_attr("question", module.QUESTION)
    study.set_user_attr("command", settings.command)
    if args.workers > 1:
        return run_workers(study, settings, args, argv, folder, artifact_dir)

    finished = engine.count(study, engine.FINISHED)
    progress = Progress(settings.study_name, settings.trials, finished)
    if finished:
        progress.note(
            f"continuing study {settings.study_name}: {finished} of {settings.trials} trials done"
        )
    else:
        progress.note(f"starting study {settings.study_name}: {settings.trials} trials")
    progress.note(f"{dataset.describe()}; storage {_shown(settings.storage)}")

    status = 0
    # SIGINT too: a worker started in the background inherits SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        engine.run(study, module, settings, dataset, settings.trials, progress)
    except KeyboardInterrupt as interrupt:
        progress.note(f"interrupted ({interrupt or 'SIGINT'}); the running trial is marked FAIL")
        status = 130
    except engine.StudyFailing as error:
        progress.note(str(error))
        status = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.no_report:
        return status
    write_report(study, folder, settings, artifact_dir)
    progress.note(f"report written: {folder}")
    return status


def run_workers(study, settings, args, argv: list[str], folder: Path, artifact_dir: Path) -> int:
    """Runs the study in `args.workers` local processes and reports on the study as a whole.

    Each worker is `python -m studies.run` with this command's options (less --workers and
    --fresh, which this process has already done); the storage hands each its trials and
    the shared target stops them together. Their output goes to FOLDER/workers/*.log.
    """
    from studies import engine
    from studies.report import write_report

    if settings.storage.startswith("sqlite"):
        print(
            "warning: SQLite locks the whole database on every write, so parallel workers "
            "wait on each other; use a journal file (*.log) or PostgreSQL for --workers",
            file=sys.stderr,
        )
    child_argv = _without(argv, "--workers", takes_value=True)
    child_argv = _without(child_argv, "--fresh", takes_value=False)
    child_argv = _without(child_argv, "--rank", takes_value=True)
    command = [sys.executable, "-m", "studies.run", *child_argv, "--no-report"]
    logs = folder / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    finished = engine.count(study, engine.FINISHED)
    progress = Progress(settings.study_name, settings.trials, finished)
    progress.note(
        f"{'continuing' if finished else 'starting'} study {settings.study_name} with "
        f"{args.workers} workers: {finished} of {settings.trials} trials done; "
        f"storage {_shown(settings.storage)}; worker logs in {logs}"
    )
    workers = []
    for index in range(1, args.workers + 1):
        log = open(logs / f"worker-{index}.log", "w")  # Closed once the workers exit.
        rank = ["--rank", str(args.rank + index - 1)]
        process = subprocess.Popen(
            command + rank, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        workers.append((index, process, log))
    seen = {trial.number for trial in study.get_trials(deepcopy=False) if trial.state.is_finished()}
    status = 0
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            running = [process for _, process, _ in workers if process.poll() is None]
            seen |= _report_new_trials(study, seen, progress)
            if not running:
                break
            time.sleep(2)
    except KeyboardInterrupt as interrupt:
        progress.note(f"interrupted ({interrupt or 'SIGINT'}); stopping the workers")
        for _, process, _ in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process, _ in workers:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        status = 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for _, _, log in workers:
            log.close()
    for index, process, _ in workers:
        if process.returncode not in (0, None) and status != 130:
            last = _last_line(logs / f"worker-{index}.log")
            progress.note(f"worker {index} exited with status {process.returncode}: {last}")
            status = status or process.returncode
    for number in engine.fail_dead_trials(study):
        progress.note(f"trial {number}'s worker died; marked FAIL and queued again")
    _report_new_trials(study, seen, progress)
    finished = engine.count(study, engine.FINISHED)
    progress.note(f"{finished} of {settings.trials} trials finished")
    if not args.no_report:
        write_report(study, folder, settings, artifact_dir)
        progress.note(f"report written: {folder}")
    return status


def _report_new_trials(study, seen: set[int], progress: Progress) -> set[int]:
    """Prints a progress line for each trial that finished since the last call."""
    from studies import engine

    new = set()
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number):
        if trial.state.is_finished() and trial.number not in seen | new:
            new.add(trial.number)
            progress.trial(trial, engine.count(study, engine.FINISHED))
    return new


def _without(argv: list[str], option: str, takes_value: bool) -> list[str]:
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = takes_value
        elif not (takes_value and word.startswith(option + "=")):
            kept.append(word)
    return kept


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def _unwritable(folder: Path) -> str | None:
    """Why the reports folder cannot be created or written, or None; creates nothing."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"reports folder {folder} cannot be created: {existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"reports folder {folder} cannot be written: {existing} is read-only"
    return None


def _storage_exists(url: str) -> bool:
    """Whether a file storage exists already (a report must not create an empty one)."""
    from studies.storage import is_journal

    if is_journal(url):
        return Path(url).is_file()
    if url.startswith("sqlite"):
        import sqlalchemy

        return Path(sqlalchemy.engine.make_url(url).database or "").is_file()
    return True


def _shown(url: str) -> str:
    from studies.storage import redact

    return redact(url)


if __name__ == "__main__":
    sys.exit(main())
