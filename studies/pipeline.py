"""One study from checked settings to its report: open or continue, search, confirm, report.

Every check (the data, the storage's health, a stored study's identity, the reports
folder) runs before the first write; only then is a study created, continued or, with
`--fresh`, deleted.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import os
import sys
import time
import warnings
from pathlib import Path

from studies.engine.progress import escaped, shown_name
from studies.errors import UsageError
from studies.settings import DEFAULT_STORAGE, Settings


def import_keras_quietly() -> None:
    """Imports Keras without TensorFlow's start-up lines (see `kerasnn.quiet`): an error
    is then the one line on stderr that it should be."""
    from kerasnn.quiet import import_keras

    import_keras()


def quiet_optuna() -> None:
    """Optuna logs every trial and warns of every failed one with a traceback (also for
    SIGTERM and diverged runs); the progress lines and the report say both."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def load_data(settings: Settings, given=None):
    """The study's dataset (cut to `--subset`), or the `given` one; bad or missing files
    are a UsageError, and the data's warnings are said on stderr."""
    from kerasnn.data import DataError, check_found, load_dataset

    if given is None:  # A missing file or folder is said at once, before TensorFlow's import.
        try:
            check_found(settings.dataset)
        except DataError as error:
            raise UsageError(str(error)) from None
    # The files are read (NumPy, no TensorFlow) while TensorFlow imports, which shortens the
    # wait before the first trial (benchmarks/startup.py measures it).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(lambda: given or load_dataset(settings.dataset, scale=settings.scale))
        import_keras_quietly()
    try:
        dataset = reading.result()
    except (DataError, ValueError) as error:
        raise UsageError(str(error)) from None
    for line in dataset.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if settings.subset:
        available = len(dataset.y_train)
        if settings.subset > available:
            raise UsageError(
                f"--subset {settings.subset} is more than the {available} training images "
                f"of {settings.dataset}"
            )
        dataset = dataset.subset(settings.subset)
    return dataset


