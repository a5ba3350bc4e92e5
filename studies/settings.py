"""What a study run is asked to do: `Settings`, built once from the command line and checked.

Nothing here imports TensorFlow or Optuna, so `--help`, `--list` and every usage error
answer at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

from kerasnn.config import MAX_EPOCHS
from kerasnn.data import dataset_name
from kerasnn.precision import PRECISIONS, native_bfloat16
from kerasnn.scoring import DEFAULT_GAP_WEIGHT, DIRECTION, PARETO_DIRECTIONS
from studies import machine
from studies.errors import UsageError
from studies.machine import DEFAULT_GPU_POPULATION  # noqa: F401  (named by --help)
from studies.storage.files import is_writable
from studies.storage.heartbeat import HEARTBEAT_INTERVAL

SAMPLERS = ("tpe", "random", "qmc", "grid", "nsga2")
PRUNERS = ("median", "percentile", "sha", "hyperband", "discard", "none")
# The warm-up (in steps) of each pruner when --warmup is not given (see studies.pruning).
WARMUP = {"median": 2, "percentile": 1, "sha": 2, "hyperband": 2, "discard": 1}
OBJECTIVES = ("penalized", "pareto")
# --precision: "auto" is bfloat16 where the CPU computes it natively and benchmarks/precision.py
# found that it pays and keeps the answer, float32 elsewhere (see `resolve_precision`).
PRECISION_CHOICES = ("auto", *PRECISIONS)
# What benchmarks/precision.py decided on a CPU with native bfloat16 (reports/benchmarks.md,
# section "precision"): the quick job (5,000 images) ran faster in bfloat16 and kept its
# answer, but the default job (the whole training split, most of its time in small batches,
# where the step table shows float32's XLA epochs beating bfloat16's graph) ran slower.
# bfloat16 for large batches only would speed up only the small share of the job's time
# they take (the floor section's time-by-batch table), so auto stays float32.
BFLOAT16_PAYS = False
# Studies that reproduce float32 results: they train in float32 whatever the CPU.
FLOAT32_STUDIES_PREFIX = "reproduce-"
DEFAULT_STORAGE = "sqlite:///reports/kerasnn.db"
# The storage URL may be given in this variable instead of --storage: a URL with a password
# then stays out of the process list (the workers of --workers get theirs this way).
STORAGE_VARIABLE = "KERASNN_STORAGE"

# The largest value of each count: a bound stated in the option's error, checked before
# anything is allocated (a list of planned runs, say).
LIMITS = {
    "trials": 100_000,
    "epochs": MAX_EPOCHS,
    "early_stopping_patience": MAX_EPOCHS,
    "confirm_top": 100,
    "confirm_seeds": 100,
    "effects_seeds": 100,
    "workers": 256,
    "stage_processes": 256,
    "population": 64,
    "max_failures": 100_000,
}
# Pruning options and the pruners they act on; given for another pruner they would change
# nothing, so they are refused rather than stored as if they had taken effect.
PRUNING_OPTIONS = {
    "warmup": ("median", "percentile", "sha", "hyperband", "discard"),
    "keep": ("discard",),
    "pruner_patience": ("median", "percentile", "sha", "hyperband", "discard"),
}
# The settings a study's pruning is made of: a continued study keeps them, so its trials
# are never judged by two pruners.
PRUNING = ("pruner", "warmup", "keep", "pruner_patience", "early_stopping_patience")

# Samplers take 32-bit seeds; each worker's seed is the study seed plus its rank.
SEED_LIMIT = 2**32
# A study name becomes a folder name: kept to characters every file system accepts.
MAX_FOLDER_NAME = 100
# Folders of the reports folder that are not a study's: the trials' artifacts and the
# reproduction's figures.
RESERVED_FOLDERS = ("artifacts", "reproduction")

# The settings that define what a study's trials mean; a stored study is continued only
# when these match, so its trials stay comparable.
IDENTITY = (
    "study",
    "dataset",
    "objective",
    "directions",
    "epochs",
    "subset",
    "gap_weight",
    "precision",
    *PRUNING,
)


@dataclasses.dataclass(frozen=True)
class Settings:
    study: str = "overfitting"
    dataset: str = "fashion_mnist"
    trials: int = 40
    epochs: int = 20
    seed: int = 0
    subset: int | None = None
    timeout: float | None = None
    storage: str = DEFAULT_STORAGE
    study_name: str = ""
    sampler: str = "tpe"
    pruner: str = "discard"  # Chosen by benchmarks/study.py (docs/pruning.md).
    warmup: int | None = None  # Steps before the pruner first judges (None: the pruner's own).
    keep: float = 1 / 3  # Fraction of trials the discard pruner keeps.
    pruner_patience: int | None = None  # Wraps the pruner in Optuna's PatientPruner.
    early_stopping_patience: int | None = (
        None  # Ends a search trial after this many epochs without progress.
    )
    objective: str = "penalized"
    gap_weight: float = DEFAULT_GAP_WEIGHT
    reports: str = "reports"
    max_failures: int = 5  # Consecutive failed trials that stop the study.
    rank: int = 0  # This worker's number among several; offsets the sampler's seed.
    heartbeat: int = HEARTBEAT_INTERVAL
    workers: int = 1
    # Processes that share the confirmation's and the effects' planned runs, each with its
    # share of the cores' threads; None: one per core (studies.engine.workers).
    stage_processes: int | None = None
    # Runs trained together as one population (kerasnn.population, the JAX backend); None:
    # left to the machine, which `from_arguments` settles (studies.machine.population).
    population: int | None = None
    confirm_top: int = 3  # Configurations re-trained over fresh seeds after the search.
    confirm_seeds: int = 3  # Fresh seeds per confirmed configuration.
    # Fresh seeds per variant of the effects stage (0 skips it; docs/effects.md).
    effects_seeds: int = 0
    fresh: bool = False
    report_only: bool = False
    no_report: bool = False
    no_progress: bool = False  # No bar and no line per trial; what goes wrong is still said.
    scale: str = "unit"  # Pixel scale of the study's data (a study default, no option).
    # "float32" or "bfloat16" (TrainConfig.precision); --precision auto is settled into one of
    # them by `resolve_precision`, so a continued study is never trained in the other.
    precision: str = "float32"

    @property
    def directions(self) -> list[str]:
        if self.objective == "pareto":
            return list(PARETO_DIRECTIONS)
        return [DIRECTION]

    @property
    def folder(self) -> Path:
        """The study's report folder: always inside the reports folder."""
        return Path(self.reports) / folder_name(self.study_name)

    @property
    def artifact_dir(self) -> Path:
        return Path(self.reports) / "artifacts"

    def identity(self) -> dict:
        values = dataclasses.asdict(self)
        values["directions"] = self.directions
        return {key: values[key] for key in IDENTITY}


