"""The effects stage: each scientific hyperparameter varied alone around the winner, over
fresh seeds, resumably; and its verdicts on hand-made numbers."""

from __future__ import annotations

import types

import optuna

from studies import overfitting
from studies.engine import effects
from studies.report import effects as effects_report


def test_a_clear_effect_is_higher_or_lower():
    assert effects.judged([0.05, 0.051, 0.049], [0.02, 0.021, 0.019]).outcome == "higher"
    assert effects.judged([0.02, 0.021, 0.019], [0.05, 0.051, 0.049]).outcome == "lower"


def test_a_difference_inside_the_seed_noise_is_tied():
    step = effects.judged([0.02, 0.04, 0.03], [0.025, 0.035, 0.03])
    assert step.outcome == "tied"
    assert step.comparison.low < 0 < step.comparison.high


def test_one_run_a_side_is_undecided_never_tied_nor_different():
    assert effects.judged([0.05], [0.02]).outcome == "undecided"
    assert effects.judged([0.05, 0.051], [0.02]).outcome == "undecided"


WINNER = {
    "penalty": "none",
    "hidden_units": 413,
    "activation": "relu",
    "dropout_rate": 0.49,
    "learning_rate": 0.0017,
    "batch_size": 137,
}


def test_a_numeric_sweep_spans_its_range_on_its_scale_with_the_winner_in_place_of_the_nearest():
    sweeps = effects.design(WINNER, overfitting).sweeps
    assert sweeps["dropout_rate"] == [0.0, 0.1667, 0.3333, 0.49]
    assert sweeps["batch_size"] == [137, 412, 1698, 7000]  # Log-spaced from 100 to 7000.
    assert sweeps["activation"] == ["relu", "sigmoid", "tanh", "elu"]


def test_a_winner_without_a_penalty_has_no_strength_sweep_and_penalties_take_reference_values():
    shape = effects.design(WINNER, overfitting)
    assert shape.skipped == ["penalty_strength", "regularize"]
    assert shape.references == {"penalty_strength": 0.001, "regularize": "hidden"}
    l2 = next(variant for variant in shape.variants if variant.name == "penalty=l2")
    assert l2.params == {
        **WINNER,
        "penalty": "l2",
        "penalty_strength": 0.001,
        "regularize": "hidden",
    }


def test_a_winner_with_a_penalty_sweeps_its_strength_and_placement():
    shape = effects.design(
        {**WINNER, "penalty": "l2", "penalty_strength": 0.02, "regularize": "output"}, overfitting
    )
    assert shape.skipped == [] and shape.references == {}
    assert shape.sweeps["regularize"] == ["hidden", "output", "both"]
    none = next(variant for variant in shape.variants if variant.name == "penalty=none")
    assert none.params == WINNER  # No strength or placement where there is no penalty.


def store_effects(storage, gaps: dict[str, float], seeds=(4, 5, 6)) -> None:
    """The default study with WINNER as its trial 0, and an effects stage around it whose
    runs have the gap `gaps` names per variant (0.02 otherwise), a little apart per seed."""
    name = "overfitting-fashion_mnist"
    search = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    distributions = effects.probe(overfitting, WINNER).distributions
    search.add_trial(
        optuna.trial.create_trial(params=WINNER, distributions=distributions, value=0.88)
    )
    stage = optuna.create_study(storage=storage, study_name=name + effects.SUFFIX)
    stage.set_user_attr("plan", {"source_trial": 0, "seeds": list(seeds)})
    for variant in effects.design(WINNER, overfitting).variants:
        for index, seed in enumerate(seeds):
            gap = gaps.get(variant.name, 0.02) + 0.001 * index
            attrs = {"gap": gap, "val_accuracy": 0.88 - gap, "objective": 0.88 - 2 * gap}
            attrs |= {"source_trial": 0, "seed": seed, "variant": variant.name}
            stage.add_trial(optuna.trial.create_trial(value=0.88 - 2 * gap, user_attrs=attrs))


def test_stored_effects_judge_each_step_from_the_winner(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    store_effects(storage, {"dropout_rate=0": 0.05, "activation=sigmoid": 0.021})
    found = effects.stored(storage, "overfitting-fashion_mnist", overfitting)
    assert found.seeds == [4, 5, 6] and found.winner.spreads["gap"].n == 3
    dropout = dict(found.sweep("dropout_rate"))
    assert dropout[0.0].versus_winner["gap"].outcome == "higher"
    assert dropout[0.1667].versus_winner["gap"].outcome == "tied"
    assert dict(found.sweep("activation"))["sigmoid"].versus_winner["gap"].outcome == "tied"
    assert effects.extreme(found, "dropout_rate", "gap", lowest=True)[0] != 0.0


def test_the_effects_section_shows_its_figure_after_its_table(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    store_effects(storage, {"dropout_rate=0": 0.05})
    found = effects.stored(storage, "overfitting-fashion_mnist", overfitting)
    answer = types.SimpleNamespace(winner=types.SimpleNamespace(source=0))
    section = "\n".join(effects_report.lines(found, answer))
    assert section.startswith("## Effects around the winner")
    assert section.index("| dropout_rate |") < section.index("](effects.png)")


def test_seed_003_sets_its_claims_beside_the_effects_around_a_tuned_winner(tmp_path):
    from studies.reproduction import write_reproduction

    storage = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=storage, study_name="unrelated")
    before = write_reproduction(storage, tmp_path).read_text()
    assert "The effects around the default study's tuned winner have not been run" in before

    store_effects(storage, {"activation=sigmoid": 0.005, "dropout_rate=0": 0.05})
    text = write_reproduction(storage, tmp_path).read_text()
    assert "### The claims around a tuned network" in text
    sigmoid = next(line for line in text.splitlines() if line.startswith("| sigmoid reduces"))
    assert "least gap at activation = sigmoid; tied with it: none" in sigmoid
    assert sigmoid.endswith("| reproduced |")
    dropout = next(line for line in text.splitlines() if line.startswith("| dropout 0.4"))
    assert "the claim's value: 0.333" in dropout and dropout.endswith("| tied |")


def test_a_design_is_recorded_as_plain_json_and_read_back_whole():
    import json

    shape = effects.design({**WINNER, "penalty": "l2", "penalty_strength": 0.02}, overfitting, 500)
    record = json.loads(json.dumps(effects.to_record(shape)))
    assert effects.from_record(record) == shape


def test_the_effects_are_read_from_the_recorded_design_not_from_todays_code(tmp_path, monkeypatch):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    store_effects(storage, {"dropout_rate=0": 0.05})
    name = "overfitting-fashion_mnist" + effects.SUFFIX
    stage = optuna.load_study(study_name=name, storage=storage)
    record = effects.to_record(effects.design(WINNER, overfitting))
    stage.set_user_attr("plan", {"source_trials": [0], "seeds": [4, 5, 6], "design": record})

    def changed(*arguments):
        raise AssertionError("the design was made again from the code")

    monkeypatch.setattr(effects, "design", changed)
    found = effects.stored(storage, "overfitting-fashion_mnist", overfitting)
    assert dict(found.sweep("dropout_rate"))[0.0].versus_winner["gap"].outcome == "higher"
    assert [v.name for v in found.design.variants] == [v["name"] for v in record["variants"]]


def test_a_study_whose_plan_predates_recorded_designs_still_reports(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    store_effects(storage, {})  # Its plan records the trial and seeds only.
    found = effects.stored(storage, "overfitting-fashion_mnist", overfitting)
    assert found is not None and found.winner.spreads["gap"].n == 3
