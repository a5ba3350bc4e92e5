"""Why a trial failed, stored as a kind that code reads, with a reason that people read.

Every failed trial carries `fail_kind` (one of KINDS) and `fail_reason` (a sentence). Code
decides by the kind alone: whether a failure counts against a configuration, whether a
run is retried, whether a search stops. Trials stored before kinds existed, and trials
that Optuna's heartbeat check failed (it stores nothing on them), get theirs from `kind_of`.
"""

from __future__ import annotations

from kerasnn import DivergedError
from studies.engine import stopping

KINDS = (
    "duplicate",  # The configuration (or planned run) is trained by another trial already.
    "surplus",  # Other workers reached the study's target first.
    "mismatch",  # A planned run's stored configuration is not the one its plan names.
    "interrupted",  # A stop signal (SIGINT or SIGTERM) ended it.
    "environment",  # The machine failed (a full disk, an unreadable file), not the run.
    "died",  # Its worker process died while running it.
    "diverged",  # Its loss became NaN or infinite.
    "error",  # Anything else the run raised.
)
# Kinds that say nothing about the trial's configuration: it stepped aside, untrained.
STEPPED_ASIDE = ("duplicate", "surplus", "mismatch", "interrupted")


class StepAside(Exception):
    """A trial that is not trained, and why: its `kind` is one of STEPPED_ASIDE."""

    kind = "duplicate"


class SurplusTrial(StepAside):
    """Other workers already started the study's last trials; this one is not needed."""

    kind = "surplus"


class DuplicateTrial(StepAside):
    """The sampler proposed a configuration the study already has; it is drawn again."""

    kind = "duplicate"


class PlanMismatch(StepAside):
    """A planned run whose trial would train another configuration than its plan's."""

    kind = "mismatch"


def mark(trial, kind: str, reason: str) -> None:
    """Stores why `trial` (an Optuna trial of this process) failed."""
    trial.set_user_attr("fail_kind", kind)
    trial.set_user_attr("fail_reason", reason[:500])


def of_error(error: BaseException) -> tuple[str, str]:
    """The kind and reason of a run that raised `error`. A failure of the machine names its
    file: it says nothing about the configuration, so a stage retries it."""
    if isinstance(error, KeyboardInterrupt) or stopping.stop_requested():
        return "interrupted", "interrupted (SIGINT or SIGTERM)"
    if isinstance(error, StepAside):
        return error.kind, str(error)
    if isinstance(error, DivergedError):
        return "diverged", str(error)
    if isinstance(error, OSError):
        named = f"{error.filename}: " if error.filename else ""
        return "environment", f"environment: {named}{error.strerror or error}"
    return "error", f"{type(error).__name__}: {error}"


def of_the_run(error: BaseException) -> bool:
    """Whether `error`, raised while preparing or training a run, fails that run alone (a
    step aside, a divergence, an unexpected error of its configuration) rather than the
    whole study: a stop signal and a failure of the machine (an OSError) end the study."""
    return isinstance(error, Exception) and not isinstance(error, OSError)


# How the reasons of trials stored before kinds existed began, by kind.
_LEGACY_PREFIXES = {
    "duplicate": "duplicate",
    "surplus": "surplus",
    "mismatch": "mismatch",
    "interrupted": "interrupted",
    "environment": "environment",
}


def kind_of(trial) -> str | None:
    """The failure kind of a FAIL trial (a FrozenTrial); None for a trial that did not fail."""
    if trial.state.name != "FAIL":
        return None
    stored = trial.user_attrs.get("fail_kind")
    if stored in KINDS:
        return stored
    reason = str(trial.user_attrs.get("fail_reason", ""))
    if trial.user_attrs.get("diverged") is True:
        return "diverged"
    if not reason:
        return "died"  # Optuna's heartbeat check fails a dead worker's trial without a word.
    for kind, prefix in _LEGACY_PREFIXES.items():
        if reason.startswith(prefix):
            return kind
    if "died" in reason:
        return "died"
    if "diverged" in reason:
        return "diverged"
    return "error"
