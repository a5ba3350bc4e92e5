"""The one entry point: `python -m studies.run [STUDY]` runs a study and writes its report.

The flow of one study reads top to bottom in `run_study`: settings -> checks -> open or
continue the study -> search trials -> confirm the best -> report.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

# Quiet TensorFlow's start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kerasnn.data import DATASETS  # noqa: E402
from studies import (  # noqa: E402
    overfitting,
    reproduce_000,
    reproduce_001,
    reproduce_002,
    reproduce_003,
    reproduce_004,
)
from studies.cli import (  # noqa: E402
    DeprecatedGapWeight,
    Parser,
    RuntimeFault,
    count,
    faults_as_one_line,
    fraction,
    heartbeat,
    non_negative_float,
    one_line,
    positive_float,
    positive_int,
)
from studies.settings import (  # noqa: E402
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    WARMUP,
    Settings,
    UsageError,
    from_arguments,
)

# Study name -> module. Each module has a docstring, QUESTION and suggest(trial, train_config);
# it may add SEARCH_SPACE (a grid, run by GridSampler), DEFAULTS (option defaults) and
# SCIENTIFIC (the hyperparameters its question is about, for the findings).
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


def parser() -> argparse.ArgumentParser:
    defaults = Settings()
    p = Parser(
        prog="python -m studies.run",
        description="Run an Optuna study of kerasnn networks, confirm its best configurations "
        "over fresh seeds and write its report.",
        # Each help text names its default itself: the study's own may differ.
        # Options are matched exactly: a prefix such as --work would otherwise be --workers.
        allow_abbrev=False,
        argument_default=None,
    )
    p.add_argument(
        "study",
        nargs="?",
        default="overfitting",
        help="which study (see --list; default: overfitting)",
    )
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    _study_options(p, defaults)
    _pruning_options(p, defaults)
    _run_options(p, defaults)
    _worker_options(p, defaults)
    return p


def _study_options(p, defaults: Settings) -> None:
    p.add_argument("--dataset", choices=tuple(DATASETS), help="dataset (default: the study's)")
    p.add_argument(
        "--trials",
        type=positive_int,
        help="target number of finished trials of the study, across all workers "
        f"(default: the grid's size, else {defaults.trials})",
    )
    p.add_argument("--timeout", type=positive_float, help="stop starting trials after N seconds")
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"maximum epochs per trial (default: the study's, else {defaults.epochs})",
    )
    p.add_argument("--seed", type=int, help="seeds the sampler and every trial (0)")
    p.add_argument("--subset", type=positive_int, help="train on the first N training images")
    p.add_argument("--sampler", choices=SAMPLERS, help="Optuna sampler (tpe; grids use theirs)")
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="penalized: val_acc - gap_weight*max(0, gap); pareto: maximise val_acc and "
        "minimise gap (penalized)",
    )
    p.add_argument(
        "--gap-weight",
        type=non_negative_float,
        help=f"weight of the train-validation gap in the penalized objective "
        f"({defaults.gap_weight:g})",
    )
    p.add_argument(
        "--penalty",
        dest="gap_weight",
        type=non_negative_float,
        action=DeprecatedGapWeight,
        help="deprecated alias of --gap-weight",
    )
    p.add_argument(
        "--confirm-top",
        type=count,
        help=f"re-train the best K configurations over fresh seeds; 0 skips ({defaults.confirm_top})",
    )
    p.add_argument(
        "--confirm-seeds",
        type=positive_int,
        help=f"fresh seeds per confirmed configuration ({defaults.confirm_seeds})",
    )


def _pruning_options(p, defaults: Settings) -> None:
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        help="per-epoch pruner: median keeps trials above the median of completed ones, "
        "percentile the top 10%%, sha successive halving, hyperband its brackets, discard "
        f"judges once and keeps the top --keep (default: the study's, else {defaults.pruner})",
    )
    p.add_argument(
        "--warmup",
        type=count,
        help="epochs every trial trains before the pruner judges it, less one (per pruner: "
        f"{', '.join(f'{k} {v}' for k, v in WARMUP.items())})",
    )
    p.add_argument(
        "--keep",
        type=fraction,
        help=f"fraction of trials the discard pruner keeps ({defaults.keep:.2g})",
    )
    p.add_argument(
        "--pruner-patience",
        type=positive_int,
        help="prune only after this many epochs without improvement (Optuna's PatientPruner)",
    )
    p.add_argument(
        "--patience",
        type=positive_int,
        help="end a search trial after this many epochs without a better validation "
        "accuracy (the objective is scored at the best one anyway)",
    )
    p.add_argument(
        "--terminate-below",
        type=positive_float,
        metavar="NOISE",
        help="end the search once Optuna's terminator bounds the possible improvement "
        "below NOISE (the seed noise a confirmation measured; needs PyTorch)",
    )


def _run_options(p, defaults: Settings) -> None:
    p.add_argument(
        "--storage",
        help="SQLAlchemy URL (sqlite:///..., postgresql://...) or a journal path *.log; "
        "$KERASNN_STORAGE when not given, which keeps a password out of the process list "
        f"({defaults.storage})",
    )
    p.add_argument(
        "--study-name",
        help="name in the storage (default: STUDY-DATASET plus every identity setting that "
        "differs from the study's defaults, e.g. -subset2000-epochs2)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        default=None,
        help="delete the stored study and start over",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        default=None,
        help="rebuild the report from the storage without training",
    )
    p.add_argument(
        "--max-failures",
        type=positive_int,
        help=f"stop after this many failed trials in a row ({defaults.max_failures})",
    )
    p.add_argument("--reports", help=f"folder for the reports ({defaults.reports})")
    p.add_argument(
        "--no-report",
        action="store_true",
        default=None,
        help="leave the report to another process (the workers of --workers do)",
    )


def _worker_options(p, defaults: Settings) -> None:
    p.add_argument(
        "--workers",
        type=positive_int,
        help="start this many local worker processes on the storage and wait for them "
        "(capped by the trials left and the free memory; use a journal file or PostgreSQL)",
    )
    p.add_argument(
        "--rank",
        type=int,
        help="this worker's number when several run one study (the sampler is seeded with "
        "seed+rank, so workers try different configurations); --workers numbers its own",
    )
    p.add_argument(
        "--heartbeat",
        type=heartbeat,
        help="seconds between a running trial's heartbeats in an RDB storage, fixed when "
        "the study is created; a trial without one for 4 times as long is failed and "
        f"retried ({defaults.heartbeat})",
    )


def usage_error(message: str) -> int:
    print(f"python -m studies.run: error: {one_line(message)}", file=sys.stderr)
    return 2


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
    try:
        return _run_all(args)
    except UsageError as error:
        return usage_error(str(error))
    except RuntimeFault as error:
        print(f"python -m studies.run: error: {one_line(str(error))}", file=sys.stderr)
        return 1


def _run_all(args) -> int:
    if args.study not in STUDIES and args.study not in GROUPS:
        raise UsageError(
            f"unknown study {args.study!r}; choose one of {', '.join([*STUDIES, *GROUPS])}"
        )
    names = GROUPS.get(args.study, [args.study])
    if len(names) > 1 and args.study_name:
        raise UsageError("--study-name names one study; it cannot be used with a group")
    if len(names) > 1 and (args.workers or 1) > 1:
        raise UsageError("--workers runs one study; start the group's studies one by one")
    settings = [from_arguments(name, STUDIES[name], args) for name in names]
    if getattr(args, "deprecated_penalty", False):
        print("warning: --penalty is deprecated; use --gap-weight", file=sys.stderr)
    status = 0
    for one in settings:
        status = run_study(one, STUDIES[one.study])
        if status:
            break
    if any(name.startswith("reproduce-") for name in names) and not args.no_report:
        # The seed-by-seed comparison is rebuilt from the storage after any reproduce run.
        from studies.reproduction import write_reproduction

        with faults_as_one_line():
            path = write_reproduction(settings[0].storage, settings[0].reports)
        print(f"reproduction written: {path}")
    return status


def run_study(settings: Settings, module) -> int:
    """Checks everything, then runs one study's search, confirmation and report."""
    from studies import pipeline

    with faults_as_one_line():
        if settings.report_only:
            return pipeline.rebuild_report(settings, module)
        return pipeline.run(settings, module)


if __name__ == "__main__":
    sys.exit(main())
