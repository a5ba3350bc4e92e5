"""Bad input to `python -m studies.run`: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys

import optuna
import pytest
from conftest import ROOT
from services import POSTGRES_PASSWORD, free_port, worker_environment

from studies import run
from studies.cli.settings import Settings
from studies.engine import study as engine
from studies.storage import open_storage

SMALL = ["--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--trials", "1"]


@pytest.fixture
def place(tmp_path, monkeypatch):
    """An empty folder for the storage and a reports path that does not exist yet."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    return tmp_path


def snapshot(folder):
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
    }


def refuses(arguments, place, capsys) -> str:
    """Runs the CLI in-process and checks the refusal; returns the error line."""
    before = snapshot(place)
    storage = ["--storage", f"sqlite:///{place / 'store' / 'k.db'}"]
    try:
        code = run.main([*SMALL, *storage, "--reports", str(place / "reports"), *arguments])
    except SystemExit as exit:  # argparse
        code = exit.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert lines[0].startswith("python -m studies.run: error: ")
    assert snapshot(place) == before, "a refused command wrote something"
    return lines[0]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["no-such-study"], "unknown study 'no-such-study'"),
        (["--dataset", "cifar10"], "argument --dataset: invalid choice: 'cifar10'"),
        (["--sampler", "annealing"], "argument --sampler: invalid choice"),
        (["--pruner", "sometimes"], "argument --pruner: invalid choice"),
        (["--objective", "loss"], "argument --objective: invalid choice"),
        (["--precision", "half"], "argument --precision: invalid choice: 'half'"),
        (["reproduce-001", "--precision", "bfloat16"], "reproduces float32 results"),
        (["--precision", "bfloat16", "--population", "2"], "trains in float32 only"),
    ],
    ids=["study", "dataset", "sampler", "pruner", "objective", "precision", "reproduce", "pop"],
)
def test_unknown_names_are_refused(arguments, expected, place, capsys):
    assert expected in refuses(arguments, place, capsys)


@pytest.mark.parametrize("option", ["--trials", "--epochs", "--subset", "--workers"])
@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many"])
def test_counts_must_be_positive_integers(option, value, place, capsys):
    line = refuses([option, value], place, capsys)
    assert f"argument {option}: expected a" in line and f", got '{value}'" in line


@pytest.mark.parametrize(
    ("option", "limit"),
    [("--trials", "100,000"), ("--confirm-seeds", "100"), ("--epochs", "1,000")],
)
def test_counts_beyond_their_limit_are_refused_naming_it(option, limit, place, capsys):
    line = refuses([option, "100000000"], place, capsys)
    assert f"argument {option}: expected a whole number from 1 to {limit}" in line


def test_a_malformed_storage_url_is_refused(place, capsys):
    line = refuses(["--storage", "postgresql://user:pw@host:notaport/db"], place, capsys)
    assert "malformed storage URL" in line
    assert ":pw@" not in line


@pytest.mark.parametrize(
    ("url", "package"),
    [("mysql://kerasnn:hunter2@db.example/studies", "mysqlclient")],
)
def test_a_missing_database_driver_is_named_and_the_password_is_not_printed(
    url, package, place, capsys
):
    line = refuses(["--storage", url], place, capsys)
    assert f"pip install {package}" in line
    assert "hunter2" not in line
    assert "kerasnn:***@db.example" in line


def test_a_database_that_refuses_the_connection_is_reported_without_the_password(place, capsys):
    url = f"postgresql://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{free_port()}/studies"
    line = refuses(["--storage", url], place, capsys)
    assert "cannot open storage" in line and "Connection refused" in line
    assert POSTGRES_PASSWORD not in line


def test_a_journal_in_a_missing_folder_is_refused(place, capsys):
    line = refuses(["--storage", str(place / "nowhere" / "study.log")], place, capsys)
    assert "journal folder" in line and "does not exist" in line


def test_a_reports_folder_that_cannot_be_written_is_refused(place, capsys):
    (place / "a-file").write_text("not a folder")
    line = refuses(["--reports", str(place / "a-file" / "reports")], place, capsys)
    assert "reports folder" in line and "is not a folder" in line


