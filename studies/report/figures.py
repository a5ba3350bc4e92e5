"""The report's figures: Optuna's plots, the best trials' curves and first-layer weights."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt  # Only for Optuna's plots, which draw with pyplot.
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from optuna.visualization import matplotlib as optuna_plots

from kerasnn.data import CLASS_NAMES
from kerasnn.plots import fixed_margins, plot_curves, plot_weights, save
from studies.storage import artifacts

CURVES_OF_BEST = 3


def placeholder_figure(message: str) -> Figure:
    """A figure that says, in words, why the one it stands for is not drawn."""
    figure = Figure(figsize=(6, 2))
    axis = figure.subplots()
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def placeholder(path: Path, message: str) -> None:
    save(placeholder_figure(message), path)


def optuna_names(study) -> list[str]:
    """The names of Optuna's plots a study's report draws."""
    names = ["history", "importances", "slices"]
    return names + ["pareto"] if len(study.directions) > 1 else names


def optuna_figure(study, name: str, notes: list[str]) -> Figure:
    """Optuna's plot `name` (see `optuna_names`) of `study`, or a figure saying why it
    cannot be drawn (said in `notes` too)."""
    try:
        axes = _optuna_axes(study, name)
    except Exception as error:  # Optuna raises several types when there is too little data.
        notes.append(f"{name}.png not drawn: {str(error) or type(error).__name__}")
        return placeholder_figure(notes[-1])
    panels = list(np.ravel(axes))
    figure = panels[0].figure
    figure.set_size_inches(max(figure.get_size_inches()[0], 8), 5)
    if len(panels) > 1:
        # Side by side (the slice plot), log axes' minor labels and long category
        # names run into each other.
        for panel in panels:
            panel.tick_params(axis="x", labelrotation=45, labelsize=8)
            panel.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    # Optuna's colour bar is an extra axis that tight_layout lays over the last panel.
    colorbars = [extra for extra in figure.axes if extra not in panels]
    colour_bar = 0.04 if colorbars else 0  # Of the figure's width.
    if len(panels) > 1:
        # A panel per hyperparameter, sharing the y axis and its labels.
        right = (0.01 + colour_bar) * figure.get_figwidth()
        fixed_margins(figure, left=0.7, right=right, below=0.9, above=0.45)
    else:
        figure.tight_layout(rect=(0, 0, 1 - colour_bar, 1))
    for colorbar in colorbars:
        colorbar.set_position((0.965, 0.15, 0.008, 0.7))
    return figure


def _optuna_axes(study, name: str):
    """Draws Optuna's plot `name` and hands its figure over whole, leaving pyplot as it was.

    Optuna's plots draw with pyplot and set its "ggplot" style on the global rcParams: they
    are drawn in a context that restores the rcParams, with interactive mode off (no window
    opens), and every figure they opened is closed in pyplot (taken off its list, so a
    notebook does not show it), the plot's own figure staying usable.
    """
    target = _target(study)
    plots = {
        "history": lambda: optuna_plots.plot_optimization_history(study, **target),
        "importances": lambda: optuna_plots.plot_param_importances(study, **target),
        "slices": lambda: optuna_plots.plot_slice(study, **target),
        "pareto": lambda: optuna_plots.plot_pareto_front(
            study, target_names=["val_accuracy", "gap"]
        ),
    }
    opened = set(plt.get_fignums())
    try:
        with matplotlib.rc_context(), plt.ioff(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return plots[name]()
    finally:
        for number in set(plt.get_fignums()) - opened:
            plt.close(number)


def _target(study):
    if len(study.directions) > 1:
        return {
            "target": lambda trial: trial.user_attrs.get("objective", math.nan),
            "target_name": "penalized score",
        }
    return {"target_name": "objective"}


def draw_weights(storage, trial, settings, path: Path, notes: list[str]) -> None:
    save(weights_figure(storage, trial, settings, notes), path)


def weights_figure(storage, trial, settings, notes: list[str]) -> Figure:
    """The first-layer weights of `trial` (the best search trial) as 28x28 images."""
    if trial is None:
        notes.append("weights.png not drawn: no trial completed")
        return placeholder_figure(notes[-1])
    kernel, problem = artifacts.load_kernel(trial, storage, settings.artifact_dir)
    if kernel is None:
        notes.append(f"weights.png not drawn: {problem}")
        return placeholder_figure(notes[-1])
    units = kernel.shape[1]
    return plot_weights(
        kernel,
        title=f"trial {trial.number}: first-layer weights ({units} units, first {min(units, 32)})",
        labels=weight_labels(trial, settings.dataset),
    )


def weight_labels(trial, dataset: str) -> list[str] | None:
    """The class names for a softmax regression's kernel (a column per class), else None."""
    regression = trial.user_attrs.get("model_config", {}).get("hidden_units") == 0
    names = CLASS_NAMES.get(dataset)  # A user's dataset shows units by number.
    return list(names) if regression and names else None


def draw_optuna_plots(study, folder: Path, notes: list[str]) -> None:
    for name in optuna_names(study):
        save(optuna_figure(study, name, notes), folder / f"{name}.png")


def draw_curves(study, frame, folder: Path, notes: list[str]) -> None:
    save(curves_figure(study, frame, notes), folder / "curves.png")


def curves_figure(study, frame, notes: list[str]) -> Figure:
    """The training curves of the best CURVES_OF_BEST completed trials of the ranked table
    `frame`."""
    complete = frame[frame["state"] == "COMPLETE"]
    trials = study.get_trials(deepcopy=False)  # `study.trials` deep-copies every trial.
    top = [trials[number] for number in complete["number"].head(CURVES_OF_BEST)]
    histories = {}
    for rank, trial in enumerate(top, start=1):
        if "history" not in trial.user_attrs:
            continue
        problem = history_problem(trial.user_attrs["history"])
        if problem:
            notes.append(
                f"curves.png leaves out trial {trial.number}: its stored history {problem}"
            )
        else:
            histories[f"trial {trial.number} (rank {rank})"] = trial.user_attrs["history"]
    if histories:
        return plot_curves(histories)
    notes.append("curves.png not drawn: no trial completed with a readable history")
    return placeholder_figure(notes[-1])


# A history has a point an epoch; a study trains far fewer epochs than this, so a longer
# stored one is an edited storage, not drawn (drawing millions of points takes minutes).
LONGEST_HISTORY = 10_000
CURVES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


def history_problem(history) -> str:
    """Why a stored history cannot be drawn (an edited storage), or "" when it can: it
    must map each curve to a list of numbers, all of one length up to LONGEST_HISTORY."""
    if not isinstance(history, dict):
        return f"is a {type(history).__name__}, not a curve per measure"
    lengths = set()
    for name in CURVES:
        values = history.get(name)
        if not isinstance(values, list):
            return f"has no list of {name}"
        if len(values) > LONGEST_HISTORY:
            return f"has {len(values):,} points of {name}, more than {LONGEST_HISTORY:,} epochs"
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return f"has a {name} that is not a number"
        lengths.add(len(values))
    if len(lengths) != 1 or 0 in lengths:
        return "has curves of different lengths, or empty ones"
    return ""
