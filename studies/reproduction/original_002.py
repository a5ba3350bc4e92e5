"""Seed 002: training length, width, batch size, L2, dropout and depth of a two-layer ReLU net.

The seed's numbers are CIFAR-10 validation accuracies in percent; ours are Fashion-MNIST's,
so the verdicts compare directions along each sweep, not values.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from studies import reproduce_002 as study
from studies.reproduction.claims import (
    MISSING,
    Figure,
    Heading,
    Section,
    Table,
    Text,
    begin,
)
from studies.reproduction.runs import Runs
from studies.reproduction.verdicts import CHANCE, FLAT, rank_correlation, trend_verdicts

NUMBER = "002"
# The seed's tables (validation accuracy, %, CIFAR-10).
ITERATIONS_SLOW = {1000: 28.19, 2000: 35.80, 3000: 38.80, 4000: 41.30, 5000: 43.00,
                   6000: 43.30, 7000: 44.60, 8000: 44.30, 9000: 44.60, 10000: 45.30}  # fmt: skip
ITERATIONS_FAST = {2000: 49.90, 4000: 52.0, 6000: 51.60, 8000: 51.60, 10000: 52.60}
HIDDEN = {10: 42.60, 20: 46.00, 30: 48.60, 40: 50.50, 50: 52.00, 60: 49.90, 70: 50.60,
          80: 52.00, 90: 51.50, 100: 53.90, 110: 52.90, 120: 51.40}  # fmt: skip
BATCH = {50: [48.80, 52.00, 49.50, 48.50, 50.80], 100: [49.10, 53.90, 52.20, 52.00, 52.20]}
L2 = {50: [50.9, 52.0, 49.80, 50.40, 49.2], 100: [54.2, 53.90, 52.70, 52.30, 49.70]}
KEEP = {50: [34.00, 40.30, 46.50, 52.00], 100: [37.60, 44.00, 46.20, 53.90]}
DEPTH = {2: 52.0, 3: 48.6, 4: 7.8, 5: 7.8}
TEST = 53.8  # The seed's test accuracy of HLCV-Ex2-100 (100 units, lambda 0.25).
BATCHES = (100, 200, 300, 400, 500)
STRENGTHS = (0, 0.25, 0.5, 0.75, 1.0)
KEEPS = (0.25, 0.5, 0.75, 1.0)
DEFAULTS = {"batch": 200, "L2": 0, "keep": 1.0}  # The width sweep's values of the others.
SEED_BATCH = 200  # The batch size the seed's iterations are counted in.
# Our accuracy below this (%) on a sweep of depth counts as the seed's collapse.
COLLAPSED = 15.0
# A rank correlation above this counts as the seed's ordering reproduced.
SAME_ORDER = 0.5

DID = (
    "**The seed** tuned a two-layer ReLU network on CIFAR-10 by hand: training length in "
    "iterations, learning rate, hidden units, batch size, L2 lambda, dropout keep "
    "probability, PCA of the inputs and depth; it reports validation accuracy per setting."
)
NOT_MATCHED = (
    "**Not matched.** We run on Fashion-MNIST, not CIFAR-10, so absolute accuracies cannot "
    "match and only trends compare. The seed's learning-rate decay (0.95 per epoch) is not "
    "modelled; the PCA experiment (250 input components) does not fit the fixed "
    "Flatten(28x28) input and is left out. The seed's default lambda of 0.25 suits raw CIFAR "
    "pixels; on [0, 1] inputs it is a far stronger penalty, so the other sweeps run without "
    "L2 and the L2 sweep uses the seed's lambdas literally."
)
HEADER = [
    "setting",
    "seed val acc % (CIFAR-10)",
    "ours % (Fashion-MNIST)",
    "difference",
    "verdict (direction from previous row)",
]
FORMATS = ["", ".2f", ".2f", "+.2f", ""]


@dataclasses.dataclass(frozen=True)
class Line:
    """One sweep at one width: the seed's values and ours (%), row by row."""

    title: str
    labels: list[str]
    seed: list[float]
    ours: list[float | None]
    legend: str = ""


