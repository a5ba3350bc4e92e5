"""The library's light names stay light: a configuration or a dataset imports no Keras."""

from __future__ import annotations

import subprocess
import sys

from services import ROOT


def test_configs_datasets_and_scores_are_imported_without_keras():
    script = (
        "import sys\n"
        "from kerasnn import ModelConfig, TrainConfig, load_dataset, score\n"
        "print(sorted({'keras', 'tensorflow', 'jax'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "[]\n", done.stderr
