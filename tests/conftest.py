"""Shared fixtures: datasets loaded once, a seed, and skips that CI turns into failures."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]

# .ci/run sets this so that a test which would skip for want of PostgreSQL, Chromium or the
# data fails instead: in CI nothing is skipped.
REQUIRE_ALL = os.environ.get("KERASNN_REQUIRE_ALL") == "1"


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
def seed():
    keras.utils.set_random_seed(1234)
    return 1234
