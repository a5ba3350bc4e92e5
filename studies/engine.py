"""Running one study: opening or continuing it, training its trials and keeping count."""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState
from optuna_integration import KerasPruningCallback

from kerasnn import DivergedError, TrainConfig, train
from kerasnn import objective as scoring
from kerasnn.plots import plot_curves
from kerasnn.training import BLOW_UP_CROSS_ENTROPY

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Trials that count towards the target before they finish: running ones, and queued ones
# (retries of a dead worker's trial), which the next worker to ask will run.
PENDING = (TrialState.RUNNING, TrialState.WAITING)

# The percentile pruner keeps the trials in this top percentage of the completed ones.
PERCENTILE_KEPT = 10.0

# The settings that define what a study's trials mean; a stored study is continued only
# when these match, so its trials stay comparable.
IDENTITY = ("study", "dataset", "objective", "directions", "epochs", "subset", "penalty")


@dataclasses.dataclass(frozen=True)
class Settings:
    study: str = "overfitting"
    dataset: str = "fashion_mnist"
    trials: int = 40
    epochs: int = 20
    seed: int = 0
    subset: int | None = None
    timeout: float | None = None
    storage: str = "sqlite:///reports/kerasnn.db"
    study_name: str = ""
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str = "penalized"
    penalty: float = scoring.DEFAULT_PENALTY
    reports: str = "reports"
    max_failures: int = 5  # Consecutive failed trials that stop the study.
    rank: int = 0  # This worker's number among several; offsets the sampler's seed.
    command: str = ""  # The command line that produced the study, for its summary.

    @property
    def directions(self) -> list[str]:
        if self.objective == "pareto":
            return list(scoring.PARETO_DIRECTIONS)
        return [scoring.DIRECTION]

    def identity(self) -> dict:
        values = dataclasses.asdict(self)
        values["directions"] = self.directions
        return {key: values[key] for key in IDENTITY}


class SettingsMismatch(ValueError):
    """A stored study was made with other settings than the ones asked for now."""


class SurplusTrial(Exception):
    """Other workers already started the study's last trials; this one is not needed."""


def make_sampler(settings: Settings, search_space: dict | None):
    # Workers with the same seed would draw the same configurations at the same moments;
    # each worker's rank gives its sampler a seed of its own.
    name, seed = settings.sampler, settings.seed + settings.rank
    if search_space is not None:
        return optuna.samplers.GridSampler(search_space, seed=seed)
    if name == "grid":
        raise ValueError(f"study {settings.study!r} has no grid; choose another sampler")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2" or (name == "tpe" and settings.objective == "pareto"):
        # TPE handles two objectives too, but NSGA-II is the standard choice for a front.
        return optuna.samplers.NSGAIISampler(seed=seed)
    # The constant liar makes TPE steer away from configurations other workers are running.
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def make_pruner(settings: Settings):
    if settings.pruner == "none" or settings.objective == "pareto":
        # Optuna cannot prune multi-objective trials.
        return optuna.pruners.NopPruner()
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2, max_resource=settings.epochs)
    if settings.pruner == "percentile":
        # Keeps a trial only while its best objective so far is in the top tenth of the
        # completed trials' at the same epoch, from the second epoch on. It halves the
        # epochs, but judges on early epochs, where slow starters (heavy dropout, say) look
        # worse than they end: on the default study it missed the best configuration the
        # median pruner and no pruning found (see reports/benchmarks.md).
        return optuna.pruners.PercentilePruner(
            PERCENTILE_KEPT, n_startup_trials=5, n_warmup_steps=1
        )
    # The default: prunes a trial below the median of the completed ones from the third
    # epoch on, which leaves slow starters time to show what they are.
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)


def open_study(settings: Settings, storage, search_space=None, fresh=False) -> optuna.Study:
    """Creates the study or loads a stored one with the same identity; never changes another."""
    names = optuna.get_all_study_names(storage)
    if settings.study_name in names:
        if fresh:
            optuna.delete_study(study_name=settings.study_name, storage=storage)
        else:
            stored = optuna.load_study(study_name=settings.study_name, storage=storage)
            check_identity(stored, settings)
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study_name,
        directions=settings.directions,
        sampler=make_sampler(settings, search_space),
        pruner=make_pruner(settings),
        load_if_exists=True,
    )
    # A worker that raced another's creation checks the identity the other one stored.
    check_identity(study, settings)
    for key, value in settings.identity().items():
        study.set_user_attr(key, value)
    if settings.objective == "pareto":
        study.set_metric_names(["val_accuracy", "gap"])
    else:
        study.set_metric_names(["objective"])
    return study


