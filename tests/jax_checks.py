"""Checks that need the JAX backend, run in a subprocess by tests/scenarios/kerasnn/ (test_population.py, test_training.py).

    KERAS_BACKEND=jax python tests/jax_checks.py FOLDER CHECK [CHECK ...]

The Keras backend is fixed per process and the test suite runs on TensorFlow, so these run
apart and write what they measured into FOLDER/CHECK.npz, which the tests judge. TensorFlow is
made unimportable first, as on a machine that has JAX alone. Several checks share one process
(the framework starts once); each begins with no compiled program kept, as in a new process.
"""

from __future__ import annotations

import sys

sys.modules["tensorflow"] = None  # `import tensorflow` now fails, as where it is absent.

import dataclasses  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasnn import (  # noqa: E402
    ModelConfig,
    TrainConfig,
    load_dataset,
    population_program,
    train,
)
from kerasnn import population as population_module  # noqa: E402
from kerasnn.config import MAX_BATCH_SIZE  # noqa: E402
from kerasnn.population import train_population  # noqa: E402

# No multiple of the batch sizes below, so members end their epochs with a smaller batch.
TRAIN_SIZE = 300
# Validation and test images: few, so that the inference-mode passes take no time.
OTHER_SIZE = 500
MEASURES = ("loss", "accuracy", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


def small_dataset():
    data = load_dataset("fashion_mnist")
    return dataclasses.replace(
        data,
        x_train=data.x_train[:TRAIN_SIZE],
        y_train=data.y_train[:TRAIN_SIZE],
        x_validation=data.x_validation[:OTHER_SIZE],
        y_validation=data.y_validation[:OTHER_SIZE],
        x_test=data.x_test[:OTHER_SIZE],
        y_test=data.y_test[:OTHER_SIZE],
    )


def history_arrays(prefix: str, result) -> dict[str, np.ndarray]:
    return {f"{prefix}/{key}": np.array(result.history[key]) for key in MEASURES}


def weight_arrays(prefix: str, weights) -> dict[str, np.ndarray]:
    return {f"{prefix}/weight{index}": weight for index, weight in enumerate(weights)}


class EpochWeights(keras.callbacks.Callback):
    """The model's weights at the end of every epoch of `train`."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


# Members of one program, differing in all it takes as data: width, activation, batch size
# (every one with a partial last batch), L1/L2 strength and placement, learning rate, seed.
ONE_PROGRAM = [
    (ModelConfig(hidden_units=32, l1=1e-4, l2=1e-3, regularize="hidden"), 64),
    (ModelConfig(hidden_units=20, activation="sigmoid", l1=1e-3, regularize="both"), 50),
    (ModelConfig(hidden_units=16, activation="tanh", l2=1e-2, regularize="output"), 33),
    (ModelConfig(hidden_units=24, activation="elu", learning_rate=3e-3), 40),
]
# Members that each need a program of their own: other optimizers and settings, other numbers
# of hidden layers, and a batch larger than the training set.
OTHER_PROGRAMS = [
    (ModelConfig(hidden_units=0, l2=1e-3, regularize="output"), 64),
    (ModelConfig(hidden_units=16, hidden_layers=2, activation="tanh"), 64),
    (ModelConfig(hidden_units=32, optimizer="sgd", learning_rate=0.05, momentum=0.9), 64),
    (
        ModelConfig(
            hidden_units=24, optimizer="sgd", learning_rate=0.1, l2=1e-3, regularize="both"
        ),
        50,
    ),
    (ModelConfig(hidden_units=32, optimizer="rmsprop", l1=1e-4, regularize="output"), 100),
    (ModelConfig(hidden_units=32, activation="gelu"), MAX_BATCH_SIZE),
]


# Wider than any member, more places than members: padded units, empty places, every
# activation and dropout masks (at rate 0) in the program.
FIXED_SHAPES = population_module.FixedShapes(width=64, members=8)


def alone(dataset, runs) -> dict[str, np.ndarray]:
    """Each run trained by `train` alone: its weights after every epoch, its last history."""
    out = {}
    for index, (config, train_config) in enumerate(runs):
        recorder = EpochWeights()
        result = train(config, train_config, dataset, callbacks=[recorder], test=False)
        for epoch, weights in enumerate(recorder.weights):
            out |= weight_arrays(f"alone/{index}/{epoch + 1}", weights)
        out |= history_arrays(f"alone/{index}/2", result)
    return out


# What `alone` gave, by the members' list: the checks with and without fixed shapes compare
# the same members with the same training alone, which is trained once.
ALONE: dict[str, dict[str, np.ndarray]] = {}


def check_equivalence(dataset, members, fixed_shapes=None) -> dict[str, np.ndarray]:
    """Each member after epochs 1 and 2 of a population, and `train` of it alone."""
    out = {}
    for epochs in (1, 2):
        runs = [
            (config, TrainConfig(batch_size=batch, epochs=epochs, shuffle=False, seed=seed))
            for seed, (config, batch) in enumerate(members)
        ]
        result = train_population(runs, dataset, fixed_shapes=fixed_shapes)
        out[f"programs/{epochs}"] = np.array([result.programs, result.compiled_programs])
        out[f"spec/{epochs}"] = np.array(
            [
                [spec.width, spec.members, len(spec.activations), spec.dropout]
                for spec in population_module._PROGRAMS
            ]
        )
        for index, member in enumerate(result.results):
            out[f"best_epoch/population/{index}/{epochs}"] = np.array(member.best_epoch)
            out |= weight_arrays(f"population/{index}/{epochs}", member.model.get_weights())
            out |= history_arrays(f"population/{index}/{epochs}", member)
    key = repr(members)
    if key not in ALONE:
        ALONE[key] = alone(dataset, runs)
    return out | ALONE[key]


def check_dropout(dataset) -> dict[str, np.ndarray]:
    """The masks two members draw at their first step: hidden units as 1 everywhere, dropped."""
    runs = [
        (ModelConfig(hidden_units=64, dropout_rate=0.2), TrainConfig(batch_size=128, seed=1)),
        (ModelConfig(hidden_units=64, dropout_rate=0.5), TrainConfig(batch_size=128, seed=2)),
    ]
    members = [population_module._member(i, *run, TRAIN_SIZE) for i, run in enumerate(runs)]
    clock = population_program.Clock()
    program = population_module._program(members, TRAIN_SIZE, clock)
    settings = program.settings(members)
    params, _ = program.start(members)
    # A zero hidden kernel and a bias of one make every hidden unit 1 before dropout.
    params[0] = np.zeros_like(params[0])
    params[1] = np.ones_like(params[1])
    images = jnp.asarray(dataset.x_train[:128])
    masks = {}
    for epoch, step in ((0, 0), (0, 1), (1, 0)):
        keys = jax.vmap(program._member_keys, in_axes=(0, None))(settings["seed"], epoch)
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys[:, 1], step)
        hidden = jax.vmap(program._features, in_axes=(0, 0, None, 0))(
            params, settings, images, step_keys
        )
        masks[f"masks/{epoch}/{step}"] = np.asarray(hidden)
    return masks


def stopping_runs(middle: ModelConfig) -> list[tuple[ModelConfig, TrainConfig]]:
    return [
        (
            ModelConfig(hidden_units=32, optimizer="sgd", learning_rate=0.05),
            TrainConfig(batch_size=64, epochs=3),
        ),
        (middle, TrainConfig(batch_size=64, epochs=3, seed=1)),
        (
            ModelConfig(hidden_units=16, optimizer="sgd", learning_rate=0.1),
            TrainConfig(batch_size=50, epochs=3),
        ),
    ]


def check_stopping(dataset) -> dict[str, np.ndarray]:
    """A diverging member, and members stopped by on_epoch, beside members that go on."""
    # Steps this large overflow the weights within the first epoch: its loss becomes NaN.
    sound = ModelConfig(hidden_units=32, activation="linear", optimizer="sgd", learning_rate=0.01)
    diverging = dataclasses.replace(sound, learning_rate=1e20)
    out = {}
    baseline = train_population(stopping_runs(sound), dataset)
    diverged = train_population(stopping_runs(diverging), dataset)

    class Pruned(Exception):
        pass

    def prune(index, epoch, logs):
        if index == 2 and epoch == 1:
            raise Pruned(f"pruned at epoch {epoch + 1}")
        return index == 1 and epoch == 0

    pruned = train_population(stopping_runs(sound), dataset, on_epoch=prune)
    out["diverged/reasons"] = np.array([r.divergence_reason for r in diverged.results])
    out["pruned/errors"] = np.array([repr(error) for error in pruned.errors])
    out["compiled_programs"] = np.array(
        [baseline.compiled_programs, diverged.compiled_programs, pruned.compiled_programs]
    )
    for name, population in (("baseline", baseline), ("diverged", diverged), ("pruned", pruned)):
        out[f"{name}/compile_seconds"] = np.array(population.compile_seconds)
        for index, member in enumerate(population.results):
            out[f"{name}/{index}/best_epoch"] = np.array(member.best_epoch)
            out |= history_arrays(f"{name}/{index}", member)
            out |= weight_arrays(f"{name}/{index}", member.model.get_weights())
    return out


def check_train_without_tensorflow(dataset) -> dict[str, np.ndarray]:
    config = ModelConfig(hidden_units=32)
    result = train(config, TrainConfig(batch_size=64, epochs=2, seed=0), dataset)
    return {
        "backend": np.array(keras.backend.backend()),
        "tensorflow_loaded": np.array(sys.modules.get("tensorflow") is not None),
        "test_accuracy": np.array(result.test_accuracy),
        **history_arrays("train", result),
    }


CHECKS = {
    "one_program": lambda dataset: check_equivalence(dataset, ONE_PROGRAM),
    "other_programs": lambda dataset: check_equivalence(dataset, OTHER_PROGRAMS),
    "fixed_shapes": lambda dataset: check_equivalence(dataset, ONE_PROGRAM, FIXED_SHAPES),
    "other_fixed_shapes": lambda dataset: check_equivalence(dataset, OTHER_PROGRAMS, FIXED_SHAPES),
    "dropout": check_dropout,
    "stopping": check_stopping,
    "train": check_train_without_tensorflow,
}

if __name__ == "__main__":
    folder, *checks = sys.argv[1:]
    dataset = small_dataset()
    for check in checks:
        population_module._PROGRAMS.clear()
        keras.backend.clear_session()
        np.savez(f"{folder}/{check}.npz", **CHECKS[check](dataset))
