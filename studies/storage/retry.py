"""The one retry rule: a trial whose worker died is queued again, as the same run, a few times.

Used on every storage: by Optuna's heartbeat check on a database (as its stale-trial
callback) and by the journal's check of dead worker processes (`engine.dead`). A retry
carries the trial's complete configuration (every parameter it was queued with, not only
those suggested before it died) and the identity of the run it is (RUN_KEYS), so that a
planned run trains exactly what the dead trial would have. A search trial drawn by the
sampler was queued with nothing: its retry keeps what it had suggested and draws the rest
again. A configuration that keeps killing its worker is retried at most MAX_RETRIES times.
"""

from __future__ import annotations

# A trial is tried at most 1 + MAX_RETRIES times, whatever the storage.
MAX_RETRIES = 2
# The user attributes that say which planned run a trial is (a confirmation's source and
# seed, an effects variant and seed).
RUN_KEYS = ("source_trial", "seed", "variant")


def configuration(trial) -> dict:
    """Every parameter `trial` trains: those it was queued with, then those it suggested."""
    return {**trial.system_attrs.get("fixed_params", {}), **trial.params}


def retries(trial) -> int:
    """How many times the run of `trial` was retried before it."""
    count = trial.user_attrs.get("retries", 0)
    return count if isinstance(count, int) else MAX_RETRIES


def retry(study, trial) -> bool:
    """Queues `trial` (a FrozenTrial whose worker died) again as the same run; False when it
    was retried MAX_RETRIES times already, and is given up."""
    if retries(trial) >= MAX_RETRIES:
        return False
    kept = {key: trial.user_attrs[key] for key in RUN_KEYS if key in trial.user_attrs}
    attrs = {**kept, "retry_of": trial.number, "retries": retries(trial) + 1}
    study.enqueue_trial(configuration(trial), user_attrs=attrs)
    return True
