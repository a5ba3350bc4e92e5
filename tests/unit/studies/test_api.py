"""run_study's refusals and faults, without training: the run itself is stood in for."""

from __future__ import annotations

import pytest

from studies import api, run
from studies.errors import RuntimeFault, UsageError


def where(place) -> dict[str, str]:
    return {"storage": str(place / "s.log"), "reports": str(place / "reports")}


def test_a_run_that_ends_with_status_1_raises_a_runtime_fault(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "run_settings", lambda settings: 1)
    with pytest.raises(RuntimeFault, match="exit status 1"):
        api.run_study("overfitting", **where(tmp_path))


@pytest.mark.parametrize("name", ["-h", "--help", "--list"])
def test_a_study_name_that_reads_like_an_option_is_an_unknown_study(name, tmp_path):
    with pytest.raises(UsageError, match="unknown study"):
        api.run_study(name, **where(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_study_name_that_is_not_a_string_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="named by a string"):
        api.run_study(3, **where(tmp_path))
    assert list(tmp_path.iterdir()) == []
