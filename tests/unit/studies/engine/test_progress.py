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


def finished_trial(state: str, objective: float | None = None):
    import optuna

    attrs = {"objective": objective, "val_accuracy": 0.8, "gap": 0.01, "epochs": 2}
    if state == "FAIL":
        attrs = {"fail_reason": "diverged: the loss became NaN"}
    return optuna.trial.create_trial(
        state=getattr(optuna.trial.TrialState, state),
        value=objective if state == "COMPLETE" else None,
        user_attrs=attrs,
    )


def test_where_no_one_watches_progress_is_lines_and_off_it_says_only_failures(capsys):
    Progress("small", target=3, already=0).trial(finished_trial("COMPLETE", 0.79), 1)
    assert "COMPLETE objective 0.7900 (val 0.8000" in capsys.readouterr().out
    quiet = Progress("small", target=3, already=0, view="off")
    quiet.trial(finished_trial("COMPLETE", 0.79), 1)
    assert capsys.readouterr().out == ""
    quiet.trial(finished_trial("FAIL"), 2)
    assert "FAIL     failed: diverged: the loss became NaN" in capsys.readouterr().out


def test_a_bar_shows_each_stage_its_runs_done_and_the_last_outcome(capsys):
    progress = Progress("small", target=2, already=0, view="bar")
    progress.note("starting: 2 trials")
    progress.trial(finished_trial("COMPLETE", 0.79), 1)
    progress.begin("confirmation", total=4, done=1)
    progress.run(finished_trial("COMPLETE", 0.81), "confirmation of trial 0, seed 1: ...")
    progress.close()
    printed = capsys.readouterr().out
    assert "[small] starting: 2 trials\n" in printed
    assert "[small] search:  50%" in printed and "1/2" in printed and "0.7900" in printed
    assert "[small] confirmation:  50%" in printed and "2/4" in printed
    assert "confirmation of trial 0" not in printed  # A run that went well is on the bar.


def test_no_progress_is_an_option_of_the_run_and_not_of_the_study(tmp_path):
    from services import settings_for

    from studies import overfitting
    from studies.arguments import command

    quiet = settings_for("--no-progress", "--trials", "3")
    assert quiet.no_progress
    assert command(quiet, overfitting) == command(settings_for("--trials", "3"), overfitting)
