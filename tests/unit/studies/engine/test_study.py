"""The study's own facts: which code trained it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from studies.engine import study


def _git(folder, *arguments) -> None:
    subprocess.run(["git", *arguments], cwd=folder, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_code_version_says_changes_when_a_package_file_was_edited(tmp_path):
    (tmp_path / "kerasnn").mkdir()
    (tmp_path / "studies").mkdir()
    (tmp_path / "kerasnn" / "scoring.py").write_text("A = 1\n")
    (tmp_path / "studies" / "run.py").write_text("B = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    clean = study.code_version(tmp_path)
    assert clean and not clean.endswith("+changes")
    (tmp_path / "kerasnn" / "scoring.py").write_text("A = 2\n")
    assert study.code_version(tmp_path) == clean + "+changes"


def test_code_version_looks_at_the_checkout_that_holds_both_packages():
    assert (study.CODE_ROOT / "kerasnn" / "__init__.py").is_file()
    assert (study.CODE_ROOT / "studies" / "__init__.py").is_file()
