"""Tests of the seed reproduction: the grid, the verdicts, the seed modules' claims as data,
the renderer, and one tiny end-to-end run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import optuna
import pytest

from kerasnn import ModelConfig, TrainConfig
from studies import variants
from studies.reproduction import ORIGINALS, original_000, original_001, original_003, render
from studies.reproduction.claims import Section, Table, Text
from studies.reproduction.runs import Run, Runs, load_runs
from studies.reproduction.verdicts import (
    Sample,
    least_verdict,
    lower_verdict,
    rank_correlation,
    trend_verdicts,
    verdict,
)
from studies.run import GROUPS, STUDIES

REPRODUCE = [name for name in STUDIES if name.startswith("reproduce-")]


def fake_run(setting: str, val: float, gap: float, seed: int = 0, epochs: int = 15) -> Run:
    """A run whose validation accuracy and train-validation gap hold at every epoch."""
    history = {
        "val_accuracy": [val] * epochs,
        "train_accuracy": [val + gap] * epochs,
        "val_loss": [0.3] * epochs,
        "loss": [0.3] * epochs,
    }
    summary = {"val_accuracy": val, "train_accuracy": val + gap, "test_accuracy": val - 0.001}
    return Run(setting, {**summary, "best_epoch": epochs, "gap": gap}, history, seed=seed)


def fake_003_runs(dropout_gaps: dict[float, float], jitter: float, seeds=(0, 1, 2)) -> Runs:
    """Every seed 003 setting at 0.88 validation accuracy and a 0.02 gap, except the dropout
    rates' gaps; repeated settings get `seeds`, each seed's gap moved by -jitter, 0, +jitter."""
    by_setting = {}
    for setting in original_003.study.VARIANTS:
        repeats = seeds if setting in original_003.study.REPEATED else (0,)
        rate = float(setting.split("=")[1]) if setting in original_003.DROPOUTS else None
        gap = dropout_gaps.get(rate, 0.02)
        by_setting[setting] = [
            fake_run(setting, 0.88, gap + jitter * (k - 1), seed=k) for k in repeats
        ]
    return Runs(by_setting)


def claim_row(claims: Table, start: str) -> list:
    return next(row for row in claims.rows if row[0].startswith(start))


# ---------------------------------------------------------------------------------------
# The grid


def test_reproduce_group_runs_every_seed_module_once():
    assert sorted(GROUPS["reproduce"]) == sorted(REPRODUCE)
    assert len(REPRODUCE) == len(ORIGINALS)


@pytest.mark.parametrize("name", REPRODUCE)
def test_every_grid_point_gives_its_own_configs(name):
    module = STUDIES[name]
    base = TrainConfig(epochs=module.DEFAULTS["epochs"])
    seen = set()
    for point in module.SEARCH_SPACE["setting"]:
        trial = optuna.trial.FixedTrial({"setting": point})
        model_config, train_config = module.suggest(trial, base)
        assert isinstance(model_config, ModelConfig) and isinstance(train_config, TrainConfig)
        key = (model_config, dataclasses.astuple(train_config))
        assert key not in seen, f"{name}: {point} duplicates another grid point"
        seen.add(key)


def test_repeated_setting_trains_at_the_run_seed_plus_its_offset():
    module = STUDIES["reproduce-003"]
    trial = optuna.trial.FixedTrial({"setting": "dropout=0.4 seed=2"})
    model_config, train_config = module.suggest(trial, TrainConfig(epochs=15, seed=5))
    assert train_config.seed == 7 and model_config.dropout_rate == pytest.approx(0.4)
    assert variants.split("dropout=0.4 seed=2") == ("dropout=0.4", 2)
    assert variants.split("L1 0.01 hidden") == ("L1 0.01 hidden", 0)


def test_only_the_settings_compared_within_noise_are_repeated():
    module = STUDIES["reproduce-003"]
    assert len(module.SEARCH_SPACE["setting"]) == len(module.VARIANTS) + 2 * len(module.REPEATED)
    assert "batch=3000" not in module.REPEATED and "L1 0.01 hidden" not in module.REPEATED
    assert {"batch=100", "dropout=0.4", "activation=sigmoid"} <= set(module.REPEATED)


def test_epoch_overrides_scale_with_the_run_length():
    overrides = {"epochs": 40, "learning_rate": 0.5}
    model_config, train_config = variants.apply(
        overrides, ModelConfig(), TrainConfig(epochs=1), default_epochs=10
    )
    assert train_config.epochs == 4 and model_config.learning_rate == 0.5
    _, full = variants.apply(overrides, ModelConfig(), TrainConfig(epochs=10), 10)
    assert full.epochs == 40


def test_unknown_setting_field_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="dropout"):
        variants.apply({"dropout": 0.3}, ModelConfig(), TrainConfig(), 10)


def test_original_004_regularisation_converts_half_lambda_convention():
    module = STUDIES["reproduce-004"]
    trial = optuna.trial.FixedTrial({"setting": "reg=0.01"})
    model_config, _ = module.suggest(trial, TrainConfig(epochs=10))
    assert model_config.l2 == pytest.approx(0.005) and model_config.regularize == "both"


# ---------------------------------------------------------------------------------------
# Verdicts on hand-made numbers


def test_verdict_is_reproduced_within_tolerance_else_trend_or_differs():
    assert verdict(0.95, 0.955) == "reproduced"
    assert verdict(0.95, 0.90, same_trend=True) == "same trend"
    assert verdict(0.95, 0.90, same_trend=False) == "differs"
    assert verdict(0.95, None) == "not run"


def test_trend_verdicts_follow_the_direction_of_each_step():
    seed = [40.0, 50.0, 50.2, 45.0]
    ours = [0.80, 0.85, 0.851, 0.86]
    assert trend_verdicts(seed, ours, flat_seed=1.0) == [True, True, True, False]


def test_means_the_t_test_cannot_tell_apart_are_tied():
    # Means 0.0120 and 0.0130, each sd 0.002 over three seeds: a difference of half an sd.
    first, second = Sample((0.010, 0.012, 0.014)), Sample((0.011, 0.013, 0.015))
    assert lower_verdict(first, second) == "tied"
    # The same means with an sd of 0.0001 are five sds apart: the claim holds, or is refuted.
    tight, other = Sample((0.0119, 0.0120, 0.0121)), Sample((0.0129, 0.0130, 0.0131))
    assert lower_verdict(tight, other) == "reproduced"
    assert lower_verdict(other, tight) == "differs"
    # Run once each, configurations closer than twice the single-run noise are tied too.
    assert lower_verdict(Sample((0.5663,)), Sample((0.5686,))) == "tied"
    assert lower_verdict(Sample((0.7489,)), Sample((0.7932,))) == "reproduced"


def test_a_claimed_least_value_tied_with_the_least_is_tied():
    gaps = {"0.4": Sample((0.0141, 0.0150, 0.0132)), "0.5": Sample((0.0126, 0.0135, 0.0117))}
    assert least_verdict(gaps, "0.4", partly=True) == "tied"
    apart = {"0.4": Sample((0.0140, 0.0141, 0.0142)), "0.5": Sample((0.0125, 0.0126, 0.0127))}
    assert least_verdict(apart, "0.4", partly=True) == "same trend"
    assert least_verdict(apart, "0.5", partly=False) == "reproduced"


def test_rank_correlation_of_a_reversed_sweep_is_minus_one():
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, None], [1, 2, 3]) is None


def test_roughness_is_lower_for_smooth_weights():
    smooth = np.tile(np.linspace(-1, 1, 784, dtype=np.float32)[:, None], (1, 10))
    noisy = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
    assert original_000.roughness(smooth) < original_000.roughness(noisy)
    assert math.isfinite(original_000.roughness(np.zeros((784, 10))))


# ---------------------------------------------------------------------------------------
# Seed modules: claims as data, from fake runs


def test_cross_entropy_is_minimised_where_activation_equals_target():
    table = original_003.cross_entropy_table((0.2, 0.4, 0.7))
    for target, losses in table.items():
        assert original_003.ACTIVATIONS[int(np.argmin(losses))] == pytest.approx(target)


def test_cross_entropy_table_matches_the_formula_and_the_seed():
    table = original_003.cross_entropy_table((0.4,))
    a = original_003.ACTIVATIONS
    expected = -0.4 * np.log(a) - 0.6 * np.log(1 - a)
    np.testing.assert_allclose(table[0.4], expected, rtol=1e-5)
    np.testing.assert_allclose(table[0.4], original_003.CROSS_ENTROPY[0.4], rtol=1e-5)


def test_original_001_verdict_compares_the_chosen_decay_with_the_seed():
    close = [
        fake_run("decay=0.0", val, 0.996 - val, seed=k)
        for k, val in enumerate((0.980, 0.981, 0.982))
    ]
    far = [fake_run("decay=0.001", 0.95, 0.02, seed=k) for k in range(3)]
    section = original_001.section(Runs({"decay=0.0": close, "decay=0.001": far}))
    comparison = next(b for b in section.blocks if isinstance(b, Table) and b.counted)
    rows = {row[0]: row for row in comparison.rows}
    assert rows["val accuracy"][2].mean == pytest.approx(0.981)
    assert rows["val accuracy"][3] == pytest.approx(0.0)
    assert rows["val accuracy"][4] == "reproduced"
    assert rows["train accuracy"][2].mean == pytest.approx(0.996)
    assert rows["train accuracy"][4] == "reproduced"
    alone = original_001.section(Runs({"decay=0.001": far}))
    assert [row[-1] for row in alone.blocks[2].rows] == ["differs", "differs"]


def test_original_003_dropout_claim_is_same_trend_when_0_5_overfits_clearly_least():
    gaps = {0.1: 0.022, 0.2: 0.019, 0.3: 0.017, 0.4: 0.0141, 0.5: 0.0126}
    section = original_003.section(fake_003_runs(gaps, jitter=0.0001))
    claims = next(
        b for b in section.blocks if isinstance(b, Table) and b.header[0] == "seed's claim"
    )
    row = claim_row(claims, "dropout 0.4 overfits least")
    assert row[-1] == "same trend"
    assert row[1].values["least"] == "dropout=0.5"
    assert row[1].values["gap"].values == pytest.approx((0.014, 0.0141, 0.0142))
    assert row[2] == pytest.approx(0.0141 - 0.0126)


def test_original_003_dropout_claim_is_tied_when_seeds_overlap():
    gaps = {0.1: 0.022, 0.2: 0.019, 0.3: 0.017, 0.4: 0.0141, 0.5: 0.0126}
    section = original_003.section(fake_003_runs(gaps, jitter=0.002))
    claims = next(
        b for b in section.blocks if isinstance(b, Table) and b.header[0] == "seed's claim"
    )
    assert claim_row(claims, "dropout 0.4 overfits least")[-1] == "tied"


def test_original_003_claims_within_noise_are_not_judged_on_one_seed():
    section = original_003.section(fake_003_runs({}, jitter=0.0, seeds=(0,)))
    claims = next(
        b for b in section.blocks if isinstance(b, Table) and b.header[0] == "seed's claim"
    )
    for start in ("dropout 0.4", "sigmoid reduces", "relu/100/dropout 0.3", "the three"):
        assert claim_row(claims, start)[-1] == "not run"
    # Claims whose settings differ far beyond the noise are judged on one seed.
    assert claim_row(claims, "L2 0.01 on hidden or output")[-1] in {"reproduced", "differs"}


def test_stored_runs_are_read_per_dataset_with_each_setting_s_seeds_in_order():
    storage = optuna.storages.InMemoryStorage()
    for dataset, val in (("fashion_mnist", 0.88), ("mnist", 0.97)):
        study = optuna.create_study(
            storage=storage, study_name=f"reproduce-003-{dataset}-subset500"
        )
        for point, seed in (("batch=100 seed=1", 1), ("batch=100", 0), ("L1 0.01 hidden", 0)):
            trial = optuna.trial.create_trial(
                params={"setting": point},
                distributions={"setting": optuna.distributions.CategoricalDistribution([point])},
                value=val,
                user_attrs={
                    "val_accuracy": val + seed / 100,
                    "history": {"val_accuracy": [val]},
                    "train_config": {"seed": seed},
                },
            )
            study.add_trial(trial)
    default = load_runs(storage, "reproduce-003", "fashion_mnist")
    assert [run.seed for run in default.by_setting["batch=100"]] == [0, 1]
    assert default.sample("batch=100", Run.best, "val_accuracy").values == pytest.approx(
        (0.88, 0.89)
    )
    mnist = load_runs(storage, "reproduce-003", "fashion_mnist", dataset="mnist")
    assert mnist.value("L1 0.01 hidden", "val_accuracy") == pytest.approx(0.97)
    assert not load_runs(storage, "reproduce-004", "mnist").ran


# ---------------------------------------------------------------------------------------
# Rendering


def test_renderer_writes_the_numbers_it_is_given(tmp_path):
    table = Table(
        ["setting", "ours", "difference", "verdict"],
        [
            ["dropout=0.4", Sample((0.8123, 0.8143)), 0.01234, "reproduced"],
            ["plain", None, None, "tied"],
        ],
        ["", ".4f", "+.4f", ""],
        counted=True,
    )
    section = Section(
        "001",
        original_001.study,
        ["mnist"],
        "did",
        "not matched",
        blocks=[table],
        findings=[Text("The gap falls to {gap:+.4f} over {n} seeds.", {"gap": 0.0141, "n": 3})],
    )
    text = "\n".join(render.render_section(section, tmp_path))
    assert "| dropout=0.4 | 0.8133 ± 0.0014 | +0.0123 | reproduced |" in text
    assert "| plain | — | — | tied |" in text
    assert "**What the evidence says.** The gap falls to +0.0141 over 3 seeds." in text
    assert "| 001 | mnist | 1 reproduced, 1 tied |" in "\n".join(render.overview([section]))


def test_report_without_runs_marks_every_seed_not_run(tmp_path):
    from studies.reproduction import write_reproduction

    storage = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=storage, study_name="unrelated")
    text = write_reproduction(storage, tmp_path).read_text()
    for module in ORIGINALS:
        assert f"## Seed {module.NUMBER}" in text
    assert text.count("have not been run yet") == len(ORIGINALS)
    # The cross-entropy table needs no training, so it is there all the same.
    assert "0.500402" in text


def test_a_run_without_stored_weights_has_no_kernel_to_draw(tmp_path):
    from studies.reproduction.runs import load_kernel

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=storage)
    study.add_trial(optuna.trial.create_trial(value=0.5))
    assert load_kernel(study.trials[0], storage, tmp_path / "artifacts") is None
