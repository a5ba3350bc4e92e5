"""One trial: suggest a configuration, train it, record what it measured, score it."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import optuna
from optuna.trial import TrialState
from optuna_integration import KerasPruningCallback

from kerasnn import DivergedError, TrainConfig, train
from kerasnn import objective as scoring
from kerasnn.plots import plot_curves, save_weight_mosaic
from kerasnn.training import divergence
from studies import artifacts
from studies.engine import FINISHED, PENDING, DuplicateTrial, SurplusTrial


def worker_id() -> str:
    """host:pid, stored on each trial so that a dead worker's trials can be found."""
    return f"{os.uname().nodename}:{os.getpid()}"


class _Record(keras.callbacks.Callback):
    """Adds the per-epoch penalized score to the logs, for the pruning callback after it."""

    def __init__(self, gap_weight: float):
        super().__init__()
        self.gap_weight = gap_weight
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        if logs is not None and "val_accuracy" in logs:
            logs["objective"] = scoring.score(
                logs["val_accuracy"], logs["train_accuracy"], self.gap_weight
            )


class _Prune(KerasPruningCallback):
    """Optuna's pruning callback, except on the epoch where a run diverged.

    Pruning that run would file it as PRUNED without a reason; letting it end (kerasnn's
    training stops a diverged run itself) makes the objective raise DivergedError, so the
    trial is FAIL with the divergence reason stored.
    """

    def on_epoch_end(self, epoch, logs=None):
        if divergence(logs or {}, epoch):
            return
        super().on_epoch_end(epoch, logs)


class TrialObjective:
    """The function Optuna calls per trial; each step is a function below."""

    def __init__(self, study_module, settings, dataset, code_version: str):
        self.module = study_module
        self.settings = settings
        self.dataset = dataset
        self.code_version = code_version
        # --patience stops a trial once its validation accuracy, which picks the epoch the
        # objective is scored at, has not improved for that many epochs: a later epoch
        # could change the trial's score only by beating it.
        self.base = TrainConfig(
            epochs=settings.epochs, seed=settings.seed, early_stopping_patience=settings.patience
        )
        # A search chooses among its trials, so they never see the test set (only the
        # confirmed winner does). A grid is a planned comparison whose every point is
        # reported, test accuracy included, as the seed reports it reproduces did.
        self.test = getattr(study_module, "SEARCH_SPACE", None) is not None

    def __call__(self, trial: optuna.Trial):
        # First of all, so that a worker killed at any later moment can be recognised.
        trial.set_user_attr("worker", worker_id())
        with stopped_with_reason(trial):
            trial.set_user_attr("code_version", self.code_version)
            refuse_surplus(trial, self.settings.trials)
            model_config, train_config = self.module.suggest(trial, self.base)
            refuse_duplicate(trial)
            result = train_trial(
                trial, model_config, train_config, self.dataset, self.settings, test=self.test
            )
            record(trial, result)
            values = score(trial, result, self.settings)
            upload(trial, result, self.settings.artifact_dir)
            return values


@contextlib.contextmanager
def stopped_with_reason(trial: optuna.Trial):
    """A stop signal may arrive at any step, not only while training; Optuna marks the trial
    FAIL and the report says why. (A second signal is ignored by then.)"""
    try:
        yield
    except KeyboardInterrupt:
        trial.set_user_attr("fail_reason", "interrupted (SIGINT or SIGTERM)")
        raise


def refuse_surplus(trial: optuna.Trial, target: int) -> None:
    """Steps aside when other workers' trials already make up the target.

    Workers check the count before asking for a trial, but two of them may ask at the same
    moment; the later-numbered trial then steps aside so the target is exact.
    """
    ahead = [
        other
        for other in trial.study.get_trials(deepcopy=False, states=FINISHED + PENDING)
        if other.number < trial.number
    ]
    if len(ahead) >= target:
        trial.set_user_attr("fail_reason", "surplus: the target was reached by other workers")
        raise SurplusTrial(f"trial {trial.number} is beyond the target of {target}")


