"""Running one study: its sampler and pruner, opening or continuing it, and the trial loop."""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from kerasnn import DivergedError
from studies.pruning import make_pruner, make_terminator
from studies.settings import SEED_LIMIT, Settings, UsageError

# Spreads the seeds of a continued study's samplers far from the ones of earlier runs.
CONTINUATION_SEED_STEP = 1_000_003


class SurplusTrial(Exception):
    """Other workers already started the study's last trials; this one is not needed."""


class DuplicateTrial(Exception):
    """The sampler proposed a configuration the study already has; it is drawn again."""


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Trials that count towards the target before they finish: running ones, and queued ones
# (retries of a dead worker's trial), which the next worker to ask will run.
PENDING = (TrialState.RUNNING, TrialState.WAITING)


class StudyFailing(RuntimeError):
    """Too many trials in a row failed."""


def make_sampler(settings: Settings, search_space: dict | None, trials_so_far: int = 0):
    """The sampler of this run of the study.

    Its seed is the study seed plus this worker's rank, moved on by the number of trials
    the study already holds: workers with different ranks, and a continued or extended
    study, draw configurations of their own instead of repeating the first run's.
    """
    name = settings.sampler
    seed = (settings.seed + settings.rank + trials_so_far * CONTINUATION_SEED_STEP) % SEED_LIMIT
    if search_space is not None:
        return optuna.samplers.GridSampler(search_space, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2" or (name == "tpe" and settings.objective == "pareto"):
        # TPE handles two objectives too, but NSGA-II is the standard choice for a front.
        return optuna.samplers.NSGAIISampler(seed=seed)
    # The constant liar makes TPE steer away from configurations other workers are running.
    # Everything TPE does is named, since Optuna's defaults change between versions.
    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=10,
        multivariate=True,
        group=True,
        constant_liar=True,
    )


def stored_study(storage, name: str) -> optuna.study.StudySummary | None:
    """The stored study called `name`, read without loading or changing it, or None."""
    return next(
        (
            s
            for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
            if s.study_name == name
        ),
        None,
    )


def check_continuation(settings: Settings, storage) -> None:
    """Refuses to continue a stored study made with other settings (or to delete a live one)."""
    stored = stored_study(storage, settings.study_name)
    if stored is None:
        return
    if settings.fresh:
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
        fail_dead_trials(study, storage)
        running = count(study, (TrialState.RUNNING,))
        if running:
            raise UsageError(
                f"study {settings.study_name!r} has {running} trial(s) running in another "
                "process; stop it (or wait for it) before --fresh deletes the study"
            )
        return
    check_identity(stored.user_attrs, stored.directions, settings)


def check_identity(stored: dict, directions, settings: Settings) -> None:
    differences = [
        f"{key} {stored[key]!r} (asked for {value!r})"
        for key, value in settings.identity().items()
        if key in stored and stored[key] != value
    ]
    # A study made by other means carries no identity, but its directions still bind it.
    directions = [direction.name.lower() for direction in directions]
    if "directions" not in stored and directions != settings.directions:
        differences.append(f"directions {directions!r} (asked for {settings.directions!r})")
    if differences:
        raise UsageError(
            f"study {settings.study_name!r} in this storage was made with "
            + ", ".join(differences)
            + "; use another --study-name, or --fresh to delete and restart it"
        )


def open_study(settings: Settings, storage, search_space=None) -> optuna.Study:
    """Creates the study or continues the stored one; call only once every check has passed.

    With `settings.fresh` the stored study is deleted first. A new study records its
    identity, its heartbeat interval and the command that made it.
    """
    stored = stored_study(storage, settings.study_name)
    if stored is not None and settings.fresh:
        optuna.delete_study(study_name=settings.study_name, storage=storage)
        stored = None
    trials_so_far = 0
    if stored is not None:
        loaded = optuna.load_study(study_name=settings.study_name, storage=storage)
        trials_so_far = len(loaded.get_trials(deepcopy=False))
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study_name,
        directions=settings.directions,
        sampler=make_sampler(settings, search_space, trials_so_far),
        pruner=make_pruner(settings),
        load_if_exists=True,
    )
    # A worker that raced another's creation checks the identity the other one stored.
    check_identity(study.user_attrs, study.directions, settings)
    if "study" not in study.user_attrs:
        for key, value in settings.identity().items():
            study.set_user_attr(key, value)
        study.set_user_attr("heartbeat", settings.heartbeat)
        names = ["val_accuracy", "gap"] if settings.objective == "pareto" else ["objective"]
        study.set_metric_names(names)
    return study


def count(study: optuna.Study, states) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def code_version() -> str:
    """The git commit of the running code ("+changes" when the tree differs), or "unknown".

    Stored on each trial so that a report can say which code produced its numbers.
    """
    root = Path(__file__).resolve().parents[1]

    def git(*arguments) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "kerasnn", "studies")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if changed else "")


