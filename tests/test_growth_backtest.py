"""perfkit.growth_backtest: the rolling-origin backtest against the naive methods, and real reference series."""

from __future__ import annotations

import pytest
from growth_cases import steady

from perfkit import growth


def test_backtest_compares_with_the_naive_methods():
    s = steady(years=6)
    bt = growth.backtest(s, as_of_months=[3, 6], models=("profile",), repetitions=300)
    assert set(bt["method"]) == {"selected", "profile", "naive_ytd", "seasonal_naive"}
    assert sorted(bt["year"].unique()) == [2015, 2016, 2017, 2018]
    row = bt[(bt["method"] == "naive_ytd") & (bt["as_of"] == "2016-06")].iloc[0]
    ytd = s["2016-01":"2016-06"].sum() / s["2015-01":"2015-06"].sum() - 1
    assert row["projected_growth_pct"] == pytest.approx(ytd * 100)
    actual = s[s.index.year == 2016].sum() / s[s.index.year == 2015].sum() - 1
    assert row["actual_growth_pct"] == pytest.approx(actual * 100)
    sn = bt[(bt["method"] == "seasonal_naive") & (bt["as_of"] == "2016-06")].iloc[0]
    rest = s["2015-07":"2015-12"].sum()
    assert sn["projected_growth_pct"] == pytest.approx(
        (s["2016-01":"2016-06"].sum() + rest) / s[s.index.year == 2015].sum() * 100 - 100
    )
    summary = growth.backtest_summary(bt, months=[3, 6])
    assert list(summary["method"]) == ["selected", "profile", "naive_ytd", "seasonal_naive"]
    assert summary.loc[summary["method"] == "naive_ytd", "mae_vs_naive"].iloc[0] == pytest.approx(1.0)
    assert summary["coverage_80"].dropna().between(0, 1).all()
    # a series growing steadily: anything with a growth rate beats "the rest of the year repeats last year"
    mae = summary.set_index("method")["mae_pp"]
    assert mae["profile"] < mae["seasonal_naive"] / 2


def test_real_series_beat_the_naive_method():
    """Two real series (data/reference: tourism and M3), as-of March to September: the selected model's mean
    absolute error of full-year growth is below the naive YTD method's (the full figures: docs/growth.md)."""
    ref = growth.reference_series(["tourism:M41", "m3:N2190"])
    assert all(len(s) == 120 and (s > 0).all() for s in ref.values())
    bt = growth.evaluate(ref, holiday=False, models=("combined", "ets", "profile"), repetitions=300)
    summary = growth.backtest_summary(bt).set_index("method")
    assert summary.loc["selected", "mae_pp"] < summary.loc["naive_ytd", "mae_pp"]
    assert 0.5 < summary.loc["selected", "coverage_80"] <= 1.0
