"""answer.json read back, and replicate's refusals: one line, exit 2, nothing trained or written."""

from __future__ import annotations

import json

import pytest

from studies.replication import fresh_seeds
from studies.report import answer_file
from studies.run import main


def content() -> dict:
    """answer.json's content as a report writes it, for a study of two configurations."""

    def configuration(trial: int, objectives: list[float], versus) -> dict:
        runs = [
            {"seed": seed, "number": seed, "objective": value, "val_accuracy": value + 0.01}
            | {"gap": 0.01, "test_accuracy": None}
            for seed, value in zip((1, 2), objectives, strict=True)
        ]
        return {
            "trial": trial,
            "params": {"hidden_units": 16},
            "model_config": {"hidden_units": 16},
            "train_config": {"batch_size": 64, "epochs": 1},
            "runs": runs,
            "versus_winner": versus,
        }

    return {
        "format": answer_file.FORMAT,
        "study": "small",
        "module": "overfitting",
        "dataset": "mnist",
        "subset": 500,
        "scale": "unit",
        "gap_weight": 1.0,
        "winner": 3,
        "configurations": [
            configuration(3, [0.81, 0.82], None),
            configuration(1, [0.80, 0.82], {"outcome": "tied"}),
        ],
        "tied": [1],
        "undecided": [],
        "seeds": {"confirmation": [1, 2], "effects": [], "taken": [0, 1, 2, 4]},
        "machine": {"processor": "x", "bfloat16": "no", "cores": 1, "versions": {}},
        "command": "python -m studies.run --subset 500",
    }


def refused(folder, capsys, *extra) -> str:
    """The one error line replicate printed for `folder`, after checking it exited 2 and
    wrote nothing."""
    before = sorted(path.name for path in folder.iterdir())
    assert main(["replicate", str(folder), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m studies.run replicate: error: ")
    assert sorted(path.name for path in folder.iterdir()) == before
    return err[0]


def test_answer_json_reads_back_what_was_written(tmp_path):
    answer_file.write(tmp_path, content())
    assert answer_file.read(tmp_path) == {**content(), "checksum": answer_file.checksum(content())}


def test_replicate_refuses_a_folder_without_answer_json(tmp_path, capsys):
    assert "no answer.json in" in refused(tmp_path, capsys)


def test_replicate_refuses_a_hand_edited_answer(tmp_path, capsys):
    path = answer_file.write(tmp_path, content())
    edited = json.loads(path.read_text())
    edited["configurations"][0]["runs"][0]["objective"] = 0.95
    path.write_text(json.dumps(edited))
    assert "was edited or damaged" in refused(tmp_path, capsys)


def test_replicate_refuses_a_damaged_answer(tmp_path, capsys):
    path = answer_file.write(tmp_path, content())
    path.write_text(path.read_text()[:100])
    assert "is damaged: not a JSON document" in refused(tmp_path, capsys)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda c: c["configurations"][0]["runs"][0].update(seed="one"), "a run's seed"),
        (lambda c: c["configurations"][1]["runs"][0].update(val_accuracy=1.5), "val_accuracy"),
        (lambda c: c.update(dataset="cifar10"), "dataset 'cifar10'"),
        (lambda c: c["configurations"][0]["model_config"].update(hidden_units=-4), "hidden_units"),
        (lambda c: c.update(winner=1), "winner"),
        (lambda c: c["machine"].update(processor=3), "machine"),
    ],
    ids=["seed", "accuracy", "dataset", "model", "winner", "machine"],
)
def test_replicate_refuses_a_sealed_answer_holding_a_value_no_report_writes(
    tmp_path, capsys, edit, said
):
    bad = content()
    edit(bad)
    answer_file.write(tmp_path, bad)
    line = refused(tmp_path, capsys)
    assert "holds a bad value" in line and said in line


def test_replicate_refuses_a_dataset_this_machine_lacks(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERASNN_DATA_DIR", str(tmp_path / "no-data"))
    answer_file.write(tmp_path, content())
    assert "this machine lacks the dataset mnist" in refused(tmp_path, capsys)


def test_replicate_refuses_a_bad_seed_count_and_a_missing_output_folder(tmp_path, capsys):
    answer_file.write(tmp_path, content())
    assert "--seeds must be a whole number" in refused(tmp_path, capsys, "--seeds", "0")
    assert "no such folder" in refused(tmp_path, capsys, "--out", str(tmp_path / "absent"))


def test_fresh_seeds_skip_every_seed_the_study_used():
    assert fresh_seeds([0, 1, 2, 4], 3) == [3, 5, 6]