@dataclasses.dataclass(frozen=True)
class Sweep:
    heading: str
    panel: str  # The sweep's panel title in the trends figure.
    x_values: list
    lines: list[Line]


def section(runs: Runs) -> Section:
    result = begin(NUMBER, study, DID, NOT_MATCHED, runs)
    if not runs.ran:
        return result
    sweeps = _sweeps(runs)
    lines = {line.title: line for sweep in sweeps for line in sweep.lines}
    for sweep in sweeps:
        rows = [row for line in sweep.lines for row in _rows(line)]
        result.blocks += [Heading(sweep.heading), Table(HEADER, rows, FORMATS, counted=True)]
    result.blocks += [
        _depth_training(runs),
        Heading("Test accuracy of the seed's chosen network (100 units)"),
        _test_table(runs),
        Figure(
            "trends",
            "002-trends.png",
            {"panels": [_panel(s) for s in sweeps]},
            caption="seed 002 trends",
        ),
        Heading("Trend summary"),
        _summary(lines.values()),
        _curves(runs),
    ]
    result.findings = _findings(lines)
    return result


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _key(units: int, name: str, value) -> str:
    """The setting holding a configuration; the defaults are shared with the width sweep."""
    return f"hidden={units}" if value == DEFAULTS[name] else f"hidden={units} {name}={value}"


def _sweeps(runs: Runs) -> list[Sweep]:
    def final(setting):
        return _percent(runs.final(setting, "val_accuracy"))

    sweeps = [
        _length(runs, "length lr=0.01", ITERATIONS_SLOW, "Iterations, slow learning rate"),
        _length(runs, "length lr=0.1", ITERATIONS_FAST, "Iterations, 10x learning rate"),
    ]
    labels = [f"hidden={units}" for units in HIDDEN]
    hidden = Line("Hidden units", labels, list(HIDDEN.values()), [final(s) for s in labels])
    sweeps.append(Sweep("Hidden units", "Hidden units", list(HIDDEN), [hidden]))
    for title, name, values, seed_table in (
        ("Batch size (4000 iterations)", "batch", BATCHES, BATCH),
        ("L2 strength lambda", "L2", STRENGTHS, L2),
        ("Keep probability", "keep", KEEPS, KEEP),
    ):
        lines = [
            Line(
                f"{title}, {width} units",
                [f"hidden={width} {name}={value}" for value in values],
                seed_values,
                [final(_key(width, name, value)) for value in values],
                legend=f"{width} units",
            )
            for width, seed_values in seed_table.items()
        ]
        sweeps.append(Sweep(title, title, list(values), lines))
    depths = [f"layers={depth}" for depth in DEPTH]
    ours = [final(_depth_key(depth)) for depth in DEPTH]
    depth = Line("Depth", depths, list(DEPTH.values()), ours)
    heading = "Depth (Dense layers; hidden layers of 100 units)"
    return [*sweeps, Sweep(heading, "Depth (Dense layers)", list(DEPTH), [depth])]


def _depth_key(depth: int) -> str:
    return "hidden=100" if depth == 2 else f"layers={depth}"


