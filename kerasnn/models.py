"""The fixed-shape network: Flatten(28x28) -> Dense -> Dropout -> Dense(10, softmax)."""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import layers

ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "softplus", "linear")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
PLACEMENTS = ("hidden", "output", "both")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything `build_model` needs; the defaults are the TensorFlow tutorial's network."""

    hidden_units: int = 128  # Width of each hidden Dense layer; 0 means softmax regression.
    hidden_layers: int = 1  # Number of hidden Dense(+Dropout) blocks (ignored when width is 0).
    activation: str = "relu"  # Activation of the hidden layers.
    dropout_rate: float = 0.0  # Fraction of hidden activations dropped while training.
    l1: float = 0.0  # L1 strength: adds l1 * sum(|W|) to the loss.
    l2: float = 0.0  # L2 strength: adds l2 * sum(W**2) to the loss (no factor 1/2).
    regularize: str = "hidden"  # Which kernels get L1/L2: "hidden", "output" or "both".
    optimizer: str = "adam"  # "adam", "sgd" or "rmsprop".
    learning_rate: float = 1e-3
    momentum: float = 0.0  # Used by "sgd" and "rmsprop" only.

    def __post_init__(self):
        _check_int("hidden_units", self.hidden_units, minimum=0)
        _check_int("hidden_layers", self.hidden_layers, minimum=1)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("regularize", self.regularize, PLACEMENTS)
        if not (_is_number(self.dropout_rate) and 0.0 <= self.dropout_rate < 1.0):
            raise ValueError(f"dropout_rate must lie in [0, 1), got {self.dropout_rate!r}")
        for name in ("l1", "l2", "momentum"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (
            _is_number(self.learning_rate)
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0.0
        ):
            raise ValueError(
                f"learning_rate must be a finite number > 0, got {self.learning_rate!r}"
            )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name, value, *, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


def _regularizer(config: ModelConfig, layer: str):
    if config.regularize not in (layer, "both") or (config.l1 == 0 and config.l2 == 0):
        return None
    return keras.regularizers.L1L2(l1=config.l1, l2=config.l2)


def make_optimizer(config: ModelConfig) -> keras.optimizers.Optimizer:
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=config.learning_rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=config.momentum)
    return keras.optimizers.RMSprop(learning_rate=config.learning_rate, momentum=config.momentum)


def build_model(config: ModelConfig = ModelConfig(), **compile_options) -> keras.Model:
    """Builds and compiles the network described by `config`.

    The loss is sparse categorical crossentropy; besides accuracy the model reports
    `cross_entropy`, the same loss without the L1/L2 penalty, so train and validation
    losses can be compared undistorted by regularisation.

    Args:
        config: the architecture and optimiser.
        **compile_options: passed on to `model.compile` (e.g. `jit_compile`).
    """
    inputs = keras.Input(shape=(28, 28), name="image")
    x = layers.Flatten(name="flatten")(inputs)
    if config.hidden_units > 0:
        for index in range(config.hidden_layers):
            suffix = "" if config.hidden_layers == 1 else f"_{index + 1}"
            x = layers.Dense(
                config.hidden_units,
                activation=config.activation,
                kernel_regularizer=_regularizer(config, "hidden"),
                name=f"hidden{suffix}",
            )(x)
            x = layers.Dropout(config.dropout_rate, name=f"dropout{suffix}")(x)
    outputs = layers.Dense(
        10, activation="softmax", kernel_regularizer=_regularizer(config, "output"), name="output"
    )(x)
    model = keras.Model(inputs, outputs, name="kerasnn")
    model.compile(
        optimizer=make_optimizer(config),
        loss="sparse_categorical_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy"),
        ],
        **compile_options,
    )
    return model
