"""Bad input to `python -m studies.run`: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys

import optuna
import pytest
from services import ROOT, refuses, worker_environment

from studies.engine import study as engine
from studies.settings import Settings
from studies.storage import open_storage


@pytest.fixture
def stored_study(place, data_dir):
    """A penalized mnist study (no trials) in the place's SQLite storage."""
    url = f"sqlite:///{place / 'store' / 'k.db'}"
    settings = Settings(
        dataset="mnist",
        epochs=1,
        subset=1000,
        pruner="none",
        confirm_top=0,
        trials=1,
        storage=url,
        study_name="kept",
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
