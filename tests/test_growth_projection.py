"""perfkit.growth_projection: `project_annual_growth` on synthetic series with known answers (figures,
intervals, odds, required growth on the official basis, edges) and `project_many` in worker processes."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from growth_cases import FAST, steady

from perfkit import growth


def test_steady_growth_is_found_with_honest_figures():
    # 2% noise: a likelihood with a clear optimum (on a near-noise-free series whether an optimizer reports
    # convergence depends on the CPU's BLAS kernels; the figures asserted here do not depend on it)
    s = steady(years=7, growth_pct=10.0, noise=0.02)
    proj = growth.project_annual_growth(s, "2019-06", (13.0, 14.0), repetitions=500)
    assert proj.model in growth.CANDIDATES
    assert proj.periods_observed == 5  # 1—2月, 3, 4, 5, 6
    assert abs(proj.projected_growth_pct - 10.0) < 2.5
    low, high = proj.interval_80
    assert low < proj.projected_growth_pct < high
    assert proj.interval_95[0] <= low and proj.interval_95[1] >= high
    assert proj.p_reach_low < 0.3 and proj.p_reach_high <= proj.p_reach_low
    # the YTD figures are the data's own
    ytd = s["2019-01":"2019-06"].sum()
    assert proj.ytd_total == pytest.approx(ytd)
    assert proj.ytd_growth_pct == pytest.approx((ytd / s["2018-01":"2018-06"].sum() - 1) * 100)
    # the required growth of the rest of the year lands the year exactly on each bound
    prev = s[s.index.year == 2018].sum()
    prev_rest = s[(s.index.year == 2018) & (s.index.month > 6)].sum()
    for bound, req in ((13.0, proj.required_growth_low_pct), (14.0, proj.required_growth_high_pct)):
        assert (ytd + prev_rest * (1 + req / 100)) / prev - 1 == pytest.approx(bound / 100)
    # every candidate is backtested: none is dropped for want of convergence
    assert set(proj.backtest) == set(growth.CANDIDATES)
    assert all(rec["n"] > 0 for rec in proj.backtest.values())
    path = proj.path
    assert list(path["label"]) == growth.PERIOD_LABELS and path["observed"].sum() == 5
    assert path["growth_pct"].iloc[-1] == pytest.approx(proj.projected_growth_pct)
    assert path["growth_pct"].iloc[4] == pytest.approx(proj.ytd_growth_pct)


def test_band_probabilities_follow_the_band():
    s = steady(years=6, growth_pct=10.0, noise=0.01)
    below = growth.project_annual_growth(s, "2018-05", (4.0, 5.0), **FAST)
    above = growth.project_annual_growth(s, "2018-05", (20.0, 21.0), **FAST)
    assert below.p_reach_low > 0.95 and above.p_reach_low < 0.05
    assert below.projected_growth_pct == pytest.approx(above.projected_growth_pct)


def test_data_after_as_of_is_ignored():
    s = steady(years=6)
    full = growth.project_annual_growth(s, "2017-04", (9.0, 10.0), **FAST)
    cut = growth.project_annual_growth(s[:"2017-04"], "2017-04", (9.0, 10.0), **FAST)
    assert full.to_dict() == cut.to_dict()


def test_official_basis_rebases_the_previous_year():
    s = steady(years=6)
    levels = growth.project_annual_growth(s, "2018-07", (9.0, 10.0), **FAST)
    official = levels.recomputed_ytd_growth_pct + 1.0
    proj = growth.project_annual_growth(s, "2018-07", (9.0, 10.0), official_ytd_growth_pct=official, **FAST)
    assert proj.basis == "official" and levels.basis == "levels"
    assert proj.ytd_growth_pct == official
    factor = (1 + levels.recomputed_ytd_growth_pct / 100) / (1 + official / 100)
    assert proj.projected_total == pytest.approx(levels.projected_total)
    expected = ((1 + levels.projected_growth_pct / 100) / factor - 1) * 100
    assert proj.projected_growth_pct == pytest.approx(expected)
    assert proj.projected_growth_pct > levels.projected_growth_pct + 0.8
    assert proj.path["growth_pct"].iloc[5] == pytest.approx(official)


def test_required_growth_on_the_official_basis_is_pinned_by_hand():
    # Last year: 100 a month to June, 120 after (1320); this year 110 a month to June: +10% on levels, while
    # the office publishes +8% on its comparable basis, so last year is re-based by 1.10 / 1.08. On that
    # basis the rest of the year must grow by r with 1.13 × B = 1.08 × H1 + (1 + r) × H2, B = H1 + H2 the
    # re-based year (H1 = 600, H2 = 720 re-based alike, so the factor cancels out of r):
    # 1.13 × 1320 = 1.08 × 600 + (1 + r) × 720 → r = 17.1667% for the low bound; 1.14 → r = 19%.
    months = pd.period_range("2018-01", "2019-06", freq="M")
    s = pd.Series([100.0] * 6 + [120.0] * 6 + [110.0] * 6, index=months)
    proj = growth.project_annual_growth(s, "2019-06", (13.0, 14.0), official_ytd_growth_pct=8.0, **FAST)
    assert proj.basis == "official" and proj.model == "naive_ytd"  # short history; the formula is model-free
    assert proj.recomputed_ytd_growth_pct == pytest.approx(10.0)
    assert proj.required_growth_low_pct == pytest.approx((1.13 * 1320 - 1.08 * 600) / 720 * 100 - 100)
    assert proj.required_growth_low_pct == pytest.approx(17.1666667)
    assert proj.required_growth_high_pct == pytest.approx(19.0)
    # the naive projection carries the year-to-date pace: 1452 on levels, +10%, which is +8% officially
    assert proj.projected_total == pytest.approx(660 + 1.1 * 720)
    assert proj.projected_growth_pct == pytest.approx(8.0)
    # on levels (no official figure) the same data need less: 1.13 × 1320 = 660 + (1 + r) × 720 → 15.5%
    levels = growth.project_annual_growth(s, "2019-06", (13.0, 14.0), **FAST)
    assert levels.basis == "levels"
    assert levels.required_growth_low_pct == pytest.approx(15.5)
    assert levels.required_growth_high_pct == pytest.approx((1.14 * 1320 - 660) / 720 * 100 - 100)


def test_interval_and_probabilities_mean_what_they_say():
    """The 80% interval is the 10th to 90th percentile of the simulated growth: with the band set to it,
    P(growth ≥ low) is 0.9 and P(growth ≥ high) is 0.1 (the same draws: same seed)."""
    s = steady(years=6)
    proj = growth.project_annual_growth(s, "2018-05", (9.0, 10.0), **FAST)
    low, high = proj.interval_80
    at = growth.project_annual_growth(s, "2018-05", (low, high), **FAST)
    assert at.interval_80 == (low, high)
    assert at.p_reach_low == pytest.approx(0.9, abs=2 / FAST["repetitions"])
    assert at.p_reach_high == pytest.approx(0.1, abs=2 / FAST["repetitions"])
    assert at.interval_95[0] < low and at.interval_95[1] > high


def test_a_complete_year_exactly_at_the_band_reaches_it():
    # the whole year published: growth is known (1356 / 1200 − 1 = 13%), so reaching a band that starts at
    # exactly 13% is certain, and one that starts above it impossible
    months = pd.period_range("2018-01", "2019-12", freq="M")
    s = pd.Series([100.0] * 12 + [113.0] * 12, index=months)
    proj = growth.project_annual_growth(s, "2019-12", (13.0, 13.5), **FAST)
    assert proj.model == "complete" and proj.projected_growth_pct == pytest.approx(13.0)
    assert proj.p_reach_low == 1.0 and proj.p_reach_high == 0.0
    assert proj.interval_80 == pytest.approx((13.0, 13.0))


def test_short_history_falls_back_to_naive_ytd():
    s = steady(years=2, start=2018)[:"2019-05"]
    proj = growth.project_annual_growth(s, "2019-05", (9.0, 10.0))
    assert proj.model == "naive_ytd"
    assert "short history" in proj.fallback_reason
    json.dumps(proj.to_dict(), allow_nan=False)  # strict JSON: NaN becomes null
    assert proj.projected_growth_pct == pytest.approx(proj.ytd_growth_pct)


def test_two_full_years_are_enough():
    s = steady(years=3, start=2017)[:"2019-08"]
    proj = growth.project_annual_growth(s, "2019-08", (9.0, 10.0), repetitions=300)
    assert proj.model in growth.CANDIDATES
    assert math.isfinite(proj.projected_growth_pct) and math.isfinite(proj.interval_80[0])
    assert "default" in proj.fallback_reason  # no past year to backtest on


def test_previous_year_must_be_complete():
    s = steady(years=3)
    with pytest.raises(ValueError, match="previous year"):
        growth.project_annual_growth(s.drop(pd.Period("2014-07", "M"))[:"2014-03"], "2015-03", (1, 2))
    with pytest.raises(ValueError, match="positive"):
        growth.project_annual_growth(-s, "2015-03", (1, 2))


def test_complete_year_has_no_uncertainty():
    s = steady(years=5)
    proj = growth.project_annual_growth(s, "2016-12", (5.0, 6.0), **FAST)
    actual = (s[s.index.year == 2016].sum() / s[s.index.year == 2015].sum() - 1) * 100
    assert proj.model == "complete"
    assert proj.projected_growth_pct == pytest.approx(actual)
    assert proj.interval_95[0] == pytest.approx(actual) and proj.interval_95[1] == pytest.approx(actual)


def test_project_many_in_worker_processes_equals_serial():
    import os

    env_before = {k: os.environ.get(k) for k in growth.SINGLE_THREAD_ENV}
    series = {f"s{i}": steady(years=4, growth_pct=5.0 + 3 * i, seed=i) for i in range(3)}
    # `profile` only: the workers run one BLAS thread and this process may run several, and an optimizer on
    # these near-noise-free series can reach another optimum under some OpenBLAS kernels (Prescott); what is
    # tested here is the pool (order, seeds, environment), which needs no optimizer
    kw = {"models": ("profile",), "repetitions": 200}
    serial = growth.project_many(series, "2016-06", (8.0, 9.0), workers=1, **kw)  # in this process, no pool
    parallel = growth.project_many(series, "2016-06", (8.0, 9.0), workers=2, **kw)
    assert list(serial) == list(parallel) == list(series)
    assert (
        serial["s0"].to_dict()
        == growth.project_annual_growth(series["s0"], "2016-06", (8.0, 9.0), **kw).to_dict()
    )
    for name in series:
        assert parallel[name].to_dict() == serial[name].to_dict()
    assert {k: os.environ.get(k) for k in growth.SINGLE_THREAD_ENV} == env_before  # restored after the pool
