"""The drill-down views on the sample store, one unit's resubmission added so a value is superseded."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from perfkit import explore, investment, risks, scoring
from perfkit.errors import InputError
from perfkit.store import add_submission, insert_progress, open_store, read_progress, transaction

UNIT, MEASURE, MONTH = "局工程科", "1-3-2.2", "2019-05"
CORRECTED = 4700.0


@pytest.fixture(scope="module")
def conn(_sample_store_master, tmp_path_factory):
    """The sample with 局工程科 resubmitting May: every row as before but 1-3-2.2, corrected."""
    path = tmp_path_factory.mktemp("explore") / "perfkit.sqlite"
    shutil.copy(_sample_store_master, path)
    conn = open_store(path)
    may = read_progress(conn, MONTH)
    may = may[(may["unit"] == UNIT) & (may["month"] == pd.Period(MONTH, freq="M"))].copy()
    assert MEASURE in set(may["measure_id"])
    may.loc[may["measure_id"] == MEASURE, "cumulative"] = CORRECTED
    may["month"] = MONTH
    with transaction(conn):
        sid = add_submission(
            conn,
            kind="progress",
            file_name="更正.xlsx",
            sha256="1" * 64,
            unit=UNIT,
            month=MONTH,
            rows=len(may),
        )
        insert_progress(conn, sid, may[["measure_id", "month", "cumulative", "status", "note"]])
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def wb(conn):
    return explore.load(conn)


def test_load_takes_the_latest_month_and_refuses_a_bad_one(wb, conn):
    assert wb.as_of == "2019-09"
    assert sorted(wb.flags["as_of"].astype(str).unique()) == [f"2019-0{m}" for m in range(1, 10)]
    with pytest.raises(InputError, match="YYYY-MM"):
        explore.load(conn, "2019-9")


@pytest.mark.parametrize("unit", [UNIT, "市道管处", "局文明办"])
def test_the_unit_view_holds_exactly_that_units_measures(wb, unit):
    view = explore.unit_measures(wb, unit)
    ms = wb.catalogue.measures
    units = ms["indicator_id"].map(wb.catalogue.indicators.set_index("id")["units"])
    expected = set(ms.loc[(ms["reporting_unit"] == unit) | units.map(lambda u: unit in u), "measure_id"])
    assert set(view["measure_id"]) == expected
    # one row per measure and month, January to the as-of month
    assert len(view) == len(expected) * 9
    assert view.groupby("measure_id")["month"].apply(list).map(lambda m: m == sorted(m) and len(m) == 9).all()
    done = view.dropna(subset=["value"])
    assert np.allclose(done["completion_pct"].dropna(), (done["value"] / done["target"] * 100).dropna())


def test_a_measures_series_equals_its_accepted_submissions_month_by_month(wb):
    subs = explore.measure_submissions(wb, MEASURE)
    accepted = subs[~subs["superseded"]].set_index("month")["cumulative"]
    series = explore.measure_series(wb, MEASURE)
    observed = series[series["observed"]].set_index("month")["actual"]
    assert list(observed.index) == list(accepted.index)
    assert observed.equals(accepted.astype(float))
    # the correction stands; the value it replaced is kept and marked
    assert observed[MONTH] == CORRECTED
    old = subs[subs["superseded"]]
    assert list(old["month"]) == [MONTH] and old["cumulative"].iloc[0] != CORRECTED


@pytest.mark.parametrize("unit", [UNIT, "市道管处"])
def test_every_reported_measure_of_a_unit_matches_its_accepted_values(wb, unit):
    for mid in explore.unit_measure_ids(wb, unit):
        if wb.measures.set_index("measure_id").at[mid, "schedule"] == "statistic":
            continue
        subs = explore.measure_submissions(wb, mid)
        series = explore.measure_series(wb, mid)
        accepted = subs[~subs["superseded"]].set_index("month")["cumulative"].astype(float)
        got = series[series["observed"]].set_index("month")["actual"].dropna()
        pd.testing.assert_series_equal(got, accepted.dropna(), check_names=False)


def test_the_fan_runs_from_the_last_figure_to_the_projection_and_the_schedule_to_the_target(wb, conn):
    series = explore.measure_series(wb, MEASURE).set_index("month")
    proj = investment.project_store(conn, wb.as_of).set_index("measure_id").loc[MEASURE]
    now, end = series.loc[wb.as_of], series.iloc[-1]
    assert now["projected"] == now["low_80"] == now["high_80"] == now["actual"]
    assert end["projected"] == pytest.approx(proj["projected"])
    assert (end["low_80"], end["high_80"]) == pytest.approx(
        (proj["interval_80_low"], proj["interval_80_high"])
    )
    assert end["schedule"] == pytest.approx(proj["target"])
    assert series.loc[: wb.as_of, "projected"].iloc[:-1].isna().all()
    assert list(series.index)[-1] == "2019-12"


def test_units_are_ranked_by_points_at_risk_as_the_risks_module_totals_them(wb, conn):
    ranked = explore.units_at_risk(wb)
    assert ranked["points_at_risk"].is_monotonic_decreasing
    stored = risks.read_flags(conn, 2019, wb.as_of)
    month = stored[stored["as_of"] == wb.month]
    assert ranked["points_at_risk"].sum() == pytest.approx(
        sum(
            p * len(u)
            for p, u in zip(month["points_at_risk"], wb.flags.loc[month.index, "units"], strict=True)
        )
    )
    assert explore.top_unit(wb) == ranked["unit_name"].iloc[0]


def test_indicator_history_is_the_score_as_of_each_month(wb, conn):
    history = explore.indicator_history(wb, "1-3-2")
    assert list(history["month"]) == [f"2019-0{m}" for m in range(1, 10)]
    for month, score in zip(history["month"], history["score"], strict=True):
        expected = scoring.score_store(conn, month).indicators.set_index("id").at["1-3-2", "score"]
        assert score == pytest.approx(expected)
    assert (history["measures"] == 2).all()


def test_changes_list_exactly_what_moved_since_last_month(wb):
    changed = explore.changes(wb)
    assert len(changed) and changed["points_now"].is_monotonic_decreasing
    moved = (
        (changed["status_before"] != changed["status_now"])
        | (changed["points_change"].abs() >= 0.01)
        | (changed["value_before"].fillna(-1) != changed["value_now"].fillna(-1))
    )
    assert moved.all()
    now = wb.flags[wb.flags["as_of"] == wb.month].set_index("measure_id")
    before = wb.flags[wb.flags["as_of"] == wb.month - 1].set_index("measure_id")
    flipped = set(now.index[now["status"] != before["status"].reindex(now.index)])
    assert flipped <= set(changed["measure_id"])


def test_unknown_names_are_refused_with_the_name(wb):
    with pytest.raises(InputError, match="不存在的单位"):
        explore.unit_measures(wb, "不存在的单位")
    with pytest.raises(InputError, match="9-9-9.9"):
        explore.measure_series(wb, "9-9-9.9")
    with pytest.raises(InputError, match="turnover"):
        explore.measure_series(wb, "1-14-1.1")
    with pytest.raises(InputError, match="9-9"):
        explore.indicator_history(wb, "9-9")
