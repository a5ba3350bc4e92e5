"""The tests' one set of helpers: the repository root, the small study, the CLI in-process and
as a process, the refusals it answers with, and the services the scenarios start for real
(study workers, a PostgreSQL server, ports)."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]

# A password that must never show up in output, logs or reports.
POSTGRES_PASSWORD = "kerasnn-s3cret-pw"


class Outcome(NamedTuple):
    code: int
    out: str
    err: str


def run_module(module: str, argv: list[str], *, environment=None, python=()) -> Outcome:
    """`python -m MODULE ARGV` as a real process, run from the repository; all it writes
    to stderr counts.

    As a user runs it: without TF_CPP_MIN_LOG_LEVEL, which would hide TensorFlow's start-up
    lines whether or not the program keeps them off stderr itself.
    """
    environment = dict(worker_environment(), **(environment or {}))
    del environment["TF_CPP_MIN_LOG_LEVEL"]
    done = subprocess.run(
        [sys.executable, *python, "-m", module, *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


# XLA's lowest optimisation level for the programs the suite's JAX processes compile: tiny
# programs run for a few steps, so compiling them (at the default level, about two thirds
# of such a process's CPU time) outweighs running them. Each test compares JAX results with
# JAX results compiled alike; studies run as users run them keep XLA's default.
JAX_TEST_FLAGS = "--xla_backend_optimization_level=0"


def jax_environment(**extra: str) -> dict[str, str]:
    """The environment of a test's JAX process: Keras on JAX, the repository importable,
    XLA's quick compiling (`JAX_TEST_FLAGS`), and `extra`."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    flags = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), JAX_TEST_FLAGS]))
    return {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": path, "XLA_FLAGS": flags, **extra}


def start_worker(arguments: list[str], log: Path) -> subprocess.Popen:
    """Starts `python -m studies.run ARGUMENTS` from the repository, output into `log`."""
    with open(log, "w") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "studies.run", *arguments],
            cwd=ROOT,
            env=worker_environment(),
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    """Polls `condition()` until it returns something true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(process: subprocess.Popen) -> None:
    """Kills a worker the test started, if it is still running, and reaps it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder on 127.0.0.1, removed on exit.

    Debian's initdb/pg_ctl refuse to run as root, so as root they run as the postgres user.
    The cluster requires a password (scram-sha-256), so URLs in the tests carry a real one.
    """

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="kerasnn-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command) -> None:
        subprocess.run([*self.as_owner, *map(str, command)], check=True, capture_output=True)

    def start(self) -> str:
        password_file = self.folder / "password"
        password_file.write_text(POSTGRES_PASSWORD + "\n")
        if self.as_owner:
            shutil.chown(self.folder, "postgres")
            shutil.chown(password_file, "postgres")
        self._run(
            self.binaries / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
            "--no-sync",
        )
        self._run(
            self.binaries / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.folder / "server.log",
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off",
            "start",
        )
        return f"postgresql://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.binaries / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Creates an empty database on the server and returns its URL."""
    import psycopg2
    import sqlalchemy

    url = sqlalchemy.engine.make_url(server_url)
    connection = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return url.set(database=name).render_as_string(hide_password=False)


def finish(arguments: list[str], log: Path, timeout: float = 400) -> int:
    """Runs `python -m studies.run ARGUMENTS` to its end; its exit status (output in `log`)."""
    process = start_worker(arguments, log)
    try:
        return process.wait(timeout=timeout)
    finally:
        stop(process)


def foreign_sqlite(path: Path, table: str = "customers") -> None:
    """Another program's SQLite database: a table of its own (which may carry a name
    Optuna uses too, `trials` or `studies`), with a row."""
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute(f"INSERT INTO {table} (name) VALUES ('Ada')")
    connection.close()


# A study small enough for a test: one epoch on 1,000 MNIST images, no pruning or confirmation.
SMALL = ["--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--pruner", "none"]
SMALL += ["--confirm-top", "0"]


def cli(argv: list[str], capsys) -> Outcome:
    """The CLI in-process (faster: TensorFlow is imported once); its status and output."""
    from studies import run

    try:
        code = run.main(argv)
    except SystemExit as exit:  # argparse
        code = exit.code
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def settings_for(*argv: str):
    """The checked settings of `python -m studies.run ARGV` for the default study."""
    from studies import overfitting, run
    from studies.settings import from_arguments

    return from_arguments("overfitting", overfitting, run.parser().parse_args(list(argv)))


def process(argv: list[str]) -> Outcome:
    """The CLI as a real process, run from the repository, as a user runs it."""
    return run_module("studies.run", argv)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below `folder` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
    }


def refuses(arguments: list[str], place: Path, capsys) -> str:
    """Runs a one-trial SMALL study in `place` in-process, checks that it is refused (one
    line, exit status 2, nothing written) and returns the error line."""
    before = snapshot(place)
    storage = ["--storage", f"sqlite:///{place / 'store' / 'k.db'}"]
    reports = ["--reports", str(place / "reports")]
    outcome = cli([*SMALL, "--trials", "1", *storage, *reports, *arguments], capsys)
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert outcome.code == 2, outcome
    assert len(lines) == 1, outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    assert lines[0].startswith("python -m studies.run: error: ")
    assert snapshot(place) == before, "a refused command wrote something"
    return lines[0]


def refusal(call, *args, **kwargs) -> str:
    """The message of the StorageError `call` raises, checked to be one line."""
    import pytest

    from studies.storage.errors import StorageError

    with pytest.raises(StorageError) as raised:
        call(*args, **kwargs)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in message and message
    return message


def strategy_record(strategy, seed, epochs, confirmed, noise=0.003) -> dict:
    """One run of the pruning benchmark as its JSON keeps it."""
    return {
        "strategy": strategy,
        "seed": seed,
        "epochs": epochs,
        "seconds": epochs / 2,
        "best_objective": confirmed + 0.002,
        "confirmed_objective": confirmed,
        "seed_noise": noise,
    }


def population_study_record(how, seed, seconds, confirmed, compile_seconds=0.0) -> dict:
    """One run of the population-study benchmark as its JSON keeps it."""
    record = strategy_record(how, seed, 100, confirmed) | {"seconds": seconds}
    job = {"confirm_top": 3, "confirm_seeds": 3, "report": True}
    return record | {"compile_seconds": compile_seconds, "job": job}


def doc_pages() -> list[Path]:
    """The README and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands_named() -> list[str]:
    """Every module the README and docs/ run as `python -m MODULE`."""
    found = {
        name
        for page in doc_pages()
        for name in re.findall(r"python -m ([a-z_][\w.]*)", page.read_text())
    }
    return sorted(found)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "2m"):
    """A small tmpfs mounted on `folder` (made) for the block: a real disk that fills up."""
    from conftest import require

    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    require(done.returncode == 0, f"cannot mount a tmpfs here: {done.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fills the file system of `folder` with one file, returned, until no byte fits."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as file:
        while True:
            file.write(bytes(64 * 1024))
            file.flush()
    return filler


@contextlib.contextmanager
def full_tmpfs(folder: Path):
    """A 2 MB tmpfs mounted on `folder` and filled up by one file, which is yielded."""
    with tmpfs(folder):
        yield fill(folder)


@contextlib.contextmanager
def immutable(path: Path):
    """Makes `path` unwritable even for root (the tests run as root): chattr +i."""
    from conftest import require

    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    require(done.returncode == 0, f"chattr +i is not allowed here: {done.stderr!r}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
