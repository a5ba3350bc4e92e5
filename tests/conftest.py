"""Shared fixtures: datasets loaded once, and skips that CI turns into failures."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from services import ROOT, ThrowawayPostgres, jax_environment, postgres_binaries

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The README sets a relative KERASNN_DATA_DIR; tests that move to a temporary folder (and
# the worker processes they start there) must still find the data, so it is made absolute
# once, before any test runs.
if os.environ.get("KERASNN_DATA_DIR"):
    os.environ["KERASNN_DATA_DIR"] = os.path.abspath(os.environ["KERASNN_DATA_DIR"])

# Studies keep JAX's compiled programs in the user's cache; tests keep theirs in a folder of
# their own, shared by the tests' processes and gone with the machine's temporary files.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="kerasnn-jax-cache-"))

# .ci/run sets this so that a test which would skip for want of PostgreSQL, Chromium or the
# data fails instead: in CI nothing is skipped.
REQUIRE_ALL = os.environ.get("KERASNN_REQUIRE_ALL") == "1"


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one test process more than the cores. Scenario tests wait part of their
    time on the processes and servers they start; one more test process fills those waits."""
    return len(os.sched_getaffinity(0)) + 1


def require(condition: bool, reason: str) -> None:
    """Skips the test with `reason` unless the condition holds; fails instead in CI."""
    if not condition:
        if REQUIRE_ALL:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = os.environ.get("KERASNN_DATA_DIR")
    require(bool(folder), "KERASNN_DATA_DIR is not set (point it at ../shared/data)")
    return Path(folder)


@pytest.fixture(scope="session")
def fashion(data_dir):
    from kerasnn import load_dataset

    return load_dataset("fashion_mnist")


@pytest.fixture(scope="session")
def mnist(data_dir):
    from kerasnn import load_dataset

    return load_dataset("mnist")


@pytest.fixture
def place(tmp_path, monkeypatch):
    """An empty folder for the storage and a reports path that does not exist yet."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    return tmp_path


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server URL: $KERASNN_POSTGRES_URL, else a throwaway cluster of our own."""
    given = os.environ.get("KERASNN_POSTGRES_URL")
    if given:
        yield given
        return
    binaries = postgres_binaries()
    require(binaries is not None, "PostgreSQL is not installed (apt-get install postgresql)")
    server = ThrowawayPostgres(binaries)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def jax_check(data_dir, tmp_path_factory):
    """Runs checks of tests/jax_checks.py on the JAX backend, TensorFlow made unimportable,
    in one subprocess (the Keras backend is fixed per process); returns the arrays each
    wrote, by the check's name."""
    require(importlib.util.find_spec("jax") is not None, "JAX is not installed: pip install jax")

    def run(*checks: str) -> dict[str, dict[str, np.ndarray]]:
        folder = tmp_path_factory.mktemp("jax")
        completed = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "jax_checks.py"), str(folder), *checks],
            env=jax_environment(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert completed.returncode == 0, completed.stderr[-4000:]
        results = {}
        for check in checks:
            with np.load(folder / f"{check}.npz") as arrays:
                results[check] = dict(arrays)
        return results

    return run
