"""Training one configuration and measuring it the way the objective and the reports need."""

from __future__ import annotations

import dataclasses
import math
import time

import keras

from kerasnn.data import Dataset
from kerasnn.models import ModelConfig, build_model

# A run whose inference-mode training cross-entropy climbs above this has blown up even if
# its loss is still finite: a model that always predicts the uniform distribution scores
# ln(10) = 2.30, so three times that is far worse than knowing nothing.
BLOW_UP_CROSS_ENTROPY = 3 * math.log(10)

# Batch size for the inference-mode passes over the training, validation and test sets;
# large batches make those passes cheap and do not change their results.
EVALUATION_BATCH_SIZE = 2048


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    epochs: int = 10
    shuffle: bool = True  # Reshuffle the training set before every epoch.
    early_stopping_patience: int | None = None  # Epochs without a better val accuracy.
    seed: int = 0  # Seeds weights, dropout masks and shuffling.

    def __post_init__(self):
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        patience = self.early_stopping_patience
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"early_stopping_patience must be None or >= 1, got {patience!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """What one training run measured.

    `history` holds one value per trained epoch for: `loss` and `accuracy` (Keras'
    running averages over the epoch, dropout on, penalty included), `train_loss` and
    `train_accuracy` (the whole training set in inference mode, cross-entropy without the
    L1/L2 penalty), `val_loss` and `val_accuracy` (likewise on the validation set) and
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


class _Measure(keras.callbacks.Callback):
    """Measures each epoch in inference mode, keeps the best weights and watches for divergence.

    It runs before any caller's callback, so those (a pruning callback, say) see the
    inference-mode figures in `logs` under `train_accuracy`, `train_loss`, `val_accuracy`
    and `val_loss`.
    """

    def __init__(self, dataset: Dataset, patience: int | None):
        super().__init__()
        self.dataset = dataset
        self.patience = patience
        self.history: dict[str, list[float]] = {
            key: []
            for key in (
                "loss",
                "accuracy",
                "train_loss",
                "train_accuracy",
                "val_loss",
                "val_accuracy",
                "seconds",
            )
        }
        self.best_epoch = 0
        self.best_weights = None
        self.divergence_reason = ""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def _evaluate(self, images, labels):
        scores = self.model.evaluate(
            images, labels, batch_size=EVALUATION_BATCH_SIZE, verbose=0, return_dict=True
        )
        return float(scores["cross_entropy"]), float(scores["accuracy"])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        train_loss, train_accuracy = self._evaluate(self.dataset.x_train, self.dataset.y_train)
        val_loss, val_accuracy = self._evaluate(
            self.dataset.x_validation, self.dataset.y_validation
        )
        measured = {
            "loss": float(logs.get("loss", math.nan)),
            "accuracy": float(logs.get("accuracy", math.nan)),
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - self.started,
        }
        for key, value in measured.items():
            self.history[key].append(value)
        # Later callbacks read the inference-mode figures, not Keras' running averages.
        logs.update(
            {
                key: measured[key]
                for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
            }
        )

        if not all(math.isfinite(measured[key]) for key in ("loss", "train_loss", "val_loss")):
            self.divergence_reason = f"non-finite loss at epoch {epoch + 1}"
        elif train_loss > BLOW_UP_CROSS_ENTROPY:
            self.divergence_reason = (
                f"training cross-entropy {train_loss:.3g} at epoch {epoch + 1} exceeds "
                f"{BLOW_UP_CROSS_ENTROPY:.3g} (3 x chance level)"
            )
        if self.divergence_reason:
            self.model.stop_training = True
            return
        best = self.history["val_accuracy"][self.best_epoch - 1] if self.best_epoch else -1.0
        if val_accuracy > best:
            self.best_epoch = epoch + 1
            self.best_weights = self.model.get_weights()
        elif self.patience is not None and epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True


def compile_options(steps_per_epoch: int) -> dict:
    """The `model.compile` options of kerasnn's fast path.

    XLA compiles the training step (Keras leaves it off on CPU), and one call into the
    compiled graph runs a whole epoch's steps, which removes most per-step overhead.
    """
    return {"jit_compile": True, "steps_per_execution": max(1, steps_per_epoch)}


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    dataset: Dataset,
    callbacks=(),
) -> TrainResult:
    """Trains one configuration on `dataset` and measures it.

    Seeds everything from `train_config.seed` and clears the previous run's Keras state,
    so the same arguments give the same numbers on the same machine.

    Args:
        model_config: the network and optimiser.
        train_config: batch size, epochs, shuffling, early stopping and seed.
        dataset: the data; training never reads files.
        callbacks: Keras callbacks run after kerasnn's own measurement each epoch;
            their `logs` carry the inference-mode `train_accuracy`, `val_accuracy`, ...

    Returns:
        A `TrainResult` whose model holds the weights of the best epoch.
    """
    keras.backend.clear_session(free_memory=True)
    keras.utils.set_random_seed(train_config.seed)
    steps_per_epoch = math.ceil(len(dataset.y_train) / train_config.batch_size)
    model = build_model(model_config, **compile_options(steps_per_epoch))
    measure = _Measure(dataset, train_config.early_stopping_patience)
    model.fit(
        dataset.x_train,
        dataset.y_train,
        batch_size=train_config.batch_size,
        epochs=train_config.epochs,
        shuffle=train_config.shuffle,
        validation_data=None,
        callbacks=[measure, *callbacks],
        verbose=0,
    )
    return _result(model, measure, dataset)


def _result(model: keras.Model, measure: _Measure, dataset: Dataset) -> TrainResult:
    history, best = measure.history, measure.best_epoch
    nan = math.nan
    test_loss = test_accuracy = nan
    if best:
        model.set_weights(measure.best_weights)
        scores = model.evaluate(
            dataset.x_test,
            dataset.y_test,
            batch_size=EVALUATION_BATCH_SIZE,
            verbose=0,
            return_dict=True,
        )
        test_loss, test_accuracy = float(scores["cross_entropy"]), float(scores["accuracy"])

    def at_best(key):
        return history[key][best - 1] if best else nan

    return TrainResult(
        history=history,
        best_epoch=best,
        train_accuracy=at_best("train_accuracy"),
        train_loss=at_best("train_loss"),
        val_accuracy=at_best("val_accuracy"),
        val_loss=at_best("val_loss"),
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        diverged=bool(measure.divergence_reason),
        divergence_reason=measure.divergence_reason,
        model=model,
    )
