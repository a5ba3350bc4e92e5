"""The trials of a small study, as the code before the pipeline restructure made them.

tests/data/regression-trials.csv was written by `python -m studies.run --subset 5000 --trials 8
--epochs 3 --study-name regression` before studies/ was split into its pipeline modules; the
same command must still draw the same configurations and measure the same values (to four
decimals, on the same kind of machine). That code's default pruning (median, warm-up 2, no
patience) is named here, so a later change of the default leaves this comparison alone.
"""

from __future__ import annotations

import pandas as pd
import pytest
from services import ROOT

from kerasnn import compiled
from studies.run import main

pytestmark = pytest.mark.slow

BEFORE = ROOT / "tests" / "data" / "regression-trials.csv"


def test_the_restructured_pipeline_gives_the_trials_of_the_code_before_it(
    tmp_path, data_dir, monkeypatch
):
    # That code trained every float32 run below batch 512 as XLA; short runs now train in
    # TensorFlow's graph (compiled.XLA_FROM_STEPS), which rounds otherwise.
    monkeypatch.setattr(compiled, "XLA_FROM_STEPS", 0)
    arguments = ["--subset", "5000", "--trials", "8", "--epochs", "3", "--study-name", "regression"]
    arguments += ["--storage", f"sqlite:///{tmp_path}/r.db", "--reports", str(tmp_path)]
    # The file holds float32 trials; on a CPU with native bfloat16 auto would train in it.
    arguments += ["--pruner", "median", "--warmup", "2", "--precision", "float32"]
    assert main([*arguments, "--confirm-top", "0"]) == 0
    before = pd.read_csv(BEFORE).set_index("number").sort_index()
    after = pd.read_csv(tmp_path / "regression" / "trials.csv").set_index("number").sort_index()
    after = after[before.columns]
    for column in before.columns:
        if before[column].dtype.kind == "f":
            pd.testing.assert_series_equal(after[column], before[column], atol=5e-5, rtol=0)
        else:
            assert after[column].tolist() == before[column].tolist(), column