def check_identity(study: optuna.Study, settings: Settings) -> None:
    stored = study.user_attrs
    differences = [
        f"{key} {stored[key]!r} (asked for {value!r})"
        for key, value in settings.identity().items()
        if key in stored and stored[key] != value
    ]
    # A study made by other means carries no identity, but its directions still bind it.
    directions = [direction.name.lower() for direction in study.directions]
    if "directions" not in stored and directions != settings.directions:
        differences.append(f"directions {directions!r} (asked for {settings.directions!r})")
    if differences:
        raise SettingsMismatch(
            f"study {settings.study_name!r} in this storage was made with "
            + ", ".join(differences)
            + "; use another --study-name, or --fresh to delete and restart it"
        )


def count(study: optuna.Study, states) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def code_version() -> str:
    """The git commit of the running code ("+changes" when the tree differs), or "unknown".

    Stored on each trial so that a report can say which code produced its numbers.
    """
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "kerasnn", "studies"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if changed else "")


CODE_VERSION = code_version()


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB.


def worker_id() -> str:
    """host:pid, stored on each trial so that a dead worker's trials can be found."""
    return f"{os.uname().nodename}:{os.getpid()}"


def fail_dead_trials(study: optuna.Study) -> list[int]:
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
    storage = study._storage
    if is_heartbeat_enabled(storage):
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
        try:
            storage.set_trial_user_attr(
                trial._trial_id, "fail_reason", f"worker {worker} died while running it"
            )
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except (UpdateFinishedTrialError, KeyError):
            continue  # Another worker failed it first (or it finished); it retries it.
        # Only the worker whose FAIL won gets here, so the configuration is queued once.
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        failed.append(trial.number)
    return failed


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


class _Record(keras.callbacks.Callback):
    """Adds the per-epoch penalized score to the logs, for the pruning callback after it."""

    def __init__(self, penalty: float):
        super().__init__()
        self.penalty = penalty
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        if logs is not None and "val_accuracy" in logs:
            logs["objective"] = scoring.score(
                logs["val_accuracy"], logs["train_accuracy"], self.penalty
            )


class _Prune(KerasPruningCallback):
    """Optuna's pruning callback, except on the epoch where a run diverged.

    Pruning that run would file it as PRUNED without a reason; letting it end (kerasnn's
    training stops a diverged run itself) makes the objective raise DivergedError, so the
    trial is FAIL with the divergence reason stored.
    """

    def on_epoch_end(self, epoch, logs=None):
        if _diverging(logs or {}):
            return
        super().on_epoch_end(epoch, logs)


def _diverging(logs: dict) -> bool:
    """kerasnn.training's test for divergence, on one epoch's logs."""
    losses = [float(logs.get(key, math.nan)) for key in ("loss", "train_loss", "val_loss")]
    return not all(math.isfinite(loss) for loss in losses) or losses[1] > BLOW_UP_CROSS_ENTROPY


def _rounded(history: dict[str, list[float]]) -> dict[str, list[float]]:
    return {key: [round(float(value), 6) for value in values] for key, values in history.items()}


