"""Optuna studies of kerasnn networks; `python -m studies.run` runs one from the command line,
`run_study` and `open_study` from Python (see studies.api), `replicate` a report's answer on this
machine (see studies.replication)."""

from studies.api import StudyAnswer, StudyResult, open_study, run_study
from studies.replication import replicate

__all__ = ["StudyAnswer", "StudyResult", "open_study", "replicate", "run_study"]
