"""Verdicts on plain numbers: a seed's figure against ours, a trend, a claim, a tie over seeds.

Vocabulary: *reproduced* (within tolerance, or the claim holds), *same trend* (outside
tolerance but moving the same way, or the claim holds in part), *differs* (neither), *tied*
(two configurations whose means over seeds are closer than the seeds let us tell apart) and
*not run* (a figure is missing, or a comparison has too few seeds to be judged).
"""

from __future__ import annotations

import dataclasses

from kerasnn import stats
from studies.reproduction.claims import MISSING

# Two accuracies closer than this (as fractions) count as the same value: about the spread
# between seeds of one configuration on 10,000 validation images.
ACCURACY_TOLERANCE = 0.01
# A change along a single-seed sweep smaller than this is "flat" when trends are compared:
# twice the run-to-run standard deviation of about 0.25 points.
FLAT = 0.005
# A comparison closer than the noise rests on at least this many seeds per configuration.
MIN_SEEDS = 3
CHANCE = 0.1  # The accuracy of guessing one of ten classes.


@dataclasses.dataclass(frozen=True)
class Sample:
    """One measure of one configuration, once per seed."""

    values: tuple[float, ...] = ()

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return stats.spread(self.values).mean if self.values else None

    @property
    def sd(self) -> float | None:
        """The sample standard deviation over seeds (None below two seeds)."""
        return stats.spread(self.values).sd if self.n >= 2 else None

    def __format__(self, spec: str) -> str:
        """The mean in `spec`, followed by "± sd" where there are several seeds."""
        if not self.n:
            return MISSING
        return stats.plus_minus(self.mean, self.sd, spec)


def enough_seeds(samples, minimum: int = MIN_SEEDS) -> bool:
    return all(sample.n >= minimum for sample in samples)


def order(first: Sample, second: Sample) -> int | None:
    """-1 if `first` is below `second`, 1 if above, 0 if tied; None if either is missing.

    Between configurations run with several seeds, the project's one rule decides: tied
    unless Welch's t-test tells them apart at 95% (`kerasnn.stats.compare`). A single run
    has no spread to judge by, so along a single-seed sweep a change smaller than FLAT
    (twice the run-to-run noise) counts as flat, and so as tied.
    """
    if not first.n or not second.n:
        return None
    comparison = stats.compare(first.values, second.values)
    if comparison.outcome != "undecided":
        return {"worse": -1, "tied": 0, "better": 1}[comparison.outcome]
    difference = first.mean - second.mean
    if difference == 0 or abs(difference) < FLAT:
        return 0
    return -1 if difference < 0 else 1


def lower_verdict(first: Sample, second: Sample) -> str:
    """The claim "first is lower than second", judged by `order`."""
    outcome = order(first, second)
    if outcome is None:
        return "not run"
    return {-1: "reproduced", 0: "tied", 1: "differs"}[outcome]


def lowest(samples: dict[str, Sample]) -> tuple[str, list[str]]:
    """The name with the lowest mean and the names tied with it (itself included)."""
    known = {name: sample for name, sample in samples.items() if sample.n}
    best = min(known, key=lambda name: known[name].mean)
    tied = [
        name for name, sample in known.items() if name == best or order(sample, known[best]) == 0
    ]
    return best, tied


def least_verdict(samples: dict[str, Sample], claimed: str, partly: bool) -> str:
    """The claim "`claimed` has the lowest value of `samples`" (`partly`: it holds in part)."""
    if any(not sample.n for sample in samples.values()):
        return "not run"
    best, tied = lowest(samples)
    if best == claimed and tied == [claimed]:
        return "reproduced"
    if claimed in tied:
        return "tied"
    return "same trend" if partly else "differs"


def combined(outcomes: list[str]) -> str:
    """One verdict for a claim made of several comparisons."""
    if "not run" in outcomes:
        return "not run"
    if len(set(outcomes)) == 1:
        return outcomes[0]
    if "differs" in outcomes:
        return "same trend" if "reproduced" in outcomes else "differs"
    return "same trend" if "reproduced" in outcomes else "tied"


def verdict(
    seed: float | None,
    ours: float | None,
    same_trend: bool | None = None,
    tolerance: float = ACCURACY_TOLERANCE,
) -> str:
    """ "reproduced" within tolerance, else "same trend" or "differs"."""
    if ours is None:
        return "not run"
    if seed is not None and abs(ours - seed) <= tolerance:
        return "reproduced"
    return "same trend" if same_trend else "differs"


def claim_verdict(holds: bool | None, partly: bool = False) -> str:
    if holds is None:
        return "not run"
    return "reproduced" if holds else ("same trend" if partly else "differs")


def _direction(change: float | None, flat: float) -> int | None:
    if change is None:
        return None
    return 0 if abs(change) < flat else (1 if change > 0 else -1)


def trend_verdicts(
    seed_values: list[float], our_values: list, flat_seed: float = FLAT, flat_ours: float = FLAT
) -> list[bool | None]:
    """Per row of a sweep: does ours move the same way as the seed from the previous row?

    The first row is compared on the step to the next row. A change smaller than the flat
    band counts as no change. None where a value is missing.
    """
    verdicts = []
    count = len(seed_values)
    for index in range(count):
        other = index - 1 if index > 0 else min(1, count - 1)
        if other == index or our_values[index] is None or our_values[other] is None:
            verdicts.append(None)
            continue
        first, second = sorted((index, other))
        seed_way = _direction(seed_values[second] - seed_values[first], flat_seed)
        our_way = _direction(our_values[second] - our_values[first], flat_ours)
        verdicts.append(seed_way == our_way)
    return verdicts


def rank_correlation(first: list, second: list) -> float | None:
    """Spearman's rank correlation of two equally long lists (None if a value is missing)."""
    if any(value is None for value in [*first, *second]) or len(first) < 3:
        return None
    import pandas as pd

    ranks = pd.DataFrame({"a": first, "b": second}).rank()
    if ranks["a"].std() == 0 or ranks["b"].std() == 0:
        return None
    return float(ranks["a"].corr(ranks["b"]))
