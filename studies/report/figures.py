"""The report's figures: Optuna's plots, the best trials' curves and first-layer weights."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from kerasnn.data import CLASS_NAMES  # noqa: E402
from kerasnn.plots import plot_curves, plot_weights  # noqa: E402
from studies.storage import artifacts  # noqa: E402

CURVES_OF_BEST = 3


def placeholder(path: Path, message: str) -> None:
    figure, axis = plt.subplots(figsize=(6, 2))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _save_optuna_plot(path: Path, draw, notes: list[str]) -> None:
    """Saves one of Optuna's matplotlib plots, or a figure saying why it cannot be drawn."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw()
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
        figure.tight_layout(rect=(0, 0, 0.96 if colorbars else 1, 1))
        for colorbar in colorbars:
            colorbar.set_position((0.965, 0.15, 0.008, 0.7))
        figure.savefig(path, dpi=90)
        plt.close(figure)
    except Exception as error:  # Optuna raises several types when there is too little data.
        message = f"{path.name} not drawn: {str(error) or type(error).__name__}"
        notes.append(message)
        placeholder(path, message)


def _target(study):
    if len(study.directions) > 1:
        return {
            "target": lambda trial: trial.user_attrs.get("objective", math.nan),
            "target_name": "penalized score",
        }
    return {"target_name": "objective"}


def draw_weights(storage, trial, settings, path: Path, notes: list[str]) -> None:
    kernel, problem = artifacts.load_kernel(trial, storage, settings.artifact_dir)
    if kernel is None:
        notes.append(f"weights.png not drawn: {problem}")
        placeholder(path, notes[-1])
        return
    units = kernel.shape[1]
    plot_weights(
        kernel,
        path,
        title=f"trial {trial.number}: first-layer weights ({units} units, first {min(units, 32)})",
        labels=weight_labels(trial, settings.dataset),
    )


def weight_labels(trial, dataset: str) -> list[str] | None:
    """The class names for a softmax regression's kernel (a column per class), else None."""
    regression = trial.user_attrs.get("model_config", {}).get("hidden_units") == 0
    names = CLASS_NAMES.get(dataset)  # A user's dataset shows units by number.
    return list(names) if regression and names else None


def draw_optuna_plots(study, folder: Path, notes: list[str]) -> None:
    target = _target(study)
    plots = {
        "history.png": lambda: optuna_plots.plot_optimization_history(study, **target),
        "importances.png": lambda: optuna_plots.plot_param_importances(study, **target),
        "slices.png": lambda: optuna_plots.plot_slice(study, **target),
    }
    if len(study.directions) > 1:
        plots["pareto.png"] = lambda: optuna_plots.plot_pareto_front(
            study, target_names=["val_accuracy", "gap"]
        )
    for name, draw in plots.items():
        _save_optuna_plot(folder / name, draw, notes)


def draw_curves(study, frame, folder: Path, notes: list[str]) -> None:
    complete = frame[frame["state"] == "COMPLETE"]
    top = [study.trials[number] for number in complete["number"].head(CURVES_OF_BEST)]
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
        plot_curves(histories, folder / "curves.png")
    else:
        notes.append("curves.png not drawn: no trial completed with a readable history")
        placeholder(folder / "curves.png", notes[-1])


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
