"""The stored reproduce runs, read back from the Optuna storage as plain values.

Every number on "our" side of REPRODUCTION.md comes from here: the trials' user attributes
(best-epoch figures and per-epoch histories) and their stored first-layer weights.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np

from studies import dataset_identity, variants
from studies.reproduction.verdicts import Sample
from studies.storage import artifacts

# Overfitting is judged by the train-validation accuracy gap averaged over the last epochs,
# which is steadier than the gap of any single epoch.
LATE_EPOCHS = 5


@dataclasses.dataclass(frozen=True)
class Run:
    """One trained configuration at one seed."""

    setting: str
    summary: dict  # Best-epoch figures: val_accuracy, train_accuracy, test_accuracy, best_epoch.
    history: dict  # Per-epoch lists: loss, train_accuracy, val_accuracy, val_loss, ...
    seed: int | None = None  # The TrainConfig.seed it was trained with.
    diverged: bool = False
    seconds: float = 0.0
    worker: str = "?"
    code_version: str = "unknown"
    finished: datetime.datetime | None = None
    trial: object = None  # The stored trial, whose artifacts hold the weights.

    def best(self, key: str) -> float | None:
        """A best-epoch figure (None for a diverged run)."""
        value = None if self.diverged else self.summary.get(key)
        return None if value is None else float(value)

    def final(self, key: str) -> float | None:
        values = self.history.get(key)
        return float(values[-1]) if values else None

    def at_epoch(self, key: str, epoch: int) -> float | None:
        values = self.history.get(key) or []
        return float(values[epoch - 1]) if len(values) >= epoch else None

    def epochs(self) -> int:
        return len(self.history.get("val_accuracy", []))

    def late_gap(self) -> float | None:
        """Training minus validation accuracy, averaged over the last LATE_EPOCHS epochs."""
        if not self.history.get("val_accuracy"):
            return None
        train = np.array(self.history["train_accuracy"][-LATE_EPOCHS:])
        validation = np.array(self.history["val_accuracy"][-LATE_EPOCHS:])
        return float(np.mean(train - validation))

    def loss_rise(self) -> float | None:
        """How far the last epoch's validation loss is above its minimum."""
        losses = self.history.get("val_loss")
        return float(losses[-1] - min(losses)) if losses else None

    def loss_rises(self) -> int:
        """Epochs in which the epoch-averaged training loss rose."""
        return int(np.sum(np.diff(self.history.get("loss", [])) > 0))


@dataclasses.dataclass
class Runs:
    """The runs of one reproduce study by setting, each setting's runs ordered by seed."""

    by_setting: dict[str, list[Run]]
    command: str | None = None  # The command that ran the study.
    storage: object = None  # The Optuna storage, for the stored weights.
    artifact_dir: Path | None = None
    data: str | None = None  # Which data the study ran on, in one line (dataset_identity).

    @property
    def ran(self) -> bool:
        return bool(self.by_setting)

    def all(self) -> list[Run]:
        return [run for runs in self.by_setting.values() for run in runs]

    def first(self, setting: str) -> Run | None:
        runs = self.by_setting.get(setting)
        return runs[0] if runs else None

    def history(self, setting: str) -> dict | None:
        run = self.first(setting)
        return run.history if run else None

    def value(self, setting: str, key: str) -> float | None:
        """The first seed's best-epoch figure."""
        run = self.first(setting)
        return run.best(key) if run else None

    def final(self, setting: str, key: str) -> float | None:
        run = self.first(setting)
        return run.final(key) if run else None

    def diverged(self, setting: str) -> bool:
        run = self.first(setting)
        return bool(run and run.diverged)

    def sample(self, setting: str, measure, *args) -> Sample:
        """`measure(run, *args)` over the setting's seeds, e.g. sample(s, Run.best, "gap")."""
        values = (measure(run, *args) for run in self.by_setting.get(setting, []))
        return Sample(tuple(value for value in values if value is not None))

    def kernel(self, setting: str) -> np.ndarray | None:
        """The first seed's first-layer kernel (best-epoch weights), if it was stored."""
        run = self.first(setting)
        if run is None or run.trial is None or self.artifact_dir is None:
            return None
        return load_kernel(run.trial, self.storage, self.artifact_dir)


