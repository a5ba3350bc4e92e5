"""Draws the figures a seed module asks for: learning curves, trends, weights per class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from studies.reproduction.claims import Figure


def draw(figure: Figure, folder: Path) -> bool:
    """Draws `figure` into `folder`; False (and nothing drawn) when it has no data."""
    if not any(figure.data.values()):
        return False
    from kerasnn import plots

    path = folder / figure.name
    if figure.kind == "overlaid":
        plots.plot_overlaid(figure.data["histories"], path, title=figure.title)
    elif figure.kind == "curves":
        plots.plot_curves(figure.data["histories"], path)
    elif figure.kind == "trends":
        _trends(figure.data["panels"], path)
    elif figure.kind == "weights":
        _weight_rows(figure.data["kernels"], path)
    elif figure.kind == "strength":
        _against_strength(figure.data["strengths"], figure.data["series"], path)
    else:
        raise ValueError(f"unknown figure kind {figure.kind!r}")
    return True


def _new(**options):
    """A matplotlib figure with a canvas of its own (pyplot's state is the user's)."""
    from matplotlib.figure import Figure as Drawing

    return Drawing(**options)


def _save(drawing, path: Path) -> None:
    from kerasnn.plots import save

    save(drawing, path)


def _safe(values) -> list:
    return [math.nan if value is None else value for value in values]


def _trends(panels: list[tuple], path: Path) -> None:
    """Seed (left axis) against ours (right axis) per sweep, on equally long scales.

    Panels are (title, x values, {label: (seed values, our values)}).
    """
    columns = 3
    rows = math.ceil(len(panels) / columns)
    figure = _new(figsize=(12, 3.3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, (title, x_values, lines) in zip(axes.flat, panels, strict=False):
        ours_axis = axis.twinx()
        positions = np.arange(len(x_values))
        for color, (label, (seed_values, our_values)) in zip(
            ("tab:blue", "tab:orange"), lines.items(), strict=False
        ):
            axis.plot(positions, _safe(seed_values), "o--", color=color, alpha=0.6)
            ours_axis.plot(positions, _safe(our_values), "s-", color=color, label=label)
        _same_span(axis, ours_axis, lines)
        axis.set_xticks(positions, [str(value) for value in x_values], fontsize=7, rotation=45)
        axis.set_title(title, fontsize=9)
        axis.set_ylabel("seed, CIFAR-10 (dashed)", fontsize=7)
        ours_axis.set_ylabel("ours, Fashion-MNIST (solid)", fontsize=7)
        if len(lines) > 1:
            ours_axis.legend(fontsize=7, loc="lower right")
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.tight_layout()
    _save(figure, path)


def _same_span(seed_axis, ours_axis, lines: dict) -> None:
    """Both axes span the same number of percentage points, each centred on its own data,
    so equal slopes mean equal changes and a flat line is flat on either side."""
    seed_all = [v for values, _ in lines.values() for v in values if v is not None]
    ours_all = [v for _, values in lines.values() for v in values if v is not None]
    if not seed_all or not ours_all:
        return
    span = 1.15 * max(np.ptp(seed_all), np.ptp(ours_all), 1.0)
    for side, values in ((seed_axis, seed_all), (ours_axis, ours_all)):
        centre = (max(values) + min(values)) / 2
        side.set_ylim(centre - span / 2, centre + span / 2)


def _weight_rows(kernels: dict[str, np.ndarray], path: Path) -> None:
    """Softmax-regression weights: one row per run, one 28x28 image per class."""
    figure = _new(figsize=(11, 1.25 * len(kernels) + 0.3))
    axes = figure.subplots(len(kernels), 10, squeeze=False)
    for row, (label, kernel) in zip(axes, kernels.items(), strict=False):
        scale = float(np.abs(kernel).max()) or 1.0
        for digit, axis in enumerate(row):
            axis.imshow(
                kernel[:, digit].reshape(28, 28),
                cmap="seismic",
                vmin=-scale,
                vmax=scale,
                interpolation="nearest",
            )
            axis.set_xticks([])
            axis.set_yticks([])
            if digit == 0:
                axis.set_ylabel(label, fontsize=8)
            if label == next(iter(kernels)):
                axis.set_title(str(digit), fontsize=8)
    figure.suptitle("Softmax-regression weights per class (each row on its own colour scale)")
    figure.tight_layout()
    _save(figure, path)


def _against_strength(strengths, series: dict[str, list], path: Path) -> None:
    """Each series against the L2 strength (log scale), lambda = 0 as a dashed line."""
    figure = _new(figsize=(4.5 * len(series), 3.2))
    axes = figure.subplots(1, len(series), squeeze=False)
    for axis, (label, values) in zip(axes.flat, series.items(), strict=False):
        positive = [(s, v) for s, v in zip(strengths, values, strict=True) if s > 0 and v]
        unregularised = [v for s, v in zip(strengths, values, strict=True) if s == 0 and v]
        if positive:
            axis.plot(*zip(*positive, strict=True), "o-")
        if unregularised:
            axis.axhline(unregularised[0], ls="--", color="grey", label="lambda = 0")
            axis.legend(fontsize=8)
        axis.set_xscale("log")
        axis.set_xlabel("L2 strength lambda")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, path)
