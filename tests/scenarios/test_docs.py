"""Every `python -m` command the README and docs/ name answers `--help`, as a user runs it."""

from __future__ import annotations

import pytest
from services import commands_named, run_module


@pytest.mark.slow
@pytest.mark.parametrize("module", commands_named())
def test_every_python_m_command_named_answers_help(module):
    outcome = run_module(module, ["--help"])
    assert outcome.code == 0, outcome.err
    assert "usage:" in outcome.out
