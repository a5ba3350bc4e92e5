"""The effects stage: each scientific hyperparameter varied alone around the winner, over
fresh seeds, resumably; and its verdicts on hand-made numbers."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import optuna
import pandas as pd
import pytest

from kerasnn import ModelConfig
from studies.engine import effects
from studies.engine import runs as trial_steps
from studies.engine.planned import run_of
from studies.engine.plans import recorded_plan
from studies.run import STUDIES, main

# Seconds each effects run of the tiny study waits before it trains, when set: time for
# the resume test to see runs complete and interrupt the stage in the middle.
PAUSE = "TINY_EFFECTS_PAUSE"


def _suggest(trial, train_config):
    if "variant" in getattr(trial, "user_attrs", {}) and os.environ.get(PAUSE):
        time.sleep(float(os.environ[PAUSE]))
    penalty = trial.suggest_categorical("penalty", ["none", "l2"])
    strength = 0.0
    if penalty != "none":
        strength = trial.suggest_float("penalty_strength", 1e-4, 1e-2, log=True)
    model_config = ModelConfig(
        hidden_units=16,
        activation=trial.suggest_categorical("activation", ["relu", "sigmoid"]),
        dropout_rate=trial.suggest_float("dropout_rate", 0.0, 0.5),
        l2=strength,
    )
    return model_config, dataclasses.replace(train_config, batch_size=100)


# A study small enough to train its whole effects stage in seconds, with a conditional
# hyperparameter (the penalty's strength) like the overfitting study's.
TINY = types.SimpleNamespace(
    __doc__="A tiny study for the effects stage's tests.",
    QUESTION="Which dropout, penalty and activation overfit least?",
    SCIENTIFIC=["dropout_rate", "penalty", "penalty_strength", "activation"],
    suggest=_suggest,
)


NAME = "tiny"


TESTS = Path(__file__).resolve().parent


def options(tmp_path, *extra) -> list[str]:
    return [
        *("tiny", "--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--trials", "4"),
        *("--confirm-top", "1", "--confirm-seeds", "2", "--effects-seeds", "2"),
        *("--study-name", NAME, "--storage", f"sqlite:///{tmp_path}/s.db"),
        *("--reports", str(tmp_path / "reports")),
        *extra,
    ]


def load(tmp_path, name=NAME) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/s.db")


def planned_runs(tmp_path) -> set:
    search, stage = load(tmp_path), load(tmp_path, NAME + effects.SUFFIX)
    recorded = recorded_plan(stage)
    (source,) = recorded.sources
    variants = effects.design(search.trials[source].params, TINY).variants
    return set(effects.plan(source, variants, list(recorded.seeds)))


@pytest.fixture(scope="module")
def measured(tmp_path_factory, data_dir):
    tmp_path = tmp_path_factory.mktemp("effects")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(STUDIES, "tiny", TINY)
        assert main(options(tmp_path)) == 0
    return tmp_path


@pytest.mark.slow
def test_every_variant_is_trained_with_fresh_seeds_and_only_its_hyperparameter_moved(measured):
    search, stage = load(measured), load(measured, NAME + effects.SUFFIX)
    confirmation = load(measured, NAME + "-confirm")
    recorded = recorded_plan(stage)
    winner = search.trials[recorded.sources[0]].params
    shape = effects.design(winner, TINY)
    trials = stage.trials
    assert all(trial.state.name == "COMPLETE" for trial in trials)
    assert {run_of(trial) for trial in trials} == planned_runs(measured)
    assert len(trials) == len(shape.variants) * 2
    used = {t.user_attrs["train_config"]["seed"] for t in search.trials + confirmation.trials}
    assert len(recorded.seeds) == 2 and not set(recorded.seeds) & used
    for trial in trials:
        variant = next(v for v in shape.variants if v.name == trial.user_attrs["variant"])
        assert trial.params == variant.params
        assert trial.user_attrs["train_config"]["seed"] == trial.user_attrs["seed"]
        moved = {k for k in trial.params.keys() & winner.keys() if trial.params[k] != winner[k]}
        assert moved <= {variant.hyperparameter}
        assert "test_accuracy" not in trial.user_attrs  # The test set stays untouched.


@pytest.mark.slow
def test_the_summary_gives_the_effects_after_the_answer_and_the_search_as_observational(
    measured,
):
    folder = measured / "reports" / NAME
    summary = (folder / "summary.md").read_text()
    answer = summary.index("## Answer")
    assert answer < summary.index("## Effects around the winner") < summary.index("## Best")
    assert "around the winner, dropout_rate" in summary
    assert "(observational)" in summary
    table = pd.read_csv(folder / "effects.csv")
    assert {"source_trial", "variant", "seed", "gap", "val_accuracy"} <= set(table.columns)
    assert len(table) == len(load(measured, NAME + effects.SUFFIX).trials)
    assert (folder / "effects.png").stat().st_size > 0


@pytest.mark.slow
def test_report_only_trains_nothing(measured, monkeypatch):
    folder = measured / "reports" / NAME
    before = (folder / "summary.md").read_text()
    (folder / "effects.csv").unlink()
    monkeypatch.setitem(STUDIES, "tiny", TINY)
    monkeypatch.setattr(trial_steps, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(options(measured, "--report-only")) == 0
    assert (folder / "summary.md").read_text() == before
    assert (folder / "effects.csv").exists()


def _start(tmp_path) -> subprocess.Popen:
    """The tiny study in a process of its own, as a user's command line runs it."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_effects; "
        "from studies import run; run.STUDIES['tiny'] = test_effects.TINY; "
        "sys.exit(run.main(sys.argv[2:]))"
    )
    command = [sys.executable, "-c", script, str(TESTS), *options(tmp_path, "--no-report")]
    environment = {**os.environ, PAUSE: "3"}
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _complete(tmp_path) -> dict[int, float]:
    try:
        stage = load(tmp_path, NAME + effects.SUFFIX)
    except KeyError:
        return {}
    return {t.number: t.value for t in stage.trials if t.state.name == "COMPLETE"}


@pytest.mark.slow
def test_a_sigint_in_the_stage_leaves_only_the_missing_runs_to_train(tmp_path, data_dir):
    process = _start(tmp_path)
    deadline = time.monotonic() + 600
    while len(_complete(tmp_path)) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "the stage never got going"
        time.sleep(0.2)
    # Into the next run's pause: a signal that lands while Python runs a weakref callback
    # (the garbage collection after each trial) is swallowed there.
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=300) == 130
    first = _complete(tmp_path)
    assert 3 <= len(first) < len(planned_runs(tmp_path))

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(STUDIES, "tiny", TINY)
        assert main(options(tmp_path, "--no-report")) == 0  # The stored runs are read.
    stage = load(tmp_path, NAME + effects.SUFFIX)
    complete = [t for t in stage.trials if t.state.name == "COMPLETE"]
    runs = [run_of(t) for t in complete]
    assert sorted(runs, key=str) == sorted(planned_runs(tmp_path), key=str)  # Each once.
    assert {t.number: t.value for t in complete if t.number in first} == first  # Untouched.
    failed = [t for t in stage.trials if t.state.name != "COMPLETE"]
    assert [t.user_attrs["fail_reason"] for t in failed] in (
        [],
        ["interrupted (SIGINT or SIGTERM)"],
    )


def test_effects_without_a_confirmation_are_refused(data_dir, tmp_path, capsys):
    arguments = options(tmp_path, "--confirm-top", "0")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(STUDIES, "tiny", TINY)
        assert main(arguments) == 2
    assert "--confirm-top 0 leaves no winner" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "s.db")