@pytest.fixture
def stored_study(place, data_dir):
    """A penalized mnist study (no trials) in the place's SQLite storage."""
    url = f"sqlite:///{place / 'store' / 'k.db'}"
    settings = Settings(
        dataset="mnist", epochs=1, subset=1000, trials=1, storage=url, study_name="kept"
    )
    engine.open_study(settings, open_storage(url))
    return url


@pytest.mark.parametrize(
    ("arguments", "difference"),
    [
        (["--dataset", "fashion_mnist"], "dataset 'mnist' (asked for 'fashion_mnist')"),
        (["--objective", "pareto"], "objective 'penalized' (asked for 'pareto')"),
        (["--epochs", "3"], "epochs 1 (asked for 3)"),
        # Trials in bfloat16 round otherwise than the stored float32 ones.
        (["--precision", "bfloat16"], "precision 'float32' (asked for 'bfloat16')"),
    ],
    ids=["dataset", "objective", "epochs", "precision"],
)
def test_continuing_a_study_made_with_other_settings_is_refused(
    arguments, difference, stored_study, place, capsys
):
    stored = optuna.load_study(study_name="kept", storage=open_storage(stored_study))
    line = refuses(["--study-name", "kept", *arguments], place, capsys)
    assert difference in line
    after = optuna.load_study(study_name="kept", storage=open_storage(stored_study))
    assert after.user_attrs == stored.user_attrs
    assert after.trials == []


def test_a_study_stored_before_precisions_is_continued_only_in_float32(place, capsys, data_dir):
    url = f"sqlite:///{place / 'store' / 'k.db'}"
    old = optuna.create_study(study_name="old", storage=open_storage(url), direction="maximize")
    for key, value in Settings(dataset="mnist", epochs=1, subset=1000).identity().items():
        if key != "precision":
            old.set_user_attr(key, value)
    line = refuses(["--study-name", "old", "--precision", "bfloat16"], place, capsys)
    assert "precision 'float32' (asked for 'bfloat16')" in line


def test_continuing_a_study_with_the_other_direction_is_refused(place, capsys, data_dir):
    url = f"sqlite:///{place / 'store' / 'k.db'}"
    optuna.create_study(study_name="minimising", storage=open_storage(url), direction="minimize")
    line = refuses(["--study-name", "minimising"], place, capsys)
    assert "directions ['minimize'] (asked for ['maximize'])" in line
    assert optuna.load_study(study_name="minimising", storage=open_storage(url)).trials == []


def test_a_report_of_a_study_that_is_not_stored_is_refused(stored_study, place, capsys):
    line = refuses(["--report-only", "--study-name", "absent"], place, capsys)
    assert "no study 'absent'" in line


def broken_copy(source, target, damage):
    """Copies the mnist IDX folder to `target` and damages it: missing, truncated or corrupt."""
    shutil.copytree(source, target)
    images = next(target.glob("train-images-idx3-ubyte*"))
    if damage == "missing":
        images.unlink()
    elif damage == "truncated":
        raw = images.read_bytes()
        raw = gzip.decompress(raw) if images.suffix == ".gz" else raw
        images.unlink()
        (target / "train-images-idx3-ubyte").write_bytes(raw[: len(raw) // 2])
    else:
        images.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [("missing", "missing file"), ("truncated", "is truncated"), ("corrupt", "not a valid gzip")],
)
def test_a_data_folder_with_damaged_files_is_refused_before_the_storage_is_touched(
    damage, expected, place, capsys, monkeypatch, data_dir
):
    broken = place / "data"
    broken_copy(data_dir / "mnist", broken / "mnist", damage)
    monkeypatch.setenv("KERASNN_DATA_DIR", str(broken))
    line = refuses([], place, capsys)
    assert expected in line
    assert not (place / "store" / "k.db").exists()


def test_a_real_process_prints_one_line_and_exits_2(tmp_path):
    """The same refusal from a separate process: no TensorFlow start-up lines, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "studies.run", "--storage", "postgresql://u:pw@host:x/db"],
        cwd=ROOT,
        env=worker_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("python -m studies.run: error: malformed storage URL")
    assert done.stdout == ""
