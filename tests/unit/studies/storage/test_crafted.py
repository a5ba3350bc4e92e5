"""Crafted or edited storages, names and arguments: one line naming what is wrong, or a
report that leaves the bad record out and says so; never a traceback, never unbounded memory.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from studies.storage import StorageError, check, journal, open_storage
from studies.storage.artifacts import fetch


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(said: str, call, *args, **kwargs) -> None:
    """Checks that `call` raises a StorageError of one line that says `said`."""
    with pytest.raises(StorageError, match=re.escape(said)) as raised:
        call(*args, **kwargs)
    assert "\n" not in str(raised.value)


def journal_study(path: Path) -> optuna.Study:
    """A real journal with a study of two trials, made by Optuna alone."""
    study = optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(path))), study_name="S"
    )
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    return study


def appended(path: Path, line: str) -> str:
    """Appends `line` to the journal; returns the journal's digest after it."""
    with open(path, "a") as stream:
        stream.write(line + "\n")
    return digest(path)


@pytest.mark.parametrize("write", [True, False], ids=["run", "report"])
def test_a_journal_line_nested_200000_deep_is_refused_in_one_line_and_left_unchanged(
    tmp_path, write
):
    path = tmp_path / "deep.log"
    journal_study(path)
    nested = "[" * 200_000 + "]" * 200_000
    fingerprint = appended(
        path, f'{{"op_code":8,"worker_id":"w","trial_id":0,"user_attr":{nested}}}'
    )
    refused("nested too deeply", check, str(path), write=write)
    refused("nested too deeply", open_storage, str(path), write=write)
    assert digest(path) == fingerprint


@pytest.mark.parametrize("write", [True, False], ids=["run", "report"])
def test_an_unknown_journal_op_code_is_refused_naming_it_and_left_unchanged(tmp_path, write):
    path = tmp_path / "opcode.log"
    journal_study(path)
    fingerprint = appended(path, '{"op_code":99,"worker_id":"w","study_id":0}')
    refused("unknown journal op code 99", open_storage, str(path), write=write)
    assert digest(path) == fingerprint


def test_a_journal_line_longer_than_any_record_is_refused_without_reading_it_whole(
    tmp_path, monkeypatch
):
    path = tmp_path / "long.log"
    journal_study(path)
    monkeypatch.setattr(journal, "LONGEST_RECORD", 4096)
    # A history of 2 million points makes a 14 MB line; one over the bound stands in for it.
    history = json.dumps({"val_loss": [0.5] * 2000})
    fingerprint = appended(
        path, f'{{"op_code":8,"worker_id":"w","trial_id":0,"user_attr":{{"history":{history}}}}}'
    )
    refused("is longer than", open_storage, str(path), write=False)
    assert digest(path) == fingerprint


def test_a_journal_record_optuna_cannot_apply_is_refused_in_one_line(tmp_path):
    path = tmp_path / "fields.log"
    journal_study(path)
    # A user attribute for a trial that the record does not name.
    fingerprint = appended(path, '{"op_code":8,"worker_id":"w","user_attr":{"x":1}}')
    refused("holds a record Optuna cannot apply", open_storage, str(path), write=False)
    assert digest(path) == fingerprint


def test_an_artifact_id_outside_the_store_is_not_read(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "j.log")))
    study = optuna.create_study(storage=storage, study_name="S")
    secret = tmp_path / "secret.npy"
    secret.write_bytes(b"not yours")
    store = tmp_path / "artifacts"
    store.mkdir()
    meta = {"filename": "weights-trial-0.npy", "mimetype": "application/octet-stream"}
    study.add_trial(
        optuna.trial.create_trial(
            value=1.0,
            system_attrs={
                "artifacts:x": json.dumps(
                    {**meta, "artifact_id": "../secret.npy", "encoding": None}
                )
            },
        )
    )
    contents, problem = fetch(study.trials[0], storage, store, "weights", ".npy")
    assert contents is None
    assert "'../secret.npy', which is not a file of" in problem and "\n" not in problem


def test_an_old_optuna_schema_is_refused_naming_its_own_versions(tmp_path):
    path = tmp_path / "old.db"
    optuna.create_study(storage=f"sqlite:///{path}", study_name="S")
    # What an Optuna 3.0 database looks like to this Optuna: its revision, its maker, and a
    # column it did not have yet.
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'v3.0.0.c'")
        connection.execute("UPDATE version_info SET library_version = '3.0.0'")
        connection.execute(
            "ALTER TABLE trial_intermediate_values DROP COLUMN intermediate_value_type"
        )
    fingerprint = digest(path)
    refused(
        "is an Optuna storage of another schema version (revision v3.0.0.c, made by Optuna 3.0.0)",
        check,
        f"sqlite:///{path}",
        write=False,
    )
    assert digest(path) == fingerprint


