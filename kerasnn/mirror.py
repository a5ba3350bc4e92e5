"""What a fast training path may mirror of a model, and the settings it reads from it.

The compiled TensorFlow path (`kerasnn.compiled`) and the population (`kerasnn.population`)
both compute what `model.fit` on a `build_model` network would, without calling it. Each
refuses a model these checks find a difference in, so that a change to the builder (a new
layer, another regularizer) sends training back to `model.fit` instead of computing
something else. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import keras
from keras import layers

# The optimizers whose mirrored updates the tests follow step for step against model.fit.
MIRRORED_OPTIMIZERS = (keras.optimizers.Adam, keras.optimizers.SGD, keras.optimizers.RMSprop)

# The dtype policies a hidden Dense layer may compute in (every other layer, the output one
# included, computes in float32).
MIRRORED_DENSE_POLICIES = ("float32", "mixed_bfloat16")

# Optimizer options that make `model.fit` do more than `optimizer.apply` once per batch
# (swap in averaged weights at the end, scale the loss, apply every few batches).
_UNMIRRORED_OPTIMIZER_OPTIONS = ("use_ema", "loss_scale_factor", "gradient_accumulation_steps")


def cannot_mirror(model: keras.Model) -> str | None:
    """Why a fast path cannot compute exactly what `model.fit` on `model` would.

    The fast paths mirror a chain Input(one example's fixed shape) -> Flatten -> Dense [-> Dropout] ... ->
    Dense(softmax) in float32 (hidden Dense layers may compute in Keras' mixed_bfloat16
    policy, as `build_model(..., precision="bfloat16")` makes them), whose Dense layers have a bias and at most an L1L2 kernel
    regularizer, compiled with sparse categorical crossentropy and Adam, SGD or RMSprop at a
    fixed learning rate: what `kerasnn.models.build_model` makes.

    Returns:
        A reason in a few words ("layer 'norm' is a BatchNormalization, ..."), or None when
        the fast paths mirror the model.
    """
    return _input_reason(model) or _chain_reason(model) or _compile_reason(model)


def _input_reason(model: keras.Model) -> str | None:
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return "it has no defined input"
    if len(inputs) != 1 or len(outputs) != 1:
        return "it has more than one input or output"
    shape = tuple(inputs[0].shape)[1:]
    if not shape or any(size is None for size in shape):
        return f"its input shape {shape} is not one fixed example shape"
    if not model.trainable:
        return "it is frozen"
    return None


def _chain_reason(model: keras.Model) -> str | None:
    """Why `model` is not one straight chain of layers the fast paths mirror, if so."""
    tensor, previous = model.inputs[0], None
    for layer in _layers(model):
        reason = _layer_reason(layer, previous)
        if reason:
            return f"layer {layer.name!r} {reason}"
        try:
            follows = layer.input is tensor
        except (AttributeError, ValueError):  # A layer called more than once has no one input.
            follows = False
        if not follows:
            return f"layer {layer.name!r} does not take the previous layer's output alone"
        tensor, previous = layer.output, layer
    if type(previous) is not layers.Dense or tensor is not model.outputs[0]:
        return "it does not end in its last Dense layer"
    if previous.dtype_policy.name != "float32":
        return f"its output layer {previous.name!r} computes in {previous.dtype_policy.name}"
    if previous.activation is not keras.activations.softmax:
        return f"its output layer {previous.name!r} has no softmax activation"
    return None


def _layers(model: keras.Model) -> list[keras.Layer]:
    return [layer for layer in model.layers if type(layer) is not layers.InputLayer]


def _layer_reason(layer: keras.Layer, previous: keras.Layer | None) -> str | None:
    # Exact types only: a subclass may compute something else under the same name.
    kind = type(layer)
    allowed = MIRRORED_DENSE_POLICIES if kind is layers.Dense else ("float32",)
    if layer.dtype_policy.name not in allowed:
        return f"computes in {layer.dtype_policy.name}, not {' or '.join(allowed)}"
    if previous is None and kind is not layers.Flatten:
        return f"is a {kind.__name__} where a Flatten must follow the input"
    if kind is layers.Flatten:
        if previous is not None:
            return "is a second Flatten"
        # On channels_first, Flatten transposes an image before flattening it.
        return None if layer.data_format == "channels_last" else "flattens channels first"
    if kind is layers.Dense:
        return _dense_reason(layer)
    if kind is layers.Dropout:
        if type(previous) is not layers.Dense:
            return "is a Dropout that does not follow a Dense layer"
        return None if layer.noise_shape is None else "drops with a noise shape"
    return f"is a {kind.__name__}; only Flatten, Dense and Dropout are mirrored"


def _dense_reason(layer: layers.Dense) -> str | None:
    regularizer = layer.kernel_regularizer
    if not layer.use_bias:
        return "has no bias"
    if not layer.trainable:
        return "is frozen"
    if regularizer is not None and type(regularizer) is not keras.regularizers.L1L2:
        return f"has a {type(regularizer).__name__} kernel regularizer, not an L1L2"
    if layer.bias_regularizer is not None:
        return "has a bias regularizer"
    if layer.activity_regularizer is not None:
        return "has an activity regularizer"
    if layer.kernel_constraint is not None or layer.bias_constraint is not None:
        return "has a weight constraint"
    if layer.lora_enabled:
        return "trains a LoRA update"
    return None


def _compile_reason(model: keras.Model) -> str | None:
    """Why `model`'s loss or optimizer is not one the fast paths mirror, if so."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return "it is not compiled"
    if type(optimizer) not in MIRRORED_OPTIMIZERS:
        return f"its optimizer {type(optimizer).__name__} is none of Adam, SGD and RMSprop"
    settings = optimizer.get_config()
    if not isinstance(settings["learning_rate"], float):
        return "its learning rate follows a schedule"
    for option in _UNMIRRORED_OPTIMIZER_OPTIONS:
        if settings.get(option):
            return f"its optimizer sets {option}"
    if model.get_compile_config().get("loss_weights") is not None:
        return "it weights its loss"
    if not _is_sparse_cross_entropy(model.loss):
        return "its loss is not sparse categorical crossentropy on probabilities"
    return None


def _is_sparse_cross_entropy(loss) -> bool:
    """Whether `loss` is Keras' sparse categorical crossentropy on probabilities, as compiled."""
    if type(loss) is keras.losses.SparseCategoricalCrossentropy:
        default = keras.losses.SparseCategoricalCrossentropy().get_config()
        return {**loss.get_config(), "name": default["name"]} == default
    if isinstance(loss, str):
        return loss == "sparse_categorical_crossentropy"
    return loss is keras.losses.sparse_categorical_crossentropy


def dense_layers(model: keras.Model) -> list[layers.Dense]:
    return [layer for layer in model.layers if type(layer) is layers.Dense]


def compute_dtypes(model: keras.Model) -> list[str]:
    """Each Dense layer's compute dtype: "float32", or "bfloat16" under mixed_bfloat16."""
    return [layer.dtype_policy.compute_dtype for layer in dense_layers(model)]


def dropout_rates(model: keras.Model) -> list[float]:
    """Each hidden Dense layer's dropout rate: that of the Dropout right after it, else 0."""
    rates = []
    for layer in model.layers:
        if type(layer) is layers.Dense:
            rates.append(0.0)
        elif type(layer) is layers.Dropout:
            rates[-1] = layer.rate
    return rates[:-1]  # `cannot_mirror` admits no Dropout after the output layer.


def kernel_strengths(model: keras.Model) -> list[list[float]]:
    """Each Dense kernel's (l1, l2): its L1L2 regularizer's, zero where it has none."""
    return [
        [0.0, 0.0] if regularizer is None else [regularizer.l1, regularizer.l2]
        for regularizer in (layer.kernel_regularizer for layer in dense_layers(model))
    ]


def learning_rate(model: keras.Model) -> float:
    """The learning rate of `model`'s optimizer (a number: `cannot_mirror` refuses schedules)."""
    return model.optimizer.get_config()["learning_rate"]


def optimizer_settings(model: keras.Model) -> tuple:
    """`model`'s optimizer type and settings except the learning rate, as a hashable key.

    A fast path compiles these into its program (momentum, epsilon, ...); the learning rate
    it feeds in as data, so that runs differing only in it share one program.
    """
    settings = model.optimizer.get_config()
    del settings["name"], settings["learning_rate"]
    return type(model.optimizer), repr(sorted(settings.items()))
