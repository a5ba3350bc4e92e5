"""kerasnn.config: every count and size is bounded, and the message states the cap."""

from __future__ import annotations

import pytest

from kerasnn import ModelConfig, TrainConfig, config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "hidden_units",
            10**7,
            f"hidden_units must be an integer >= 0 and at most {config.MAX_HIDDEN_UNITS}",
        ),
        ("hidden_units", True, "hidden_units must be an integer"),
        (
            "hidden_layers",
            1000,
            f"hidden_layers must be an integer >= 1 and at most {config.MAX_HIDDEN_LAYERS}",
        ),
    ],
)
def test_a_network_past_its_caps_is_refused_before_tensorflow_sees_it(field, value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{field: value})


def test_wide_and_deep_within_each_cap_is_still_refused_past_the_parameter_cap():
    with pytest.raises(ValueError, match=f"at most {config.MAX_PARAMETERS:,} are allowed"):
        ModelConfig(hidden_units=config.MAX_HIDDEN_UNITS, hidden_layers=config.MAX_HIDDEN_LAYERS)


def test_the_parameter_count_is_the_one_keras_reports():
    from kerasnn import build_model

    for model_config in (
        ModelConfig(),
        ModelConfig(hidden_units=0),
        ModelConfig(hidden_units=16, hidden_layers=3),
    ):
        assert model_config.parameters() == build_model(model_config).count_params()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be an integer >= 1"),
        ("epochs", 10**6, f"epochs must be an integer >= 1 and at most {config.MAX_EPOCHS}"),
        (
            "batch_size",
            10**9,
            f"batch_size must be an integer >= 1 and at most {config.MAX_BATCH_SIZE}",
        ),
        ("batch_size", 32.0, "batch_size must be an integer"),
        ("early_stopping_patience", 0, "early_stopping_patience must be an integer >= 1"),
        ("early_stopping_patience", 10**6, f"at most {config.MAX_EPOCHS}"),
        ("seed", -1, f"seed must be an integer >= 0 and at most {config.MAX_SEED}"),
        ("seed", 2**32, f"seed must be an integer >= 0 and at most {config.MAX_SEED}"),
        ("shuffle", "yes", "shuffle must be True or False"),
        ("precision", "float16", "unknown precision 'float16'; choose one of float32, bfloat16"),
    ],
)
def test_training_past_its_caps_is_refused_with_the_cap_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_the_caps_themselves_are_allowed():
    ModelConfig(hidden_units=config.MAX_HIDDEN_UNITS)
    ModelConfig(hidden_units=64, hidden_layers=config.MAX_HIDDEN_LAYERS)
    TrainConfig(batch_size=config.MAX_BATCH_SIZE, epochs=config.MAX_EPOCHS, seed=config.MAX_SEED)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("momentum", 5, "momentum must lie in [0, 1)"),
        ("momentum", 1.0, "momentum must lie in [0, 1)"),
        ("learning_rate", 1e308, "at most 1e+30"),
        ("learning_rate", float("inf"), "at most 1e+30"),
        ("learning_rate", 0, "> 0"),
    ],
)
def test_an_optimizer_setting_keras_cannot_use_is_refused_in_one_line(field, value, message):
    with pytest.raises(ValueError) as refused:
        ModelConfig(**{field: value})
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_swapped_configs_are_refused_naming_what_train_takes():
    from kerasnn.training import train

    with pytest.raises(TypeError, match="ModelConfig, then a TrainConfig; got TrainConfig"):
        train(TrainConfig(), ModelConfig(), None)