def folder_name(study_name: str) -> str:
    """`study_name` as one safe folder name inside the reports folder.

    Characters other than letters, digits and ._+=- become '-', and the name neither starts
    nor ends with '.' or '-' (no '..', no hidden folder, nothing a shell reads as an option).
    A name that had to change, is too long, or is a folder the reports folder uses for
    itself gets a digest of the whole name, so two studies never share a folder.
    """
    name = re.sub(r"[^A-Za-z0-9._+=-]+", "-", study_name).strip(".-")
    if (
        name
        and name == study_name
        and len(name) <= MAX_FOLDER_NAME
        and name not in RESERVED_FOLDERS
    ):
        return name
    digest = hashlib.sha256(study_name.encode()).hexdigest()[:8]
    return f"{name[: MAX_FOLDER_NAME - 9] or 'study'}-{digest}"


def default_study_name(settings: Settings, study_defaults: Settings) -> str:
    """STUDY-DATASET (the dataset's short name: "digits" for digits.npz) plus every identity setting that differs from the study's defaults.

    So a smoke run (`--subset 2000 --epochs 2`) is `overfitting-fashion_mnist-subset2000-
    epochs2`, and a run with other pruning (`--pruner none`) `...-prunernone`: neither lands
    on, or is refused by, the default study.
    """
    name = f"{settings.study}-{dataset_name(settings.dataset)}"
    if settings.objective == "pareto":
        name += "-pareto"
    for key in ("subset", "epochs", "gap_weight", *PRUNING):
        value = getattr(settings, key)
        if value != getattr(study_defaults, key) and value is not None:
            shown = f"{value:g}" if isinstance(value, int | float) else str(value)
            name += f"-{key.replace('_', '')}{shown}"
    return name


