"""Real runs over a crafted or edited journal: one line and an exit status (a real process),
or a report that leaves the bad record out and says so; never a traceback."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from services import ROOT, cli

from studies.run import main

TINY = ["--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--confirm-top", "0"]


def study_run(*options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "studies.run", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir) -> Path:
    """A journal holding a real study S of two trials."""
    folder = tmp_path_factory.mktemp("finished")
    path = folder / "study.log"
    where = ["--storage", str(path), "--study-name", "S", "--reports", str(folder / "reports")]
    assert main([*TINY, "--trials", "2", "--no-report", *where]) == 0
    return path


def edited(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished journal with two edited trials: one, the best, whose history
    is not a list per curve, and one whose objective is text."""
    path = tmp_path / "edited.log"
    shutil.copy(finished, path)
    study = optuna.load_study(study_name="S", storage=JournalStorage(JournalFileBackend(str(path))))
    real = study.trials[0]
    for changes in ({"history": {"val_loss": 3}, "objective": 2.0}, {"objective": "high"}):
        study.add_trial(
            optuna.trial.create_trial(
                params=real.params,
                distributions=real.distributions,
                value=real.value,
                user_attrs={**real.user_attrs, **changes},
            )
        )
    return path


@pytest.mark.slow
def test_a_report_leaves_out_a_crafted_history_and_a_text_objective_and_says_so(
    finished, tmp_path, capsys
):
    path = edited(finished, tmp_path)
    reports = tmp_path / "reports"
    where = ["--storage", str(path), "--study-name", "S", "--reports", str(reports)]
    done = cli(["--report-only", *where], capsys)  # In this process: a traceback fails it.
    assert done.code == 0, done.err
    summary = (reports / "S" / "summary.md").read_text()
    assert "curves.png leaves out trial 2: its stored history has no list of train_loss" in summary
    assert (
        "not a number (an edited storage): not ranked" in (reports / "S" / "trials.md").read_text()
    )


@pytest.mark.slow
def test_a_run_continues_a_study_with_edited_trials(finished, tmp_path, capsys):
    path = edited(finished, tmp_path)
    where = ["--storage", str(path), "--study-name", "S", "--reports", str(tmp_path / "reports")]
    done = cli([*TINY, "--trials", "5", *where], capsys)  # In this process, as above.
    assert done.code == 0, done.err
    assert "trial   4 COMPLETE" in done.out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"op_code":99,"worker_id":"w","study_id":0}', "unknown journal op code 99"),
        (
            '{"op_code":2,"worker_id":"w","study_id":0,"user_attr":{"x":'
            + "[" * 200_000
            + "]" * 200_000
            + "}}",
            "nested too deeply",
        ),
    ],
    ids=["op-code", "deep"],
)
@pytest.mark.parametrize(
    "mode", [["--report-only"], TINY + ["--trials", "3"]], ids=["report", "run"]
)
def test_a_crafted_journal_line_is_refused_in_one_line_and_left_unchanged(
    finished, tmp_path, line, said, mode
):
    path = tmp_path / "crafted.log"
    shutil.copy(finished, path)
    with open(path, "a") as stream:
        stream.write(line + "\n")
    fingerprint = digest(path)
    reports = tmp_path / "reports"
    done = study_run(*mode, "--storage", str(path), "--study-name", "S", "--reports", str(reports))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and said in done.stderr
    assert digest(path) == fingerprint and not reports.exists()
