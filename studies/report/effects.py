"""The effects around the winner in the report: the summary's section, effects.png, effects.csv.

Data first: `studies.engine.effects.results` returns the measured points and their steps
from the winner; this module only words and draws them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
from matplotlib.figure import Figure
from optuna.distributions import CategoricalDistribution

from kerasnn.plots import save
from studies.engine.effects import (
    MEASURES,
    WINNER,
    Difference,
    Effects,
    Point,
    shown,
)
from studies.report.markdown import figure, table

LABELS = {"gap": "the gap", "val_accuracy": "validation accuracy"}
AXES = {"gap": "gap (train - validation)", "val_accuracy": "validation accuracy"}
HEADING = "## Effects around the winner"
FIGURE_CAPTION = (
    "each hyperparameter's value against the gap and validation accuracy (mean ± sd over the "
    "seeds, the winner starred)"
)
NOT_MEASURED = (
    "Not measured: `--effects-seeds N` varies each scientific hyperparameter alone around the "
    "winner, each variant over N fresh seeds (docs/effects.md)."
)
INTRO = (
    "Each scientific hyperparameter varied alone around trial {source}'s configuration, every "
    "other one held at its values; each variant trained with the {count} seeds {seeds}, which "
    "neither the search nor the confirmation used (the test set is not evaluated). A step is "
    "the variant's mean minus the winner's over these seeds, ± its 95% interval (Welch's "
    "t-test); *tied* where the interval cannot tell it from seed noise, *undecided* with fewer "
    "than two runs a side."
)


def lines(effects: Effects | None, answer) -> list[str]:
    """The summary's section: [] without a confirmed answer, a line when not measured."""
    if answer is None:
        return []
    if effects is None:
        return [HEADING, "", NOT_MEASURED, ""]
    seeds = ", ".join(map(str, effects.seeds))
    result = [
        HEADING,
        "",
        INTRO.format(source=effects.source, count=len(effects.seeds), seeds=seeds),
    ]
    if effects.source != answer.winner.source:
        result.append(
            f"These were measured around trial {effects.source}; the winner is now trial "
            f"{answer.winner.source} (a run with `--effects-seeds` measures them around it)."
        )
    design = _design_lines(effects)
    result += ["", *design, ""] if design else [""]
    for name in effects.design.sweeps:
        result += [f"- {sentence}" for sentence in sentences(effects, name)]
    return result + [
        "",
        effects_table(effects),
        "",
        figure("effects.png", FIGURE_CAPTION),
        "",
        f"effects.png: {FIGURE_CAPTION}; every run: effects.csv.",
        "",
    ]


def _design_lines(effects: Effects) -> list[str]:
    design = effects.design
    result = []
    if design.skipped:
        result.append(
            f"Not varied: {', '.join(design.skipped)} (the winner's configuration does not use "
            "them)."
        )
    if design.merged:
        same = ", ".join(f"`{name}` as `{kept}`" for name, kept in design.merged.items())
        result.append(
            f"Trained once, as the same configuration (a batch is clamped to the "
            f"{design.train_size:,} training images): {same}."
        )
    if design.references:
        values = ", ".join(f"`{name}={value}`" for name, value in design.references.items())
        result.append(
            "Variants that need a hyperparameter the winner lacks take its reference value (the "
            f"middle of its range on its scale, or its first choice): {values}."
        )
    return result


def sentences(effects: Effects, name: str) -> list[str]:
    """One sentence per step away from the winner's value of `name`."""
    winner_value = effects.winner.variant.params[name]
    return [
        sentence(name, value, winner_value, point)
        for value, point in effects.sweep(name)
        if point.variant.name != WINNER
    ]


def sentence(name: str, value, winner_value, point: Point) -> str:
    start = f"around the winner, {name} {shown(value)} instead of {shown(winner_value)}"
    if point.versus_winner is None:
        return f"{start}: not measured yet"
    gap, accuracy = (_phrase(key, point.versus_winner[key]) for key in MEASURES)
    return f"{start} {gap} and {accuracy}"


