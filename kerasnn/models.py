"""The network: Flatten(one example) -> Dense -> Dropout -> Dense(classes, softmax)."""

from __future__ import annotations

import keras
from keras import layers

from kerasnn.config import ACTIVATIONS, OPTIMIZERS, PLACEMENTS, ModelConfig  # noqa: F401
from kerasnn.precision import POLICIES, check_precision


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


def build_model(
    config: ModelConfig | None = None, *, precision: str = "float32", **compile_options
) -> keras.Model:
    """Builds and compiles the network described by `config`.

    The loss is sparse categorical crossentropy; besides accuracy the model reports
    `cross_entropy`, the same loss without the L1/L2 penalty, so train and validation
    losses can be compared undistorted by regularisation.

    Args:
        config: the architecture and optimiser; its `input_shape` and `classes` are the
            data's (`ModelConfig.fitted_to`).
        precision: "float32", or "bfloat16": the hidden Dense layers get Keras'
            mixed_bfloat16 policy (their products and activations in bfloat16, their weights
            float32). The output layer stays float32, so the softmax and the loss are
            computed in float32, as Keras' mixed-precision guide advises; its product is the
            smallest of the network's. The policy is passed to each layer, never set
            globally, so nothing carries over into the next model built.
        **compile_options: passed on to `model.compile` (e.g. `jit_compile`).
    """
    config = config or ModelConfig()
    check_precision(precision)
    inputs = keras.Input(shape=config.input_shape, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    if config.hidden_units > 0:
        for index in range(config.hidden_layers):
            suffix = "" if config.hidden_layers == 1 else f"_{index + 1}"
            x = layers.Dense(
                config.hidden_units,
                activation=config.activation,
                kernel_regularizer=_regularizer(config, "hidden"),
                dtype=POLICIES[precision],
                name=f"hidden{suffix}",
            )(x)
            x = layers.Dropout(config.dropout_rate, name=f"dropout{suffix}")(x)
    outputs = layers.Dense(
        config.classes,
        activation="softmax",
        kernel_regularizer=_regularizer(config, "output"),
        name="output",
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
