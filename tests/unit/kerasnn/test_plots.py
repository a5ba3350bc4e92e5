"""Tests of kerasnn.plots' layout and tiling, on small arrays."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from kerasnn import plots


@pytest.mark.parametrize("rows", [1, 3])
def test_fixed_margins_are_the_inches_asked_for_whatever_the_rows(rows):
    figure = Figure(figsize=(10, 3 * rows))
    axes = figure.subplots(rows, 2, squeeze=False)
    plots.fixed_margins(figure, left=0.5, right=0.2, below=0.6, above=0.3, between=0.9)
    width, height = figure.get_size_inches()
    boxes = [axis.get_position() for axis in axes[:, 0]]  # In fractions of the figure.
    assert boxes[0].x0 * width == pytest.approx(0.5)
    assert axes[0, 1].get_position().x1 * width == pytest.approx(width - 0.2)
    assert boxes[-1].y0 * height == pytest.approx(0.6)
    assert boxes[0].y1 * height == pytest.approx(height - 0.3)
    for upper, lower in zip(boxes, boxes[1:], strict=False):
        assert (upper.y0 - lower.y1) * height == pytest.approx(0.9)


def test_a_mosaic_holds_each_tile_in_its_cell_below_its_caption_rows():
    kernel = np.arange(1, 4 * 5 + 1, dtype=np.float32).reshape(4, 5)  # 2x2 images, 5 units.
    mosaic = plots._mosaic(kernel, columns=3, caption=2)
    assert mosaic.shape == (2 * (2 + 2 + 1) + 1, 3 * (2 + 1) + 1)
    for index in range(5):
        top, left = plots._cell(index, 3, (5, 3))
        tile = mosaic[top + 2 : top + 4, left : left + 2]
        np.testing.assert_array_equal(tile, kernel[:, index].reshape(2, 2))
        assert not mosaic[top : top + 2, left : left + 2].any()  # Its caption rows are blank.
