"""Progress lines: one line each, whatever the study is called, and estimates a person can read."""

from __future__ import annotations

import logging

from studies.engine.progress import Progress, clock


def test_a_study_name_with_a_line_break_cannot_forge_a_progress_line(capsys):
    Progress("evil\n[evil] trial 9 COMPLETE", target=3, already=0).note("starting")
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and printed.startswith("[evil\\n[evil] trial 9")


def test_estimates_read_as_minutes_hours_or_over_a_bound():
    assert clock(125) == "2m05s"
    assert clock(3 * 3600 + 7 * 60) == "3h07m"
    assert clock(1e12) == "over 99h" and clock(float("inf")) == "over 99h"


def test_progress_lines_go_to_the_studies_logger_and_still_print(capsys):
    said = []
    listener = logging.Handler()
    listener.emit = said.append
    logger = logging.getLogger("studies")
    logger.addHandler(listener)
    try:
        Progress("small", target=3, already=0).note("starting: 3 trials")
    finally:
        logger.removeHandler(listener)
    assert [record.getMessage() for record in said] == ["[small] starting: 3 trials"]
    assert capsys.readouterr().out == "[small] starting: 3 trials\n"
