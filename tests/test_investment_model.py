"""perfkit.investment.model: the final value's distribution for whole-item counts (Poisson and negative
binomial), checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfkit import investment


def test_count_median_by_hand(catalogue):
    """A count on a straight line (linear profile for counts): 3 of 12 items by March, so the negative
    binomial of the remaining items has mean 9; its median, added to the 3 done, is the projection, and
    P(reach 12) is the distribution's upper tail at the 9 still needed."""
    from scipy.stats import nbinom, poisson

    A, T = np.array([3.0]), np.array([12.0])
    for var in (9.0, 30.0):  # Poisson, then over-dispersed
        low, high, p, _es, median = investment._count_distribution(A, np.array([9.0]), np.array([var]), T)
        if var <= 9:
            dist = poisson(9.0)
        else:
            dist = nbinom(81 / (var - 9), 9 / var)
        assert median[0] == 3 + dist.ppf(0.5) and median[0] == round(median[0])
        assert (low[0], high[0]) == (3 + dist.ppf(0.1), 3 + dist.ppf(0.9))
        assert p[0] == pytest.approx(dist.sf(8))  # P(N ≥ 9)


def test_whole_item_counts_poisson_and_negative_binomial_by_hand():
    """5 items done, 8 needed, 3 more expected. Variance 3 (= the mean): Poisson(3), so
    P(N ≥ 3) = 1 − e⁻³(1 + 3 + 4.5) and E[(3 − N)+] = P(N ≤ 0) + P(N ≤ 1) + P(N ≤ 2) = e⁻³(1 + 4 + 8.5).
    Variance 6: negative binomial with n = 3² / (6 − 3) = 3, p = 3 / 6 = ½, pmf 1/8, 3/16, 3/16, …, so
    P(N ≥ 3) = 1 − (1/8 + 3/16 + 3/16) = ½ and the 80% interval is 5 + [0, 6] (cdf 0.125 … 0.855, 0.910)."""
    one = np.array([1.0])
    low, high, p, es, median = investment._count_distribution(5 * one, 3 * one, 3 * one, 8 * one)
    assert p[0] == pytest.approx(1 - math.exp(-3) * 8.5)
    assert es[0] == pytest.approx(math.exp(-3) * 13.5)
    assert median[0] == 8.0  # Poisson(3): P(N ≤ 2) = 0.42 < ½ ≤ P(N ≤ 3) = 0.65, so 5 + 3
    low, high, p, es, median = investment._count_distribution(5 * one, 3 * one, 6 * one, 8 * one)
    assert p[0] == pytest.approx(0.5)
    assert (low[0], high[0]) == (5.0, 11.0)
    assert es[0] == pytest.approx(0.125 + 0.3125 + 0.5)
    assert median[0] == 7.0  # P(N ≤ 2) = ½ exactly: the median is 2, so 5 + 2
