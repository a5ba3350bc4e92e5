"""Usage errors of this round: one line, exit status 2, nothing written."""

from __future__ import annotations

from services import cli


def test_an_empty_study_name_is_refused(tmp_path, capsys):
    done = cli(["--study-name", " ", "--reports", str(tmp_path / "r")], capsys)
    assert done.code == 2
    assert done.err.strip().endswith("--study-name must name the study (got an empty string)")
    assert not (tmp_path / "r").exists()


def test_a_reports_link_to_nothing_is_refused_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "r").symlink_to(tmp_path / "missing")
    done = cli(["--reports", str(tmp_path / "r"), "--storage", str(tmp_path / "j.log")], capsys)
    assert done.code == 2
    assert "is a link to nothing" in done.err and len(done.err.strip().splitlines()) == 1
    assert not (tmp_path / "j.log").exists() and not (tmp_path / "missing").exists()


def test_report_only_refuses_fresh_and_no_report(tmp_path, capsys):
    for clash in ("--fresh", "--no-report"):
        done = cli(["--report-only", clash, "--storage", str(tmp_path / "j.log")], capsys)
        assert done.code == 2
        assert f"{clash} and --report-only cannot be combined" in done.err
