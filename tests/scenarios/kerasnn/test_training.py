"""Tests of kerasnn.training: what `train` measures, when it stops, and its model.fit path
(tests/kerasnn/test_compiled.py follows the compiled path)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kerasnn import ModelConfig, TrainConfig, build_model, train, training
from kerasnn.config import MAX_BATCH_SIZE

# Small enough to train in a second or two; 2,950 is no multiple of the batch sizes used,
# so every epoch ends with a smaller batch, as in Keras.
TRAIN_SIZE = 2_950
NETWORK = ModelConfig(hidden_units=64, dropout_rate=0.2)
SHORT = TrainConfig(batch_size=100, epochs=3, seed=7)


@pytest.fixture(scope="module")
def small(fashion):
    return fashion.subset(TRAIN_SIZE)


def accuracy_of(model, images, labels) -> float:
    return float(np.mean(np.argmax(model(images, training=False), axis=1) == labels))


class Recorder(keras.callbacks.Callback):
    """Keeps a copy of every epoch's logs and the model's accuracy on the validation set."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self.logs, self.model_val_accuracy = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))
        self.model_val_accuracy.append(
            accuracy_of(self.model, self.dataset.x_validation, self.dataset.y_validation)
        )


def test_short_training_reaches_validation_accuracy_far_above_chance(small):
    result = train(NETWORK, SHORT, small)

    assert result.epochs == 3 and not result.diverged
    assert result.val_accuracy > 0.70  # Chance is 0.10.
    assert result.test_accuracy > 0.70
    assert set(result.history) == set(training.HISTORY_KEYS)
    assert all(len(values) == 3 for values in result.history.values())
    assert result.best_epoch == 1 + int(np.argmax(result.history["val_accuracy"]))
    assert math.isclose(result.gap, result.train_accuracy - result.val_accuracy)


def test_result_model_holds_the_best_epochs_weights(small):
    result = train(NETWORK, SHORT, small)

    measured = accuracy_of(result.model, small.x_validation, small.y_validation)
    assert measured == pytest.approx(result.val_accuracy, abs=1e-6)
    assert result.model.get_layer("dropout").rate == NETWORK.dropout_rate


def test_callbacks_see_inference_mode_logs_and_the_current_weights(small):
    recorder = Recorder(small)
    result = train(
        ModelConfig(hidden_units=64, dropout_rate=0.5), SHORT, small, callbacks=[recorder]
    )

    assert len(recorder.logs) == 3
    for epoch, logs in enumerate(recorder.logs):
        for key in ("train_accuracy", "train_loss", "val_accuracy", "val_loss"):
            assert logs[key] == result.history[key][epoch]
        assert recorder.model_val_accuracy[epoch] == pytest.approx(logs["val_accuracy"], abs=1e-6)
    # With half the units dropped, the running training accuracy trails the inference one.
    assert recorder.logs[-1]["accuracy"] < recorder.logs[-1]["train_accuracy"]


def test_a_callbacks_exception_ends_training_and_propagates(small):
    class Pruned(Exception):
        pass

    class PruneAtSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Pruned

    with pytest.raises(Pruned):
        train(NETWORK, SHORT, small, callbacks=[PruneAtSecondEpoch()])


def test_a_callback_setting_stop_training_stops_after_that_epoch(small):
    class StopAtFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    result = train(NETWORK, SHORT, small, callbacks=[StopAtFirstEpoch()])
    assert result.epochs == 1 and result.best_epoch == 1


def test_early_stopping_stops_after_patience_epochs_without_a_better_val_accuracy(small):
    # A learning rate this small leaves the weights as they are: no epoch beats the first.
    frozen = ModelConfig(hidden_units=64, learning_rate=1e-12)
    result = train(frozen, TrainConfig(batch_size=100, epochs=10, early_stopping_patience=2), small)
    assert result.epochs == 3
    assert result.best_epoch == 1