def refuse_duplicate(trial: optuna.Trial) -> None:
    """Refuses a configuration the study has trained or is training already.

    A continued study, or two workers started with the same seed, can be handed the same
    proposal twice; training it again would add nothing but a repeated row.
    """
    for other in trial.study.get_trials(deepcopy=False):
        if other.number != trial.number and other.params == trial.params and other.params:
            if other.state in FINISHED + (TrialState.RUNNING,):
                trial.set_user_attr("fail_reason", f"duplicate of trial {other.number}")
                raise DuplicateTrial(f"trial {trial.number} repeats trial {other.number}")


def train_trial(
    trial, model_config, train_config, dataset, settings, *, test: bool = False, prune: bool = True
):
    """Trains the configuration, pruning per epoch (unless `prune` is False); stores the
    configuration and any failure."""
    trial.set_user_attr("model_config", dataclasses.asdict(model_config))
    trial.set_user_attr("train_config", dataclasses.asdict(train_config))
    record = _Record(settings.gap_weight)
    callbacks = [record]
    if prune and len(settings.directions) == 1:
        callbacks.append(_Prune(trial, "objective"))
    started = time.perf_counter()
    try:
        return train(model_config, train_config, dataset, callbacks=callbacks, test=test)
    except optuna.TrialPruned:
        trial.set_user_attr("epochs", record.epochs)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        raise
    except Exception as error:
        # Optuna marks the trial FAIL and re-raises; the report shows why.
        trial.set_user_attr("fail_reason", f"{type(error).__name__}: {error}"[:500])
        raise


def score(trial, result, settings):
    """The value(s) Optuna is told; a diverged run raises DivergedError with its reason."""
    try:
        if settings.objective == "pareto":
            values = scoring.pareto(result)
        else:
            values = scoring.penalized(result, settings.gap_weight)
    except DivergedError as error:
        trial.set_user_attr("fail_reason", str(error))
        raise
    objective = scoring.score(result.val_accuracy, result.train_accuracy, settings.gap_weight)
    trial.set_user_attr("objective", objective)
    return values


def record(trial, result) -> None:
    """Stores every scalar result, the history and the process's peak memory on the trial."""
    for key, value in result.summary().items():
        if key.startswith("test_") and not math.isfinite(value):
            continue  # Not evaluated: a search's trials never see the test set.
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        trial.set_user_attr(key, value)
    history = {key: [round(float(v), 6) for v in values] for key, values in result.history.items()}
    trial.set_user_attr("history", history)
    # The process's peak memory so far: flat across a study's trials means no leak.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB.
    trial.set_user_attr("peak_rss_mb", round(peak_mb, 1))


def first_layer_kernel(model: keras.Model) -> np.ndarray:
    """The kernel of the model's first Dense layer, (784, units)."""
    dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
    return dense.kernel.numpy()


def upload(trial, result, artifact_dir: Path) -> None:
    """Stores the learning curves and first-layer weights as artifacts for the dashboard.

    The trial's results are stored already: a failure to write the files is recorded on
    the trial (`artifact_error`) and printed, and the trial still completes.
    """
    try:
        with tempfile.TemporaryDirectory() as folder:
            artifacts.upload(
                trial, artifact_dir, _artifact_files(trial.number, result, Path(folder))
            )
    except OSError as error:
        message = f"artifacts not written to {artifact_dir}: {error.strerror or error}"
        trial.set_user_attr("artifact_error", message)
        print(f"warning: trial {trial.number}: {message}", file=sys.stderr, flush=True)


def _artifact_files(number: int, result, folder: Path):
    """The trial's curves (PNG), weights as an image (PNG) and as an array (.npy)."""
    curves = folder / f"curves-trial-{number}.png"
    plot_curves({f"trial {number}": result.history}, curves)
    kernel = first_layer_kernel(result.model).astype(np.float16)
    image = folder / f"weights-trial-{number}.png"
    save_weight_mosaic(kernel, image)
    array = folder / f"weights-trial-{number}.npy"
    np.save(array, kernel)
    return [(curves, "image/png"), (image, "image/png"), (array, "application/octet-stream")]
