"""Tests of kerasnn.population: members of one compiled population train as `train` trains each
alone, draw their own dropout masks, and stop (diverged, pruned) without touching the others.

The suite runs on TensorFlow and the Keras backend is fixed per process, so what needs JAX
runs in a subprocess (tests/jax_checks.py) on a few hundred images and is judged here.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnn import ModelConfig, TrainConfig, population
from kerasnn.config import ACTIVATIONS
from kerasnn.training import HISTORY_KEYS

MEASURES = [key for key in HISTORY_KEYS if key != "seconds"]


def weights(arrays: dict, prefix: str) -> list[np.ndarray]:
    names = sorted(name for name in arrays if name.startswith(f"{prefix}/weight"))
    return [arrays[name] for name in names]


def assert_members_train_as_alone(arrays: dict) -> None:
    members = len({name.split("/")[1] for name in arrays if name.startswith("population/")})
    assert members > 1
    for member in range(members):
        for epoch in (1, 2):
            # The 2-epoch run's model holds its best epoch; each member improved at epoch 2.
            assert arrays[f"best_epoch/population/{member}/{epoch}"] == epoch
            mine = weights(arrays, f"population/{member}/{epoch}")
            theirs = weights(arrays, f"alone/{member}/{epoch}")
            assert len(mine) == len(theirs) > 0
            # The same float32 arithmetic, rounded differently (other sum orders, padded
            # products, the L1/L2 term summed with zero terms). Measured here: weights at
            # most 8.2e-7 apart, under Adam at rate 3e-3 on rarely lit pixels; elsewhere
            # below 4e-7. An L1/L2 strength a fifth off or on the wrong kernel moves
            # weights by 1e-5 and more within these steps.
            for mine_weight, their_weight in zip(mine, theirs, strict=True):
                np.testing.assert_allclose(mine_weight, their_weight, rtol=1e-5, atol=2e-6)
        for key in MEASURES:
            np.testing.assert_allclose(
                arrays[f"population/{member}/2/{key}"], arrays[f"alone/{member}/2/{key}"], atol=1e-6
            )


# Every check of this module, run in one JAX process (the framework starts once); "stopping"
# first, though each check starts with no compiled program kept.
CHECKS = ("stopping", "one_program", "other_programs", "fixed_shapes", "other_fixed_shapes")
CHECKS += ("dropout",)


@pytest.fixture(scope="module")
def checks(jax_check):
    return jax_check(*CHECKS)


def test_members_of_one_program_end_each_epoch_with_the_weights_train_gives_each_alone(checks):
    arrays = checks["one_program"]
    assert arrays["programs/1"].tolist() == [1, 1]
    assert arrays["programs/2"].tolist() == [1, 0]  # The second run reused the first's.
    assert_members_train_as_alone(arrays)


@pytest.mark.slow
def test_other_optimizers_layer_counts_and_clamped_batches_train_as_alone_too(checks):
    assert_members_train_as_alone(checks["other_programs"])


def test_members_padded_to_fixed_shapes_train_as_alone(checks):
    arrays = checks["fixed_shapes"]
    assert arrays["programs/2"].tolist() == [1, 0]
    # One program: 64 units wide, 8 places for 4 members, every activation, dropout masks.
    width, members, activations, dropout = arrays["spec/2"][-1]
    assert (width, members, activations, dropout) == (64, 8, len(ACTIVATIONS), 1)
    assert_members_train_as_alone(arrays)


@pytest.mark.slow
def test_other_programs_padded_to_fixed_shapes_train_as_alone_too(checks):
    assert_members_train_as_alone(checks["other_fixed_shapes"])


def test_dropout_masks_drop_at_each_members_rate_independently_of_the_others(checks):
    arrays = checks["dropout"]
    masks = arrays["masks/0/0"]  # (member, row, unit); every unit was 1 before dropout.
    dropped = masks == 0
    draws = dropped[0].size
    for member, rate in enumerate((0.2, 0.5)):
        assert abs(dropped[member].mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / draws)
        np.testing.assert_allclose(masks[member][~dropped[member]], 1 / (1 - rate), rtol=1e-6)
    both = 0.2 * 0.5
    assert abs((dropped[0] & dropped[1]).mean() - both) < 5 * np.sqrt(both * (1 - both) / draws)
    correlation = np.corrcoef(dropped[0].ravel(), dropped[1].ravel())[0, 1]
    assert abs(correlation) < 5 / np.sqrt(draws)
    # Every step and every epoch draws new masks.
    assert not np.array_equal(arrays["masks/0/1"], masks)
    assert not np.array_equal(arrays["masks/1/0"], masks)


@pytest.fixture(scope="module")
def stopping(checks):
    return checks["stopping"]


def assert_same_member(arrays: dict, first: str, second: str) -> None:
    for mine, theirs in zip(weights(arrays, first), weights(arrays, second), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for key in MEASURES:
        np.testing.assert_array_equal(arrays[f"{first}/{key}"], arrays[f"{second}/{key}"])


def test_a_member_whose_loss_becomes_nan_fails_alone(stopping):
    reasons = stopping["diverged/reasons"].tolist()
    assert reasons == ["", "non-finite loss at epoch 1", ""]
    assert stopping["diverged/1/best_epoch"] == 0
    assert len(stopping["diverged/1/loss"]) == 1
    # Its companions compute exactly what they compute beside a sound member.
    for member in (0, 2):
        assert stopping[f"diverged/{member}/best_epoch"] == 3
        assert_same_member(stopping, f"diverged/{member}", f"baseline/{member}")


def test_members_stopped_or_failed_by_on_epoch_stop_alone(stopping):
    # Member 1's on_epoch returned True after its first epoch; member 2's raised after its
    # second; member 0 trained all three, exactly as without them being stopped.
    assert [len(stopping[f"pruned/{m}/val_accuracy"]) for m in range(3)] == [3, 1, 2]
    assert stopping["pruned/errors"].tolist() == ["None", "None", "Pruned('pruned at epoch 2')"]
    assert_same_member(stopping, "pruned/0", "baseline/0")


def test_later_populations_of_the_same_shapes_compile_nothing(stopping):
    assert stopping["compiled_programs"].tolist() == [1, 0, 0]
    assert stopping["baseline/compile_seconds"] > 0
    assert stopping["pruned/compile_seconds"] == 0


def test_train_population_needs_the_jax_backend(fashion):
    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
        population.train_population([(ModelConfig(), TrainConfig())], fashion)
