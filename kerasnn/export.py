"""A trained network for use outside kerasnn: it takes the examples as the data stores them."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers


@dataclass(frozen=True)
class RawInput:
    """How a study's examples were stored, and so what the exported network takes.

    `kerasnn.data` divides unsigned integers by their type's maximum (then maps [0, 1] to
    [-1, 1] where `symmetric`) and uses floating-point examples as given; the exported
    network's first layers repeat exactly that.
    """

    dtype: str = "uint8"
    symmetric: bool = False

    @classmethod
    def of(cls, recorded: dict | None, scale: str = "unit") -> RawInput:
        """The input a study's data took: from its recorded identity's `input` entry
        ({dtype, scale, offset}), else (a study stored before the record) the named
        datasets' uint8 pixels at the study's `scale`."""
        if recorded is None:
            return cls("uint8", scale == "symmetric")
        given = recorded["input"]
        return cls(str(given["dtype"]), float(given["offset"]) == -1.0)

    @property
    def integers(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.unsignedinteger)

    def words(self, shape: tuple[int, ...]) -> str:
        """The examples taken, in words: "uint8 values 0-255 of shape (28, 28)"."""
        if not self.integers:
            return f"{self.dtype} values as given, of shape {tuple(shape)}"
        return f"{self.dtype} values 0-{np.iinfo(self.dtype).max} of shape {tuple(shape)}"

    def input_name(self) -> str:
        if not self.integers:
            return "features_as_given"
        return f"raw_{self.dtype}_0_to_{np.iinfo(self.dtype).max}"


def contract(raw: RawInput, shape: tuple[int, ...], classes: int) -> str:
    """The exported network's input contract in words, as the report and docs state it."""
    if not raw.integers:
        mapped = "it uses them as given, as training did"
    else:
        low = -1 if raw.symmetric else 0
        mapped = f"its first layers map them to {low}-1 exactly as training saw them"
    return (
        f"takes the examples as the data stores them: {raw.words(shape)}, a batch of shape "
        f"(n, {', '.join(map(str, shape))}); {mapped}; it returns the {classes} class "
        "probabilities"
    )


def model_name(raw: RawInput, shape: tuple[int, ...]) -> str:
    """The exported model's name, which states its input: the file says so itself."""
    size = "x".join(map(str, shape))
    return f"kerasnn_winner_takes_{size}_{raw.input_name()}"


def taking_raw_input(model: keras.Model, raw: RawInput = RawInput()) -> keras.Model:
    """`model` (a `build_model` network, compiled) behind layers that take the examples as
    stored (`raw`) rather than the scaled floats it was trained on.

    Integers are divided by their type's maximum with Keras' `Normalization` (mean 0,
    variance the maximum squared), a true division like `kerasnn.data`'s, so every scaled
    value is the same float32 bit for bit (`Rescaling` multiplies by a rounded reciprocal,
    which differs in the last bit for about half the pixel values). The trained layers are
    the same objects with the same weights. The result is compiled as `model` is (a fresh
    optimizer of the same configuration), so `evaluate` works on the loaded file too.
    """
    shape = tuple(model.input_shape[1:])
    inputs = keras.Input(shape=shape, dtype=raw.dtype, name=raw.input_name())
    x = inputs
    if raw.integers:
        top = float(np.iinfo(raw.dtype).max)
        x = layers.Normalization(mean=0.0, variance=top**2, axis=None, name="to_unit")(x)
        if raw.symmetric:
            x = layers.Rescaling(2.0, offset=-1.0, name="to_symmetric")(x)
    # A build_model network is one chain of layers after its input: replayed in order.
    for layer in model.layers[1:]:
        x = layer(x)
    exported = keras.Model(inputs, x, name=model_name(raw, shape))
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    exported.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    optimizer.build(exported.trainable_variables)
    return exported