@pytest.mark.parametrize(
    "config, reason",
    [
        (
            ModelConfig(hidden_units=64, activation="linear", optimizer="sgd", learning_rate=10.0),
            "non-finite loss at epoch 1",
        ),
        (ModelConfig(hidden_units=64, learning_rate=10.0), "exceeds"),
    ],
    ids=["sgd_lr_10_overflows", "adam_lr_10_blows_up"],
)
def test_huge_learning_rate_is_reported_as_diverged_and_stops_training(small, config, reason):
    result = train(config, TrainConfig(batch_size=100, epochs=10), small)

    assert result.diverged
    assert reason in result.divergence_reason
    assert result.epochs == 1 and result.best_epoch == 0
    assert math.isnan(result.test_accuracy)


def test_keras_fit_path_of_other_backends_trains_and_measures_too(small, monkeypatch):
    # On KERAS_BACKEND=jax (not installed here), and for a model the compiled path cannot
    # mirror, train runs model.fit; its code is backend independent, so it is exercised here
    # on TensorFlow.
    monkeypatch.setattr(training, "_run_type", lambda model: training._KerasRun)
    recorder = Recorder(small)
    result = train(NETWORK, SHORT, small, callbacks=[recorder])

    assert result.epochs == 3 and not result.diverged
    assert result.val_accuracy > 0.70
    assert recorder.logs[-1]["val_accuracy"] == result.history["val_accuracy"][-1]
    measured = accuracy_of(result.model, small.x_validation, small.y_validation)
    assert measured == pytest.approx(result.val_accuracy, abs=1e-6)


def test_a_batch_larger_than_the_training_set_trains_as_one_batch_of_the_whole_set(small):
    # The config allows batches up to the largest training set (MAX_BATCH_SIZE); on a
    # smaller one, a larger batch is clamped, so memory never grows with the size asked for.
    tiny = small.subset(500)
    clamped = training.clamp_batch_size(TrainConfig(batch_size=MAX_BATCH_SIZE, epochs=2), 500)
    assert clamped.batch_size == 500
    assert training.clamp_batch_size(SHORT, 500) is SHORT

    huge = train(NETWORK, TrainConfig(batch_size=MAX_BATCH_SIZE, epochs=2), tiny, test=False)
    whole = train(NETWORK, TrainConfig(batch_size=500, epochs=2), tiny, test=False)
    for key in ("loss", "train_loss", "val_accuracy"):
        assert huge.history[key] == whole.history[key], key


def test_both_training_paths_are_training_runs(small):
    from kerasnn import compiled

    model = build_model(NETWORK)
    for run_type in (training._KerasRun, compiled.CompiledRun):
        assert isinstance(run_type(model, SHORT, small), training.TrainingRun)


def test_train_runs_on_jax_with_tensorflow_absent(jax_check):
    arrays = jax_check("train")["train"]
    assert str(arrays["backend"]) == "jax"
    assert not arrays["tensorflow_loaded"]
    assert len(arrays["train/val_accuracy"]) == 2
    assert arrays["train/val_accuracy"][-1] > 0.3  # Chance is 0.1; 300 images, 2 epochs.
    assert arrays["test_accuracy"] > 0.3


@pytest.mark.parametrize("path", ["compiled", "model.fit"])
def test_bfloat16_trains_on_either_path_under_the_mixed_policy(small, monkeypatch, path):
    if path == "model.fit":
        monkeypatch.setattr(training, "_run_type", lambda model: training._KerasRun)
    config = TrainConfig(batch_size=100, epochs=3, seed=7, precision="bfloat16")
    result = train(NETWORK, config, small, test=False)

    assert result.model.get_layer("hidden").dtype_policy.name == "mixed_bfloat16"
    assert result.epochs == 3 and not result.diverged
    assert result.val_accuracy > 0.70  # Chance is 0.10; float32 reaches about 0.78 here.
    # The model holds the best epoch's weights. model.evaluate measured them in batches of
    # 2,048; one call on the whole set lets oneDNN pick other bfloat16 kernels, whose
    # rounding may flip a handful of the 10,000 near-tied predictions.
    measured = accuracy_of(result.model, small.x_validation, small.y_validation)
    assert measured == pytest.approx(result.val_accuracy, abs=1e-3)
