"""The one run path: a configuration and a seed, trained, recorded on its trial and scored.

A search trial, a confirmation run and a grid point differ only in what they ask for, so
each is described by a `Job` (its configs, whether the test set is evaluated, whether the
pruner may stop it, which objective it is scored by, whether its full weights are kept)
and trained and recorded by `execute`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
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

from kerasnn import DivergedError, ModelConfig, TrainConfig, build_model, scoring, train
from kerasnn.plots import plot_curves, save_weight_mosaic
from kerasnn.training import divergence
from studies.engine import failures
from studies.engine.stopping import raise_if_stopped
from studies.storage import artifacts


@dataclasses.dataclass(frozen=True)
class Job:
    """What one run trains and what it records.

    `objective` is "penalized" (one value) or "pareto" (validation accuracy and gap);
    `prunable` lets the study's pruner stop it after any epoch; `test` evaluates the test
    set with the best epoch's weights (grid points, whose every run is reported; never a
    search trial, which could then be chosen on it); `keep_weights` stores every weight of
    the best epoch, so the test set can be evaluated later without retraining.
    """

    model_config: ModelConfig
    train_config: TrainConfig
    gap_weight: float = scoring.DEFAULT_GAP_WEIGHT
    objective: str = "penalized"
    prunable: bool = True
    test: bool = False
    keep_weights: bool = False


def execute(trial: optuna.Trial, job: Job, dataset, artifact_dir: Path):
    """Trains `job` for `trial`, stores what it measured, and returns the value(s) to tell.

    Raises optuna.TrialPruned when the pruner stops it and DivergedError when it diverged,
    each with the trial's record (epochs, reason) stored first.
    """
    result = train_job(trial, job, dataset)
    record(trial, result)
    values = score(trial, result, job)
    upload(trial, result, artifact_dir, keep_weights=job.keep_weights)
    return values


class _Record(keras.callbacks.Callback):
    """Adds the per-epoch penalized score to the logs, for the pruning callback after it."""

    def __init__(self, gap_weight: float):
        super().__init__()
        self.gap_weight = gap_weight
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        # A stop signal whose KeyboardInterrupt was dropped (it landed in a garbage
        # collection's callback) stops the run here, not after its last epoch.
        raise_if_stopped()
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


def train_job(trial: optuna.Trial, job: Job, dataset):
    """Trains the job, pruning per epoch where it may; stores its configs and any failure."""
    trial.set_user_attr("model_config", dataclasses.asdict(job.model_config))
    trial.set_user_attr("train_config", dataclasses.asdict(job.train_config))
    recorder = _Record(job.gap_weight)
    callbacks = [recorder]
    if job.prunable and job.objective == "penalized":
        callbacks.append(_Prune(trial, "objective"))
    started = time.perf_counter()
    try:
        return _training(trial)(
            job.model_config, job.train_config, dataset, callbacks=callbacks, test=job.test
        )
    except optuna.TrialPruned:
        trial.set_user_attr("epochs", recorder.epochs)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        raise
    except Exception as error:
        # The lifecycle marks the trial FAIL and re-raises; the report shows why.
        failures.mark(trial, *failures.of_error(error))
        raise


# benchmarks/scale.py, and nothing else, replaces the training (only it) by a timed stand-in
# named here as "module:function", called as `train` is with the trial first.
STAND_IN_VARIABLE = "KERASNN_STAND_IN"


def _training(trial: optuna.Trial):
    named = os.environ.get(STAND_IN_VARIABLE)
    if not named:
        return train
    module, _, function = named.partition(":")
    return functools.partial(getattr(importlib.import_module(module), function), trial)


def score(trial: optuna.Trial, result, job: Job):
    """The value(s) Optuna is told; a diverged run raises DivergedError with its reason."""
    try:
        if job.objective == "pareto":
            values = scoring.pareto(result)
        else:
            values = scoring.penalized(result, job.gap_weight)
    except DivergedError as error:
        failures.mark(trial, "diverged", str(error))
        raise
    objective = scoring.score(result.val_accuracy, result.train_accuracy, job.gap_weight)
    trial.set_user_attr("objective", objective)
    return values


def record(trial: optuna.Trial, result) -> None:
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
    """The kernel of the model's first Dense layer, (inputs, units)."""
    dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
    return dense.kernel.numpy()


