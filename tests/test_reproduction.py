"""Tests of the seed reproduction: its pure helpers, its grids, and one tiny end-to-end run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import optuna
import pytest

from kerasnn import ModelConfig, TrainConfig
from studies import reproduction
from studies.run import GROUPS, STUDIES, main

REPRODUCE = [name for name in STUDIES if name.startswith("reproduce-")]


def test_cross_entropy_is_minimised_where_activation_equals_target():
    table = reproduction.cross_entropy_table((0.2, 0.4, 0.7))
    for target, losses in table.items():
        assert reproduction.ACTIVATIONS[int(np.argmin(losses))] == pytest.approx(target)


def test_cross_entropy_table_matches_the_formula_and_the_seed():
    table = reproduction.cross_entropy_table((0.4,))
    a = reproduction.ACTIVATIONS
    expected = -0.4 * np.log(a) - 0.6 * np.log(1 - a)
    np.testing.assert_allclose(table[0.4], expected, rtol=1e-5)
    np.testing.assert_allclose(table[0.4], reproduction.SEED_003_CROSS_ENTROPY[0.4], rtol=1e-5)


def test_reproduce_group_runs_every_seed_module_once():
    assert sorted(GROUPS["reproduce"]) == sorted(REPRODUCE)
    assert len(REPRODUCE) == len(reproduction.SEEDS)


@pytest.mark.parametrize("name", REPRODUCE)
def test_every_grid_setting_gives_valid_configs(name):
    module = STUDIES[name]
    assert module.SEARCH_SPACE == {"setting": list(module.SETTINGS)}
    base = TrainConfig(epochs=module.DEFAULTS["epochs"])
    seen = set()
    for setting in module.SETTINGS:
        trial = optuna.trial.FixedTrial({"setting": setting})
        model_config, train_config = module.suggest(trial, base)
        assert isinstance(model_config, ModelConfig) and isinstance(train_config, TrainConfig)
        key = (model_config, dataclasses.astuple(train_config))
        assert key not in seen, f"{name}: {setting} duplicates another setting"
        seen.add(key)


def test_epoch_overrides_scale_with_the_run_length():
    overrides = {"epochs": 40, "learning_rate": 0.5}
    model_config, train_config = reproduction.apply(
        overrides, ModelConfig(), TrainConfig(epochs=1), default_epochs=10
    )
    assert train_config.epochs == 4 and model_config.learning_rate == 0.5
    _, full = reproduction.apply(overrides, ModelConfig(), TrainConfig(epochs=10), 10)
    assert full.epochs == 40


def test_unknown_setting_field_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="dropout"):
        reproduction.apply({"dropout": 0.3}, ModelConfig(), TrainConfig(), 10)


def test_seed_004_regularisation_converts_half_lambda_convention():
    module = STUDIES["reproduce-004"]
    trial = optuna.trial.FixedTrial({"setting": "reg=0.01"})
    model_config, _ = module.suggest(trial, TrainConfig(epochs=10))
    assert model_config.l2 == pytest.approx(0.005) and model_config.regularize == "both"


def test_trend_verdicts_follow_the_direction_of_each_step():
    seed = [40.0, 50.0, 50.2, 45.0]
    ours = [0.80, 0.85, 0.851, 0.86]
    assert reproduction.trend_verdicts(seed, ours, flat_seed=1.0) == [True, True, True, False]


def test_verdict_prefers_reproduced_within_tolerance():
    assert reproduction.verdict(0.95, 0.955) == "reproduced"
    assert reproduction.verdict(0.95, 0.90, same_trend=True) == "same trend"
    assert reproduction.verdict(0.95, 0.90, same_trend=False) == "differs"
    assert reproduction.verdict(0.95, None) == "not run"


def test_rank_correlation_of_a_reversed_sweep_is_minus_one():
    assert reproduction.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert reproduction.rank_correlation([1, 2, None], [1, 2, 3]) is None


def test_roughness_is_lower_for_smooth_weights():
    smooth = np.tile(np.linspace(-1, 1, 784, dtype=np.float32)[:, None], (1, 10))
    noisy = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
    assert reproduction.roughness(smooth) < reproduction.roughness(noisy)
    assert math.isfinite(reproduction.roughness(np.zeros((784, 10))))


def test_report_without_runs_marks_every_seed_not_run(tmp_path):
    storage = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=storage, study_name="unrelated")
    path = reproduction.write_reproduction(storage, tmp_path)
    text = path.read_text()
    for seed in reproduction.SEEDS:
        assert f"## Seed {seed}" in text
    assert text.count("have not been run yet") == len(reproduction.SEEDS)
    # The cross-entropy table needs no training, so it is there all the same.
    assert "0.500402" in text


@pytest.mark.slow
def test_tiny_reproduce_run_builds_its_section(tmp_path, data_dir):
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    argv = ["reproduce-001", "--subset", "500", "--epochs", "1"]
    argv += ["--storage", storage, "--reports", str(tmp_path)]
    assert main(argv) == 0
    text = (tmp_path / "REPRODUCTION.md").read_text()
    section = text.split("## Seed 001")[1].split("## Seed 002")[0]
    assert "Chosen on validation: **decay=" in section
    assert "| val accuracy | 0.9810 |" in section
    assert (tmp_path / "reproduction" / "001-curves.png").stat().st_size > 1000
    # Rebuilding from the storage alone gives the same section.
    assert main([*argv, "--report-only"]) == 0
    rebuilt = (tmp_path / "REPRODUCTION.md").read_text()
    assert rebuilt.split("## Seed 001")[1].split("## Seed 002")[0] == section