def _length(runs: Runs, setting: str, seed_table: dict, title: str) -> Sweep:
    """Validation accuracy at the end of the epoch that completes each iteration count."""
    epochs = [iterations * SEED_BATCH // study.TRAIN_IMAGES for iterations in seed_table]
    run = runs.first(setting)
    ours = [_percent(run.at_epoch("val_accuracy", e)) if run else None for e in epochs]
    labels = [f"{it} it = {epoch} ep" for it, epoch in zip(seed_table, epochs, strict=True)]
    line = Line(title, labels, list(seed_table.values()), ours)
    return Sweep(f"{title} ({setting})", title, list(seed_table), [line])


def _rows(line: Line) -> list[list]:
    trends = trend_verdicts(line.seed, line.ours, flat_seed=1.0, flat_ours=100 * FLAT)
    rows = []
    for label, seed_value, ours, trend in zip(
        line.labels, line.seed, line.ours, trends, strict=True
    ):
        outcome = MISSING if trend is None else ("same trend" if trend else "differs")
        if line.title == "Depth" and ours is not None and max(ours, seed_value) < COLLAPSED:
            outcome = "reproduced (chance level)"
        difference = None if ours is None else ours - seed_value
        rows.append([label, seed_value, ours, difference, outcome])
    return rows


def _panel(sweep: Sweep) -> tuple:
    return (sweep.panel, sweep.x_values, {ln.legend: (ln.seed, ln.ours) for ln in sweep.lines})


def _best(labels: list[str], values: list) -> str | None:
    if all(value is None for value in values):
        return None
    return labels[int(np.nanargmax([np.nan if v is None else v for v in values]))]


def _summary(lines) -> Table:
    rows = [
        [
            line.title,
            rank_correlation(line.seed, line.ours),
            _best(line.labels, line.seed),
            _best(line.labels, line.ours),
        ]
        for line in lines
    ]
    header = ["sweep", "Spearman rank correlation seed vs ours", "seed's best", "our best"]
    return Table(header, rows, ["", ".2f", "", ""])


def _depth_training(runs: Runs) -> Text:
    parts = ", ".join(f"{depth} layers {{d{depth}:.2f}}%" for depth in DEPTH)
    values = {
        f"d{depth}": _percent(runs.final(_depth_key(depth), "train_accuracy")) for depth in DEPTH
    }
    return Text(f"Final training accuracy by depth (ours): {parts}.", values)


def _test_table(runs: Runs) -> Table:
    rows = []
    for setting in ("hidden=100", "hidden=100 L2=0.25"):
        ours = _percent(runs.value(setting, "test_accuracy"))
        difference = None if ours is None else ours - TEST
        rows.append([setting, TEST, ours, difference, "— (other dataset)"])
    header = ["setting", "seed test % (CIFAR-10, lambda 0.25)", "ours % (best epoch)"]
    return Table([*header, "difference", "verdict"], rows, FORMATS)


def _curves(runs: Runs) -> Figure:
    settings = ("hidden=100", "hidden=100 keep=0.25", "layers=5")
    return Figure(
        "overlaid",
        "002-curves.png",
        {"histories": {s: runs.history(s) for s in settings if runs.history(s)}},
        title="Seed 002 on Fashion-MNIST: plain, keep 0.25, five layers",
        caption="seed 002 curves",
    )


def _findings(lines: dict[str, Line]) -> list[Text]:
    return [
        _capacity_finding(lines),
        _keep_finding(lines),
        _l2_finding(lines),
        _batch_finding(lines),
        _depth_finding(lines["Depth"]),
    ]


def _rho(line: Line) -> float | None:
    return rank_correlation(line.seed, line.ours)


def _capacity_finding(lines: dict[str, Line]) -> Text:
    hidden = lines["Hidden units"]
    return Text(
        "Training length and width: our validation accuracy ranks like the seed's with rank "
        "correlations {slow:.2f} (iterations, slow rate), {fast:.2f} (iterations, fast rate) "
        "and {hidden:.2f} (hidden units; our best {ours_best}, the seed's {seed_best}).",
        {
            "slow": _rho(lines["Iterations, slow learning rate"]),
            "fast": _rho(lines["Iterations, 10x learning rate"]),
            "hidden": _rho(hidden),
            "ours_best": _best(hidden.labels, hidden.ours),
            "seed_best": _best(hidden.labels, hidden.seed),
        },
    )


def _cost(line: Line) -> tuple[float | None, float]:
    """Points lost from the last row of a sweep (its default) to the first: ours, the seed's."""
    ours = None if None in (line.ours[0], line.ours[-1]) else line.ours[-1] - line.ours[0]
    return ours, line.seed[-1] - line.seed[0]


def _keep_finding(lines: dict[str, Line]) -> Text:
    narrow, wide = (lines[f"Keep probability, {width} units"] for width in KEEP)
    (ours_narrow, seed_narrow), (ours_wide, seed_wide) = _cost(narrow), _cost(wide)
    return Text(
        "Dropout: keep probability 0.25 costs us {ours_narrow:.1f} and {ours_wide:.1f} points "
        "(50 and 100 units) against the seed's {seed_narrow:.1f} and {seed_wide:.1f}; rank "
        "correlations {rho_narrow:.2f} and {rho_wide:.2f}.",
        {
            "ours_narrow": ours_narrow,
            "ours_wide": ours_wide,
            "seed_narrow": seed_narrow,
            "seed_wide": seed_wide,
            "rho_narrow": _rho(narrow),
            "rho_wide": _rho(wide),
        },
    )


def _l2_finding(lines: dict[str, Line]) -> Text:
    wide = lines["L2 strength lambda, 100 units"]
    ours, seed = wide.ours, wide.seed
    return Text(
        "L2: the seed's lambdas suit raw CIFAR pixels; on [0, 1] inputs lambda 0.25 moves our "
        "validation accuracy by {ours_cost:+.1f} points at 100 units (the seed's own table: "
        "{seed_cost:+.1f}), and lambda 0.75 and 1.0 end at {strong:.1f}% and {strongest:.1f}% "
        "(chance is {chance:.0f}%).",
        {
            "ours_cost": None if None in ours[:2] else ours[1] - ours[0],
            "seed_cost": seed[1] - seed[0],
            "strong": ours[3],
            "strongest": ours[4],
            "chance": 100 * CHANCE,
        },
    )


def _batch_finding(lines: dict[str, Line]) -> Text:
    narrow, wide = (lines[f"Batch size (4000 iterations), {width} units"] for width in BATCH)
    rhos = [_rho(narrow), _rho(wide)]
    same = all(rho is not None and rho > SAME_ORDER for rho in rhos)
    return Text(
        "Batch size: the seed's ordering {outcome} (rank correlations {narrow:.2f} and "
        "{wide:.2f}); our best batch is {ours_narrow} and {ours_wide}, the seed's "
        "{seed_narrow} and {seed_wide}. With the iteration count fixed, a larger batch also "
        "sees more data.",
        {
            "outcome": "carries over" if same else "does not carry over",
            "narrow": rhos[0],
            "wide": rhos[1],
            "ours_narrow": _best(narrow.labels, narrow.ours),
            "ours_wide": _best(wide.labels, wide.ours),
            "seed_narrow": _best(narrow.labels, narrow.seed),
            "seed_wide": _best(wide.labels, wide.seed),
        },
    )


def _depth_finding(depth: Line) -> Text:
    deep = depth.ours[-2:]
    values = {"four": deep[0], "five": deep[1], "seed": depth.seed[-1], "chance": 100 * CHANCE}
    if None in deep:
        return Text("The deep networks have no result.")
    if min(deep) < COLLAPSED:
        return Text(
            "Our 4- and 5-layer networks collapse too ({four:.1f}% and {five:.1f}% "
            "validation accuracy; the seed's {seed:.1f}%).",
            values,
        )
    return Text(
        "Depth: our 4- and 5-layer networks train normally ({four:.1f}% and {five:.1f}% "
        "validation accuracy), so the seed's collapse to {seed:.1f}% is not a property of "
        "depth. Its explanation, overfitting, is contradicted by its own number: {seed:.1f}% is "
        "below chance on 10 classes ({chance:.0f}%), which is a failed optimisation "
        "(initialisation, learning rate), not a network that fits its training data too well.",
        values,
    )
