"""What each scientific hyperparameter does to accuracy and to overfitting, from a study's own trials.

Data first: `effects` and `importances` return plain numbers; `sentences` words them and
`plot_findings` draws them. No sentence carries a number that was not computed here.
"""

from __future__ import annotations

import math
import warnings

import matplotlib.ticker
import optuna
import pandas as pd
from matplotlib.figure import Figure
from optuna.trial import TrialState

from kerasnn.plots import fixed_margins, save

MEASURES = {"val_accuracy": "validation accuracy", "gap": "gap (train - validation)"}
# A group's median says something only over a few trials; smaller groups are left out of
# the sentences (they still show in the figure).
MIN_GROUP = 3


def completed(study: optuna.Study) -> pd.DataFrame:
    """One row per completed trial: its number, parameters, validation accuracy and gap."""
    rows = [
        {"number": trial.number, **trial.params, **{m: trial.user_attrs.get(m) for m in MEASURES}}
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if all(_is_number(trial.user_attrs.get(m)) for m in MEASURES)
    ]
    return pd.DataFrame(rows)


def _is_number(value) -> bool:
    # An edited storage may hold text or a list where a measure should be.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value) -> float:
    return float(value) if _is_number(value) else math.nan


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and column.nunique() > 2


def effects(frame: pd.DataFrame, name: str) -> list[dict]:
    """Median validation accuracy and gap per group of trials along hyperparameter `name`.

    A numeric hyperparameter is split at its median value into a low and a high half; a
    categorical one is grouped by value. Trials where it was not sampled are left out.
    """
    if name not in frame or frame[name].notna().sum() < 2:
        return []
    values = frame[frame[name].notna()]
    if _is_numeric(values[name]):
        cut = float(values[name].median())
        groups = [
            (f"{name} < {cut:.3g}", values[name] < cut),
            (f"{name} >= {cut:.3g}", values[name] >= cut),
        ]
    else:
        groups = [
            (f"{name} = {value}", values[name] == value)
            for value in sorted(values[name].unique(), key=str)
        ]
    return [
        {
            "group": label,
            "trials": int(mask.sum()),
            **{measure: float(values.loc[mask, measure].median()) for measure in MEASURES},
        }
        for label, mask in groups
        if mask.sum()
    ]


def sentences(frame: pd.DataFrame, scientific: list[str]) -> list[str]:
    """One sentence per scientific hyperparameter, comparing the medians of its groups of at
    least MIN_GROUP trials (none where fewer than two such groups exist)."""
    lines = []
    for name in scientific:
        groups = [group for group in effects(frame, name) if group["trials"] >= MIN_GROUP]
        if len(groups) < 2:
            continue
        least = min(groups, key=lambda group: group["gap"])
        most = max(groups, key=lambda group: group["gap"])
        best = max(groups, key=lambda group: group["val_accuracy"])
        lines.append(
            f"**{name}**: the median gap is {least['gap']:.4f} for {least['group']} "
            f"({least['trials']} trials) against {most['gap']:.4f} for {most['group']} "
            f"({most['trials']} trials); the highest median validation accuracy, "
            f"{best['val_accuracy']:.4f}, is for {best['group']}."
        )
    return lines


# What PED-ANOVA compares with all trials: the best quarter (at least a few trials of a
# 40-trial study, where its default tenth would be four).
TOP_QUANTILE = 0.25


def importances(study: optuna.Study, scientific: list[str]) -> pd.DataFrame:
    """How much each scientific hyperparameter sets apart the best quarter of the trials,
    by validation accuracy (highest) and by gap (lowest) apart; PED-ANOVA, Optuna's default.

    `scientific` names hyperparameters that some completed trial sampled.
    """
    # PED-ANOVA takes lower as better: accuracy is negated, the gap is taken as it is.
    targets = {"val_accuracy": -1.0, "gap": 1.0}
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=TOP_QUANTILE)
    table = {}
    for measure, sign in targets.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table[measure] = optuna.importance.get_param_importances(
                    study,
                    params=scientific,
                    evaluator=evaluator,
                    target=lambda trial, m=measure, s=sign: s * _number(trial.user_attrs.get(m)),
                )
        except (RuntimeError, ValueError):
            return pd.DataFrame()  # Too few trials, or a parameter never varied.
    return pd.DataFrame(table).fillna(0.0)


def plot_findings(
    frame: pd.DataFrame, scientific: list[str], confirmed: list[int], path=None
) -> Figure:
    """One row per hyperparameter: validation accuracy and gap against it; confirmed ringed.
    Saved to `path` when one is given."""
    names = [name for name in scientific if name in frame and frame[name].notna().sum()]
    figure = Figure(figsize=(10, 2.6 * max(1, len(names))))
    axes = figure.subplots(max(1, len(names)), 2, squeeze=False)
    # Tilted tick labels and the hyperparameter's name below each panel.
    fixed_margins(figure, left=0.8, right=0.15, below=0.75, above=0.15, between=0.8, wspace=0.2)
    for row, name in enumerate(names):
        values = frame[frame[name].notna()]
        numeric = _is_numeric(values[name])
        x = values[name] if numeric else values[name].astype(str)
        for column, (measure, label) in enumerate(MEASURES.items()):
            axis = axes[row][column]
            axis.scatter(x, values[measure], s=14, alpha=0.6, color="tab:blue")
            ringed = values["number"].isin(confirmed)
            axis.scatter(
                x[ringed],
                values.loc[ringed, measure],
                s=80,
                facecolors="none",
                edgecolors="tab:red",
                label="confirmed",
            )
            if numeric and values[name].min() > 0 and values[name].max() / values[name].min() > 10:
                axis.set_xscale("log")
                # Minor ticks' labels (2x10^2, 3x10^2, ...) run into each other.
                axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            axis.set_xlabel(name)
            axis.set_ylabel(label)
            axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    if names:
        axes[0][0].legend(loc="lower right", fontsize=8)
    if path is not None:
        save(figure, path)
    return figure
