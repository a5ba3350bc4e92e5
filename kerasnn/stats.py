"""Seed noise: mean, spread and intervals over repeated runs, and whether two configurations differ."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from scipy import stats

# Two-sided level of the intervals and of the test between configurations.
CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and a t-interval of the mean of a few runs."""

    mean: float
    sd: float
    n: int
    low: float
    high: float

    def __str__(self) -> str:
        # One run has no spread to print: "± nan" would read as a measurement.
        if self.n < 2:
            return f"{self.mean:.4f} (1 run)"
        return plus_minus(self.mean, self.sd)


def plus_minus(mean: float, sd: float | None, spec: str = ".4f", unit: str = "") -> str:
    """ "mean ± sd" in `spec` (a format spec, "+" only on the mean), the mean alone without
    an sd: the one way every report writes a spread."""
    text = f"{format(mean, spec)}{unit}"
    if sd is None or math.isnan(sd):
        return text
    return f"{text} ± {format(sd, spec.replace('+', ''))}{unit}"


def spread(values: Sequence[float]) -> Spread:
    """The spread of `values` (one per seed); sd and interval are NaN for a single value."""
    values = [float(value) for value in values]
    n = len(values)
    if n == 0:
        raise ValueError("spread of no values")
    mean = sum(values) / n
    if n == 1:
        return Spread(mean, math.nan, 1, math.nan, math.nan)
    sd = math.sqrt(sum((value - mean) ** 2 for value in values) / (n - 1))
    # A plain float (SciPy's is NumPy's), so that a Spread reads as numbers.
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return Spread(mean, sd, n, mean - half, mean + half)


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """The seed standard deviation pooled over configurations (each weighted by n - 1)."""
    squares = dof = 0.0
    for group in groups:
        if len(group) > 1:
            squares += (len(group) - 1) * spread(group).sd ** 2
            dof += len(group) - 1
    return math.sqrt(squares / dof) if dof else math.nan


# What a comparison of `first` against `second` concludes: the one rule callers use.
OUTCOMES = ("better", "worse", "tied", "undecided")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Welch's t-test of `first` against `second`: the difference of means and its interval.

    `outcome` is "better" or "worse" when the difference is outside the seed noise, "tied"
    when it is inside, and "undecided" when a side has fewer than two runs: one run has no
    spread, so the noise is unknown and neither a tie nor a difference can be claimed.
    """

    difference: float
    low: float
    high: float
    p_value: float
    outcome: str
    runs: tuple[int, int]  # Runs of (first, second).

    @property
    def distinguishable(self) -> bool:
        return self.outcome in ("better", "worse")

    def verdict(self) -> str:
        """ "better by X ± Y", "tied within noise" or "undecided" and why, naming the test."""
        half = (self.high - self.low) / 2
        if self.outcome == "undecided":
            return f"undecided (difference {self.difference:+.4f}; {_too_few(*self.runs)})"
        if self.distinguishable:
            return (
                f"{self.outcome} by {abs(self.difference):.4f} ± {half:.4f} "
                f"(Welch's t-test, p = {self.p_value:.3f}; ± is the 95% interval)"
            )
        return (
            f"tied within noise (difference {self.difference:+.4f} ± {half:.4f}, "
            f"Welch's t-test p = {self.p_value:.2f})"
        )


def _too_few(first: int, second: int) -> str:
    def runs(n):
        return "one run" if n == 1 else f"{n} runs"

    sides = "one run a side" if first == second == 1 else f"{runs(first)} against {runs(second)}"
    return f"{sides}: cannot be told from noise"


def compare(first: Sequence[float], second: Sequence[float]) -> Comparison:
    """Welch's t-test (unequal variances) of mean(first) - mean(second), two-sided.

    With fewer than two runs on a side the comparison is undecided, with no interval and
    no p-value. With no spread at all on either side, values that differ are certainly
    different and equal ones tied.
    """
    a, b = spread(first), spread(second)
    difference = a.mean - b.mean
    runs = (a.n, b.n)
    if a.n < 2 or b.n < 2:
        return Comparison(difference, math.nan, math.nan, math.nan, "undecided", runs)
    variance = a.sd**2 / a.n + b.sd**2 / b.n
    if variance == 0:
        p_value, half = (0.0 if difference else 1.0), 0.0
    else:
        dof = variance**2 / ((a.sd**2 / a.n) ** 2 / (a.n - 1) + (b.sd**2 / b.n) ** 2 / (b.n - 1))
        p_value = float(2 * stats.t.sf(abs(difference) / math.sqrt(variance), dof))
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * math.sqrt(variance)
    outcome = "tied"
    if p_value < 1 - CONFIDENCE:
        outcome = "better" if difference > 0 else "worse"
    return Comparison(difference, difference - half, difference + half, p_value, outcome, runs)
