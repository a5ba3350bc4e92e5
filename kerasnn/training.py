"""Training one configuration and measuring it the way the objective and the reports need."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Protocol, runtime_checkable

import keras

from kerasnn import mirror, quiet
from kerasnn.config import ModelConfig, TrainConfig
from kerasnn.data import Dataset
from kerasnn.models import build_model

# A run whose inference-mode training cross-entropy climbs above this has blown up even if
# its loss is still finite: a model that always predicts the uniform distribution scores
# ln(10) = 2.30, so three times that is far worse than knowing nothing.
BLOW_UP_CROSS_ENTROPY = 3 * math.log(10)

# Batch size for the inference-mode passes of the Keras fallback (backends other than
# TensorFlow); large batches make those passes cheap and do not change their results.
EVALUATION_BATCH_SIZE = 2048

HISTORY_KEYS = (
    "loss",
    "accuracy",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "seconds",
)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """What one training run measured.

    `history` holds one value per trained epoch for: `loss` and `accuracy` (Keras'
    running averages over the epoch, dropout on, L1/L2 term included), `train_loss` and
    `train_accuracy` (the whole training set in inference mode, cross-entropy without the
    L1/L2 term), `val_loss` and `val_accuracy` (likewise on the validation set) and
    `seconds` (wall time of the epoch). The summary fields describe the best epoch, the
    one with the highest validation accuracy (the earliest on a tie), whose weights the
    model holds and the test set was evaluated with.
    """

    history: dict[str, list[float]]
    best_epoch: int  # 1-based; 0 when no epoch finished.
    train_accuracy: float
    train_loss: float
    val_accuracy: float
    val_loss: float
    test_accuracy: float
    test_loss: float
    diverged: bool
    divergence_reason: str
    model: keras.Model | None = dataclasses.field(default=None, repr=False)

    @property
    def epochs(self) -> int:
        return len(self.history["val_accuracy"])

    @property
    def gap(self) -> float:
        """Training minus validation accuracy at the best epoch."""
        return self.train_accuracy - self.val_accuracy

    @property
    def seconds(self) -> float:
        return float(sum(self.history["seconds"]))

    def summary(self) -> dict[str, float | int | bool | str]:
        """The scalar results, ready to store next to a trial or a report row."""
        return {
            "best_epoch": self.best_epoch,
            "epochs": self.epochs,
            "train_accuracy": self.train_accuracy,
            "train_loss": self.train_loss,
            "val_accuracy": self.val_accuracy,
            "val_loss": self.val_loss,
            "gap": self.gap,
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "seconds": self.seconds,
            "diverged": self.diverged,
            "divergence_reason": self.divergence_reason,
        }


@runtime_checkable
class TrainingRun(Protocol):
    """What `train` needs of a training path: `_KerasRun` (model.fit) or `CompiledRun`.

    Weights are the model's, in the order `model.get_weights()` gives them.
    """

    def fit_epoch(self, epoch: int) -> tuple[float, float]:
        """Trains epoch `epoch` (0-based); returns its running loss and accuracy."""

    def evaluate(self, split: str) -> tuple[float, float]:
        """Cross-entropy (without L1/L2) and accuracy on "train", "validation" or "test"."""

    def weights(self) -> list:
        """The current weights."""

    def load(self, weights) -> None:
        """Replaces the current weights."""


class _KerasRun:
    """One run through `model.fit`.

    The path on other Keras backends (JAX compiles it itself), and for a model the compiled
    path cannot mirror exactly.
    """

    def __init__(self, model: keras.Model, train_config: TrainConfig, dataset: Dataset):
        self.model, self.config, self.dataset = model, train_config, dataset

    def fit_epoch(self, epoch: int) -> tuple[float, float]:
        history = self.model.fit(
            self.dataset.x_train,
            self.dataset.y_train,
            batch_size=self.config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=self.config.shuffle,
            verbose=0,
        ).history
        return float(history["loss"][-1]), float(history["accuracy"][-1])

    def evaluate(self, split: str) -> tuple[float, float]:
        scores = self.model.evaluate(
            getattr(self.dataset, f"x_{split}"),
            getattr(self.dataset, f"y_{split}"),
            batch_size=EVALUATION_BATCH_SIZE,
            verbose=0,
            return_dict=True,
        )
        return float(scores["cross_entropy"]), float(scores["accuracy"])

    def weights(self) -> list:
        return self.model.get_weights()

    def load(self, weights) -> None:
        self.model.set_weights(weights)


def _run_type(model: keras.Model) -> type[TrainingRun]:
    """The compiled path on TensorFlow where it mirrors `model` exactly, else `model.fit`."""
    if keras.backend.backend() != "tensorflow":
        return _KerasRun
    reason = mirror.cannot_mirror(model)
    if reason:
        warnings.warn(
            f"training with model.fit: the compiled path cannot mirror this model ({reason})",
            RuntimeWarning,
            stacklevel=3,
        )
        return _KerasRun
    # Imported here, not at the top: it imports TensorFlow, which other backends need not
    # have installed.
    from kerasnn import compiled

    return compiled.CompiledRun


def divergence(logs: dict[str, float], epoch: int) -> str:
    """Why the run counts as diverged after this epoch, or "" if it does not.

    Missing measures count as non-finite, so a callback can ask about any epoch's logs.
    """
    losses = [float(logs.get(key, math.nan)) for key in ("loss", "train_loss", "val_loss")]
    if not all(math.isfinite(loss) for loss in losses):
        return f"non-finite loss at epoch {epoch + 1}"
    if logs["train_loss"] > BLOW_UP_CROSS_ENTROPY:
        return (
            f"training cross-entropy {logs['train_loss']:.3g} at epoch {epoch + 1} exceeds "
            f"{BLOW_UP_CROSS_ENTROPY:.3g} (3 x chance level)"
        )
    return ""


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    dataset: Dataset,
    callbacks=(),
    *,
    test: bool = True,
) -> TrainResult:
    """Trains one configuration on `dataset` and measures it.

    Seeds everything from `train_config.seed` and clears the previous run's Keras state,
    so the same arguments give the same numbers on the same machine. On the TensorFlow
    backend each epoch is one call into a graph that mirrors the built model, compiled once
    per shape and kept for later runs (see `kerasnn.compiled`); on other backends
    (KERAS_BACKEND=jax, ...), and for a model that graph cannot mirror exactly, it is
    `model.fit`. A batch size larger than the training set trains as one batch of the whole
    set (see `clamp_batch_size`). `train_config.precision` "bfloat16" builds the model under
    Keras' mixed_bfloat16 policy (see `build_model`), which both paths then compute.

    After every epoch the whole training and validation sets are measured in inference
    mode; the run stops early when it diverges (a non-finite loss, or a training
    cross-entropy above `BLOW_UP_CROSS_ENTROPY`), when the validation accuracy has not
    improved for `early_stopping_patience` epochs, or when a callback sets
    `model.stop_training`.

    Args:
        model_config: the network and optimiser; its example shape and classes are taken
            from `dataset` (`ModelConfig.fitted_to`).
        train_config: batch size, epochs, shuffling, early stopping and seed.
        dataset: the data; training never reads files.
        callbacks: Keras callbacks, called after kerasnn's own measurement each epoch;
            their `logs` carry the inference-mode `train_accuracy`, `val_accuracy`, ...
            An exception they raise (a pruned trial, say) ends the run and propagates.
        test: evaluate the test set with the best epoch's weights. A search leaves it
            False, so that no number it stores could be used to choose on the test set;
            the test accuracy is then NaN.

    Returns:
        A `TrainResult` whose model holds the weights of the best epoch.
    """
    if not (isinstance(model_config, ModelConfig) and isinstance(train_config, TrainConfig)):
        raise TypeError(
            "train takes a ModelConfig, then a TrainConfig; got "
            f"{type(model_config).__name__}, then {type(train_config).__name__}"
        )
    # No forced garbage collection: it costs a quarter of a second per run here, and
    # Python's own collector frees the previous run's models soon enough.
    keras.backend.clear_session(free_memory=False)
    quiet.set_random_seed(train_config.seed)
    model = build_model(model_config.fitted_to(dataset), precision=train_config.precision)
    train_config = clamp_batch_size(train_config, len(dataset.y_train))
    run = _run_type(model)(model, train_config, dataset)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), model=model, epochs=train_config.epochs, verbose=0
    )
    callback_list.on_train_begin()
    record, best_weights = _train_epochs(run, model, train_config, callback_list)
    callback_list.on_train_end()
    if record.best_epoch:
        run.load(best_weights)
        model.set_weights(best_weights)
    result = record.result(model)
    if test and record.best_epoch:
        test_loss, test_accuracy = run.evaluate("test")
        result = dataclasses.replace(result, test_loss=test_loss, test_accuracy=test_accuracy)
    return result


def clamp_batch_size(train_config: TrainConfig, train_size: int) -> TrainConfig:
    """`train_config` with a batch no larger than the training set.

    A larger batch trains exactly as one batch of the whole set (as `model.fit` does), but
    a path that pads its batches to a fixed shape would allocate memory for every row asked
    for: a batch of 10**6 on 1,000 images took 3.5 GB. So both `train` and the population
    train with the clamped size.
    """
    if train_config.batch_size <= train_size:
        return train_config
    return dataclasses.replace(train_config, batch_size=train_size)


class EpochRecord:
    """One run's history and best epoch so far, kept the same way by `train` and the population.

    The best epoch is the one with the highest validation accuracy (the earliest on a tie)
    among those that did not diverge.
    """

    def __init__(self, patience: int | None = None):
        self.history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        self.best_epoch, self.best_accuracy, self.divergence_reason = 0, -1.0, ""
        self.patience = patience

    def add(self, epoch: int, logs: dict[str, float]) -> bool:
        """Records epoch `epoch` (0-based) from logs holding every history key.

        Returns:
            Whether this epoch is the new best one, whose weights the run keeps.
        """
        self.divergence_reason = divergence(logs, epoch)
        for key in HISTORY_KEYS:
            self.history[key].append(logs[key])
        if self.divergence_reason:
            return False
        if self.best_epoch and logs["val_accuracy"] <= self.best_accuracy:
            return False
        self.best_epoch, self.best_accuracy = epoch + 1, logs["val_accuracy"]
        return True

    def finished(self, epoch: int) -> bool:
        """Whether the run ends after epoch `epoch`: it diverged or ran out of patience."""
        if self.divergence_reason:
            return True
        return self.patience is not None and epoch + 1 - self.best_epoch >= self.patience

    def result(self, model: keras.Model | None) -> TrainResult:
        """The run's result, measured at the best epoch (the test set not yet seen)."""

        def at_best(key):
            return self.history[key][self.best_epoch - 1] if self.best_epoch else math.nan

        return TrainResult(
            history=self.history,
            best_epoch=self.best_epoch,
            train_accuracy=at_best("train_accuracy"),
            train_loss=at_best("train_loss"),
            val_accuracy=at_best("val_accuracy"),
            val_loss=at_best("val_loss"),
            test_accuracy=math.nan,
            test_loss=math.nan,
            diverged=bool(self.divergence_reason),
            divergence_reason=self.divergence_reason,
            model=model,
        )


