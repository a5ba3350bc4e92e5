"""The options of `python -m studies.run`: their value types and the parser, in sections."""

from __future__ import annotations

import argparse
from pathlib import Path

from kerasnn.data import DATASETS
from studies.errors import UsageError, one_line
from studies.settings import (
    DEFAULT_GPU_POPULATION,
    LIMITS,
    OBJECTIVES,
    PRECISION_CHOICES,
    PRUNERS,
    SAMPLERS,
    WARMUP,
    Settings,
)
from studies.storage.heartbeat import MAX_HEARTBEAT


def _number(convert, minimum, maximum=float("inf"), *, what: str):
    """An argparse type: `convert(text)`, finite, at least `minimum` and at most `maximum`."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not minimum <= value <= maximum or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _number(int, 1, what="a positive integer")


def dataset(text: str) -> str:
    """A dataset's name, or the path of an .npz file or a dataset folder (read, and every
    problem with it refused, before anything is written)."""
    path = Path(text)
    if text in DATASETS or path.suffix == ".npz" or path.exists():
        return text
    raise argparse.ArgumentTypeError(
        f"expected {', '.join(DATASETS)}, an .npz file or a dataset folder, got {text!r:.200} "
        "(no such file or folder)"
    )


def at_most(key: str):
    """A positive whole number up to the limit of setting `key` (settings.LIMITS)."""
    return _number(int, 1, LIMITS[key], what=f"a whole number from 1 to {LIMITS[key]:,}")


def _non_negative(text: str) -> float:
    # -0 is 0: the same gap weight must name the same study.
    return float(text) + 0.0


count = _number(int, 0, what="an integer >= 0")
positive_float = _number(float, 1e-9, what="a positive number")
non_negative_float = _number(_non_negative, 0.0, what="a number >= 0")
fraction = _number(float, 1e-9, 1 - 1e-9, what="a number between 0 and 1")
heartbeat = _number(int, 1, MAX_HEARTBEAT, what=f"whole seconds from 1 to {MAX_HEARTBEAT}")


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {parser_message(message)}\n")


class RaisingParser(Parser):
    """The same parser, except that a bad option raises UsageError with the message the
    command line prints after "error: ", so that a Python caller is never exited."""

    def error(self, message: str):
        raise UsageError(parser_message(message))


def parser_message(message: str) -> str:
    """What a bad option says: argparse's message on one line, pointing at --help."""
    return f"{one_line(message)} (see --help)"


