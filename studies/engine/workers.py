"""Local worker processes for `--workers N`, followed by one parent process."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from optuna.trial import TrialState

from studies.arguments import arguments
from studies.engine import confirm, dead, effects, plans, threads
from studies.engine import planned as planned_runs
from studies.engine.lifecycle import worker_id
from studies.engine.progress import Progress
from studies.engine.stopping import stopping_on_signals
from studies.engine.study import FINISHED, count
from studies.settings import DEFAULT_STORAGE, STORAGE_VARIABLE

# What one worker process is assumed to hold at its peak before this study has measured it:
# TensorFlow, a dataset and compiled networks (about 1 GB one run at a time on the default
# study, kept on the safe side), and per member of a population its own networks and
# batches (a population of 64 on 3,000 images peaked at about 5 GB).
WORKER_MEMORY_MB = 1500
# Set in the environment of every process this module starts: the command it runs is not
# one a user typed, so it is not listed among the study's continuations.
STARTED_BY = "KERASNN_STARTED_BY_WORKERS"
MEMBER_MEMORY_MB = 60


def available_memory_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def worker_memory_mb(studies, population: int) -> tuple[float, str]:
    """What one worker at --population K holds at its peak, and where the figure comes from:
    the largest peak of the study's runs trained at K (measured), else an assumption."""
    peaks = [
        trial.user_attrs["peak_rss_mb"]
        for study in studies
        for trial in study.get_trials(deepcopy=False)
        if trial.user_attrs.get("population", 1) == population
        and _measured(trial.user_attrs.get("peak_rss_mb"))
    ]
    if peaks:
        return max(peaks), f"measured on this study's runs at --population {population}"
    assumed = WORKER_MEMORY_MB + (MEMBER_MEMORY_MB * population if population > 1 else 0)
    return assumed, f"assumed at --population {population}; none measured yet"


def _measured(peak) -> bool:
    """Whether a stored peak is a measurement (an edited storage may hold 0, NaN or text)."""
    return isinstance(peak, int | float) and not isinstance(peak, bool) and 0 < peak < math.inf


