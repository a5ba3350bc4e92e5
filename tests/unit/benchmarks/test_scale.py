"""The scale benchmark's checks: the no-loss rule read against the stand-in's records, and
the growth of a step."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from benchmarks import scale


def grown_study(tmp_path) -> str:
    """A search of three trials as a study of the benchmark stores it: two COMPLETE, one
    PRUNED; returns its storage URL."""
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name=scale.STUDY_NAME, storage=url)
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE):
        trial = study.ask()
        study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    return url


def record(number: int, outcome: str) -> dict:
    return {"study": scale.STUDY_NAME, "number": number, "outcome": outcome}


def test_a_study_whose_every_run_was_trained_once_passes_the_no_loss_rule(tmp_path):
    url = grown_study(tmp_path)
    trained = [record(0, "complete"), record(1, "pruned"), record(2, "complete")]
    assert scale.no_loss(url, trained, 3) == []


def test_a_run_trained_twice_or_never_or_lost_breaks_the_no_loss_rule(tmp_path):
    url = grown_study(tmp_path)
    trained = [record(0, "complete"), record(0, "complete"), record(1, "complete")]
    trained.append(record(7, "complete"))
    problems = scale.no_loss(url, trained, 4)
    assert f"{scale.STUDY_NAME} trial 0 was trained twice" in problems
    assert any("trial 1 is stored PRUNED but was complete trained" in p for p in problems)
    assert any("trial 2 is stored COMPLETE but was never trained" in p for p in problems)
    assert f"{scale.STUDY_NAME} trial 7 was trained but is not stored" in problems
    assert "3 search trials finished, not 4" in problems


def test_a_step_whose_cost_per_trial_grows_with_the_study_is_called_linear():
    segments = [
        {"from": start, "size": end, "cpu_per_trial": 1.0, "steps": {"scan": (0, end / 1e4)}}
        for start, end in [(0, 1000), (1000, 3000), (3000, 10000)]
    ]
    exponent, word = scale.growth(segments, "scan")
    assert 0.8 < exponent < 1.2 and word == "linear per trial"
    assert scale.growth(segments, None)[1] == "constant per trial"
