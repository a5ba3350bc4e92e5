"""Tests of kerasnn.stats: spreads over seeds and telling two configurations apart."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from kerasnn.stats import compare, pooled_sd, spread


def test_spread_gives_mean_sample_sd_and_a_t_interval():
    result = spread([0.88, 0.89, 0.90])
    assert result.mean == pytest.approx(0.89)
    assert result.sd == pytest.approx(0.01)
    half = scipy_stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert (result.low, result.high) == pytest.approx((0.89 - half, 0.89 + half))


def test_a_single_run_has_no_spread_and_prints_its_mean_alone():
    result = spread([0.9])
    assert result.mean == 0.9 and math.isnan(result.sd) and math.isnan(result.low)
    assert str(result) == "0.9000 (1 run)"
    assert str(spread([0.88, 0.89, 0.90])) == "0.8900 ± 0.0100"


def test_pooled_sd_weights_each_configuration_by_its_degrees_of_freedom():
    assert pooled_sd([[1.0, 3.0], [2.0, 2.0, 2.0]]) == pytest.approx(math.sqrt(2 / 3))


def test_a_clear_winner_is_better_by_a_difference_with_its_interval():
    comparison = compare([0.900, 0.901, 0.899], [0.880, 0.881, 0.879])
    expected = scipy_stats.ttest_ind([0.900, 0.901, 0.899], [0.880, 0.881, 0.879], equal_var=False)
    assert comparison.difference == pytest.approx(0.02)
    assert comparison.p_value == pytest.approx(expected.pvalue)
    assert comparison.outcome == "better" and comparison.distinguishable
    assert comparison.low > 0
    assert comparison.verdict().startswith("better by 0.0200 ± ")
    assert "Welch" in comparison.verdict()


def test_a_clear_loser_is_worse_by_the_same_amount():
    comparison = compare([0.880, 0.881, 0.879], [0.900, 0.901, 0.899])
    assert comparison.outcome == "worse" and comparison.distinguishable
    assert comparison.high < 0
    assert comparison.verdict().startswith("worse by 0.0200 ± ")


def test_a_difference_inside_the_seed_noise_is_a_tie():
    comparison = compare([0.8794, 0.8760, 0.8821, 0.8801], [0.8778, 0.8745, 0.8810, 0.8779])
    assert comparison.outcome == "tied" and not comparison.distinguishable
    assert comparison.low < 0 < comparison.high
    assert comparison.verdict().startswith("tied within noise")


def test_runs_without_any_spread_differ_when_their_values_do_and_tie_when_equal():
    assert compare([0.9, 0.9], [0.8, 0.8]).outcome == "better"
    assert compare([0.9, 0.9], [0.9, 0.9]).outcome == "tied"


def test_one_run_per_side_is_undecided_never_a_tie_nor_a_difference():
    # The case that read "tied within noise (± inf, p = 1.00)": 0.55 apart, one run each.
    comparison = compare([0.95], [0.40])
    assert comparison.outcome == "undecided" and not comparison.distinguishable
    assert comparison.difference == pytest.approx(0.55)
    assert math.isnan(comparison.low) and math.isnan(comparison.p_value)
    verdict = comparison.verdict()
    assert verdict == "undecided (difference +0.5500; one run a side: cannot be told from noise)"
    assert "tied" not in verdict and "±" not in verdict and "inf" not in verdict


def test_one_run_on_one_side_is_undecided_too():
    comparison = compare([0.90, 0.91, 0.92], [0.80])
    assert comparison.outcome == "undecided"
    assert "3 runs against one run: cannot be told from noise" in comparison.verdict()
