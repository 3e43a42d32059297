"""Trends: the year month by month equals what each month's snapshot holds, and the comparisons picked
from it (month on month, quarter on quarter, turnover against an earlier period) are the right months'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfkit import monthly, report, risks, trends

MONTHS = [f"2019-{m:02d}" for m in range(1, 10)]


@pytest.fixture()
def year(sample_conn):
    return trends.read(sample_conn, "2019-09")


def test_every_figure_equals_its_months_snapshot(sample_conn, year):
    assert [str(m) for m in year.months["month"]] == MONTHS
    problem_statuses = risks.rules_from(year_catalogue(sample_conn))["problem_statuses"]
    for month in MONTHS:
        snap = monthly.load(sample_conn, month)
        row = year.row(month)
        assert row["score_to_date"] == snap.score.totals["target_score"]
        assert row["points_at_risk"] == pytest.approx(snap.flags["points_at_risk"].sum(), abs=1e-12)
        # the headline's projected year-end 目标考评 score, as the brief of that month printed it
        projected = report.expected_score(snap.catalogue, snap.flags, None)
        assert row["projected_target_score"] == pytest.approx(projected.totals["target_score"], abs=1e-9)
        assert row["problems_open"] == int(snap.flags["status"].isin(problem_statuses).sum())
        period = pd.Period(month, freq="M")
        assert row["problems_opened"] == int((snap.problems["opened"] == period).sum())
        assert row["problems_closed"] == int((snap.problems["closed"] == period).sum())
        counts = snap.flags["status"].value_counts()
        assert year.status_counts(month).to_dict() == {s: int(counts.get(s, 0)) for s in risks.STATUSES}
        growth = year.turnover[year.turnover["month"] == period].set_index("mode")
        for r in snap.growth.projections.to_dict("records"):
            got = growth.loc[r["mode"], "ytd_growth_pct"]
            assert (np.isnan(got) and np.isnan(r["ytd_growth_pct"])) or got == r["ytd_growth_pct"]
            assert str(growth.loc[r["mode"], "data_through"]) == str(r["data_through"])
    # the sample's year moves: the score to date rises every month
    assert year.months["score_to_date"].is_monotonic_increasing


def year_catalogue(conn):
    from perfkit.store import read_catalogue

    return read_catalogue(conn)


def test_month_on_month_is_this_month_less_the_one_before(year):
    assert trends.month_on_month(year, "2019-01") is None  # no earlier month in the plan year
    change = trends.month_on_month(year, "2019-09")
    sep, aug = year.row("2019-09"), year.row("2019-08")
    for key in trends.FIGURES:
        assert change[key] == pytest.approx(sep[key] - aug[key])
    assert change["score_to_date"] > 0 and change["points_at_risk"] < 0
    assert change["points_at_risk"] == pytest.approx(-change["projected_target_score"])


def test_quarter_on_quarter_sums_the_quarters_problems(sample_conn, year):
    first = trends.quarter_on_quarter(year, "2019-03")
    assert first.previous_quarter is None and first.table.empty
    cmp = trends.quarter_on_quarter(year, "2019-09")
    assert (cmp.quarter, cmp.previous_quarter, str(cmp.previous_end)) == (3, 2, "2019-06")
    table = cmp.table.set_index("figure")
    assert table.loc["score_to_date", "previous"] == year.row("2019-06")["score_to_date"]
    assert table.loc["score_to_date", "current"] == year.row("2019-09")["score_to_date"]
    # problems opened and closed over the quarter: the 季度通报's own count of the quarter's problems
    view = monthly.quarterly_view(sample_conn, "2019-09")
    assert table.loc["problems_opened", "current"] == view.problems["opened_in_quarter"].sum()
    assert table.loc["problems_closed", "current"] == view.problems["closed_in_quarter"].sum()
    q2 = monthly.quarterly_view(sample_conn, "2019-06")
    assert table.loc["problems_opened", "previous"] == q2.problems["opened_in_quarter"].sum()
    assert table.loc["status:预警", "current"] == year.status_counts("2019-09")["预警"]
    assert (table["change"] == table["current"] - table["previous"]).all()


def test_turnover_against_an_earlier_period(year):
    rows = trends.turnover_against(year, "2019-09", "2019-06").set_index("mode")
    g = year.turnover.set_index(["month", "mode"])["ytd_growth_pct"]
    sep, jun = pd.Period("2019-09", freq="M"), pd.Period("2019-06", freq="M")
    road = rows.loc["road"]
    assert road["ytd_growth_pct"] == g[(sep, "road")] and road["earlier_growth_pct"] == g[(jun, "road")]
    assert road["change_pp"] == pytest.approx(g[(sep, "road")] - g[(jun, "road")])
    assert str(road["earlier_through"]) == "2019-06"
    # January has no figure of its own (statistics offices publish 1—2月 together): no comparison
    feb = trends.turnover_against(year, "2019-02", "2019-01").set_index("mode")
    assert feb["change_pp"].isna().all() and feb["ytd_growth_pct"].notna().all()
    alone = trends.turnover_against(year, "2019-09")  # nothing to compare with: the figure and the band
    assert alone["change_pp"].isna().all() and list(alone["position"]) == list(rows["position"])


def _year(growth: list[float], through: list[str]) -> trends.Trends:
    months = pd.PeriodIndex([f"2019-{m:02d}" for m in range(1, len(growth) + 1)], freq="M")
    turnover = pd.DataFrame(
        {
            "month": months,
            "mode": "road",
            "data_through": pd.PeriodIndex(through, freq="M"),
            "ytd_growth_pct": growth,
            "band_low": 13.0,
            "band_high": 14.0,
        }
    )
    return trends.Trends(pd.DataFrame({"month": months}), pd.DataFrame(), turnover)


def test_turnover_position_and_a_month_without_new_figures():
    year = _year([12.0, 13.5, 14.6, 14.6], ["2019-01", "2019-02", "2019-03", "2019-03"])
    at = lambda month, earlier: trends.turnover_against(year, month, earlier).iloc[0]  # noqa: E731
    assert at("2019-01", "2019-01")["position"] == "below"
    assert at("2019-02", "2019-01")["position"] == "within"
    assert at("2019-02", "2019-01")["change_pp"] == pytest.approx(1.5)
    assert at("2019-03", "2019-02")["position"] == "above"
    # April's snapshot has no newer statistics than March's: nothing to compare, no invented change
    april = at("2019-04", "2019-03")
    assert np.isnan(april["change_pp"]) and np.isnan(april["earlier_growth_pct"])


def test_read_refuses_months_without_a_snapshot(fresh_sample_db):
    from perfkit.store import open_store

    conn = open_store(fresh_sample_db)
    try:
        with pytest.raises(LookupError, match="2019-01"):
            trends.read(conn, "2019-03")
    finally:
        conn.close()