def _phrase(key: str, step: Difference) -> str:
    difference, half = step.comparison.difference, _half(step)
    if step.outcome == "undecided":
        return f"changes {LABELS[key]} by {difference:+.4f} (undecided: fewer than two runs a side)"
    if step.outcome == "tied":
        return f"changes {LABELS[key]} by {difference:+.4f} ± {half:.4f} (tied)"
    verb = "raises" if step.outcome == "higher" else "lowers"
    return f"{verb} {LABELS[key]} by {abs(difference):.4f} ± {half:.4f}"


def _half(step: Difference) -> float:
    return (step.comparison.high - step.comparison.low) / 2


def effects_table(effects: Effects) -> str:
    header = ["hyperparameter", "value", "runs", "gap", "validation accuracy"]
    header += ["gap − winner", "validation accuracy − winner"]
    rows = []
    for name in effects.design.sweeps:
        for value, point in effects.sweep(name):
            rows.append([name, shown(value), *_cells(point)])
    return table(header, rows, ["---", "---", "---:", "---", "---", "---", "---"])


def _cells(point: Point) -> list:
    if point.spreads is None:
        return [0, "", "", "", ""]
    cells = [point.spreads["gap"].n, *(str(point.spreads[key]) for key in MEASURES)]
    if point.variant.name == WINNER:
        return [*cells, "winner", "winner"]
    if point.versus_winner is None:
        return [*cells, "", ""]  # The winner has no runs yet.
    return [*cells, *(_step_cell(point.versus_winner[key]) for key in MEASURES)]


def _step_cell(step: Difference) -> str:
    if step.outcome == "undecided":
        return f"{step.comparison.difference:+.4f} (undecided)"
    return f"{step.comparison.difference:+.4f} ± {_half(step):.4f} ({step.outcome})"


def plot(effects: Effects, path: Path | None = None) -> Figure:
    """One row per hyperparameter: the gap and validation accuracy (mean ± sd) against its
    value, the winner's value starred; saved to `path` when one is given."""
    names = list(effects.design.sweeps)
    drawn = Figure(figsize=(10, 2.6 * max(1, len(names))))
    axes = drawn.subplots(max(1, len(names)), 2, squeeze=False)
    for row, name in enumerate(names):
        for column, key in enumerate(MEASURES):
            _draw_sweep(axes[row][column], effects, name, key)
    drawn.suptitle(f"Each hyperparameter alone around trial {effects.source}", fontsize=10)
    drawn.tight_layout()
    if path is not None:
        save(drawn, path)
    return drawn


def _draw_sweep(axis, effects: Effects, name: str, key: str) -> None:
    distribution = effects.design.distributions[name]
    categorical = isinstance(distribution, CategoricalDistribution)
    measured = [(value, point) for value, point in effects.sweep(name) if point.spreads]
    positions = {value: index for index, value in enumerate(effects.design.sweeps[name])}
    x = [positions[value] if categorical else value for value, _ in measured]
    means = [point.spreads[key].mean for _, point in measured]
    sds = [point.spreads[key].sd if point.spreads[key].n > 1 else 0.0 for _, point in measured]
    # Categories have no order between them: no line joins them.
    style = "o" if categorical else "o-"
    axis.errorbar(x, means, yerr=sds, fmt=style, capsize=3, color="tab:blue")
    for (_, point), x_value, mean in zip(measured, x, means, strict=True):
        if point.variant.name == WINNER:
            axis.scatter([x_value], [mean], marker="*", s=160, color="tab:red", label="winner")
    if categorical:
        axis.set_xticks(list(positions.values()), [str(value) for value in positions])
    elif distribution.log:
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_xlabel(name)
    axis.set_ylabel(AXES[key])
    if any(point.variant.name == WINNER for _, point in measured):
        axis.legend(loc="best", fontsize=8)
