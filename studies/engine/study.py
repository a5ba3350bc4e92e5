"""One study in its storage: its sampler and pruner, its companions' names, opening, continuing
or deleting it (and whether a live process works on it), counting its trials, and the code
version its trials record."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import subprocess
import threading
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from studies.engine import dead
from studies.engine.progress import shown_name
from studies.engine.pruning import make_pruner
from studies.errors import UsageError
from studies.settings import SEED_LIMIT, Settings

# Spreads the seeds of a continued study's samplers far from the ones of earlier runs.
CONTINUATION_SEED_STEP = 1_000_003


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Trials that count towards the target before they finish: running ones, and queued ones
# (retries of a dead worker's trial), which the next worker to ask will run.
PENDING = (TrialState.RUNNING, TrialState.WAITING)


class StudyFailing(RuntimeError):
    """Too many trials in a row failed."""


# The user attribute that says, on optuna-dashboard's page of a study, what the study is.
ABOUT = "about"


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


@dataclasses.dataclass(frozen=True)
class StoredStudy:
    """What a check needs of a stored study: its name, attributes and directions."""

    study_name: str
    user_attrs: dict
    directions: list


def stored_study(storage, name: str) -> StoredStudy | None:
    """The stored study called `name`, or None: read by name, without loading its trials
    (a summary of every study reads every trial, which a large study pays for on every
    check)."""
    storage = optuna.storages.get_storage(storage)
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return StoredStudy(
        name, storage.get_study_user_attrs(study_id), storage.get_study_directions(study_id)
    )


# The companion study of each stage after the search (engine.confirm, engine.effects), by
# the stage's name: the search's name and this suffix.
COMPANIONS = {"confirmation": "-confirm", "effects": "-effects"}


def companion_name(search_name: str, stage_name: str) -> str:
    """The name of the companion study where stage `stage_name` of study `search_name`
    keeps its runs and plan: the one place such a name is made."""
    return search_name + COMPANIONS[stage_name]


def study_names(name: str) -> list[str]:
    """A study's search and its companions: what --fresh deletes together."""
    return [name] + [companion_name(name, stage_name) for stage_name in COMPANIONS]


def check_continuation(settings: Settings, storage) -> None:
    """Refuses to continue a stored study made with other settings, or to delete it while a
    process works on it. (Its recorded plans are checked by engine.plans.check_plans.)"""
    stored = stored_study(storage, settings.study_name)
    if settings.fresh:
        _refuse_if_live(settings, storage)
        return
    if stored is None:
        return
    check_identity(stored.user_attrs, stored.directions, settings)


def _refuse_if_live(settings: Settings, storage) -> None:
    """--fresh deletes the search and its companions: refused while any of them has a
    running trial whose worker lives (a dead worker's trial does not count)."""
    for name in study_names(settings.study_name):
        if stored_study(storage, name) is None:
            continue
        study = optuna.load_study(study_name=name, storage=storage)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        live = {trial.number for trial in running} - dead.dead_trials(study, storage)
        if live:
            raise UsageError(
                f"study {name!r} has {len(live)} trial(s) running in another process; stop "
                "it (or wait for it) before --fresh deletes the study and its stages"
            )
        processes = live_processes(study.user_attrs)
        if processes:
            raise UsageError(
                f"study {name!r} is being run by process {', '.join(processes)}; stop it (or "
                "wait for it) before --fresh deletes the study and its stages"
            )


PROCESS = "process "  # User attribute "process host:pid": the process works on the study.
# A working process says so again this often, so that one on another host, whose pid this
# host cannot check, counts as gone once it has been silent for PROCESS_SILENT_SECONDS.
PROCESS_REFRESH_SECONDS = 60.0
PROCESS_SILENT_SECONDS = 5 * PROCESS_REFRESH_SECONDS


def live_processes(attrs: dict, now: float | None = None) -> list[str]:
    """The processes that say they work on a study and still do: on this host, those whose
    pid still runs; on another host, those that said so within PROCESS_SILENT_SECONDS."""
    now = time.time() if now is None else now
    return [
        key.removeprefix(PROCESS)
        for key, since in attrs.items()
        if key.startswith(PROCESS)
        and isinstance(since, int | float)
        and since > 0
        and _still_working(key.removeprefix(PROCESS), since, now)
    ]


def _still_working(worker: str, since: float, now: float) -> bool:
    if dead.on_this_host(worker):
        return not dead.gone(worker, datetime.datetime.fromtimestamp(since))
    return now - since < PROCESS_SILENT_SECONDS


@contextlib.contextmanager
def working_on(study: optuna.Study):
    """Says on the study that this process works on it, between and during its trials (and
    again every PROCESS_REFRESH_SECONDS), so that --fresh elsewhere refuses to delete it;
    unsaid on the way out."""
    key = f"{PROCESS}{os.uname().nodename}:{os.getpid()}"
    study.set_user_attr(key, time.time())
    done = threading.Event()

    def refresh():
        while not done.wait(PROCESS_REFRESH_SECONDS):
            with contextlib.suppress(Exception):  # A storage hiccup: say it next time.
                study.set_user_attr(key, time.time())

    thread = threading.Thread(target=refresh, name="kerasnn-working-on", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        with contextlib.suppress(Exception):  # The storage may be gone with the process.
            study.set_user_attr(key, 0)


def check_identity(stored: dict, directions, settings: Settings) -> None:
    if "study" in stored:
        # Studies stored before the precision was part of the identity trained in float32.
        stored = {"precision": "float32", **stored}
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
    if settings.fresh:
        delete(settings.study_name, storage)
    stored = stored_study(storage, settings.study_name)
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
        # First, so that the dashboard's table of the study's attributes (five rows a page,
        # in the order they were set) opens with what the study is; its report words it.
        study.set_user_attr(
            ABOUT, "the search; the confirmed answer, once there is one, is on the Note tab"
        )
        for key, value in settings.identity().items():
            study.set_user_attr(key, value)
        study.set_user_attr("heartbeat", settings.heartbeat)
        names = ["val_accuracy", "gap"] if settings.objective == "pareto" else ["objective"]
        study.set_metric_names(names)
    return study


def delete(name: str, storage) -> None:
    """Deletes the study `name` and its stages' companions, saying which (for --fresh)."""
    for each in study_names(name):
        if stored_study(storage, each) is not None:
            optuna.delete_study(study_name=each, storage=storage)
            print(f"[{shown_name(name)}] --fresh: deleted study {each!r}", flush=True)


def trial_numbered(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial `number` of `study`, read without copying the study (`study.trials[number]`
    deep-copies every trial first, a cost that grows with the study)."""
    return study.get_trials(deepcopy=False)[number]


def count(study: optuna.Study, states) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


# The checkout that holds both packages, whose state a code version names.
CODE_ROOT = Path(__file__).resolve().parents[2]


def code_version(root: Path = CODE_ROOT) -> str:
    """The git commit of the running code ("+changes" when the tree differs), or "unknown".

    Stored on each trial so that a report can say which code produced its numbers. Only
    the packages count (`kerasnn/`, `studies/`): a changed test or document trains the same.
    """

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