def connect(settings: Settings, *, write: bool) -> tuple[Settings, object]:
    """Opens the storage (which checks it first); a stored study's own heartbeat interval is
    adopted.

    The interval after which a silent trial counts as dead belongs to the study (fixed when
    it was created), not to whichever process looks at it. A repaired journal is said on
    stderr as one warning line.
    """
    from studies.engine.study import stored_study
    from studies.storage import StorageError, StorageWarning, open_storage

    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", StorageWarning)
            storage = open_storage(settings.storage, settings.heartbeat, write=write)
            stored = stored_study(storage, settings.study_name)
            interval = stored and not settings.fresh and stored.user_attrs.get("heartbeat")
            if interval and interval != settings.heartbeat:
                settings = dataclasses.replace(settings, heartbeat=interval)
                storage = open_storage(settings.storage, interval, write=write)
    except StorageError as error:
        raise UsageError(str(error)) from None
    for warning in said:
        if issubclass(warning.category, StorageWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    return settings, storage


def run(settings: Settings, module, given_dataset=None) -> int:
    """Runs the study's search (and confirmation) and writes its report; returns the exit
    status. `given_dataset`: arrays given in memory, trained on instead of `settings.dataset`."""
    quiet_optuna()
    check_storage(settings)
    dataset = load_data(settings, given_dataset)
    settings, storage = checked_study(settings, dataset)
    # Every check has passed; from here on the storage and the reports folder are written.
    # The engine is imported here, not with this module, and after the cheap checks: the
    # confirmation it holds imports Keras, whose start-up lines must not precede an error.
    from studies import dataset_identity
    from studies.engine import study as opening

    note_folder(settings)
    settings.folder.mkdir(parents=True, exist_ok=True)
    study = opening.open_study(settings, storage, getattr(module, "SEARCH_SPACE", None))
    dataset_identity.record(study, dataset)
    record_command(study, settings, module)
    status = work_on(study, storage, settings, module, dataset)
    say_how_to_go_on(study, settings, module, status)
    return status


def check_storage(settings: Settings) -> None:
    """The storage's cheap check, which needs no TensorFlow: first of all."""
    from studies.storage import StorageError, check

    if settings.storage == DEFAULT_STORAGE:
        # The default storage lives in the default reports folder: created like it, where
        # the settings' check found it can be.
        Path(DEFAULT_STORAGE.removeprefix("sqlite:///")).parent.mkdir(exist_ok=True)
    try:
        check(settings.storage, write=True)
    except StorageError as error:
        raise UsageError(str(error)) from None


def checked_study(settings: Settings, dataset) -> tuple[Settings, object]:
    """The storage opened, and a stored study's identity, data and recorded plans checked;
    the settings with the stored study's heartbeat interval (see `connect`)."""
    from studies import dataset_identity
    from studies.engine import plans
    from studies.engine import study as opening

    settings, storage = connect(settings, write=True)
    opening.check_continuation(settings, storage)
    dataset_identity.check(opening.stored_study(storage, settings.study_name), settings, dataset)
    plans.check_plans(storage, settings)
    return settings, storage


def work_on(study, storage, settings: Settings, module, dataset) -> int:
    """This process's work on the study, its report included; the exit status. The study
    is marked in use until the last write, so that --fresh elsewhere cannot delete it
    under the report."""
    from studies.engine import workers
    from studies.engine.study import working_on

    with working_on(study), startup_objects_frozen():
        if settings.workers > 1:
            status = workers.run_workers(study, storage, settings, module)
        else:
            status = run_stages(study, storage, settings, module, dataset)
        if not settings.no_report:
            status = report_unless_stopped(study, storage, settings, module) or status
    return status


@contextlib.contextmanager
def startup_objects_frozen():
    """The objects alive before the first trial (the frameworks' modules, the data, the
    storage) kept out of the garbage collector's sight while the study runs, so that the
    collection after each trial (engine.lifecycle) walks that trial's objects only, not
    every object of the frameworks again (its cost per trial: benchmarks/scale.py). Undone
    on the way out: the process may be the user's."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def say_how_to_go_on(study, settings: Settings, module, status: int) -> None:
    """After a run that --timeout ended, the last line (after the report's): what it did,
    and the command that goes on."""
    if status or settings.timeout is None or study.user_attrs.get("stopped") != "timeout":
        return
    from studies.engine.progress import Progress

    # A line, not a bar: whatever the view, this is said.
    lines = Progress(settings.study_name, settings.trials, settings.trials, view="lines")
    lines.note(timed_out(study, settings, module))


def report_unless_stopped(study, storage, settings: Settings, module) -> int:
    """Writes the report; 130 when a stop signal ended the writing (the earlier report,
    written whole, stays as it was: see report.write), said in one line."""
    from studies.engine.stopping import stopping_on_signals

    try:
        with stopping_on_signals():
            write_report(study, storage, settings, module)
    except KeyboardInterrupt as interrupt:
        print(
            f"[{shown_name(settings.study_name)}] interrupted ({interrupt or 'SIGINT'}) while "
            "writing the report; the earlier one is left as it was (--report-only rebuilds it)",
            flush=True,
        )
        return 130
    return 0


def run_stages(study, storage, settings: Settings, module, dataset) -> int:
    """This process's share of the search, then of the confirmation and the effects; the
    exit status.

    0 when done, or when --timeout ended it early (the last line says what was done and the
    command that continues it); 130 when stopped by a signal; 1 when too many trials fail
    in a row or no configuration could be confirmed (every run of the confirmation failed).
    """
    from studies.engine.progress import Progress
    from studies.engine.search import run_trials
    from studies.engine.stage import Stage
    from studies.engine.stopping import stopping_on_signals
    from studies.engine.study import FINISHED, StudyFailing, count
    from studies.storage import redact

    finished = count(study, FINISHED)
    progress = Progress.of(settings, finished)
    done = f"continuing: {finished} of" if finished else "starting:"
    progress.note(f"{done} {settings.trials} trials")
    progress.note(f"{dataset.describe()}; storage {redact(settings.storage)}")
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    stage = Stage(study, storage, settings, module, dataset, progress, deadline)
    try:
        with stopping_on_signals():
            reason = run_trials(stage)
            study.set_user_attr("stopped", reason)
            if settings.confirm_top and not stage.past_deadline():
                status = planned_stages(stage, module)
                if status:
                    return status
        if stage.past_deadline():
            study.set_user_attr("stopped", "timeout")  # Said last, by `run`: `timed_out`.
        return 0
    except KeyboardInterrupt as interrupt:
        progress.note(f"interrupted ({interrupt or 'SIGINT'}); the running trial is marked FAIL")
        study.set_user_attr("stopped", "interrupted")
        return 130
    except StudyFailing as error:
        progress.note(str(error))
        study.set_user_attr("stopped", "too many failures")
        return 1
    finally:
        progress.close()


def planned_stages(stage, module) -> int:
    """The confirmation, then the effects stage: in this process, or in one process per
    core (`--stage-processes`) that share their planned runs; the exit status (1 when no
    configuration could be confirmed)."""
    from studies.engine import confirm, effects, workers

    settings = stage.settings
    if workers.stage_processes(stage, module) > 1:
        status = workers.run_stage_processes(stage, module)
        stored = confirm.load_confirmation(stage.storage, settings.study_name)
        answer = None if status else confirm.answer(stage.search, stored)
    else:
        status, answer = 0, confirm.confirm(stage)
        if answer is not None and settings.effects_seeds and not stage.past_deadline():
            effects.measure(answer, stage)
    if status or answer is not None or stage.past_deadline():
        return status
    stage.progress.note("no configuration was confirmed: none has a complete run")
    return 1


def timed_out(study, settings: Settings, module) -> str:
    """The last line of a run that --timeout ended: what was done, and how to go on."""
    from studies.arguments import command
    from studies.engine.study import FINISHED, count

    again = command(dataclasses.replace(settings, timeout=None, fresh=False), module)
    return (
        f"--timeout {settings.timeout:g} s reached with {count(study, FINISHED)} of "
        f"{settings.trials} search trials finished; every stage left unfinished goes on with: "
        f"{again}"
    )


def note_folder(settings: Settings) -> None:
    """Says where the report goes when the study name could not be its folder's name as is
    (a path, odd characters, too long): otherwise the user would look for it in vain."""
    if settings.folder.name != settings.study_name:
        print(
            f"[{escaped(settings.study_name)}] report folder: {settings.folder} "
            "(the study name made into a safe folder name)",
            flush=True,
        )


def record_command(study, settings: Settings, module) -> None:
    """Keeps the command that created the study; later runs are listed as continuations."""
    from studies.arguments import command
    from studies.engine.workers import STARTED_BY

    line = command(settings, module)
    if os.environ.get(STARTED_BY):
        return  # A worker's command was written by the command that started it.
    if "question" not in study.user_attrs:
        study.set_user_attr("question", module.QUESTION)
    if "machine" not in study.user_attrs:
        # The machine that made the study, for its report: its digits are this machine's.
        from studies.report import machine

        study.set_user_attr("machine", machine.description())
    if "command" not in study.user_attrs:
        study.set_user_attr("command", line)
    elif line != study.user_attrs["command"]:
        continuations = list(study.user_attrs.get("continuations", []))
        if line not in continuations:
            study.set_user_attr("continuations", [*continuations, line])


def write_report(study, storage, settings: Settings, module, read_only: bool = False) -> None:
    # The report draws with Keras; imported here first (for --report-only), TensorFlow's
    # start-up lines would precede a failure's one line on stderr.
    import_keras_quietly()
    from studies.report.closing import say_answer
    from studies.report.write import write_report as write

    write(study, storage, settings, module, read_only=read_only)
    print(f"[{shown_name(settings.study_name)}] report written: {settings.folder}", flush=True)
    say_answer(study, storage, settings.folder)


def rebuild_report(settings: Settings, module) -> int:
    """`--report-only`: the report from the storage alone; the storage is only read, never
    written (no dead worker's trial is failed, no dashboard note is saved), and the answer
    is the recorded plans', whatever the other options say."""
    import optuna

    from studies.engine.study import stored_study
    from studies.storage import exists, redact

    quiet_optuna()
    if not exists(settings.storage):
        raise UsageError(f"no storage at {redact(settings.storage)}")
    settings, storage = connect(settings, write=False)
    if stored_study(storage, settings.study_name) is None:
        raise UsageError(f"no study {settings.study_name!r} in {redact(settings.storage)}")
    study = optuna.load_study(study_name=settings.study_name, storage=storage)
    note_folder(settings)
    write_report(study, storage, settings, module, read_only=True)
    return 0
