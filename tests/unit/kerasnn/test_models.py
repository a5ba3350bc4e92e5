"""kerasnn.models: the fixed shape, where each regulariser lands, and config validation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnn import ModelConfig, build_model


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_tutorial_network_has_101770_parameters_and_the_fixed_shape():
    model = build_model(ModelConfig())
    assert model.count_params() == 101_770
    assert _layer_types(model) == ["InputLayer", "Flatten", "Dense", "Dropout", "Dense"]
    assert model.input_shape == (None, 28, 28)
    output = model.layers[-1]
    assert output.units == 10 and output.activation is keras.activations.softmax
    assert model.loss == "sparse_categorical_crossentropy"


def test_hidden_activation_and_dropout_rate_are_used():
    model = build_model(ModelConfig(activation="tanh", dropout_rate=0.3, hidden_units=64))
    assert model.get_layer("hidden").activation is keras.activations.tanh
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    assert model.count_params() == 784 * 64 + 64 + 64 * 10 + 10


@pytest.mark.parametrize(
    ("placement", "hidden", "output"),
    [("hidden", True, False), ("output", False, True), ("both", True, True)],
)
def test_regulariser_lands_on_the_chosen_layers(placement, hidden, output):
    model = build_model(ModelConfig(l1=0.01, l2=0.02, regularize=placement))
    for name, expected in (("hidden", hidden), ("output", output)):
        regularizer = model.get_layer(name).kernel_regularizer
        assert (regularizer is not None) == expected
        if expected:
            assert regularizer.l1 == pytest.approx(0.01) and regularizer.l2 == pytest.approx(0.02)
    assert len(model.losses) == hidden + output


def test_l2_on_output_layer_only_adds_l2_times_squared_output_kernel():
    model = build_model(ModelConfig(l2=0.01, regularize="output"))
    kernel = model.get_layer("output").kernel.numpy()
    (penalty,) = model.losses
    assert float(penalty) == pytest.approx(0.01 * np.sum(kernel**2), rel=1e-5)


def test_zero_hidden_units_is_softmax_regression():
    model = build_model(ModelConfig(hidden_units=0, l2=0.1, regularize="both"))
    assert _layer_types(model) == ["InputLayer", "Flatten", "Dense"]
    assert model.count_params() == 7850
    assert model.get_layer("output").kernel_regularizer is not None


def test_hidden_layers_stacks_dense_dropout_blocks():
    model = build_model(ModelConfig(hidden_layers=3, hidden_units=32, dropout_rate=0.2))
    assert _layer_types(model).count("Dense") == 4
    assert _layer_types(model).count("Dropout") == 3


@pytest.mark.parametrize(
    ("optimizer", "expected"),
    [
        ("adam", keras.optimizers.Adam),
        ("sgd", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
    ],
)
def test_optimizer_and_learning_rate_are_configured(optimizer, expected):
    model = build_model(ModelConfig(optimizer=optimizer, learning_rate=0.05, momentum=0.9))
    assert isinstance(model.optimizer, expected)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dropout_rate", 1.0, "dropout_rate must lie in"),
        ("dropout_rate", -0.1, "dropout_rate must lie in"),
        ("l1", -0.01, "l1 must be a finite number"),
        ("l2", float("nan"), "l2 must be a finite number"),
        ("l2", float("inf"), "l2 must be a finite number"),
        ("activation", "swishy", "unknown activation 'swishy'; choose one of relu"),
        ("optimizer", "adagrad", "unknown optimizer"),
        ("regularize", "input", "unknown regularize 'input'; choose one of hidden, output, both"),
        ("hidden_units", -1, "hidden_units must be an integer >= 0"),
        ("learning_rate", 0.0, "learning_rate must be a finite number > 0"),
        ("hidden_layers", 0, "hidden_layers must be an integer >= 1"),
    ],
)
def test_invalid_configs_say_what_is_allowed(field, value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{field: value})


def test_bfloat16_computes_the_hidden_layers_in_bfloat16_and_the_softmax_in_float32():
    model = build_model(ModelConfig(hidden_units=32, hidden_layers=2), precision="bfloat16")

    policies = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert policies["hidden_1"] == policies["hidden_2"] == "mixed_bfloat16"
    assert policies["output"] == "float32"
    # Weights stay float32 (the optimizer updates them there); the probabilities too.
    assert all(weight.dtype == "float32" for weight in model.get_weights())
    assert model(np.zeros((1, 28, 28), "float32")).dtype == "float32"
    # The policy is the layers', never the global one: the next model is float32 again.
    assert keras.config.dtype_policy().name == "float32"
    assert build_model(ModelConfig()).get_layer("hidden").dtype_policy.name == "float32"


def test_an_unknown_precision_is_refused_naming_the_allowed_ones():
    with pytest.raises(
        ValueError, match="unknown precision 'half'; choose one of float32, bfloat16"
    ):
        build_model(ModelConfig(), precision="half")