def upload(trial: optuna.Trial, result, artifact_dir: Path, *, keep_weights: bool) -> None:
    """Stores the learning curves and first-layer weights (and with `keep_weights` every
    weight) as artifacts for the dashboard and the report.

    The trial's results are stored already: a failure to write the files is recorded on
    the trial (`artifact_error`) and printed, and the trial still completes.
    """
    try:
        with tempfile.TemporaryDirectory() as folder:
            files = _artifact_files(trial.number, result, Path(folder))
            if keep_weights:
                files.append(_all_weights(trial.number, result, Path(folder)))
            artifacts.upload(trial, artifact_dir, files)
    except OSError as error:
        message = f"artifacts not written to {artifact_dir}: {error.strerror or error}"
        trial.set_user_attr("artifact_error", message)
        print(f"warning: trial {trial.number}: {message}", file=sys.stderr, flush=True)


def _artifact_files(number: int, result, folder: Path) -> list[tuple[Path, str]]:
    """The trial's curves (PNG), weights as an image (PNG) and as an array (.npy)."""
    curves = folder / f"curves-trial-{number}.png"
    plot_curves({f"trial {number}": result.history}, curves)
    kernel = first_layer_kernel(result.model).astype(np.float16)
    image = folder / f"weights-trial-{number}.png"
    save_weight_mosaic(kernel, image)
    array = folder / f"weights-trial-{number}.npy"
    np.save(array, kernel)
    return [(curves, "image/png"), (image, "image/png"), (array, "application/octet-stream")]


def _all_weights(number: int, result, folder: Path) -> tuple[Path, str]:
    """Every weight of the best epoch, so a test evaluation needs no retraining."""
    path = folder / f"model-weights-trial-{number}.npz"
    np.savez(path, *result.model.get_weights())
    return path, "application/octet-stream"


def stored_model(trial, storage, artifact_dir: Path) -> keras.Model:
    """The network of a run that kept its weights (`_all_weights`), with those weights: its
    best epoch's. Raises FileNotFoundError with a one-line reason when they are missing."""
    model = build_model(ModelConfig(**trial.user_attrs["model_config"]))
    model.set_weights(artifacts.load_weights(trial, storage, artifact_dir))
    return model


@dataclasses.dataclass
class Outcome:
    """How one run ended, for Optuna's `tell`: its state and, when COMPLETE, its values."""

    state: TrialState
    values: float | tuple[float, float] | None = None


# Environment variable that forces the fixed program shapes on ("1") or off ("0") whatever
# the device; unset, they hold where JAX's default device is not a CPU.
FIXED_SHAPES_VARIABLE = "KERASNN_FIXED_SHAPES"


def program_shapes(module, population: int):
    """The program shapes a study's populations share (kerasnn.population.FixedShapes), or
    None for each population's own.

    Fixed shapes (the study's widest network, `MAX_HIDDEN_UNITS` of its module, and its K)
    let the search, the confirmation and the effects reuse one program per batch bucket:
    that pays where compiling is the cost, a GPU; a CPU would compute the padding, so there
    they hold only when KERASNN_FIXED_SHAPES=1 asks for them (a benchmark counting programs).
    """
    if population <= 1:
        return None
    wanted = os.environ.get(FIXED_SHAPES_VARIABLE, "")
    if wanted not in ("", "0", "1"):
        raise ValueError(f"{FIXED_SHAPES_VARIABLE} must be 1, 0 or unset, got {wanted!r}")
    import jax

    from kerasnn.population import FixedShapes

    if wanted == "0" or (wanted == "" and jax.default_backend() == "cpu"):
        return None
    return FixedShapes(width=getattr(module, "MAX_HIDDEN_UNITS", 0), members=population)


