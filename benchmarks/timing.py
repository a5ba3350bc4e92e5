"""Timing kerasnn's training against a plain Keras fit and against the arithmetic floor.

The measuring half of `benchmarks.speed`; it imports TensorFlow, so the command line
imports it only once its options are known to be good.
"""

from __future__ import annotations

import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from benchmarks import report
from kerasnn import ModelConfig, TrainConfig, build_model, compiled, train

SEED = 0
DROPOUT_RATE = 0.2  # The TensorFlow tutorial's network.
MATMUL_SIZE = 2048


class MatmulClock:
    """Single-precision FLOP/s of a large square matrix product, with and without XLA."""

    def __init__(self):
        self.a = tf.random.normal((MATMUL_SIZE, MATMUL_SIZE), seed=1)
        self.b = tf.random.normal((MATMUL_SIZE, MATMUL_SIZE), seed=2)
        self.products = [tf.function(tf.matmul, jit_compile=jit) for jit in (False, True)]
        for product in self.products:
            product(self.a, self.b).numpy()  # Compiles, and touches the output memory once.

    def sample(self) -> float:
        """The faster of the two products, timed now."""
        best = 0.0
        for product in self.products:
            started = time.perf_counter()
            product(self.a, self.b).numpy()
            best = max(best, 2 * MATMUL_SIZE**3 / (time.perf_counter() - started))
        return best


class Interleave(keras.callbacks.Callback):
    """Times the plain fit's epochs and, between them, one kerasnn epoch and the matmul.

    Other processes share this machine's two cores; alternating the three measurements
    exposes them to the same load, so their ratios stay meaningful when it changes.
    """

    def __init__(self, compiled_run, matmul: MatmulClock):
        super().__init__()
        self.compiled_run, self.matmul = compiled_run, matmul
        self.plain_s, self.kerasnn_s, self.flops = [], [], []
        self.final_weights = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.plain_s.append(time.perf_counter() - self.started)
        self.final_weights = self.model.get_weights()
        started = time.perf_counter()
        self.compiled_run.fit_epoch(epoch)
        self.kerasnn_s.append(time.perf_counter() - started)
        self.flops.append(self.matmul.sample())


class FinalWeights(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.weights = self.model.get_weights()


def test_accuracy(model: keras.Model, weights, dataset) -> float:
    model.set_weights(weights)
    probabilities = model(dataset.x_test, training=False)
    return float(np.mean(np.argmax(probabilities, axis=1) == dataset.y_test))


def kerasnn_fit(config: ModelConfig, batch_size: int, epochs: int, dataset, seed: int) -> dict:
    train_config = TrainConfig(batch_size=batch_size, epochs=epochs, seed=seed)
    final = FinalWeights()
    started = time.perf_counter()
    result = train(config, train_config, dataset, callbacks=[final])
    total = time.perf_counter() - started
    seconds = result.history["seconds"]
    measured_s = report.steady(seconds)
    return {
        "measured_epoch_s": measured_s,
        # Time outside the epochs (building, the final test pass), plus what the first epoch
        # took beyond a steady one (compiling); the later epochs' own spread is left out.
        "overhead_s": total - sum(seconds[1:]) - measured_s,
        "test_accuracy": test_accuracy(result.model, final.weights, dataset),
        "result": result,
        "train_config": train_config,
    }


def measure_row(batch_size, hidden_units, epochs, dataset, matmul: MatmulClock) -> dict:
    config = ModelConfig(hidden_units=hidden_units, dropout_rate=DROPOUT_RATE)
    cold = kerasnn_fit(config, batch_size, epochs, dataset, seed=SEED)
    # A second run with the same shapes, as a study's later trials are: nothing to compile.
    warm = kerasnn_fit(config, batch_size, epochs, dataset, seed=SEED + 1)
    # kerasnn's training pass alone, on the program `train` compiled, between plain epochs.
    compiled_run = compiled.CompiledRun(cold["result"].model, cold["train_config"], dataset)
    interleave = Interleave(compiled_run, matmul)

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()
    model = build_model(config)
    setup_s = time.perf_counter() - started
    model.fit(
        dataset.x_train,
        dataset.y_train,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=[interleave],
        verbose=0,
    )
    plain_s = report.steady(interleave.plain_s)
    epoch_s = report.steady(interleave.kerasnn_s)
    flops = statistics.median(interleave.flops[1:])
    parameters = model.count_params()
    images = len(dataset.y_train)
    floor_s = 4 * parameters * images / flops
    return {
        "batch_size": batch_size,
        "hidden_units": hidden_units,
        "plain_epoch_s": plain_s,
        "kerasnn_epoch_s": epoch_s,
        "floor_epoch_s": floor_s,
        "speedup": plain_s / epoch_s,
        "floor_ratio": epoch_s / floor_s,
        "plain_test_accuracy": test_accuracy(model, interleave.final_weights, dataset),
        "kerasnn_test_accuracy": cold["test_accuracy"],
        "kerasnn_test_accuracy_seed_1": warm["test_accuracy"],
        "first_epoch_overhead_s": cold["overhead_s"],
        "first_epoch_overhead_warm_s": warm["overhead_s"],
        "plain_first_epoch_overhead_s": setup_s + interleave.plain_s[0] - plain_s,
        "kerasnn_measured_epoch_s": cold["measured_epoch_s"],
        "plain_images_per_s": images / plain_s,
        "kerasnn_images_per_s": images / epoch_s,
        "parameters": parameters,
        "train_images": images,
        "epochs": epochs,
        "matmul_gflop_s": flops / 1e9,
    }
