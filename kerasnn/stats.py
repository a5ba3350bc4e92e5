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
        return f"{self.mean:.4f} ± {self.sd:.4f}"


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
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
    return Spread(mean, sd, n, mean - half, mean + half)


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """The seed standard deviation pooled over configurations (each weighted by n - 1)."""
    squares = dof = 0.0
    for group in groups:
        if len(group) > 1:
            squares += (len(group) - 1) * spread(group).sd ** 2
            dof += len(group) - 1
    return math.sqrt(squares / dof) if dof else math.nan


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Welch's t-test of `first` against `second`: the difference of means and its interval."""

    difference: float
    low: float
    high: float
    p_value: float

    @property
    def distinguishable(self) -> bool:
        return self.p_value < 1 - CONFIDENCE

    def verdict(self) -> str:
        """ "better by X ± Y" or "tied within noise", naming the test."""
        half = (self.high - self.low) / 2
        if self.distinguishable:
            return (
                f"better by {self.difference:.4f} ± {half:.4f} "
                f"(Welch's t-test, p = {self.p_value:.3f}; ± is the 95% interval)"
            )
        return (
            f"tied within noise (difference {self.difference:+.4f} ± {half:.4f}, "
            f"Welch's t-test p = {self.p_value:.2f})"
        )


def compare(first: Sequence[float], second: Sequence[float]) -> Comparison:
    """Welch's t-test (unequal variances) of mean(first) - mean(second), two-sided.

    With fewer than two runs on a side, or no spread at all, nothing can be told apart:
    the comparison is a tie with an infinite interval, unless the values differ while both
    sides are exactly constant (then the difference is certain).
    """
    a, b = spread(first), spread(second)
    difference = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return Comparison(difference, -math.inf, math.inf, 1.0)
    variance = a.sd**2 / a.n + b.sd**2 / b.n
    if variance == 0:
        p_value = 0.0 if difference else 1.0
        return Comparison(difference, difference, difference, p_value)
    dof = variance**2 / ((a.sd**2 / a.n) ** 2 / (a.n - 1) + (b.sd**2 / b.n) ** 2 / (b.n - 1))
    t = difference / math.sqrt(variance)
    p_value = 2 * stats.t.sf(abs(t), dof)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * math.sqrt(variance)
    return Comparison(difference, difference - half, difference + half, float(p_value))
