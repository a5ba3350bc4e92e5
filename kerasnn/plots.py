"""Figures the seed reports show: learning curves and first-layer weights as images."""

from __future__ import annotations

import math
import os

import matplotlib
import matplotlib.image
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Every figure is a `Figure` with a canvas of its own, never one of pyplot's: a library must
# leave its user's backend, open figures and style as they are (a notebook's next
# `plt.show()` included).
DPI = 90


def save(figure: Figure, path: str | os.PathLike) -> None:
    """Writes `figure` to `path` (the format from its suffix)."""
    figure.savefig(path, dpi=DPI)


def plot_curves(
    histories: dict[str, dict[str, list[float]]], path: str | os.PathLike | None = None
) -> Figure:
    """Training vs validation loss and accuracy per epoch, one row per labelled run; saved
    to `path` when one is given.

    Training figures are the inference-mode ones (`train_loss`, `train_accuracy`), so the
    distance between the two lines is the overfitting the objective penalises.
    """
    rows = max(1, len(histories))
    figure = Figure(figsize=(10, 3.2 * rows))
    axes = figure.subplots(rows, 2, squeeze=False)
    # A title above each panel, the epoch axis below. Every trial of a study draws this
    # figure, and a layout pass would double its cost.
    fixed_margins(figure, left=0.75, right=0.15, below=0.55, above=0.35, between=0.9, wspace=0.22)
    for (label, history), (loss_axis, accuracy_axis) in zip(histories.items(), axes, strict=False):
        epochs = np.arange(1, len(history["val_loss"]) + 1)
        for axis, metric, name in (
            (loss_axis, "loss", "loss"),
            (accuracy_axis, "accuracy", "accuracy"),
        ):
            axis.plot(epochs, history[f"train_{metric}"], "o-", ms=3, label="training")
            axis.plot(epochs, history[f"val_{metric}"], "s-", ms=3, label="validation")
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_ylabel(name)
            axis.grid(alpha=0.3)
        loss_axis.set_title(f"{label}: cross-entropy", fontsize=9)
        accuracy_axis.set_title(f"{label}: accuracy", fontsize=9)
        accuracy_axis.legend(fontsize=8)
    if path is not None:
        save(figure, path)
    return figure


def fixed_margins(
    figure: Figure,
    *,
    left: float,
    right: float,
    below: float,
    above: float,
    between: float = 0.0,
    wspace: float | None = None,
) -> None:
    """Places `figure`'s grid of panels with margins in inches: `left`, `right`, `below` and
    `above` the grid, and `between` its rows (`wspace` between columns as matplotlib takes it).

    Instead of a layout pass (`tight_layout`), which draws every panel once more to measure
    its labels: the figures that many panels or many trials draw know their labels' room.
    """
    width, height = figure.get_size_inches()
    rows = figure.axes[0].get_subplotspec().get_gridspec().nrows
    panel_height = (height - below - above - between * (rows - 1)) / rows
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=below / height,
        top=1 - above / height,
        hspace=between / panel_height,
        wspace=wspace,
    )


def _finished(figure: Figure, path: str | os.PathLike | None) -> Figure:
    """`figure` laid out, and saved to `path` when one is given."""
    figure.tight_layout()
    if path is not None:
        save(figure, path)
    return figure


def _checked_kernel(kernel) -> np.ndarray:
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2 or 0 in kernel.shape:
        raise ValueError(f"kernel must have shape (inputs, units), got {kernel.shape}")
    return kernel


