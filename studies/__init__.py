"""Optuna studies of kerasnn networks; `python -m studies.run` runs one from the command line,
`run_study` and `open_study` from Python (see studies.api)."""

from studies.api import StudyAnswer, StudyResult, open_study, run_study

__all__ = ["StudyAnswer", "StudyResult", "open_study", "run_study"]