def study_defaults(module) -> Settings:
    """The defaults of one study: the global ones, overridden by its DEFAULTS and grid."""
    defaults = dict(getattr(module, "DEFAULTS", {}))
    grid = getattr(module, "SEARCH_SPACE", None)
    if grid is not None:
        # A grid is a planned comparison, not a search with a winner to confirm.
        defaults.setdefault("confirm_top", 0)
        defaults["trials"] = 1
        for values in grid.values():
            defaults["trials"] *= len(values)
    return dataclasses.replace(Settings(), **defaults)


def from_arguments(name: str, module, args, *, reading: bool = False) -> Settings:
    """The settings for study `name`: its defaults, then whatever the command line says.

    `reading`: the settings only read a stored study (`studies.open_study`), so its report
    folder need not be writable."""
    defaults = study_defaults(module)
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Settings)
        if field.name != "study" and getattr(args, field.name, None) is not None
    }
    if "storage" not in given and os.environ.get(STORAGE_VARIABLE):
        given["storage"] = os.environ[STORAGE_VARIABLE]
    if "study_name" in given and not given["study_name"].strip():
        raise UsageError("--study-name must name the study (got an empty string)")
    by_machine = "population" not in given
    if not reading:
        # The machine, once, in order: the backend, then K, then the precision.
        given["population"] = machine.population(given.get("population"))
    population = given.get("population") or 1
    given["precision"] = resolve_precision(
        name, getattr(args, "precision", None), population, by_machine
    )
    settings = dataclasses.replace(defaults, study=name, **given)
    _refuse_ineffective(settings, given)
    if not settings.study_name:
        settings = dataclasses.replace(
            settings,
            study_name=default_study_name(settings, dataclasses.replace(defaults, study=name)),
        )
    check(settings, module, reading)
    return settings


def resolve_precision(name: str, asked: str | None, population: int, by_machine: bool) -> str:
    """The precision study `name` trains in, for --precision `asked` (None: auto).

    auto is bfloat16 only where it pays (`BFLOAT16_PAYS`, on a CPU with native bfloat16,
    one run at a time on the TensorFlow backend that the benchmark measured), float32
    elsewhere and always for the reproduce studies. bfloat16 asked for where it cannot
    apply is refused (`by_machine`: the machine chose K, and the refusal says so).
    """
    asked = asked or "auto"
    if name.startswith(FLOAT32_STUDIES_PREFIX):
        if asked == "bfloat16":
            raise UsageError(
                f"--precision bfloat16: study {name!r} reproduces float32 results and "
                "trains in float32"
            )
        return "float32"
    if asked == "bfloat16" and population > 1:
        chosen = " (this machine's choice; --population 1 trains in bfloat16)"
        raise UsageError(
            f"--precision bfloat16: --population {population} trains in float32 only"
            + (chosen if by_machine else "")
        )
    if asked != "auto":
        return asked
    tensorflow = machine.backend() == "tensorflow"
    pays = BFLOAT16_PAYS and tensorflow and population == 1 and native_bfloat16()
    return "bfloat16" if pays else "float32"


def precision_warning(settings: Settings) -> str | None:
    """The warning for bfloat16 on a CPU that emulates it, else None."""
    if settings.precision != "bfloat16" or native_bfloat16():
        return None
    return (
        "warning: --precision bfloat16 on a CPU without native bfloat16 (no avx512_bf16 or "
        "amx_bf16): every product is emulated in float32 and converted, so training is "
        "slower than float32 and its numbers are rounded to bfloat16 for nothing"
    )


def _refuse_ineffective(settings: Settings, given: dict) -> None:
    """Refuses an option that would have no effect in its combination with the others."""
    if settings.objective == "pareto":
        pruning = [option(key) for key in (*PRUNING_OPTIONS, "pruner") if key in given]
        if pruning and settings.pruner != "none":
            raise UsageError(
                f"{', '.join(pruning)}: Optuna cannot prune a two-objective (pareto) study; "
                "leave the pruning options out"
            )
    for key, pruners in PRUNING_OPTIONS.items():
        if key in given and settings.pruner not in pruners:
            raise UsageError(
                f"{option(key)} has no effect with --pruner {settings.pruner}; it applies to "
                f"--pruner {', '.join(pruners)}"
            )


