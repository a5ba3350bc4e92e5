"""--workers' own counts, on synthetic studies: the memory each worker needs, how many start."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from studies.engine import workers


@pytest.mark.parametrize("peak", [0, -5, float("nan"), float("inf"), "900", True])
def test_a_stored_peak_that_is_no_measurement_is_ignored(peak):
    study = optuna.create_study()
    study.add_trial(
        create_trial(state=TrialState.COMPLETE, value=1.0, user_attrs={"peak_rss_mb": peak})
    )
    each, source = workers.worker_memory_mb([study], 1)
    assert each == workers.WORKER_MEMORY_MB and "assumed" in source
    workers.capped(4, 10, (each, source))  # No division by a zero peak.


def test_a_measured_peak_bounds_the_workers():
    study = optuna.create_study()
    study.add_trial(
        create_trial(state=TrialState.COMPLETE, value=1.0, user_attrs={"peak_rss_mb": 900.5})
    )
    assert workers.worker_memory_mb([study], 1)[0] == 900.5


def test_no_run_left_starts_one_worker_without_claiming_how_many_remain(monkeypatch):
    monkeypatch.setattr(workers, "available_memory_mb", lambda: None)
    assert workers.capped(4, 0, (1500, "assumed")) == (1, "")
    assert workers.capped(4, 2, (1500, "assumed")) == (2, "only 2 run(s) remain")
