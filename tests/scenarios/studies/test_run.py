"""The entry point: study names that never collide, answers without TensorFlow, kept commands."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from services import ROOT, jax_environment, settings_for

from studies import run
from studies.engine import study as engine


def test_a_smoke_run_leaves_the_default_study_free(tmp_path, data_dir):
    storage = f"sqlite:///{tmp_path}/s.db"
    smoke = ["--subset", "500", "--epochs", "1", "--trials", "1", "--confirm-top", "0"]
    assert run.main([*smoke, "--storage", storage, "--reports", str(tmp_path / "r")]) == 0
    default = settings_for("--storage", storage)
    engine.check_continuation(default, optuna.storages.RDBStorage(storage))  # Not refused.
    assert optuna.get_all_study_names(storage) == ["overfitting-fashion_mnist-subset500-epochs1"]
    assert not (tmp_path / "r" / "overfitting-fashion_mnist").exists()


@pytest.mark.parametrize(
    "argv",
    [["--list"], ["--help"], ["--trials", "0"], ["no-such-study"], ["--work", "2"]],
    ids=["list", "help", "bad-count", "unknown-study", "prefix"],
)
def test_help_list_and_usage_errors_answer_without_importing_tensorflow(argv):
    done = answered(argv, {"tensorflow", "keras", "optuna"})
    assert "heavy: []" in done.stdout, done.stdout + done.stderr
    assert "code: 0" in done.stdout if argv[0] in ("--list", "--help") else "code: 2" in done.stdout


def test_a_missing_data_folder_is_refused_before_tensorflow_is_imported(tmp_path):
    where = ["--storage", str(tmp_path / "s.log"), "--reports", str(tmp_path / "r")]
    folder = tmp_path / "nowhere"
    done = answered(where, {"tensorflow", "keras"}, KERASNN_DATA_DIR=str(folder))
    assert "heavy: []" in done.stdout and "code: 2" in done.stdout, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"python -m studies.run: error: dataset folder {folder / 'fashion-mnist'} does not exist"
    ]


def answered(argv: list[str], heavy: set[str], **environment) -> subprocess.CompletedProcess:
    """`run.main(argv)` in a fresh process; it prints which of the `heavy` modules it
    imported and its exit status."""
    script = (
        "import sys\n"
        "from studies import run\n"
        "try:\n"
        f"    code = run.main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"print('heavy:', sorted({heavy!r} & set(sys.modules)))\n"
        "print('code:', code)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_that_made_a_study_is_kept_and_continuations_are_listed(tmp_path, data_dir):
    storage = f"sqlite:///{tmp_path}/s.db"
    base = ["--subset", "500", "--epochs", "1", "--confirm-top", "0", "--storage", storage]
    base += ["--reports", str(tmp_path / "r"), "--study-name", "kept"]
    assert run.main([*base, "--trials", "1"]) == 0
    assert run.main([*base, "--trials", "2"]) == 0
    assert run.main([*base, "--trials", "2", "--report-only"]) == 0
    attrs = optuna.load_study(study_name="kept", storage=storage).user_attrs
    assert attrs["command"].startswith("python -m studies.run overfitting --trials 1 ")
    assert len(attrs["continuations"]) == 1 and "--trials 2" in attrs["continuations"][0]
    summary = (tmp_path / "r" / "kept" / "summary.md").read_text()
    assert attrs["command"] in summary and attrs["continuations"][0] in summary


def test_no_report_leaves_the_reproduction_alone(tmp_path, data_dir):
    storage = f"sqlite:///{tmp_path}/s.db"
    reports = tmp_path / "r"
    argv = ["reproduce-004", "--subset", "300", "--epochs", "1", "--storage", storage]
    assert run.main([*argv, "--reports", str(reports), "--no-report"]) == 0
    assert not (reports / "REPRODUCTION.md").exists()
    assert not (reports / "reproduce-004-mnist-subset300-epochs1" / "summary.md").exists()
    # A grid is a planned comparison reported point by point, test accuracy included.
    grid = optuna.load_study(study_name="reproduce-004-mnist-subset300-epochs1", storage=storage)
    assert all("test_accuracy" in trial.user_attrs for trial in grid.trials)


def jax_study(tmp_path, *options, environment=None) -> subprocess.CompletedProcess:
    """`python -m studies.run` on Keras' JAX backend with TensorFlow unimportable, as on a
    machine that has JAX alone."""
    script = (
        "import runpy, sys\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.argv = ['studies.run', *sys.argv[1:]]\n"
        "runpy.run_module('studies.run', run_name='__main__')\n"
    )
    arguments = ["--dataset", "mnist", "--subset", "600", "--epochs", "2"]
    arguments += ["--storage", str(tmp_path / "s.log"), "--reports", str(tmp_path / "r")]
    return subprocess.run(
        [sys.executable, "-c", script, *arguments, *options],
        cwd=ROOT,
        env=environment or jax_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_a_study_runs_on_jax_with_tensorflow_absent(tmp_path):
    done = jax_study(tmp_path, "--trials", "1", "--confirm-top", "1", "--confirm-seeds", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(tmp_path / "r" / "overfitting-mnist-subset600-epochs2" / "confirm.csv")
    assert (table["state"] == "COMPLETE").sum() == 2


@pytest.mark.slow
def test_a_population_search_trains_its_trials_together_and_prunes_them_one_by_one(tmp_path):
    options = ["--trials", "10", "--population", "5", "--study-name", "pop"]
    options += ["--confirm-top", "2", "--confirm-seeds", "2"]
    # Left unset, the compiled programs go to the user's cache (XDG_CACHE_HOME here).
    environment = jax_environment(XDG_CACHE_HOME=str(tmp_path / "cache"))
    del environment["JAX_COMPILATION_CACHE_DIR"]
    options += ["--pruner", "discard", "--keep", "0.3"]
    done = jax_study(tmp_path, *options, environment=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any((tmp_path / "cache" / "kerasnn" / "jax").iterdir())
    study = optuna.load_study(
        study_name="pop",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.log"))
        ),
    )
    states = [trial.state.name for trial in study.trials]
    assert len(states) == 10 and set(states) <= {"COMPLETE", "PRUNED"}
    assert "PRUNED" in states  # The second population's members are judged one by one.
    for trial in study.trials:
        assert trial.user_attrs["model_config"] and trial.user_attrs["epochs"] >= 1
    # Each member carries its share of its population's compiling; the first population
    # compiled at least one program.
    shares = [trial.user_attrs["compile_seconds"] for trial in study.trials]
    assert min(shares) >= 0 and shares[0] > 0
    # The confirmation's four runs were trained as one population of their own.
    confirm = pd.read_csv(tmp_path / "r" / "pop" / "confirm.csv")
    assert (confirm["state"] == "COMPLETE").sum() == 4
    assert "confirmation of trial" in done.stdout


@pytest.mark.slow
def test_population_programs_of_fixed_shapes_are_reused_by_the_confirmation_and_a_second_run(
    tmp_path,
):
    options = ["--trials", "4", "--population", "4", "--no-report"]
    environment = jax_environment(
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"), KERASNN_FIXED_SHAPES="1"
    )
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.log"))
    )

    def programs(name: str, key: str) -> float:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert all(trial.user_attrs["fixed_shapes"] for trial in trials)
        return round(sum(trial.user_attrs[key] for trial in trials))

    confirm = ["--confirm-top", "1", "--confirm-seeds", "2"]
    first = jax_study(
        tmp_path, *options, *confirm, "--study-name", "first", environment=environment
    )
    assert first.returncode == 0, first.stderr[-3000:]
    # The search compiled its programs (one per batch bucket); the confirmation reused them.
    assert 1 <= programs("first", "programs_compiled") <= 2
    assert programs("first-confirm", "programs_compiled") == 0
    again = jax_study(
        tmp_path, *options, "--confirm-top", "0", "--study-name", "again", environment=environment
    )
    assert again.returncode == 0, again.stderr[-3000:]
    # The same shapes in a new process: JAX's persistent cache holds every program.
    assert programs("again", "programs_compiled") == 0
    assert programs("again", "programs_loaded") >= 1
