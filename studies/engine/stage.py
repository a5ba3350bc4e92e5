"""What every stage of a study works with, as one frozen value."""

from __future__ import annotations

import dataclasses
import time

import optuna

from studies.settings import Settings


@dataclasses.dataclass(frozen=True)
class Stage:
    """The context of a stage (the search, the confirmation, the effects): the search study,
    its storage, the checked settings, the study module, the data, where progress goes, and
    the deadline of --timeout (time.monotonic(); None without one)."""

    search: optuna.Study
    storage: object
    settings: Settings
    module: object
    dataset: object
    progress: object
    deadline: float | None = None

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline
