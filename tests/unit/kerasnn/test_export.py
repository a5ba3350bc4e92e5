"""The exported network's first layers: the examples as stored, scaled as training saw them."""

import numpy as np
import pytest

from kerasnn import ModelConfig, build_model
from kerasnn.export import RawInput, contract, model_name, taking_raw_input


def scaled_by_the_exported_layers(raw: RawInput, examples: np.ndarray) -> np.ndarray:
    """What the exported network's first layers give the trained ones, for `examples`."""
    import keras

    model = build_model(ModelConfig(hidden_units=8, input_shape=examples.shape[1:]))
    exported = taking_raw_input(model, raw)
    first = keras.Model(exported.inputs, exported.layers[len(exported.layers) - 5].output)
    return np.asarray(first.predict(examples, verbose=0))


def test_every_uint8_pixel_is_scaled_to_the_same_float32_as_the_data_loader():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    scaled = scaled_by_the_exported_layers(RawInput("uint8"), pixels)
    expected = pixels.astype(np.float32) / np.float32(255.0)
    assert np.array_equal(scaled.reshape(expected.shape), expected)


def test_symmetric_scaling_maps_pixels_to_minus_one_to_one_exactly():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    scaled = scaled_by_the_exported_layers(RawInput("uint8", symmetric=True), pixels)
    expected = pixels.astype(np.float32) / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)
    assert np.array_equal(scaled.reshape(expected.shape), expected)


def test_floating_point_examples_are_taken_as_given():
    examples = np.linspace(-3, 20, 64, dtype=np.float32).reshape(1, 8, 8)
    scaled = scaled_by_the_exported_layers(RawInput("float32"), examples)
    assert np.array_equal(scaled.reshape(examples.shape), examples)


@pytest.mark.parametrize(
    "recorded, expected",
    [
        (None, RawInput("uint8", False)),
        ({"input": {"dtype": "uint16", "scale": 1 / 65535, "offset": 0.0}}, RawInput("uint16")),
        ({"input": {"dtype": "float64", "scale": 1.0, "offset": 0.0}}, RawInput("float64")),
        ({"input": {"dtype": "uint8", "scale": 2 / 255, "offset": -1.0}}, RawInput("uint8", True)),
    ],
)
def test_the_raw_input_follows_the_studys_recorded_data(recorded, expected):
    assert RawInput.of(recorded) == expected


def test_the_contract_and_the_name_state_the_examples_taken():
    assert "uint8 values 0-255 of shape (28, 28)" in contract(RawInput(), (28, 28), 10)
    assert "10 class probabilities" in contract(RawInput(), (28, 28), 10)
    assert "as given" in contract(RawInput("float64"), (8, 8), 10)
    assert model_name(RawInput(), (28, 28)) == "kerasnn_winner_takes_28x28_raw_uint8_0_to_255"
