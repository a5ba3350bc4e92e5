"""The library used from Python as the README shows is as quiet as the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from services import ROOT

SCRIPT = """
from kerasnn import ModelConfig, TrainConfig, load_dataset, train

data = load_dataset("mnist").subset(1000)
result = train(ModelConfig(hidden_units=16), TrainConfig(epochs=1, seed=0), data)
print(round(result.val_accuracy, 4))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_training_from_python_prints_no_tensorflow_lines(data_dir, backend):
    # As a user runs it: TensorFlow's log level is not set beforehand. On JAX, Keras' seeding
    # imports TensorFlow all the same wherever it is installed.
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment["KERAS_BACKEND"] = backend
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert 0.0 < float(done.stdout) <= 1.0
