"""A trained network for use outside kerasnn: it takes images as the datasets ship them."""

from __future__ import annotations

import keras
from keras import layers

# How each pixel scale of `kerasnn.data` maps a stored pixel (0-255) to the network's input:
# (scale, offset) of Keras' `Rescaling`, the same map `kerasnn.data` applies when it loads.
PIXEL_SCALES = {"unit": (1 / 255, 0.0), "symmetric": (2 / 255, -1.0)}
# What the exported network's input and file say about the images it takes.
INPUT_NAME = "pixels_0_to_255"
MODEL_NAME = "kerasnn_winner_takes_28x28_pixels_0_to_255"


def contract(scale: str = "unit", dtype: str = "uint8") -> str:
    """The exported network's input contract in words, as the report and docs state it."""
    low, high = (-1, 1) if scale == "symmetric" else (0, 1)
    return (
        f"takes images as the datasets ship them: {dtype} pixels 0-255 of shape (28, 28), a "
        f"batch of shape (n, 28, 28); its first layer, Keras' Rescaling, maps them to "
        f"{low}-{high} as training saw them; it returns the 10 class probabilities"
    )


def taking_raw_pixels(model: keras.Model, scale: str = "unit", dtype: str = "uint8"):
    """`model` (a `build_model` network, compiled) behind a `Rescaling` first layer, so that it
    takes pixels as stored (`dtype`, 0-255) rather than the scaled floats it was trained on.

    The trained layers are the same objects with the same weights; only the input and the
    scaling are new. The result is compiled as `model` is (a fresh optimizer of the same
    configuration), so `evaluate` works on the loaded file too.
    """
    if scale not in PIXEL_SCALES:
        raise ValueError(f"unknown pixel scale {scale!r}; choose one of {', '.join(PIXEL_SCALES)}")
    factor, offset = PIXEL_SCALES[scale]
    inputs = keras.Input(shape=(28, 28), dtype=dtype, name=INPUT_NAME)
    x = layers.Rescaling(factor, offset=offset, name=f"to_{scale}_scale")(inputs)
    # A build_model network is one chain of layers after its input: replayed in order.
    for layer in model.layers[1:]:
        x = layer(x)
    exported = keras.Model(inputs, x, name=MODEL_NAME)
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    exported.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    optimizer.build(exported.trainable_variables)
    return exported