def fail_dead_trials(study: optuna.Study, storage) -> list[int]:
    """Marks FAIL the RUNNING trials whose worker died, and queues their configurations again.

    RDB storages (PostgreSQL, SQLite) decide by heartbeat: a trial whose worker sent none
    for the grace period is failed and retried by Optuna's retry callback (see
    studies.storage), from whichever machine notices first. A journal file has no heartbeat,
    so this checks the worker's process instead: a RUNNING trial whose worker ran on this
    host under a pid that no longer exists (or now belongs to a younger process) is failed.
    Workers on other hosts cannot be checked that way; a journal file is for one host.

    Returns:
        The numbers of the trials this call failed (journal storage only; Optuna does not
        say which trials its heartbeat check failed).
    """
    if isinstance(storage, RDBStorage) and storage.get_heartbeat_interval() is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks fail_stale_trials experimental.
            optuna.storages.fail_stale_trials(study)
        return []
    host = os.uname().nodename
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid), trial.datetime_start):
            continue
        if _fail(storage, trial, f"worker {worker} died while running it"):
            # Only the worker whose FAIL won gets here, so the configuration is queued once.
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            failed.append(trial.number)
    return failed


def _fail(storage, trial, reason: str) -> bool:
    """Marks another process's RUNNING trial FAIL with `reason`; False if it finished first.

    Optuna's public API changes only the trials of this process, so this goes through the
    storage with the trial's storage id, `FrozenTrial._trial_id`, the one private attribute
    used here (watch it on Optuna upgrades).
    """
    try:
        storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
        return storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except (UpdateFinishedTrialError, KeyError):
        return False  # Another worker failed it first (or it finished); it retries it.


def _alive(pid: int, since) -> bool:
    """Whether process `pid` runs and started before `since` (so the pid was not reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, StopIteration, ValueError):
        return True  # No /proc: trust the pid.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False  # Killed, not yet reaped by its parent.
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return since is None or started <= since.timestamp() + 1


def run_trials(study, storage, objective, settings: Settings, progress) -> str:
    """Trains trials until the study has `settings.trials` finished ones (by any worker).

    Whichever comes first stops it: the target, the timeout (checked before each trial; a
    running trial is finished, not cut) or the terminator (checked after each finished
    trial). Returns why it stopped ("target reached", "timeout" or the terminator's
    reason); raises StudyFailing after `settings.max_failures` failed trials in a row.
    """
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    terminator = make_terminator(settings)
    failures = 0
    while True:
        for number in fail_dead_trials(study, storage):
            progress.note(f"trial {number}'s worker died; marked FAIL and queued again")
        finished = count(study, FINISHED)
        if finished >= settings.trials:
            return "target reached"
        if deadline is not None and time.monotonic() >= deadline:
            progress.note(f"timeout reached with {finished} of {settings.trials} trials finished")
            return "timeout"
        if _wait_for_others(study, settings.trials, progress):
            continue
        trial = one_trial(study, objective)
        progress.trial(trial, count(study, FINISHED))
        reason = trial.user_attrs.get("fail_reason", "")
        if reason.startswith("duplicate"):
            study.sampler.reseed_rng()  # Draw elsewhere next time.
            continue
        if reason.startswith("surplus"):
            continue
        failures = failures + 1 if trial.state == TrialState.FAIL else 0
        stop = terminator and trial.state == TrialState.COMPLETE and terminator.reason(study)
        if stop:
            progress.note(f"{stop}, after {count(study, FINISHED)} trials")
            return stop
        if failures >= settings.max_failures:
            raise StudyFailing(
                f"{failures} trials failed in a row (last: {reason or '?'}); "
                "stopping the study. Raise --max-failures to go on regardless."
            )


def _wait_for_others(study, target: int, progress) -> bool:
    """Sleeps a little when the last trials run elsewhere; True if it did.

    It waits in case one of them fails or its worker dies (the caller's next check then
    fails and requeues it).
    """
    running = count(study, (TrialState.RUNNING,))
    if count(study, FINISHED) + running < target or count(study, (TrialState.WAITING,)):
        progress.waiting = False
        return False
    if not progress.waiting:
        progress.note(f"waiting for {running} trial(s) running in other workers")
        progress.waiting = True
    time.sleep(2)
    return True


def one_trial(study, objective) -> optuna.trial.FrozenTrial:
    done = []
    study.optimize(
        objective,
        n_trials=1,
        catch=(DivergedError, SurplusTrial, DuplicateTrial),
        callbacks=[lambda _, frozen: done.append(frozen)],
        gc_after_trial=True,
    )
    return done[-1]