def option(key: str) -> str:
    """The command-line option of setting `key`: study_name is --study-name."""
    return "--" + key.replace("_", "-")


def check(settings: Settings, module, reading: bool = False) -> None:
    """Raises UsageError for settings that cannot run (or, `reading`, cannot be read); looks
    at the file system, writes nothing."""
    if settings.sampler == "grid" and getattr(module, "SEARCH_SPACE", None) is None:
        raise UsageError(f"study {settings.study!r} has no grid; --sampler grid needs one")
    if not 0 <= settings.seed + settings.rank < SEED_LIMIT - settings.workers:
        raise UsageError(
            f"--seed plus --rank must lie in [0, {SEED_LIMIT - settings.workers}), "
            f"got {settings.seed} + {settings.rank}"
        )
    # Every trial is trained with the study's seed (Keras takes it into NumPy, which wants
    # 32 bits), and the confirmation and the effects with the seeds just after it.
    after = settings.confirm_seeds + settings.effects_seeds if settings.confirm_top else 0
    if not 0 <= settings.seed < SEED_LIMIT - after:
        raise UsageError(f"--seed must lie in [0, {SEED_LIMIT - after}), got {settings.seed}")
    _check_search(settings)
    if settings.effects_seeds and not settings.confirm_top:
        raise UsageError(
            "--effects-seeds varies each hyperparameter around the confirmed winner; "
            "--confirm-top 0 leaves no winner"
        )
    if not settings.reports.strip():
        raise UsageError("--reports must name a folder (got an empty string)")
    for key in ("reports", "storage"):
        problem = too_long(getattr(settings, key))
        if problem:
            raise UsageError(f"{option(key)}: {problem}")
    if settings.report_only:
        clashes = {"workers": settings.workers > 1, "fresh": settings.fresh}
        clashes["no_report"] = settings.no_report
        for key in (key for key, clash in clashes.items() if clash):
            raise UsageError(f"{option(key)} and --report-only cannot be combined")
    # The study's own folder too: a report that cannot be written is better said before
    # the trials are trained than after.
    problem = unwritable(Path(settings.reports)) or unwritable(settings.folder, "report folder")
    if problem and not reading:
        raise UsageError(problem)


def _check_search(settings: Settings) -> None:
    """The pruning and stopping options: within the epochs, and what they need installed."""
    if settings.warmup is not None and settings.warmup >= settings.epochs:
        raise UsageError(
            f"--warmup {settings.warmup} leaves nothing to prune in {settings.epochs} epochs"
        )
    if not 0 < settings.keep < 1:
        raise UsageError(f"--keep must lie strictly between 0 and 1, got {settings.keep:g}")
    if settings.warmup == 0 and settings.pruner in ("sha", "hyperband"):
        raise UsageError(
            f"--pruner {settings.pruner} needs --warmup of at least 1 (its first rung, in epochs)"
        )


# What Linux file systems allow: a name of 255 bytes, a path of 4096.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def too_long(path: str) -> str | None:
    """Why `path` (or a storage URL) is too long for a file system to hold, or None."""
    if len(path.encode()) >= MAX_PATH_BYTES:
        return f"a path of {len(path.encode())} bytes is longer than the {MAX_PATH_BYTES} allowed"
    longest = max(path.split("/"), key=lambda name: len(name.encode()))
    if len(longest.encode()) > MAX_NAME_BYTES:
        return (
            f"a name of {len(longest.encode())} bytes ({longest[:20]}...) is longer than the "
            f"{MAX_NAME_BYTES} a file system allows"
        )
    return None


def unwritable(folder: Path, what: str = "reports folder") -> str | None:
    """Why `folder` cannot be created or written, or None; creates nothing."""
    if folder.is_symlink() and not folder.exists():
        return f"{what} {folder} is a link to nothing"
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{what} {folder} cannot be created: {existing} is not a folder"
    # is_writable, not os.access alone: to root, os.access says yes even to /proc.
    if not (is_writable(existing) and os.access(existing, os.X_OK)):
        return f"{what} {folder} cannot be written: {existing} is read-only"
    if folder.exists() and not folder.is_dir():
        return f"{what} {folder} is a file"
    return None
