"""Failure kinds: what code reads from a failed trial, for trials of every age."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState, create_trial

from kerasnn import DivergedError
from studies.engine import failures


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (failures.SurplusTrial("surplus"), "surplus"),
        (DivergedError("loss is NaN"), "diverged"),
        (OSError(28, "No space left on device", "j.log"), "environment"),
        (KeyError("x"), "error"),
        (KeyboardInterrupt(), "interrupted"),
    ],
)
def test_each_error_has_its_kind(error, kind):
    assert failures.of_error(error)[0] == kind


def test_a_full_disk_names_its_file():
    assert failures.of_error(OSError(28, "No space left on device", "j.log"))[1] == (
        "environment: j.log: No space left on device"
    )


@pytest.mark.parametrize(
    ("attrs", "kind"),
    [
        ({"fail_kind": "mismatch"}, "mismatch"),
        ({"fail_reason": "surplus: trial 7 is beyond the target"}, "surplus"),
        ({}, "died"),  # Optuna's heartbeat check stores nothing.
        ({"fail_reason": "worker h:1 died while running it"}, "died"),
        ({"fail_reason": "ValueError: x", "diverged": True}, "diverged"),
        ({"fail_reason": "ValueError: x"}, "error"),
    ],
)
def test_a_failed_trial_of_any_age_has_a_kind(attrs, kind):
    assert failures.kind_of(create_trial(state=TrialState.FAIL, user_attrs=attrs)) == kind


def test_only_errors_of_the_run_fail_the_run_alone():
    assert failures.of_the_run(ValueError("bad suggestion"))
    assert not failures.of_the_run(OSError(28, "No space left on device"))
    assert not failures.of_the_run(KeyboardInterrupt())
