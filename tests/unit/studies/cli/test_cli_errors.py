"""Bad input to `python -m studies.run`: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import pytest
from services import POSTGRES_PASSWORD, free_port, refuses


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["no-such-study"], "unknown study 'no-such-study'"),
        (
            ["--dataset", "cifar10"],
            "argument --dataset: expected mnist, fashion_mnist, an .npz file or a dataset "
            "folder, got 'cifar10' (no such file or folder)",
        ),
        (["--sampler", "annealing"], "argument --sampler: invalid choice"),
        (["--pruner", "sometimes"], "argument --pruner: invalid choice"),
        (["--objective", "loss"], "argument --objective: invalid choice"),
        (["--precision", "half"], "argument --precision: invalid choice: 'half'"),
        (["reproduce-001", "--precision", "bfloat16"], "reproduces float32 results"),
        (["--precision", "bfloat16", "--population", "2"], "trains in float32 only"),
    ],
    ids=["study", "dataset", "sampler", "pruner", "objective", "precision", "reproduce", "pop"],
)
def test_unknown_names_are_refused(arguments, expected, place, capsys, monkeypatch):
    from studies import machine

    # On the JAX backend, where a population can train: its precision is what is refused.
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(machine, "backend", lambda: "jax")
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


@pytest.mark.parametrize("option", ["--reports", "--storage"])
@pytest.mark.parametrize(
    ("name", "said"), [("a" * 300, "a name of 30"), ("a/" * 2500, "a path of")]
)
def test_a_path_too_long_for_the_file_system_is_a_usage_error(option, name, said, place, capsys):
    suffix = ".log" if option == "--storage" else ""
    line = refuses([option, str(place / name) + suffix], place, capsys)
    assert f"{option}: {said}" in line


def test_a_reports_folder_no_one_may_write_into_is_refused_before_the_storage_is_made(
    place, capsys
):
    line = refuses(["--reports", "/proc/kerasnn-reports"], place, capsys)
    assert "reports folder /proc/kerasnn-reports cannot be written" in line
