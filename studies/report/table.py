"""The ranked table of a study's trials, from `trials_dataframe`."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd

from studies.engine.confirm import run_test_accuracy

# The measures the tables show. Machine timings (seconds) stay on the trials and out of the
# committed tables, so a rerun of a study rewrites them identically.
RESULT_COLUMNS = [
    "val_accuracy",
    "train_accuracy",
    "gap",
    "best_epoch",
    "epochs",
]
# What the ranked table says of a completed trial whose objective is not a number.
UNREADABLE_OBJECTIVE = "its stored objective is not a number (an edited storage): not ranked"
STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


def ranked_table(study: optuna.Study) -> pd.DataFrame:
    """Every trial, completed ones ranked best first by the objective, the rest below by state.

    In a two-objective study the `objective` column is the penalized score computed from
    the pair, which picks the recommended trial from the Pareto front (see `recommended`);
    `pareto_front` marks the front. Search trials never see the test set.
    """
    frame = study.trials_dataframe(attrs=("number", "state", "params", "user_attrs"))
    if frame.empty:
        return pd.DataFrame(columns=["rank", "number", "state", "objective", *RESULT_COLUMNS])
    frame = frame.rename(columns=lambda name: name.removeprefix("user_attrs_"))
    frame = frame.rename(columns=lambda name: name.removeprefix("params_"))
    for column in ["objective", *RESULT_COLUMNS, "fail_reason"]:
        if column not in frame:
            frame[column] = np.nan
    _explain_dead_workers(study, frame)
    complete = frame["state"] == "COMPLETE"
    if len(study.directions) > 1:
        front = {trial.number for trial in study.best_trials}
        frame.insert(4, "pareto_front", frame["number"].isin(front))
    frame["_state_order"] = frame["state"].map(STATE_ORDER).fillna(5)
    # An edited storage may hold a value that is not a number; it ranks last.
    objective = pd.to_numeric(frame["objective"], errors="coerce").fillna(-np.inf)
    frame["_key"] = np.where(complete, -objective, np.inf)
    # Such a trial is left unranked, and its row says why.
    unreadable = complete & ~np.isfinite(objective)
    frame.loc[unreadable, "fail_reason"] = UNREADABLE_OBJECTIVE
    ranked = complete & ~unreadable
    frame = frame.sort_values(["_state_order", "_key", "number"], kind="stable")
    ranked = ranked.loc[frame.index]
    frame.insert(0, "rank", np.nan)
    frame.loc[ranked, "rank"] = np.arange(1, int(ranked.sum()) + 1)
    frame["rank"] = frame["rank"].astype("Int64")
    hyperparameters = sorted(
        {name for trial in study.get_trials(deepcopy=False) for name in trial.params}
    )
    leading = ["rank", "number", "state", "objective"]
    if "pareto_front" in frame:
        leading.append("pareto_front")
    # Test accuracy only where the study evaluated it (a grid's planned comparison).
    tested = ["test_accuracy"] if "test_accuracy" in frame else []
    columns = leading + RESULT_COLUMNS + tested + hyperparameters + ["fail_reason"]
    return frame[[column for column in columns if column in frame]].reset_index(drop=True)


def _explain_dead_workers(study: optuna.Study, frame: pd.DataFrame) -> None:
    """Fills fail_reason for trials that Optuna's heartbeat check failed, which store none."""
    retried_as = {}
    for trial in study.get_trials(deepcopy=False):
        original = trial.system_attrs.get("failed_trial", trial.user_attrs.get("retry_of"))
        if original is not None:
            retried_as.setdefault(original, trial.number)
    frame["fail_reason"] = frame["fail_reason"].astype(object)
    for index in frame.index[(frame["state"] == "FAIL") & frame["fail_reason"].isna()]:
        number = int(frame.at[index, "number"])
        if number in retried_as:
            frame.at[index, "fail_reason"] = (
                f"its worker stopped sending heartbeats (died); retried as trial "
                f"{retried_as[number]}"
            )


def planned_table(companion: optuna.Study, identity: list[str]) -> pd.DataFrame:
    """Every run of a stage's companion study: what identifies it (`identity`, user
    attributes), its state and results, sorted by identity."""
    rows = [
        {
            **{key: trial.user_attrs.get(key) for key in identity},
            "number": trial.number,
            "state": trial.state.name,
            **{key: trial.user_attrs.get(key) for key in ("objective", *RESULT_COLUMNS)},
            "fail_reason": trial.user_attrs.get("fail_reason"),
        }
        for trial in companion.get_trials(deepcopy=False)
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    # An edited storage may hold a seed "NaN" or a source that is text: numbers sort as
    # numbers, anything else after them by its text, never a comparison of the two.
    keys = [[_sort_key(value) for value in frame[key]] for key in identity]
    rows = sorted(range(len(frame)), key=lambda r: ([k[r] for k in keys], frame["number"].iloc[r]))
    return frame.iloc[rows]


def confirmation_table(confirmation: optuna.Study) -> pd.DataFrame:
    """Every confirmation run (confirm.csv): its identity, results and, for the winner's runs,
    the test accuracy its evaluation stored (empty for every other run)."""
    frame = planned_table(confirmation, ["source_trial", "seed"])
    if frame.empty:
        return frame
    tested = [
        run_test_accuracy(confirmation, source, seed)
        for source, seed in zip(frame["source_trial"], frame["seed"], strict=True)
    ]
    frame.insert(frame.columns.get_loc("fail_reason"), "test_accuracy", tested)
    return frame


def _sort_key(value) -> tuple:
    if isinstance(value, int | float) and value == value:
        return (0, float(value), "")
    return (1, 0.0, str(value))
