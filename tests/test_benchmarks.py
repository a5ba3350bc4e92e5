"""Benchmarks publish their figures only from a full run or to a path they are given."""

from __future__ import annotations

import argparse

from benchmarks import report


def test_a_quick_run_writes_no_report_unless_given_a_path(tmp_path, capsys):
    quick = argparse.Namespace(quick=True, report=None, json=None)
    assert report.report_path(quick) is None
    report.publish("speed", "| a table |", ["met"], [], quick)
    assert "no report written" in capsys.readouterr().out

    given = argparse.Namespace(quick=True, report=tmp_path / "bench.md", json=None)
    report.publish("speed", "| a table |", [], [], given)
    assert "| a table |" in (tmp_path / "bench.md").read_text()


def test_a_full_run_writes_the_published_report():
    full = argparse.Namespace(quick=False, report=None, json=None)
    assert report.report_path(full) == report.REPORT