def capped(asked: int, remaining: int, memory_each: tuple[float, str]) -> tuple[int, str]:
    """How many workers to start for `remaining` runs, and why fewer than asked (or "")."""
    bounds = [(max(1, remaining), f"only {remaining} run(s) remain" if remaining else "")]
    memory = available_memory_mb()
    each, source = memory_each
    if memory is not None:
        fits = max(1, int(memory // each))
        bounds.append(
            (
                fits,
                f"{memory / 1024:.1f} GiB of memory is free, about {each:.0f} MB each ({source})",
            )
        )
    count, reason = min([(asked, "")] + bounds, key=lambda bound: bound[0])
    return count, reason


def run_workers(study, storage, settings, module) -> int:
    """Runs the study in `settings.workers` local processes and follows the whole study.

    Each worker is `python -m studies.run` with these settings, written out afresh
    (never an edited copy of this command line): one worker, its own rank, no report.
    The storage hands each its trials and the shared target stops them together.
    """
    if settings.storage.startswith("sqlite"):
        print(
            "warning: SQLite locks the whole database on every write, so parallel workers "
            "wait on each other; use a journal file (*.log) or PostgreSQL for --workers",
            file=sys.stderr,
        )
    finished = count(study, FINISHED)
    progress = Progress.of(settings, finished)
    for each in _studies(study, storage):  # A killed worker's runs count as work left.
        dead.reap(each, storage, progress.note)
    work = _work_left(study, storage, settings, module, finished)

    def said(started: int, each: int, logs: Path) -> str:
        return (
            f"{'continuing' if finished else 'starting'} study {settings.study_name} with "
            f"{started} workers of {each} thread(s): {finished} of {settings.trials} trials "
            f"done; worker logs in {logs}"
        )

    processes = (settings.workers, "workers", said)
    try:
        return _run_processes(study, storage, settings, module, work, processes, progress)
    finally:
        progress.close()


def stage_processes(stage, module) -> int:
    """How many processes train the planned stages left after this process's search: one
    per core unless --stage-processes says otherwise, capped by the runs left and the free
    memory; 1 trains them here, one at a time."""
    settings = stage.settings
    asked = settings.stage_processes or threads.cores()
    if asked <= 1:
        return 1
    left = _work_left(stage.search, stage.storage, settings, module, settings.trials)
    memory_each = worker_memory_mb(_studies(stage.search, stage.storage), settings.population or 1)
    processes = capped(asked, left, memory_each)[0]
    if settings.stage_processes is None and not _pays(stage.search, left, processes):
        return 1
    return processes


def _pays(search, runs: int, processes: int) -> bool:
    """Whether `processes` processes save more time on `runs` planned runs than each spends
    starting (importing its framework, loading the data), judged by this process's own
    start-up and the study's measured runs; True where either is unknown."""
    seconds = [
        trial.user_attrs["seconds"]
        for trial in search.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if isinstance(trial.user_attrs.get("seconds"), int | float)
    ]
    start_up = _start_up_seconds(search)
    if not seconds or start_up is None:
        return True
    saved = runs * statistics.median(seconds) * (1 - 1 / processes)
    return saved > start_up


def _start_up_seconds(search) -> float | None:
    """Seconds from this process's start to its first trial of the search, or to now where
    it trained none (a continued study: it has just started); None where the system does not
    say when it started."""
    started = [
        trial.datetime_start.timestamp()
        for trial in search.get_trials(deepcopy=False)
        if trial.user_attrs.get("worker") == worker_id() and trial.datetime_start is not None
    ] or [time.time()]
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return min(started) - (boot + int(stat[19]) / os.sysconf("SC_CLK_TCK"))


def run_stage_processes(stage, module) -> int:
    """Trains the confirmation and the effects stage in `stage_processes` processes that
    share their planned runs through the storage, and follows them; the exit status (1
    when a process found no configuration to confirm)."""
    settings = stage.settings
    if stage.deadline is not None:
        left = max(1.0, stage.deadline - time.monotonic())
        settings = dataclasses.replace(settings, timeout=round(left, 1))
    work = _work_left(stage.search, stage.storage, settings, module, settings.trials)

    def said(started: int, each: int, logs: Path) -> str:
        return (
            f"training the planned runs in {started} processes of {each} thread(s); "
            f"their logs in {logs}"
        )

    processes = (settings.stage_processes or threads.cores(), "processes", said)
    return _run_processes(
        stage.search, stage.storage, settings, module, work, processes, stage.progress
    )


def _run_processes(study, storage, settings, module, work: int, processes, progress) -> int:
    """Starts up to the `processes` asked (a count, their name in a line, and the line that
    says them), capped by `work` and the free memory, each with its share of the cores'
    threads; follows them and reaps their dead trials; returns the exit status."""
    asked, noun, said = processes
    memory_each = worker_memory_mb(_studies(study, storage), settings.population or 1)
    started, reason = capped(asked, work, memory_each)
    logs = settings.folder / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    if reason:
        progress.note(f"starting {started} of the {asked} {noun} asked: {reason}")
    each = threads.share(started)
    progress.note(said(started, each, logs))
    workers = [_start(settings, module, index, logs, each) for index in range(started)]
    status = _follow(study, storage, workers, progress)
    for index, process in enumerate(workers):
        if process.returncode not in (0, None) and status != 130:
            status = status or _worker_failed(index, process.returncode, logs, progress)
    dead.reap(study, storage, progress.note)
    return status


def _studies(study, storage) -> list:
    """The search study and its stages' companions that exist: whose runs measured memory."""
    return [study, *[c for c in _companions(study, storage) if c is not None]]


def _companions(study, storage) -> list:
    return [
        plans.load_companion(storage, study.study_name, stage_name)
        for stage_name in (confirm.STAGE_NAME, effects.STAGE_NAME)
    ]


def _work_left(study, storage, settings, module, finished: int) -> int:
    """The runs still to train that workers can share: the search's, the confirmation's and
    the effects', each stage's counted from its recorded plan (from the settings before it
    has one; the effects' variants are known only once the winner is)."""
    confirmation, measured = _companions(study, storage)
    search_left = max(0, settings.trials - finished)
    confirm_left = settings.confirm_top * settings.confirm_seeds
    plan = plans.recorded_plan(confirmation)
    if plan is not None and settings.confirm_top:
        runs = confirm.runs_of(study, plan)
        confirm_left = len(planned_runs.standing(confirmation, runs).open_runs)
    effects_left = 2 * settings.effects_seeds  # At least the winner and one variant a seed.
    answer = confirm.answer(study, confirmation)
    if settings.effects_seeds and answer is not None:
        plan = plans.recorded_plan(measured) or plans.asked_effects(
            answer.winner.source, study, settings, plans.recorded_plan(confirmation)
        )
        found = effects.design_of(plan, study, module)
        variants = found.variants if found is not None else []
        runs = effects.plan(plan.sources[0], variants, list(plan.seeds))
        effects_left = (
            len(runs) if measured is None else len(planned_runs.standing(measured, runs).open_runs)
        )
    return search_left + confirm_left * (settings.confirm_top > 0) + effects_left


def _worker_failed(index: int, code: int, logs: Path, progress: Progress) -> int:
    """Says why worker `index` ended badly; the exit status it stands for (1 if killed)."""
    if code < 0:
        cause = f"was killed by {signal.Signals(-code).name}"
    else:
        cause = f"exited with status {code}: {_last_line(logs / f'worker-{index + 1}.log')}"
    progress.note(f"worker {index + 1} {cause}")
    return code if code > 0 else 1


def worker_command(
    settings, module, index: int, threads_each: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of worker `index` (0-based).

    The command line is the parsed settings written out afresh in full option names: one
    worker, its own rank, its planned runs trained in itself, no report. The storage URL
    goes in the environment instead, so a password in it does not show in the process
    list; so do the worker's threads (`threads_each`, None: the framework's default), which
    its framework reads when it starts.
    """
    words = arguments(
        settings,
        module,
        storage=DEFAULT_STORAGE,
        workers=1,
        stage_processes=1,
        rank=settings.rank + index,
        fresh=False,
        report_only=False,
        no_report=True,
    )
    environment = dict(os.environ, **{STORAGE_VARIABLE: settings.storage, STARTED_BY: "1"})
    if threads_each is not None:
        environment = threads.environment(threads_each, environment)
    return [sys.executable, "-m", "studies.run", *words], environment


def _start(settings, module, index: int, logs: Path, threads_each: int) -> subprocess.Popen:
    command, environment = worker_command(settings, module, index, threads_each)
    with open(logs / f"worker-{index + 1}.log", "w") as log:
        return subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _follow(study, storage, workers: list[subprocess.Popen], progress: Progress) -> int:
    """Prints a line per finished trial, and per run of the confirmation and the effects
    stage, until the workers exit; passes a stop signal on."""
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    stages = [
        _CompanionLines(study, storage, progress, stage_name)
        for stage_name in (confirm.STAGE_NAME, effects.STAGE_NAME)
    ]
    try:
        with stopping_on_signals():
            while any(process.poll() is None for process in workers):
                seen |= _report_new_trials(study, seen, progress)
                for stage in stages:
                    stage.report()
                time.sleep(2)
    except KeyboardInterrupt as interrupt:
        progress.note(f"interrupted ({interrupt or 'SIGINT'}); stopping the workers")
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return 130
    finally:
        _report_new_trials(study, seen, progress)
        for stage in stages:
            stage.report()
    return 0


class _CompanionLines:
    """The runs of a stage after the search (its companion study) that the workers finish,
    one line each, once the companion exists."""

    def __init__(self, search, storage, progress: Progress, stage_name: str):
        self.storage, self.progress, self.stage_name = storage, progress, stage_name
        self.search_name = search.study_name
        self.study, self.seen = None, set()
        self.report(say=False)  # The runs finished before the workers started are not new.

    def report(self, say: bool = True) -> None:
        if self.study is None:
            self.study = plans.load_companion(self.storage, self.search_name, self.stage_name)
            if self.study is None:
                return
        for trial in self.study.get_trials(deepcopy=False):
            if trial.state.is_finished() and trial.number not in self.seen:
                self.seen.add(trial.number)
                if say:
                    self.progress.note(planned_runs.line(trial, self.stage_name))


def _report_new_trials(study, seen: set[int], progress: Progress) -> set[int]:
    """Prints a progress line for each trial that finished since the last call."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)
    finished = sum(trial.state in FINISHED for trial in trials)  # One read, not one a trial.
    new = set()
    for trial in trials:
        if trial.state.is_finished() and trial.number not in seen:
            new.add(trial.number)
            progress.trial(trial, finished)
    return new


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"
