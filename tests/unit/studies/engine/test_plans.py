"""Stored plans, retries that are the same run, failure kinds: in-process, on synthetic studies."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from studies.engine import dead, failures, planned, plans
from studies.engine.plans import Plan, settle
from studies.errors import UsageError
from studies.storage import retry


def test_a_plan_asked_for_the_first_time_is_taken_as_asked():
    asked = Plan((3, 5), (1, 2))
    assert settle(None, asked) == (asked, None)


def test_more_seeds_and_candidates_extend_the_recorded_plan_and_say_so():
    plan, said = settle(Plan((3, 5), (1, 2)), Plan((3, 7), (1, 2, 4)))
    assert plan == Plan((3, 5, 7), (1, 2, 4))
    assert said == "extending the recorded plan to trial(s) 3, 5, 7 over seeds 1, 2, 4"


def test_fewer_seeds_or_candidates_keep_the_recorded_plan_unchanged():
    recorded = Plan((3, 5, 7), (1, 2, 3))
    assert settle(recorded, Plan((3,), (1,))) == (recorded, None)


def test_other_seeds_than_the_recorded_plan_are_refused_naming_it():
    with pytest.raises(UsageError, match="the recorded plan trains trial.s. 3 over seeds 1, 2"):
        settle(Plan((3,), (1, 2)), Plan((3,), (6, 7)))


def test_a_recorded_plan_is_read_back_and_an_edited_one_is_no_plan():
    study = optuna.create_study()
    study.set_user_attr("plan", Plan((3, 5), (1, 2)).attr())
    assert plans.recorded_plan(study) == Plan((3, 5), (1, 2))
    study.set_user_attr("plan", {"source_trials": ["3"], "seeds": [1]})
    assert plans.recorded_plan(study) is None
    study.set_user_attr("plan", {"source_trial": 4, "seeds": [7, 8]})  # The effects' old form.
    assert plans.recorded_plan(study) == Plan((4,), (7, 8))


def test_fresh_seeds_skip_the_search_seed_and_every_other_stages_seeds():
    study = optuna.create_study()
    from studies.settings import Settings

    assert plans.fresh_seeds(study, Settings(seed=0), 3, taken=(2, 3)) == [1, 4, 5]


def _journal_study(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "j.log")))
    return optuna.create_study(storage=storage, study_name="s"), storage


def _dead_trial(study, *, retries: int = 0):
    """A RUNNING trial queued with two parameters, of which its worker (a pid no process
    has) suggested only one before it died."""
    study.enqueue_trial({"dropout_rate": 0.4628, "learning_rate": 0.01})
    trial = study.ask()
    trial.suggest_float("dropout_rate", 0.0, 0.5)
    for key, value in {"worker": f"{dead.os.uname().nodename}:999999999"}.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("source_trial", 0)
    trial.set_user_attr("seed", 2)
    trial.set_user_attr("retries", retries)
    return trial


def test_a_dead_workers_run_is_queued_again_with_its_whole_configuration(tmp_path):
    study, storage = _journal_study(tmp_path)
    trial = _dead_trial(study)
    assert dead.reap(study, storage) == [trial.number]
    queued = study.get_trials(states=(TrialState.WAITING,))[0]
    assert queued.system_attrs["fixed_params"] == {"dropout_rate": 0.4628, "learning_rate": 0.01}
    assert queued.user_attrs == {"source_trial": 0, "seed": 2, "retry_of": 0, "retries": 1}
    retried = study.ask()
    assert retried.suggest_float("learning_rate", 1e-4, 1e-1, log=True) == 0.01
    assert failures.kind_of(study.trials[trial.number]) == "died"


def test_a_journal_retry_stops_at_the_one_cap_of_every_storage(tmp_path):
    study, storage = _journal_study(tmp_path)
    _dead_trial(study, retries=retry.MAX_RETRIES)
    said = []
    dead.reap(study, storage, said.append)
    assert study.get_trials(states=(TrialState.WAITING,)) == []
    assert said == [
        f"trial 0's worker died; marked FAIL and not queued again (retried {retry.MAX_RETRIES} times)"
    ]


def test_the_databases_heartbeat_retry_is_the_same_rule():
    study = optuna.create_study()
    frozen = optuna.trial.create_trial(
        state=TrialState.FAIL,
        params={"dropout_rate": 0.1},
        distributions={"dropout_rate": FloatDistribution(0, 0.5)},
        user_attrs={"source_trial": 4, "seed": 1, "worker": "other:1"},
        system_attrs={"fixed_params": {"dropout_rate": 0.1, "learning_rate": 0.003}},
    )
    assert retry.retry(study, frozen)
    queued = study.get_trials(states=(TrialState.WAITING,))[0]
    assert queued.system_attrs["fixed_params"] == {"dropout_rate": 0.1, "learning_rate": 0.003}
    capped = optuna.trial.create_trial(
        state=TrialState.FAIL, user_attrs={"retries": retry.MAX_RETRIES}
    )
    assert not retry.retry(study, capped)


@pytest.mark.parametrize(
    ("attrs", "kind"),
    [
        ({"fail_kind": "environment", "fail_reason": "x"}, "environment"),
        ({"fail_reason": "duplicate of trial 3"}, "duplicate"),
        ({"fail_reason": "worker h:1 died while running it"}, "died"),
        ({}, "died"),  # Optuna's heartbeat check stores no reason.
        ({"fail_reason": "ValueError: bad", "diverged": True}, "diverged"),
        ({"fail_reason": "ValueError: bad"}, "error"),
    ],
)
def test_a_failures_kind_is_read_from_the_trial_and_older_trials_get_one_from_their_reason(
    attrs, kind
):
    trial = optuna.trial.create_trial(state=TrialState.FAIL, user_attrs=attrs)
    assert failures.kind_of(trial) == kind


def _failed_run(kind: str):
    attrs = {"source_trial": 0, "seed": 1, "fail_kind": kind, "fail_reason": kind}
    return optuna.trial.create_trial(state=TrialState.FAIL, user_attrs=attrs)


@pytest.mark.parametrize("kind", ["died", "environment", "error"])
def test_a_planned_run_is_given_up_after_the_one_cap_whatever_killed_it(kind):
    companion = optuna.create_study()
    plan = [planned.PlannedRun(0, 1)]
    for _ in range(retry.MAX_RETRIES):
        companion.add_trial(_failed_run(kind))
    assert planned.next_step(companion, plan) == plan[0]
    companion.add_trial(_failed_run(kind))
    assert planned.next_step(companion, plan) is None


def test_a_run_that_stepped_aside_is_not_held_against_its_configuration():
    companion = optuna.create_study()
    plan = [planned.PlannedRun(0, 1)]
    for kind in failures.STEPPED_ASIDE * 3:
        companion.add_trial(_failed_run(kind))
    assert planned.next_step(companion, plan) == plan[0]


@pytest.mark.parametrize(
    ("plan", "said"),
    [
        ({"source_trials": [999], "seeds": [1]}, "names trial 999, which the search does not"),
        ({"source_trials": [-1], "seeds": [1]}, "names trial -1"),
        ({"source_trials": [0], "seeds": [2**40]}, "names seed 1099511627776, outside"),
        ({"source_trials": [0], "seeds": list(range(10**6))}, "1000000 seed(s) (at most"),
        ("trial 0 over seed 1", "is a str, not a plan"),
        ({"source_trials": [0.0], "seeds": [1.5]}, "other than whole numbers"),
        ({"source_trials": [0, 0], "seeds": [1]}, "twice"),
        ({"seeds": 3}, "does not list"),
    ],
    ids=[
        "trial-999",
        "trial-minus-1",
        "huge-seed",
        "million-seeds",
        "string",
        "floats",
        "twice",
        "no-list",
    ],
)
def test_a_crafted_recorded_plan_is_refused_in_one_line_and_left_as_it_was(tmp_path, plan, said):
    from studies.settings import Settings

    search, storage = _journal_study(tmp_path)
    search.enqueue_trial({"x": 0.5})
    search.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    companion = optuna.create_study(storage=storage, study_name="s-confirm", direction="maximize")
    companion.set_user_attr("plan", plan)
    with pytest.raises(UsageError) as refused:
        plans.check_plans(storage, Settings(study_name="s", confirm_seeds=1, confirm_top=1))
    assert said in str(refused.value) and "\n" not in str(refused.value)
    assert "recorded plan" in str(refused.value)
    assert optuna.load_study(study_name="s-confirm", storage=storage).user_attrs["plan"] == plan
    assert companion.trials == []