class TrialObjective:
    """The function Optuna calls per trial: suggest, train, measure, store, score."""

    def __init__(self, study_module, settings: Settings, dataset, target: int):
        self.module = study_module
        self.settings = settings
        self.dataset = dataset
        self.target = target
        self.artifacts = FileSystemArtifactStore(_artifact_dir(settings.reports))
        self.base = TrainConfig(epochs=settings.epochs, seed=settings.seed)

    def __call__(self, trial: optuna.Trial):
        # First of all, so that a worker killed at any later moment can be recognised.
        trial.set_user_attr("worker", worker_id())
        trial.set_user_attr("code_version", CODE_VERSION)
        self._refuse_surplus(trial)
        model_config, train_config = self.module.suggest(trial, self.base)
        trial.set_user_attr("model_config", dataclasses.asdict(model_config))
        trial.set_user_attr("train_config", dataclasses.asdict(train_config))
        record = _Record(self.settings.penalty)
        callbacks = [record]
        if len(self.settings.directions) == 1:
            callbacks.append(_Prune(trial, "objective"))
        started = time.perf_counter()
        try:
            result = train(model_config, train_config, self.dataset, callbacks=callbacks)
        except optuna.TrialPruned:
            trial.set_user_attr("epochs", record.epochs)
            trial.set_user_attr("seconds", time.perf_counter() - started)
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted (SIGINT or SIGTERM)")
            raise
        except DivergedError as error:
            trial.set_user_attr("fail_reason", str(error))
            raise
        except Exception as error:
            # Optuna marks the trial FAIL and re-raises; the report shows why.
            trial.set_user_attr("fail_reason", f"{type(error).__name__}: {error}"[:500])
            raise
        finally:
            gc.collect()
        summary = result.summary()
        for key, value in summary.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            trial.set_user_attr(key, value)
        trial.set_user_attr("history", _rounded(result.history))
        # The process's peak memory so far: flat across a study's trials means no leak.
        trial.set_user_attr("peak_rss_mb", round(_peak_rss_mb(), 1))
        try:
            values = (
                scoring.pareto(result)
                if self.settings.objective == "pareto"
                else scoring.penalized(result, self.settings.penalty)
            )
        except DivergedError as error:
            trial.set_user_attr("fail_reason", str(error))
            raise
        trial.set_user_attr(
            "objective",
            scoring.score(result.val_accuracy, result.train_accuracy, self.settings.penalty),
        )
        self._upload(trial, result)
        return values

    def _refuse_surplus(self, trial: optuna.Trial) -> None:
        # Workers check the count before asking for a trial, but two of them may ask at the
        # same moment; the later-numbered trial then steps aside so the target is exact.
        ahead = [
            other
            for other in trial.study.get_trials(deepcopy=False, states=FINISHED + PENDING)
            if other.number < trial.number
        ]
        if len(ahead) >= self.target:
            trial.set_user_attr("fail_reason", "surplus: the target was reached by other workers")
            raise SurplusTrial(f"trial {trial.number} is beyond the target of {self.target}")

    def _upload(self, trial: optuna.Trial, result) -> None:
        """Stores the learning curves (for the dashboard) and first-layer weights as artifacts."""
        with tempfile.TemporaryDirectory() as folder:
            curves = Path(folder) / f"curves-trial-{trial.number}.png"
            plot_curves({f"trial {trial.number}": result.history}, curves)
            upload_artifact(
                artifact_store=self.artifacts,
                file_path=str(curves),
                study_or_trial=trial,
                mimetype="image/png",
            )
            weights = Path(folder) / f"weights-trial-{trial.number}.npy"
            np.save(weights, result.model.layers[2].get_weights()[0].astype(np.float16))
            upload_artifact(
                artifact_store=self.artifacts,
                file_path=str(weights),
                study_or_trial=trial,
                mimetype="application/octet-stream",
            )


def _artifact_dir(reports: str) -> str:
    folder = Path(reports) / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


class StudyFailing(RuntimeError):
    """Too many trials in a row failed."""


def run(study: optuna.Study, study_module, settings: Settings, dataset, target: int, progress):
    """Trains trials until `target` trials of the study have finished (by any worker).

    Returns the number of trials this process ran.
    """
    trial_objective = TrialObjective(study_module, settings, dataset, target)
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    ran = failures = 0
    done = []  # Every trial this process ran, as Optuna hands them to its callback.
    waiting_noted = False
    while True:
        for number in fail_dead_trials(study):
            progress.note(f"trial {number}'s worker died; marked FAIL and queued again")
        finished = count(study, FINISHED)
        if finished >= target:
            break
        if deadline is not None and time.monotonic() >= deadline:
            progress.note(f"timeout reached with {finished} of {target} trials finished")
            break
        running = count(study, (TrialState.RUNNING,))
        if finished + running >= target and not count(study, (TrialState.WAITING,)):
            # The last trials are running elsewhere; wait in case one of them fails or its
            # worker dies (the check at the top of the loop then fails and requeues it).
            if not waiting_noted:
                progress.note(f"waiting for {running} trial(s) running in other workers")
                waiting_noted = True
            time.sleep(2)
            continue
        waiting_noted = False
        study.optimize(
            trial_objective,
            n_trials=1,
            catch=(DivergedError, SurplusTrial),
            callbacks=[lambda _, frozen: done.append(frozen)],
            gc_after_trial=True,
        )
        trial = done[-1]
        ran += 1
        progress.trial(trial, count(study, FINISHED))
        if trial.user_attrs.get("fail_reason", "").startswith("surplus"):
            continue
        failures = failures + 1 if trial.state == TrialState.FAIL else 0
        if failures >= settings.max_failures:
            raise StudyFailing(
                f"{failures} trials failed in a row "
                f"(last: {trial.user_attrs.get('fail_reason', '?')}); "
                "stopping the study. Raise --max-failures to go on regardless."
            )
    return ran
