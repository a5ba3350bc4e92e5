"""The planned stages trained by one process per core store the runs one process stores."""

from __future__ import annotations

import shutil

import optuna
import pytest
from optuna.trial import TrialState

from studies.engine import confirm, effects, failures, threads
from studies.engine.planned import run_of
from studies.run import main
from studies.storage import open_storage

pytestmark = pytest.mark.slow

NAME = "overfitting-mnist-subset1000-epochs1-prunernone"
SMALL = ["--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--pruner", "none"]


def study_options(folder, *extra) -> list[str]:
    return [
        *SMALL,
        *("--trials", "3", "--storage", f"sqlite:///{folder}/s.db"),
        *("--reports", str(folder / "reports"), "--no-report"),
        *extra,
    ]


def stored_runs(folder, suffix: str) -> dict:
    """Each complete run of a stage: its state, parameters and records, by run; and its
    plan. Processes that queue the same run at once leave a trial that stepped aside
    (a duplicate, never trained): bookkeeping, not a run."""
    companion = optuna.load_study(
        study_name=NAME + suffix, storage=open_storage(f"sqlite:///{folder}/s.db")
    )
    runs = {}
    for trial in companion.get_trials(deepcopy=False):
        if trial.state == TrialState.FAIL and failures.kind_of(trial) in failures.STEPPED_ASIDE:
            continue
        assert run_of(trial) not in runs, f"run {run_of(trial)} stored twice"
        runs[run_of(trial)] = (trial.state, trial.params, trial.user_attrs)
    return runs, companion.user_attrs["plan"]


def test_planned_stages_in_parallel_store_exactly_the_runs_of_one_process(tmp_path, data_dir):
    searched = tmp_path / "searched"
    searched.mkdir()
    assert main(study_options(searched, "--confirm-top", "0")) == 0
    stages = ("--confirm-top", "1", "--confirm-seeds", "2", "--effects-seeds", "1")
    for how in ("1", "2"):
        shutil.copytree(searched, tmp_path / how)
        assert main(study_options(tmp_path / how, *stages, "--stage-processes", how)) == 0
    workers = set()
    for suffix in (confirm.SUFFIX, effects.SUFFIX):
        alone, alone_plan = stored_runs(tmp_path / "1", suffix)
        parallel, parallel_plan = stored_runs(tmp_path / "2", suffix)
        assert parallel_plan == alone_plan
        assert parallel.keys() == alone.keys() and len(alone) >= 2
        for run, (state, params, attrs) in alone.items():
            other_state, other_params, other_attrs = parallel[run]
            assert (other_state, other_params) == (state, params)
            assert state == TrialState.COMPLETE
            assert other_attrs["train_config"] == attrs["train_config"]
            # Other threads add the sums in another order: the last digits may differ.
            assert other_attrs["objective"] == pytest.approx(attrs["objective"], abs=0.01)
        workers |= {attrs["worker"] for _, _, attrs in parallel.values()}
        assert {attrs["threads"] for _, _, attrs in parallel.values()} == {threads.share(2)}
        assert {attrs["threads"] for _, _, attrs in alone.values()} == {threads.cores()}
    assert len(workers) == 2  # Two processes shared the stages.