def test_a_history_that_is_not_a_list_per_curve_or_is_huge_is_not_drawn():
    from studies.report.figures import LONGEST_HISTORY, history_problem

    good = {
        name: [0.5, 0.4] for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
    }
    assert history_problem(good) == ""
    assert "not a curve per measure" in history_problem([1, 2])
    assert "no list of train_loss" in history_problem({**good, "train_loss": 3})
    assert "not a number" in history_problem({**good, "val_loss": ["x", 1]})
    huge = {**good, "val_loss": [0.5] * (LONGEST_HISTORY + 1)}
    assert f"more than {LONGEST_HISTORY:,} epochs" in history_problem(huge)


def test_a_text_objective_is_left_unranked_and_its_row_says_why(tmp_path):
    from studies.report.table import UNREADABLE_OBJECTIVE, ranked_table

    study = optuna.create_study(study_name="S")
    for objective in (0.5, "high", 0.7):
        study.add_trial(optuna.trial.create_trial(value=0.0, user_attrs={"objective": objective}))
    table = ranked_table(study).set_index("number")
    assert list(table.index) == [2, 0, 1] and table["rank"].tolist()[:2] == [1, 2]
    assert str(table.at[1, "rank"]) == "<NA>"
    assert table.at[1, "fail_reason"] == UNREADABLE_OBJECTIVE


@pytest.mark.parametrize(
    "name", ["evil\n[evil] trial 9 COMPLETE", "x" * 5000, "bell\x07\x1b[2J\u2028end"]
)
def test_progress_lines_show_a_study_name_on_one_short_line(name, capsys):
    from studies.engine.progress import LONGEST_SHOWN_NAME, Progress

    Progress(name, target=3, already=0).note("starting")
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and len(printed.splitlines()) == 1
    shown = printed[1 : printed.index("] starting")]
    assert len(shown) <= LONGEST_SHOWN_NAME and "\x1b" not in shown
    if len(name) > LONGEST_SHOWN_NAME:
        assert shown.endswith("...")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (
            {"name": "mnistt"},
            "name must be one of mnist, fashion_mnist, an .npz file or a dataset folder "
            "(IDX files or CIFAR-10 batches), got 'mnistt'",
        ),
        ({"name": ["mnist"]}, "name must be one of"),
        ({"name": "mnist", "scale": "weird"}, "scale must be one of unit, symmetric"),
        ({"name": "mnist", "validation_size": "10"}, "validation_size must be a whole number"),
        ({"name": "mnist", "seed": -1}, "seed must be a whole number of 0 or more, got -1"),
        ({"name": "mnist", "seed": 1.5}, "seed must be a whole number of 0 or more, got 1.5"),
    ],
)
def test_load_dataset_names_the_argument_it_refuses(arguments, named):
    from kerasnn import load_dataset

    with pytest.raises(ValueError, match="load_dataset: ") as raised:
        load_dataset(**arguments)
    assert named in str(raised.value)


@pytest.mark.parametrize(
    ("runs", "dataset", "named"),
    [
        ([], None, "runs is empty"),
        (None, None, "runs must be a list"),
        (["config"], None, "runs[0] must be a (ModelConfig, TrainConfig) pair"),
        ("pairs", "mnist", "runs must be a list"),
    ],
)
def test_train_population_names_the_argument_it_refuses(runs, dataset, named):
    from kerasnn.population import train_population

    with pytest.raises(ValueError, match="train_population: ") as raised:
        train_population(runs, dataset)
    assert named in str(raised.value)


def test_train_population_names_a_dataset_that_is_not_one():
    from kerasnn import ModelConfig, TrainConfig
    from kerasnn.population import train_population

    with pytest.raises(ValueError, match="train_population: dataset must be a kerasnn Dataset"):
        train_population([(ModelConfig(), TrainConfig())], "mnist")


def test_effects_variants_that_clamp_to_one_batch_are_one_variant_said_once():
    from studies import overfitting
    from studies.engine import effects

    winner = {
        "penalty": "none",
        "hidden_units": 128,
        "activation": "relu",
        "dropout_rate": 0.2,
        "learning_rate": 1e-3,
        "batch_size": 144,
    }
    whole = effects.design(winner, overfitting)
    assert whole.sweeps["batch_size"] == [144, 412, 1698, 7000] and not whole.merged
    # On 1,000 images batches of 1698 and 7000 both train as one batch of 1,000.
    clamped = effects.design(winner, overfitting, train_size=1000)
    names = [variant.name for variant in clamped.variants]
    assert clamped.sweeps["batch_size"] == [144, 412, 1698]
    assert "batch_size=1698" in names and "batch_size=7000" not in names
    assert len(names) == len(set(names)) == len(whole.variants) - 1
    assert clamped.merged == {"batch_size=7000": "batch_size=1698"}