def load_runs(
    storage, study: str, default_dataset: str, dataset: str | None = None, artifact_dir=None
) -> Runs:
    """The runs of `study` (e.g. "reproduce-003") on its default dataset, else on any dataset;
    or only on `dataset` when one is given. Empty Runs when none is stored."""
    import optuna

    names = sorted(optuna.get_all_study_names(storage))
    stored = _study_name(names, study, dataset or default_dataset)
    if stored is None and dataset is None:
        stored = next((name for name in names if name.startswith(f"{study}-")), None)
    if stored is None:
        return Runs({}, artifact_dir=artifact_dir)
    loaded = optuna.load_study(study_name=stored, storage=storage)
    trials = _one_trial_per_point(loaded)
    by_setting: dict[str, list[Run]] = {}
    for point in sorted(trials, key=variants.split):  # Each setting's runs in order of seed.
        by_setting.setdefault(variants.split(point)[0], []).append(_run(trials[point]))
    attributes = loaded.user_attrs
    data = dataset_identity.describe(
        dataset_identity.identity(attributes), attributes.get("dataset", stored)
    )
    return Runs(by_setting, attributes.get("command"), storage, artifact_dir, data)


def _study_name(names: list[str], study: str, dataset: str) -> str | None:
    """The study's name on `dataset`: exactly "<study>-<dataset>", else the first (of the
    sorted `names`) with a suffix naming non-default settings ("<study>-<dataset>-subset500")."""
    exact = f"{study}-{dataset}"
    if exact in names:
        return exact
    return next((name for name in names if name.startswith(f"{exact}-")), None)


def _one_trial_per_point(study) -> dict:
    """Each grid point's first finished trial, a COMPLETE one where there is one."""
    from optuna.trial import TrialState

    chosen = {}
    for trial in study.get_trials(deepcopy=False):
        point = trial.params.get(variants.PARAMETER)
        if point is None or "history" not in trial.user_attrs:
            continue
        previous = chosen.get(point)
        if previous is None or (
            previous.state != TrialState.COMPLETE and trial.state == TrialState.COMPLETE
        ):
            chosen[point] = trial
    return chosen


def _run(trial) -> Run:
    attributes = trial.user_attrs
    return Run(
        setting=variants.split(trial.params[variants.PARAMETER])[0],
        summary=attributes,
        history=attributes["history"],
        seed=(attributes.get("train_config") or {}).get("seed"),
        diverged=bool(attributes.get("diverged")),
        seconds=float(attributes.get("seconds") or 0),
        worker=attributes.get("worker", "?"),
        code_version=attributes.get("code_version", "unknown"),
        finished=trial.datetime_complete,
        trial=trial,
    )


def load_kernel(trial, storage, artifact_dir: Path) -> np.ndarray | None:
    """The first Dense layer's kernel stored with the trial (best-epoch weights), or None."""
    return artifacts.load_kernel(trial, storage, artifact_dir)[0]


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where and when the runs behind the document were made."""

    trials: int
    seconds: float
    hosts: list[str]
    versions: list[str]
    commands: list[str]
    seeds: list[int]
    first: datetime.datetime | None
    last: datetime.datetime | None


def provenance(all_runs) -> Provenance:
    runs = [run for runs in all_runs for run in runs.all()]
    ended = [run.finished for run in runs if run.finished]
    return Provenance(
        trials=len(runs),
        seconds=sum(run.seconds for run in runs),
        hosts=sorted({run.worker.split(":")[0] for run in runs}),
        versions=sorted({run.code_version for run in runs}),
        commands=sorted({runs.command for runs in all_runs if runs.command}),
        seeds=sorted({run.seed for run in runs} - {None}),
        first=min(ended) if ended else None,
        last=max(ended) if ended else None,
    )