def execute_together(
    trials: list, jobs: list[Job], dataset, artifact_dir: Path, fixed_shapes=None
) -> list[Outcome]:
    """Trains `jobs` as one population (kerasnn.population, the JAX backend) and records
    each on its trial as `execute` would; returns how each ended.

    `fixed_shapes` (see `program_shapes`) pads the population's programs to the study's.

    Every member reports its per-epoch objective to its own trial, so the study's pruner
    judges it as it judges a run trained alone, and a pruned or diverged member stops
    without touching the others. Configurations the population cannot mirror exactly are
    trained alone with `execute`.
    """
    # Imported here: the population needs JAX, which a study trained one run at a time
    # (the TensorFlow backend, say) neither needs nor may have.
    from kerasnn.population import cannot_train, train_population

    single = [i for i, job in enumerate(jobs) if cannot_train(job.model_config)]
    together = [i for i in range(len(jobs)) if i not in single]
    outcomes: dict[int, Outcome] = {
        i: alone(trials[i], jobs[i], dataset, artifact_dir) for i in single
    }
    for trial, job in zip(trials, jobs, strict=True):
        trial.set_user_attr("model_config", dataclasses.asdict(job.model_config))
        trial.set_user_attr("train_config", dataclasses.asdict(job.train_config))
    members = [(jobs[i].model_config, jobs[i].train_config) for i in together]
    judge = _Judge([trials[i] for i in together], [jobs[i] for i in together])
    test = any(jobs[i].test for i in together)
    population = None
    if together:
        population = train_population(members, dataset, judge, test=test, fixed_shapes=fixed_shapes)
    for place, i in enumerate(together):
        record_programs(trials[i], population, len(together), fixed_shapes is not None)
        error, result = population.errors[place], population.results[place]
        outcomes[i] = _member_outcome(trials[i], jobs[i], result, error, artifact_dir)
    return [outcomes[i] for i in range(len(jobs))]


def record_programs(trial, population, members: int, fixed: bool) -> None:
    """Stores the member's share of what its population spent compiling, and of the
    programs it compiled or loaded from JAX's persistent cache: a study's trials add up to
    its totals."""
    compiled = population.compiled_programs - population.loaded_programs
    trial.set_user_attr("compile_seconds", population.compile_seconds / members)
    trial.set_user_attr("programs_compiled", compiled / members)
    trial.set_user_attr("programs_loaded", population.loaded_programs / members)
    trial.set_user_attr("fixed_shapes", fixed)


class _Judge:
    """The population's per-epoch callback: each member's objective reported to its trial,
    and optuna.TrialPruned raised (which stops that member alone) when the pruner says so."""

    def __init__(self, trials: list, jobs: list[Job]):
        self.trials, self.jobs = trials, jobs

    def __call__(self, index: int, epoch: int, logs: dict[str, float]) -> bool:
        raise_if_stopped()  # As `_Record` does: a dropped stop signal ends the population.
        trial, job = self.trials[index], self.jobs[index]
        trial.set_user_attr("epochs", epoch + 1)
        if not job.prunable or job.objective != "penalized" or divergence(logs, epoch):
            return False
        trial.report(
            scoring.score(logs["val_accuracy"], logs["train_accuracy"], job.gap_weight), epoch
        )
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch + 1}")
        return False


def _member_outcome(trial, job: Job, result, error, artifact_dir: Path) -> Outcome:
    if isinstance(error, optuna.TrialPruned):
        return Outcome(TrialState.PRUNED)
    if error is not None:
        failures.mark(trial, *failures.of_error(error))
        return Outcome(TrialState.FAIL)
    record(trial, result)
    try:
        values = score(trial, result, job)
    except DivergedError:
        return Outcome(TrialState.FAIL)
    upload(trial, result, artifact_dir, keep_weights=job.keep_weights)
    return Outcome(TrialState.COMPLETE, values)


def alone(trial, job: Job, dataset, artifact_dir: Path) -> Outcome:
    """Trains `job` by itself with `execute`; how it ended. An unexpected error of the run
    fails it alone (see failures.of_the_run), counted against the study's --max-failures."""
    try:
        return Outcome(TrialState.COMPLETE, execute(trial, job, dataset, artifact_dir))
    except optuna.TrialPruned:
        return Outcome(TrialState.PRUNED)
    except DivergedError:
        return Outcome(TrialState.FAIL)
    except Exception as error:
        if not failures.of_the_run(error):
            raise
        if "fail_kind" not in trial.user_attrs:
            failures.mark(trial, *failures.of_error(error))
        return Outcome(TrialState.FAIL)