def _train_epochs(run: TrainingRun, model: keras.Model, train_config: TrainConfig, callback_list):
    """Trains epoch after epoch until the last, a divergence, early stopping or a callback.

    Returns:
        The run's record and the best epoch's weights (None when no epoch counts).
    """
    record, best_weights = EpochRecord(train_config.early_stopping_patience), None
    for epoch in range(train_config.epochs):
        callback_list.on_epoch_begin(epoch)
        started = time.perf_counter()
        logs = _epoch_logs(run, epoch)
        weights = run.weights()
        logs["seconds"] = time.perf_counter() - started
        if record.add(epoch, logs):
            best_weights = weights
        del logs["seconds"]

        # Callbacks see the model as it stands after this epoch, and the same logs dict
        # in turn, so one may add a key (an objective, say) for the next to read.
        model.set_weights(weights)
        callback_list.on_epoch_end(epoch, logs)
        if record.finished(epoch) or model.stop_training:
            break
    return record, best_weights


def _epoch_logs(run: TrainingRun, epoch: int) -> dict[str, float]:
    """Trains one epoch, then measures the training and validation sets in inference mode."""
    loss, accuracy = run.fit_epoch(epoch)
    train_loss, train_accuracy = run.evaluate("train")
    val_loss, val_accuracy = run.evaluate("validation")
    return {
        "loss": loss,
        "accuracy": accuracy,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
    }
