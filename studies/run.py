"""The one entry point: `python -m studies.run [STUDY]` runs a study and writes its report."""

from __future__ import annotations

import os

# Quiet TensorFlow's start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

from studies import (  # noqa: E402
    overfitting,
    reproduce_000,
    reproduce_001,
    reproduce_002,
    reproduce_003,
    reproduce_004,
)

# Study name -> module. Each module has a docstring, QUESTION and suggest(trial, train_config);
# it may add SEARCH_SPACE (a grid, run by GridSampler) and DEFAULTS (option defaults).
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
PRUNERS = ("median", "hyperband", "none")
OBJECTIVES = ("penalized", "pareto")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    defaults = _default_settings()
    p = argparse.ArgumentParser(
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
    p.add_argument("--pruner", choices=PRUNERS, default="median", help="per-epoch pruner")
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
    return p


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
        pruner=args.pruner,
        objective=objective_name,
        penalty=args.penalty,
        reports=args.reports,
        max_failures=args.max_failures,
        command=_command(argv),
    )
    if settings.sampler == "grid" and search_space is None:
        return usage_error(f"study {name!r} has no grid; --sampler grid needs one")

    reports = Path(settings.reports)
    try:
        reports.mkdir(parents=True, exist_ok=True)
        probe = reports / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        return usage_error(f"reports folder {reports} cannot be written: {error.strerror}")
    try:
        storage = open_storage(settings.storage)
    except StorageError as error:
        return usage_error(str(error))

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = reports / settings.study_name
    artifact_dir = reports / "artifacts"
    if args.report_only:
        if settings.study_name not in optuna.get_all_study_names(storage):
            return usage_error(f"no study {settings.study_name!r} in {_shown(settings.storage)}")
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
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
        study = engine.open_study(settings, storage, search_space, fresh=args.fresh)
    except engine.SettingsMismatch as error:
        return usage_error(str(error))
    study.set_user_attr("question", module.QUESTION)
    study.set_user_attr("command", settings.command)

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
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM,)}
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
    write_report(study, folder, settings, artifact_dir)
    progress.note(f"report written: {folder}")
    return status


def _shown(url: str) -> str:
    from studies.storage import redact

    return redact(url)


if __name__ == "__main__":
    sys.exit(main())