class DeprecatedGapWeight(argparse.Action):
    """--penalty: noted, and warned about only once the command is known to be valid, so
    that a refused command still says one line."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.deprecated_penalty = True
        setattr(namespace, self.dest, values)


def parser(*, raising: bool = False) -> argparse.ArgumentParser:
    """The parser of `python -m studies.run`, its options in sections for --help.

    Args:
        raising: a bad option raises UsageError instead of exiting the process.
    """
    defaults = Settings()
    p = (RaisingParser if raising else Parser)(
        prog="python -m studies.run",
        description="Run an Optuna study of kerasnn networks, confirm its best configurations "
        "over fresh seeds and write its report.",
        epilog="python -m studies.run replicate REPORT_FOLDER trains a report's answer again on "
        "this machine and says whether it replicates (see its --help).",
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
    _study_options(p.add_argument_group("the study"), defaults)
    _stage_options(p.add_argument_group("after the search: confirmation and effects"), defaults)
    _pruning_options(p.add_argument_group("pruning: how a search saves epochs"), defaults)
    _run_options(p.add_argument_group("storage and report"), defaults)
    _worker_options(p.add_argument_group("many workers"), defaults)
    return p


def _study_options(p, defaults: Settings) -> None:
    p.add_argument(
        "--dataset",
        type=dataset,
        metavar="NAME|PATH",
        help=f"dataset: {' or '.join(DATASETS)}, an .npz file (x_train, y_train[, x_test, "
        "y_test]), or a folder of the four IDX files or of CIFAR-10's python batches "
        "(default: the study's)",
    )
    p.add_argument(
        "--trials",
        type=at_most("trials"),
        help="target number of finished trials of the study, across all workers "
        f"(default: the grid's size, else {defaults.trials})",
    )
    p.add_argument(
        "--timeout",
        type=_number(float, 1e-9, 1e7, what="seconds from 0 to 10,000,000"),
        help="stop starting trials (and confirmation runs) after N seconds",
    )
    p.add_argument(
        "--epochs",
        type=at_most("epochs"),
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
        "--precision",
        choices=PRECISION_CHOICES,
        help="float32, or bfloat16 products with float32 weights (Keras' mixed_bfloat16); "
        "auto is bfloat16 where the CPU computes it natively and it pays (see "
        "reports/benchmarks.md), float32 elsewhere and always for the reproduce studies (auto)",
    )
    p.add_argument(
        "--penalty",
        dest="gap_weight",
        type=non_negative_float,
        action=DeprecatedGapWeight,
        help="deprecated alias of --gap-weight",
    )


def _stage_options(p, defaults: Settings) -> None:
    """The stages after the search: the confirmation and the effects stage."""
    p.add_argument(
        "--confirm-top",
        type=_number(
            int, 0, LIMITS["confirm_top"], what=f"a whole number from 0 to {LIMITS['confirm_top']}"
        ),
        help="re-train this many of the best configurations over fresh seeds; 0 skips "
        f"({defaults.confirm_top})",
    )
    p.add_argument(
        "--confirm-seeds",
        type=at_most("confirm_seeds"),
        help=f"fresh seeds per confirmed configuration ({defaults.confirm_seeds})",
    )
    p.add_argument(
        "--effects-seeds",
        type=_number(
            int,
            0,
            LIMITS["effects_seeds"],
            what=f"a whole number from 0 to {LIMITS['effects_seeds']}",
        ),
        help="vary each scientific hyperparameter alone around the confirmed winner, each "
        f"variant with N fresh seeds; 0 skips ({defaults.effects_seeds})",
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
        "--early-stopping-patience",
        type=at_most("early_stopping_patience"),
        help="end a search trial after this many epochs without a better validation "
        "accuracy (the objective is scored at the best one anyway)",
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
        type=at_most("max_failures"),
        help=f"stop after this many failed trials in a row ({defaults.max_failures})",
    )
    p.add_argument("--reports", help=f"folder for the reports ({defaults.reports})")
    p.add_argument(
        "--no-report",
        action="store_true",
        default=None,
        help="leave the report to another process (the workers of --workers do)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        default=None,
        help="show no progress: no bar (shown in a terminal or a notebook) and no line per "
        "trial (written elsewhere); what goes wrong is still said",
    )


def _worker_options(p, defaults: Settings) -> None:
    p.add_argument(
        "--workers",
        type=at_most("workers"),
        help="start this many local worker processes on the storage and wait for them "
        "(capped by the trials left and the free memory; use a journal file or PostgreSQL)",
    )
    p.add_argument(
        "--stage-processes",
        type=at_most("stage_processes"),
        help="train the confirmation's and the effects' runs in this many processes, each "
        "with its share of the cores' threads (default: one single-threaded process per core, "
        "capped by the runs left and the free memory; 1 trains them one at a time in this "
        "process); with --workers the workers share them",
    )
    p.add_argument(
        "--rank",
        type=int,
        help="this worker's number when several run one study (the sampler is seeded with "
        "seed+rank, so workers try different configurations); --workers numbers its own",
    )
    p.add_argument(
        "--population",
        type=at_most("population"),
        help="train this many trials (and confirmation runs) at once as one compiled "
        "population on Keras' JAX backend; 1 trains one at a time (default: "
        f"{DEFAULT_GPU_POPULATION} where JAX sees a GPU, else 1); compiled programs are kept "
        "in ~/.cache/kerasnn/jax unless JAX_COMPILATION_CACHE_DIR names a folder",
    )
    p.add_argument(
        "--heartbeat",
        type=heartbeat,
        help="seconds between a running trial's heartbeats in an RDB storage, fixed when "
        "the study is created; a trial without one for 4 times as long is failed and "
        f"retried ({defaults.heartbeat})",
    )