def weight_image(column: np.ndarray) -> np.ndarray:
    """One unit's input weights as a 2-D image: a square image as itself (MNIST's 28x28),
    a square colour image as its three channels side by side, other inputs (features) as
    a square filled row by row, zero-padded."""
    size = len(column)
    side = math.isqrt(size)
    if side * side == size:
        return column.reshape(side, side)
    side = math.isqrt(size // 3)
    if size % 3 == 0 and side * side * 3 == size:
        return column.reshape(side, side, 3).transpose(0, 2, 1).reshape(side, 3 * side)
    side = math.isqrt(size - 1) + 1
    return np.pad(column, (0, side * side - size)).reshape(side, side)


def plot_weights(
    kernel: np.ndarray,
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
    labels: list[str] | None = None,
    limit: int = 32,
) -> None:
    """Draws the columns of an (inputs, units) kernel as images on a shared colour scale
    (28x28 for MNIST's; see `weight_image`).

    Args:
        kernel: the first Dense layer's kernel.
        path: where the PNG goes; None saves nothing.
        title: the figure's title.
        labels: one caption per unit (e.g. class names for softmax regression).
        limit: at most this many units are drawn.

    Returns:
        The figure.
    """
    kernel = _checked_kernel(kernel)
    units = min(kernel.shape[1], limit)
    columns = min(units, 8 if units > 10 else units)
    rows = math.ceil(units / columns)
    scale = float(np.abs(kernel[:, :units]).max()) or 1.0
    height, width = weight_image(kernel[:, 0]).shape
    caption = max(2, height // 3)  # White pixel rows above each tile for its caption.
    figure = Figure(figsize=(1.4 * columns, 1.5 * rows + 0.4))
    # One image of all the tiles, not an axes each: 32 axes and their layout pass cost most
    # of a second to draw.
    top = 1 - 0.4 / figure.get_figheight() if title else 1
    axis = figure.add_axes((0.01, 0.01, 0.98, top - 0.01))
    axis.axis("off")
    mosaic = _mosaic(kernel[:, :units], columns, caption)
    axis.imshow(mosaic, cmap="seismic", vmin=-scale, vmax=scale, interpolation="nearest")
    for index in range(units):
        top, left = _cell(index, columns, (caption + height + 1, width + 1))
        label = labels[index] if labels else f"unit {index}"
        axis.text(
            left + (width - 1) / 2,
            top + (caption - 1) / 2,
            label,
            ha="center",
            va="center",
            fontsize=7,
        )
    if title:
        figure.suptitle(title, fontsize=9, y=1 - 0.2 / figure.get_figheight(), va="center")
    if path is not None:
        save(figure, path)
    return figure


def _mosaic(kernel: np.ndarray, columns: int, caption: int = 0) -> np.ndarray:
    """Every column of `kernel` as a tile (see `weight_image`), `columns` to a row, with a
    pixel of zero (white on a scale centred at zero) between and around the tiles and
    `caption` rows of zeros above each."""
    units = kernel.shape[1]
    height, width = weight_image(kernel[:, 0]).shape
    cell_height, cell_width = caption + height + 1, width + 1
    rows = math.ceil(units / columns)
    mosaic = np.zeros((rows * cell_height + 1, columns * cell_width + 1), dtype=np.float32)
    for index in range(units):
        top, left = _cell(index, columns, (cell_height, cell_width))
        top += caption
        mosaic[top : top + height, left : left + width] = weight_image(kernel[:, index])
    return mosaic


def _cell(index: int, columns: int, cell: tuple[int, int]) -> tuple[int, int]:
    """The top-left pixel of tile `index`'s cell (its caption rows, then the tile) in a
    mosaic of `columns` cells of `cell` (height, width) pixels, each with a pixel border."""
    row, column = divmod(index, columns)
    return 1 + row * cell[0], 1 + column * cell[1]


def save_weight_mosaic(
    kernel: np.ndarray, path: str | os.PathLike, *, limit: int = 32, columns: int = 8
) -> None:
    """The first `limit` columns of an (inputs, units) kernel as tiles in one PNG (28x28
    for MNIST's; see `weight_image`).

    The quick sibling of `plot_weights` (no captions, no title, no figure), cheap enough
    for every trial of a study to store one for the dashboard.
    Blue is negative, red positive, on a scale shared by all tiles.
    """
    kernel = _checked_kernel(kernel)
    units = min(kernel.shape[1], limit)
    columns = min(units, columns)
    scale = float(np.abs(kernel[:, :units]).max()) or 1.0
    mosaic = _mosaic(kernel[:, :units], columns)
    enlarged = np.kron(mosaic, np.ones((3, 3), dtype=np.float32))
    matplotlib.image.imsave(path, enlarged, cmap="seismic", vmin=-scale, vmax=scale)


def plot_overlaid(
    histories: dict[str, dict[str, list[float]]],
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
) -> Figure:
    """Several runs on shared axes: accuracy and loss (training dashed, validation solid)
    and the training-minus-validation accuracy gap per epoch, one colour per run.

    Meant for a sweep of one hyperparameter, where the question is how the curves separate.
    """
    figure = Figure(figsize=(14, 4))
    axes = figure.subplots(1, 3)
    colours = matplotlib.colormaps[
        "tab10"
    ].colors  # Ten distinct colours, enough for any sweep here.
    for index, (label, history) in enumerate(histories.items()):
        colour = colours[index % len(colours)]
        epochs = np.arange(1, len(history["val_loss"]) + 1)
        for axis, metric in ((axes[0], "accuracy"), (axes[1], "loss")):
            axis.plot(epochs, history[f"train_{metric}"], "--", color=colour, lw=1)
            axis.plot(
                epochs, history[f"val_{metric}"], "o-", ms=2, color=colour, lw=1.5, label=label
            )
        gap = np.array(history["train_accuracy"]) - np.array(history["val_accuracy"])
        axes[2].plot(epochs, gap, "-", color=colour, lw=1.5, label=label)
    for axis, name in zip(
        axes,
        ("accuracy (train dashed, val solid)", "cross-entropy", "gap = train - val accuracy"),
        strict=True,
    ):
        axis.set_xlabel("epoch")
        axis.set_title(name, fontsize=9)
        axis.grid(alpha=0.3)
    axes[2].axhline(0, color="grey", lw=0.8)
    axes[0].legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return _finished(figure, path)
