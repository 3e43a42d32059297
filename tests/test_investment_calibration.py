"""perfkit.investment.calibration: the interval width σ (small-sample t, robust per kind, pooled per
measure, reused month after month) and the backtests on public series and on the sample."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from investment_cases import DEFAULT, series

from perfkit import investment, tables


def test_small_sample_factor_is_students_t_over_the_normal():
    # t(0.90) quantiles from a printed table: 3.078 (1 df), 1.476 (5), 1.372 (10); z(0.90) = 1.2816
    for n, t90 in ((1, 3.0777), (5, 1.4759), (10, 1.3722)):
        assert investment.small_sample_factor(n) == pytest.approx(t90 / 1.28155, abs=2e-4)
    assert investment.small_sample_factor(0) == 1.0  # no cases: nothing to widen


def test_this_years_sigma_is_robust_per_kind_and_pooled_per_measure():
    """docs/investment.md: a kind's σ is 1.4826 × median |z| of its backtest errors (all kinds pooled when
    it has under POOL_CASES = 10 cases); a measure's σ is its own RMS z pooled toward its kind's with
    10 pseudo-cases. Computed here by hand from hand-made z values."""
    za = [0.5, -1.0, 1.5, -2.0, 1.0, -0.5, 2.5, -1.5, 0.0, 3.0, -1.0, 1.0]  # 12 cases: its own kind σ
    zb = [1.0, -3.0]  # 2 cases: the pooled σ
    bt = pd.DataFrame(
        {
            "method": ["blend"] * 14 + ["run_rate"] * 2,  # only the projection's own errors count
            "measure_id": ["A"] * 12 + ["B"] * 2 + ["A", "B"],
            "kind": ["investment"] * 12 + ["count"] * 2 + ["investment", "count"],
            "z": za + zb + [50.0, 50.0],
        }
    )
    kind_sigma, kind_cases, measure_sigma, measure_cases = investment._current_sigma(
        bt, ("investment", "count")
    )
    assert investment.POOL_CASES == 10
    inv = 1.4826 * float(np.median(np.abs(za)))  # median |z| of A = 1.0
    pooled = 1.4826 * float(np.median(np.abs(za + zb)))
    assert kind_sigma == pytest.approx({"investment": inv, "count": pooled})
    assert kind_cases == {"investment": 12, "count": 2}
    assert measure_cases == {"A": 12, "B": 2}
    assert measure_sigma["A"] == pytest.approx(math.sqrt((sum(z * z for z in za) + 10 * inv**2) / (12 + 10)))
    assert measure_sigma["B"] == pytest.approx(math.sqrt((1 + 9 + 10 * pooled**2) / (2 + 10)))


def test_calibration_reuses_a_prior_months_reference(catalogue):
    """Month after month (the risk backfill) the history's profiles and reference σ are taken from the
    previous calibration; the result is the same as calibrating from scratch."""
    now = series("1-5-1.2", {m: 20000 * DEFAULT[m - 1] for m in range(1, 8)})
    june = investment.calibrate(catalogue, now, "2019-06")
    july = investment.calibrate(catalogue, now, "2019-07", prior=june)
    fresh = investment.calibrate(catalogue, now, "2019-07")
    assert dataclasses.asdict(july).keys() == dataclasses.asdict(fresh).keys()
    for key, value in dataclasses.asdict(fresh).items():
        if key == "profiles":
            assert all(np.array_equal(value[k], july.profiles[k]) for k in value)
        else:
            assert getattr(july, key) == value, key


def test_backtest_on_public_series(catalogue):
    bt = investment.backtest_public(catalogue)
    nat18 = bt[(bt["series"] == "national_2018") & (bt["as_of_month"] == 9)].set_index("method")
    assert nat18.loc["run_rate", "forecast"] == pytest.approx(16500 / 9 * 12)
    assert nat18.loc["run_rate", "error_pct"] == pytest.approx((22000 / 23000 - 1) * 100)
    assert nat18.loc["pro_rata", "forecast"] == 18000
    assert abs(nat18.loc["blend", "error_pct"]) < 2
    # Honest about the weak case: Guangdong 2019 was front-loaded and the back-loaded profile overshoots.
    gd = bt[(bt["series"] == "guangdong_2019") & (bt["as_of_month"] == 3)].set_index("method")
    assert gd.loc["blend", "error_pct"] > abs(gd.loc["run_rate", "error_pct"])
    cal = investment.calibrate(catalogue, series("1-5-1.2", {1: 1000}), "2019-01")
    assert cal.reference == "public" and cal.n_reference == 3 and 0.02 < cal.sigma_reference < 0.5


def test_backtest_on_the_sample(sample_conn):
    catalogue, progress, history = investment.store_inputs(sample_conn, "2019-09")
    detail = investment.backtest(catalogue, progress, "2019-09", history)
    assert set(detail["method"]) == set(investment.METHODS)
    assert detail["as_of_month"].between(1, 8).all()
    summary = investment.backtest_summary(detail, kinds=("investment",))
    wide = tables.backtest_wide(summary).set_index("as_of_month")
    assert (wide["blend"] < wide["run_rate"]).all()  # the sample is back-loaded by construction
    coverage = investment.backtest_summary(detail).query("method == 'blend'")["coverage_80"]
    assert coverage.between(0.5, 1.0).all()
