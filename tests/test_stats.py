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


def test_a_single_run_has_no_spread():
    result = spread([0.9])
    assert result.mean == 0.9 and math.isnan(result.sd) and math.isnan(result.low)


def test_pooled_sd_weights_each_configuration_by_its_degrees_of_freedom():
    assert pooled_sd([[1.0, 3.0], [2.0, 2.0, 2.0]]) == pytest.approx(math.sqrt(2 / 3))


def test_a_clear_winner_is_better_by_a_difference_with_its_interval():
    comparison = compare([0.900, 0.901, 0.899], [0.880, 0.881, 0.879])
    expected = scipy_stats.ttest_ind([0.900, 0.901, 0.899], [0.880, 0.881, 0.879], equal_var=False)
    assert comparison.difference == pytest.approx(0.02)
    assert comparison.p_value == pytest.approx(expected.pvalue)
    assert comparison.distinguishable
    assert comparison.low > 0
    assert comparison.verdict().startswith("better by 0.0200 ± ")
    assert "Welch" in comparison.verdict()


def test_a_difference_inside_the_seed_noise_is_a_tie():
    comparison = compare([0.8794, 0.8760, 0.8821, 0.8801], [0.8778, 0.8745, 0.8810, 0.8779])
    assert not comparison.distinguishable
    assert comparison.low < 0 < comparison.high
    assert comparison.verdict().startswith("tied within noise")


def test_one_run_per_side_can_never_be_told_apart():
    comparison = compare([0.95], [0.10])
    assert not comparison.distinguishable
