"""Dataset.from_arrays: every check before use (one line naming the data and the problem),
scaling by type, warnings on raw values, the fingerprint, and a network that follows the data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kerasnn import DataError, Dataset, ModelConfig, build_model
from kerasnn import arrays as arrays_module
from kerasnn.mirror import cannot_mirror


def examples(count: int = 120, classes: int = 3, shape=(5,), dtype=np.float32, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((count, *shape)).astype(dtype), np.arange(count) % classes


def test_float_features_are_used_as_given_and_split_into_three_stratified_parts():
    x, y = examples(210)
    data = Dataset.from_arrays(x, y, name="table")
    assert (len(data.y_train), len(data.y_validation), len(data.y_test)) == (150, 30, 30)
    together = np.concatenate([data.x_train, data.x_validation, data.x_test])
    assert sorted(map(bytes, together)) == sorted(map(bytes, x))  # Nothing scaled or lost.
    assert np.bincount(data.y_validation).tolist() == [10, 10, 10]
    assert data.example_shape == (5,) and data.classes == 3 and data.warnings == ()
    assert (data.input_dtype, data.input_scale, data.scale) == ("float32", 1.0, "as given")


def test_uint16_images_are_scaled_by_their_types_maximum():
    x, y = examples(60, dtype=np.uint16)
    x[0, 0] = 65535
    data = Dataset.from_arrays(x, y, x[:6], y[:6])
    assert data.x_test.max() == 1.0 and data.input_scale == pytest.approx(1 / 65535)


def test_floats_far_outside_the_unit_interval_pass_with_one_warning_line():
    x, y = examples()
    data = Dataset.from_arrays(x * 16, y, name="digits")
    assert len(data.warnings) == 1 and "far outside [0, 1]" in data.warnings[0]
    assert data.warnings[0].startswith("digits: ") and "\n" not in data.warnings[0]


def _with(**changes):
    """Arguments of from_arrays: a small valid set, with `changes` applied."""
    x, y = examples()
    base = {"x_train": x, "y_train": y, "x_test": x[:12], "y_test": y[:12]}
    return {**base, **changes}


def _nan():
    x = examples()[0]
    x[7, 2] = np.nan
    return x


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (_with(y_train=np.arange(119) % 3), "train split has 120 examples but 119 labels"),
        (_with(x_test=examples(12, shape=(6,))[0]), r"x_test's examples have shape \(6,\)"),
        (_with(y_test=np.full(12, 3)), "y_test holds label 3, out of the training labels"),
        (_with(y_train=np.arange(120) % 3 * 2), "y_train never holds class 1 of 0-4"),
        (_with(y_train=np.arange(120) % 3 * 60), "y_train holds label 120; at most 100 classes"),
        (_with(y_train=np.arange(120) % 3 - 1), "y_train holds label -1; labels start at 0"),
        (_with(y_train=np.arange(120) % 3 + 0.5), "not whole numbers"),
        (_with(x_train=_nan()), "x_train holds NaN or infinite values"),
        (
            _with(x_train=examples(dtype=np.int64)[0], x_test=examples(12, dtype=np.int64)[0]),
            "x_train holds int64 values",
        ),
        (_with(x_train=np.zeros(120)), r"x_train has shape \(120,\)"),
        (_with(y_test=None), "give both x_test and y_test, or neither"),
        (
            _with(y_train=np.r_[np.zeros(118, int), 1, 1], y_test=np.arange(12) % 2),
            "class 1 has 2 training examples, too few",
        ),
    ],
    ids=[
        "ragged",
        "example-shape",
        "test-label-out-of-range",
        "missing-class",
        "too-many-classes",
        "negative",
        "not-whole",
        "nan",
        "signed-integers",
        "one-dimensional",
        "half-test",
        "too-few-for-the-split",
    ],
)
def test_bad_arrays_are_refused_in_one_line_naming_them(arguments, message):
    with pytest.raises(DataError, match=message) as error:
        Dataset.from_arrays(**arguments, name="mine")
    assert str(error.value).startswith("mine: ") and "\n" not in str(error.value)


def test_arrays_too_large_for_memory_are_refused_saying_how_much_they_would_take(monkeypatch):
    monkeypatch.setattr(arrays_module, "MAX_DATA_BYTES", 1000)
    with pytest.raises(DataError, match=r"would take 0\.00 GB of memory as float32"):
        Dataset.from_arrays(*examples(), name="big")


def test_the_fingerprint_follows_every_value_and_nothing_else():
    x, y = examples()
    first = Dataset.from_arrays(x, y, x[:12], y[:12], name="a")
    assert Dataset.from_arrays(x, y, x[:12], y[:12], name="b").fingerprint == first.fingerprint
    changed = x.copy()
    changed[50, 1] += 1e-6
    assert Dataset.from_arrays(changed, y, x[:12], y[:12]).fingerprint != first.fingerprint
    assert first.subset(10).fingerprint != first.fingerprint
    assert len(first.fingerprint) == 64 and first.identity()["fingerprint"] == first.fingerprint


def test_the_network_takes_its_input_shape_and_classes_from_the_data():
    x, y = examples(shape=(4, 4, 3), classes=5)
    data = Dataset.from_arrays(x, y, name="colour")
    config = ModelConfig(hidden_units=16).fitted_to(data)
    model = build_model(config)
    assert model.input_shape == (None, 4, 4, 3) and model.output_shape == (None, 5)
    assert config.parameters() == model.count_params() == (48 + 1) * 16 + (16 + 1) * 5
    assert cannot_mirror(model) is None
    # Stored as JSON, the shape comes back as a list: the same configuration.
    stored = {**dataclasses.asdict(config), "input_shape": [4, 4, 3]}
    assert ModelConfig(**stored) == config
    assert ModelConfig().fitted_to(data).fitted_to(data) == config.__class__(
        input_shape=(4, 4, 3), classes=5
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"input_shape": ()}, "input_shape must be a non-empty tuple"),
        ({"input_shape": (28, 0)}, "input_shape must hold sizes >= 1"),
        ({"input_shape": (2000, 2000)}, "holds 4,000,000 values per example"),
        ({"classes": 1}, "classes must be an integer >= 2"),
    ],
)
def test_a_model_config_refuses_a_shape_or_class_count_it_cannot_build(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)
