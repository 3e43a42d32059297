"""Risk flags: each rule on small hand-built reports, persistence across months, the store, the problem list,
the quarterly view, the CLI, the Excel file read back, and the notebook run by papermill."""

from __future__ import annotations

import copy
import json
import shutil
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from perfkit import monthly, risks
from perfkit.catalogue import Catalogue
from perfkit.cli import main
from perfkit.config import PLAN_DIR, SAMPLE_DIR
from perfkit.errors import InputError
from perfkit.store import add_submission, create_store, insert_progress, open_store, transaction

DONE, OK, WATCH, ALERT, MISSING, MISSED = "已完成", "正常", "关注", "预警", "缺报", "未完成"


def _progress(rows) -> pd.DataFrame:
    """rows: (measure_id, 'YYYY-MM', cumulative, status, note)."""
    df = pd.DataFrame(rows, columns=["measure_id", "month", "cumulative", "status", "note"])
    df["month"] = pd.PeriodIndex(df["month"], freq="M")
    return df


def _monthly(measure_id, values, note="按计划推进", status="推进中", start=1):
    return [(measure_id, f"2019-{start + i:02d}", v, status, note) for i, v in enumerate(values)]


def _flag(catalogue, rows, as_of, **kw) -> pd.Series:
    """The flag of the first measure in `rows`."""
    flags = risks.flag_measures(catalogue, _progress(rows), as_of, **kw)
    return flags.set_index("measure_id").loc[rows[0][0]]


def _investment(measure_id, p_reach, projected, shortfall, **extra):
    row = {
        "measure_id": measure_id,
        "projected": projected,
        "interval_80_low": projected * 0.9,
        "interval_80_high": projected * 1.1,
        "p_reach": p_reach,
        "shortfall": shortfall,
        "required_monthly": 1000.0,
        "schedule_gap_pp": np.nan,
        "edge": "",
    }
    row.update(extra)
    return pd.DataFrame([row])


def _growth(projected, p_low, ytd=12.0, low=13.0, high=14.0):
    return pd.DataFrame(
        [
            {
                "mode": "road",
                "measure_id": "1-14-1.1",
                "ytd_growth_pct": ytd,
                "projected_growth_pct": projected,
                "interval_80_low": projected - 1.0,
                "interval_80_high": projected + 1.0,
                "band_low": low,
                "band_high": high,
                "p_reach_low": p_low,
            }
        ]
    )


# ------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    "value, status",
    [
        (36000, OK),  # 45% done vs 50% 序时进度: 5 points behind
        (32000, WATCH),  # exactly 10 points behind
        (28000, WATCH),  # 15 behind
        (16000, WATCH),  # exactly 30 behind: still 关注 (over 30 is 预警)
        (15000, ALERT),  # 31.25 behind
    ],
)
def test_behind_pro_rata_schedule_thresholds(catalogue, value, status):
    # 1-1-1.6: 8亿 (80000万元) by December; June is 50% of the way
    flag = _flag(catalogue, _monthly("1-1-1.6", [value * k / 6 for k in range(1, 7)]), "2019-06")
    assert flag["status"] == status
    assert flag["schedule_gap_pp"] == pytest.approx(value / 80000 * 100 - 50)
    if status != OK:
        assert "落后" in flag["reasons"][0] and "序时进度50%" in flag["reasons"][0]
        assert flag["rules"] == ["behind_schedule"]


def test_low_probability_of_reaching_the_target(catalogue):
    rows = _monthly("1-1-1.6", [6000 * k for k in range(1, 7)])  # 45%: on schedule within 10 points
    watch = _flag(catalogue, rows, "2019-06", investment=_investment("1-1-1.6", 0.10, 70000.0, 10000.0))
    assert watch["status"] == WATCH
    assert "达标概率约10%" in watch["reasons"][0] and "预计年底完成70000万元" in watch["reasons"][0]
    alert = _flag(catalogue, rows, "2019-06", investment=_investment("1-1-1.6", 0.01, 60000.0, 20000.0))
    assert alert["status"] == ALERT
    # a low chance but no projected shortfall (skewed interval) is no problem
    fine = _flag(catalogue, rows, "2019-06", investment=_investment("1-1-1.6", 0.10, 81000.0, 0.0))
    assert fine["status"] == OK and fine["reasons"] == []


def test_probability_thresholds_are_strict(catalogue):
    """plan.toml: 关注 *below* low_probability (0.2), 预警 *below* alert_probability (0.05); at either
    value exactly the milder status holds."""
    rows = _monthly("1-1-1.6", [6000 * k for k in range(1, 7)])
    rules = risks.rules_from(catalogue)
    assert (rules["low_probability"], rules["alert_probability"]) == (0.2, 0.05)
    at_low = _flag(catalogue, rows, "2019-06", investment=_investment("1-1-1.6", 0.2, 70000.0, 10000.0))
    assert at_low["status"] == OK and at_low["rules"] == []
    at_alert = _flag(catalogue, rows, "2019-06", investment=_investment("1-1-1.6", 0.05, 70000.0, 10000.0))
    assert at_alert["status"] == WATCH and at_alert["rules"] == ["projected_short"]


def test_recurring_actions_behind_their_monthly_rhythm(catalogue):
    # 1-4-2.1: 每月2次; one missed in June
    behind = _flag(catalogue, _monthly("1-4-2.1", [2, 4, 6, 8, 10, 11]), "2019-06")
    assert behind["status"] == WATCH
    assert behind["reasons"] == ["按每月2次的要求，截至6月应开展12次，实际开展11次，少1次。"]
    on_rhythm = _flag(catalogue, _monthly("1-4-2.1", [2, 4, 6, 8, 10, 12]), "2019-06")
    assert on_rhythm["status"] == OK


@pytest.mark.parametrize(
    "projected, p_low, ytd, status, rule",
    [
        (13.5, 0.6, 13.2, OK, None),
        (13.0, 0.5, 12.5, OK, None),  # projected exactly at the band's lower bound: not below it
        (12.0, 0.3, 12.0, WATCH, "growth_below"),
        (11.0, 0.01, 11.0, ALERT, "growth_below"),
        (13.2, 0.55, -0.5, ALERT, "growth_negative"),
    ],
)
def test_growth_projection_against_the_band(catalogue, projected, p_low, ytd, status, rule):
    flags = risks.flag_measures(catalogue, _progress([]), "2019-06", growth=_growth(projected, p_low, ytd))
    flag = flags.set_index("measure_id").loc["1-14-1.1"]
    assert flag["status"] == status
    assert (rule in flag["rules"]) if rule else flag["rules"] == []
    if rule == "growth_below":
        assert f"预计全年增长{projected:g}%，低于目标区间13%～14%" in flag["reasons"][0]


def test_level_measure_is_judged_on_its_climb_from_the_first_report(catalogue):
    """1-9-3.1 (fleet size, level schedule, 240 by December) starts high: from 200 in January the year's
    climb is 40; 210 in June is a quarter of it, against (6 − 1) / (12 − 1) of the time."""
    flag = _flag(catalogue, _monthly("1-9-3.1", [200, 202, 204, 206, 208, 210]), "2019-06")
    assert catalogue.measures.set_index("measure_id").loc["1-9-3.1", "deadline_month"] == 12
    assert flag["schedule_gap_pp"] == pytest.approx((210 - 200) / (240 - 200) * 100 - 5 / 11 * 100)
    assert flag["status"] == WATCH and flag["rules"] == ["behind_schedule"]


def test_points_at_risk_of_a_growth_band_by_hand(catalogue):
    """Growth G ~ Normal(projection, σ = (80% interval width) / (2 × z0.9)); the measure scores
    min(G, low) / low (nothing below 0), so points at risk = weight × (1 − E[clip(G, 0, low)] / low)."""
    flags = risks.flag_measures(catalogue, _progress([]), "2019-06", growth=_growth(12.5, 0.3, 12.0))
    flag = flags.set_index("measure_id").loc["1-14-1.1"]
    nd = NormalDist()
    mu, sigma, low = 12.5, 2.0 / (2 * nd.inv_cdf(0.9)), 13.0

    def above(k):  # E[(G − k)+]
        z = (mu - k) / sigma
        return (mu - k) * nd.cdf(z) + sigma * nd.pdf(z)

    expected = (0.0 + above(0.0) - above(low)) / low
    assert flag["points_at_risk"] == pytest.approx(flag["weight"] * (1 - expected), abs=1e-6)


def test_statistic_measures_are_never_missing_reports(catalogue):
    flags = risks.flag_measures(catalogue, _progress([]), "2019-06").set_index("measure_id")
    assert flags.loc["1-14-1.1", "status"] == OK  # no turnover yet: nothing to judge, and no unit to chase
    assert flags.loc["1-1-1.6", "status"] == MISSING
    assert flags.loc["1-1-1.6", "reasons"] == ["今年以来未报送进度。"]


def test_deadline_passed_and_incomplete(catalogue):
    # 1-4-1.2: 1.9亿 by September
    short = _monthly("1-4-1.2", [2000 * k for k in range(1, 10)])
    flag = _flag(catalogue, short, "2019-09")
    assert flag["status"] == MISSED
    assert flag["reasons"][0] == "完成时限为9月，截至9月仍未完成（完成年度目标的94.7%）。"
    assert flag["points_at_risk"] == pytest.approx(1.0 * (1 - 18000 / 19000), abs=1e-6)
    # a month later with no report: 未完成 outranks 缺报, and the silence is still named
    later = _flag(catalogue, short, "2019-10")
    assert later["status"] == MISSED and "not_reported" in later["rules"]
    done = _flag(catalogue, _monthly("1-4-1.2", [2000 * k for k in range(1, 9)] + [19000]), "2019-09")
    assert done["status"] == DONE and done["points_at_risk"] == 0


def test_missing_and_copied_reports(catalogue):
    silent = _flag(catalogue, _monthly("1-5-1.1", [20, 40, 60, 80]), "2019-06")
    assert silent["status"] == MISSING
    assert silent["reasons"][0] == "6月未报送进度，最近一次报送为2019-04。"
    # the same report three months running while behind: 缺报 (stale_months = 2 repeats)
    copied = _flag(catalogue, _monthly("1-5-1.1", [20, 40, 60, 60, 60, 60]), "2019-06")
    assert copied["status"] == MISSING and "stale" in copied["rules"]
    assert "已连续3个月与上月完全相同" in copied["reasons"][0]
    # ahead of schedule, a pause is no problem
    ahead = _flag(catalogue, _monthly("1-5-1.1", [40, 80, 120, 120, 120, 120]), "2019-06")
    assert ahead["status"] == OK
    # a changed note means the unit explained itself
    rows = _monthly("1-5-1.1", [20, 40, 60, 60, 60]) + [("1-5-1.1", "2019-06", 60, "推进中", "雨季停工")]
    assert "stale" not in _flag(catalogue, rows, "2019-06")["rules"]


def test_copied_report_threshold_is_stale_months(catalogue):
    # stale_months = 2: two months unchanged is 缺报 already (behind: 60 of 200 km against 50% in June) …
    two = _flag(catalogue, _monthly("1-5-1.1", [20, 40, 50, 60, 60, 60]), "2019-06")
    assert two["status"] == MISSING and "stale" in two["rules"]
    # … one month unchanged is not (only behind schedule: 关注)
    one = _flag(catalogue, _monthly("1-5-1.1", [20, 40, 50, 55, 60, 60]), "2019-06")
    assert "stale" not in one["rules"] and one["status"] == WATCH


def test_data_anomalies(catalogue):
    fell = _flag(catalogue, _monthly("1-8-1.1", [3, 6, 9, 12, 15, 13]), "2019-06")
    assert "fell" in fell["rules"] and fell["status"] == WATCH
    assert "累计值由15辆降至13辆，且未注明“更正”" in " ".join(fell["reasons"])
    corrected = _monthly("1-8-1.1", [3, 6, 9, 12, 15]) + [
        ("1-8-1.1", "2019-06", 13, "推进中", "更正：5月多报2辆")
    ]
    assert "fell" not in _flag(catalogue, corrected, "2019-06")["rules"]
    # 30 vehicles a year is 2.5 a month: 12 in one month is a jump to check
    jump = _flag(catalogue, _monthly("1-8-1.1", [3, 6, 9, 12, 15, 27]), "2019-06")
    assert "jump" in jump["rules"] and jump["status"] == WATCH
    # one item of a one-item target is not a jump
    single = _flag(catalogue, _monthly("1-6-2.1", [0, 0, 0, 0, 1], start=1), "2019-05")
    assert single["status"] == DONE and "jump" not in single["rules"]
    out_of_range = _flag(catalogue, _monthly("1-8-1.1", [3, 6, 9, 12, 15, 150]), "2019-06")
    assert "out_of_range" in out_of_range["rules"]
    # out of range means over jump_factor (3) × the target of 30: 90 is not, 91 is
    for value, flagged in ((90, False), (91, True)):
        rules = _flag(catalogue, _monthly("1-8-1.1", [30, value], start=5), "2019-06")["rules"]
        assert ("out_of_range" in rules) is flagged, value


# ------------------------------------------------------------------------------------ persistence


def _previous(measure_id, statuses: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"as_of": list(statuses), "measure_id": measure_id, "status": list(statuses.values())}
    )


WATCH_ROWS = _monthly("1-1-1.6", [4000 * k for k in range(1, 7)])  # 30% at June: 20 points behind


def test_three_months_at_watch_become_alert(catalogue):
    assert _flag(catalogue, WATCH_ROWS, "2019-06")["status"] == WATCH
    prev = _previous("1-1-1.6", {"2019-04": WATCH, "2019-05": WATCH})
    flag = _flag(catalogue, WATCH_ROWS, "2019-06", previous=prev)
    assert flag["status"] == ALERT and flag["reasons"][-1] == "已连续3个月处于关注状态，升为预警。"
    # a 缺报 month neither breaks nor extends the run; a month with no flag at all breaks it
    skip = _previous("1-1-1.6", {"2019-03": WATCH, "2019-04": MISSING, "2019-05": WATCH})
    assert _flag(catalogue, WATCH_ROWS, "2019-06", previous=skip)["status"] == ALERT
    gap = _previous("1-1-1.6", {"2019-03": WATCH, "2019-05": WATCH})
    assert _flag(catalogue, WATCH_ROWS, "2019-06", previous=gap)["status"] == WATCH
    # last year's flags do not count
    old = _previous("1-1-1.6", {"2018-12": WATCH, "2019-01": WATCH})
    assert _flag(catalogue, _monthly("1-1-1.6", [0, 0]), "2019-02", previous=old)["status"] == WATCH


def test_alert_holds_until_back_on_schedule(catalogue):
    prev = _previous("1-1-1.6", {"2019-05": ALERT})
    held = _flag(catalogue, WATCH_ROWS, "2019-06", previous=prev)
    assert held["status"] == ALERT and held["reasons"][-1] == "上月为预警，尚未追上序时进度，继续预警。"
    back = _monthly("1-1-1.6", [4000 * k for k in range(1, 6)] + [38000])  # 47.5%: 2.5 behind
    assert _flag(catalogue, back, "2019-06", previous=prev)["status"] == OK
    # with clear_gap_pp = 0 the measure must catch up fully
    rules = copy.deepcopy(risks.rules_from(catalogue)) | {"clear_gap_pp": 0.0}
    assert _flag(catalogue, back, "2019-06", previous=prev, rules=rules)["status"] == ALERT
    # … and exactly on schedule (40000 of 80000 in June: gap 0) is caught up
    on_time = _monthly("1-1-1.6", [4000 * k for k in range(1, 6)] + [40000])
    assert _flag(catalogue, on_time, "2019-06", previous=prev, rules=rules)["status"] == OK


# ------------------------------------------------------------------------------- points at risk


def test_points_at_risk_and_order(catalogue):
    es = 8000.0  # the projection's expected shortfall on 80000: a tenth of the measure's weight at risk
    inv = _investment("1-1-1.6", 0.3, 76000.0, 4000.0, expected_shortfall=es)
    rows = _monthly("1-1-1.6", [6000 * k for k in range(1, 7)]) + _monthly(
        "1-4-1.1", [10, 20, 30, 40, 50, 100]
    )
    assessments = pd.DataFrame([{"kind": "grade", "indicator_id": "5-3", "grade": "中", "points": None}])
    flags = risks.flag_measures(
        catalogue, _progress(rows), "2019-06", investment=inv, assessments=assessments
    )
    by_id = flags.set_index("measure_id")
    weight = by_id.loc["1-1-1.6", "weight"]
    assert by_id.loc["1-1-1.6", "points_at_risk"] == pytest.approx(weight * es / 80000, abs=1e-6)
    assert by_id.loc["1-4-1.1", "status"] == DONE and by_id.loc["1-4-1.1", "points_at_risk"] == 0
    assert by_id.loc["5-3.1", "points_at_risk"] == pytest.approx(1.0 * (1 - 0.75))  # graded 中
    assert flags["points_at_risk"].is_monotonic_decreasing
    # owners come from the indicator: lists of names
    assert by_id.loc["1-1-1.6", "leaders"] == ["黄俊杰"]
    assert by_id.loc["1-1-1.6", "units"] == ["市高指", "中交泉州高速公路有限责任公司"]
    assert by_id.loc["1-1-1.6", "persons"] == ["蔡玉强", "刘明哲"]


def test_points_at_risk_from_the_interval_when_no_expected_shortfall_is_given(catalogue):
    """Without the projection's own expected shortfall, the year-end value is taken as normal around the
    projection with σ = (80% interval width) / (2 × z0.9), clipped to [done, target]; computed by hand."""
    inv = _investment("1-1-1.6", 0.3, 76000.0, 4000.0)  # interval 68400..83600, no expected_shortfall
    flag = _flag(catalogue, _monthly("1-1-1.6", [6000 * k for k in range(1, 7)]), "2019-06", investment=inv)
    nd = NormalDist()
    mu, sigma, lo, hi = 76000.0, (83600.0 - 68400.0) / (2 * nd.inv_cdf(0.9)), 36000.0, 80000.0

    def above(k):  # E[(X − k)+] for X ~ N(mu, sigma)
        z = (mu - k) / sigma
        return (mu - k) * nd.cdf(z) + sigma * nd.pdf(z)

    expected = (lo + above(lo) - above(hi)) / hi
    assert flag["status"] == OK
    assert flag["points_at_risk"] == pytest.approx(flag["weight"] * (1 - expected), abs=1e-6)
    assert 0.02 < flag["points_at_risk"] / flag["weight"] < 0.1


def test_points_at_risk_from_the_run_rate_without_a_projection(catalogue):
    # 1-5-1.1: 200 km by December, 60 in June; with no projection the run rate gives 60 / 6 × 12 = 120 km,
    # a completion of 0.6, so 40% of the measure's weight is at risk
    flag = _flag(catalogue, _monthly("1-5-1.1", [10, 20, 30, 40, 50, 60]), "2019-06")
    assert flag["points_at_risk"] == pytest.approx(flag["weight"] * (1 - 120 / 200), abs=1e-6)


def test_expected_clipped_matches_simulation():
    rng = np.random.default_rng(7)
    mu, sigma, lo, hi = 70.0, 12.0, 50.0, 80.0
    draws = np.clip(rng.normal(mu, sigma, 400_000), lo, hi)
    assert risks.expected_clipped(mu, sigma, lo, hi) == pytest.approx(draws.mean(), abs=0.05)
    assert risks.expected_clipped(95.0, 0.0, 50.0, 80.0) == 80.0  # no spread: just clipped


def test_missing_rule_names_plan_key(catalogue):
    plan = copy.deepcopy(catalogue.plan)
    del plan["risks"]["watch_gap_pp"]
    plan["risks"]["rhythm_status"] = "黄色"
    broken = Catalogue(plan=plan, indicators=catalogue.indicators, measures=catalogue.measures)
    with pytest.raises(InputError) as err:
        risks.rules_from(broken)
    text = str(err.value)
    assert "plan.toml" in text and "[risks] watch_gap_pp is missing" in text


def test_as_of_must_be_a_month(catalogue):
    with pytest.raises(ValueError, match="YYYY-MM"):
        risks.flag_measures(catalogue, _progress([]), "2019-9")


# ------------------------------------------------------------------------------- problem list


def _history(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["as_of", "measure_id", "status", "points_at_risk"])
    df["as_of"] = pd.PeriodIndex(df["as_of"], freq="M")
    df["reasons"] = [[f"{s}@{m}"] for m, s in zip(df["as_of"].astype(str), df["status"], strict=True)]
    return df


def test_problem_runs_open_and_close(catalogue):
    h = _history(
        [
            ("2019-01", "1-1-1.6", WATCH, 0.2),
            ("2019-02", "1-1-1.6", WATCH, 0.2),
            ("2019-03", "1-1-1.6", OK, 0.1),
            ("2019-04", "1-1-1.6", ALERT, 0.3),
            ("2019-05", "1-1-1.6", MISSING, 0.3),
            ("2019-06", "1-1-1.6", ALERT, 0.4),
            ("2019-05", "1-5-1.1", WATCH, 0.9),
            ("2019-06", "1-5-1.1", DONE, 0.0),
        ]
    )
    p = risks.problems_from_flags(h, "2019-06", catalogue)
    # by points at risk now (1-5-1.1 is done: 0), the open problem before the closed one on a tie
    assert list(p["measure_id"]) == ["1-1-1.6", "1-1-1.6", "1-5-1.1"]
    first_open = p.iloc[0]
    assert str(first_open["opened"]) == "2019-04" and pd.isna(first_open["closed"])
    assert first_open["months_open"] == 3 and first_open["worst_status"] == MISSING
    assert first_open["reasons"] == ["预警@2019-06"] and first_open["points_at_risk"] == 0.4
    closed = p[(p["measure_id"] == "1-1-1.6") & p["closed"].notna()].iloc[0]
    assert (str(closed["opened"]), str(closed["closed"]), closed["months_open"]) == ("2019-01", "2019-03", 2)
    assert p.iloc[2]["units"] == ["局工程科"] and str(p.iloc[2]["closed"]) == "2019-06"
    assert p.iloc[2]["points_at_risk"] == 0.0


def test_quarter_summary_counts_by_unit(catalogue):
    h = _history(
        [
            ("2019-06", "1-1-1.6", WATCH, 0.2),  # opened before Q3, closed in it
            ("2019-07", "1-1-1.6", OK, 0.0),
            ("2019-08", "1-5-1.1", ALERT, 0.5),  # opened in Q3, still open
            ("2019-09", "1-5-1.1", ALERT, 0.6),
            ("2019-09", "1-1-1.6", OK, 0.0),
        ]
    )
    problems = risks.problems_from_flags(h, "2019-09", catalogue)
    q = risks.quarter_summary(problems, 2019, 3, pd.Period("2019-09", "M"))
    assert q.months == ["2019-07", "2019-08", "2019-09"]
    assert q.title() == "2019年第3季度（2019-07 — 2019-09）" and q.title("en").startswith("Q3 2019")
    units = q.by_unit.set_index("unit_name")
    assert units.loc["局工程科"].tolist() == [1, 0, 1, pytest.approx(0.6)]
    assert units.loc["市高指"].tolist() == [0, 1, 0, 0.0]
    assert list(q.by_unit["unit_name"])[0] == "局工程科"  # by points at risk


def test_totals_count_a_measure_for_each_unit(catalogue):
    flags = risks.flag_measures(catalogue, _progress(WATCH_ROWS), "2019-06")
    one = flags[flags["measure_id"] == "1-1-1.6"]
    totals = risks.totals_by(one, "units").set_index("unit_name")
    assert set(totals.index) == {"市高指", "中交泉州高速公路有限责任公司"}
    assert (totals["points_at_risk"] == one["points_at_risk"].iloc[0]).all()
    assert (totals[WATCH] == 1).all()
    all_units = risks.totals_by(flags, "leaders")
    assert all_units["points_at_risk"].is_monotonic_decreasing


# ------------------------------------------------------------------------------------- the store


def test_flags_are_kept_by_month_in_the_snapshots(sample_conn):
    snap = monthly.snapshot(sample_conn, "2019-03")
    flags = snap.flags
    stored = monthly.read_flags(sample_conn, 2019, "2019-03")
    assert stored.groupby(stored["as_of"].astype(str)).size().to_dict() == {
        "2019-01": 87,
        "2019-02": 87,
        "2019-03": 87,
    }
    assert flags["points_at_risk"].is_monotonic_decreasing
    march = stored[stored["as_of"] == pd.Period("2019-03", "M")].set_index("measure_id")
    assert march.loc["1-3-2.2", "status"] == flags.set_index("measure_id").loc["1-3-2.2", "status"]
    assert isinstance(march.loc["1-3-2.2", "reason_args"], list)
    # a measure well behind since January: its problem opened then
    row = flags.set_index("measure_id").loc["1-3-2.2"]
    assert row["status"] in (WATCH, ALERT) and row["opened"] == "2019-01" and row["months_open"] == 3
    # asking again reads the month, never duplicates it
    monthly.snapshot(sample_conn, "2019-03")
    assert sample_conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 9


def test_storing_a_month_is_all_or_nothing(sample_conn):
    before = sample_conn.execute("SELECT * FROM snapshot_parts WHERE month = '2019-02'").fetchall()
    bad = {"flags": pd.DataFrame({"measure_id": ["x"]}), None: pd.DataFrame()}  # a part with no name
    with pytest.raises(Exception, match="NOT NULL"):
        monthly._write(sample_conn, pd.Period("2019-02", "M"), "0" * 32, bad)
    assert sample_conn.execute("SELECT * FROM snapshot_parts WHERE month = '2019-02'").fetchall() == before


def test_quarterly_view_from_the_store(sample_conn):
    q = monthly.quarterly_view(sample_conn, "2019-03")
    assert q.months == ["2019-01", "2019-02", "2019-03"]
    assert q.by_unit["points_at_risk"].is_monotonic_decreasing
    problems = q.problems
    assert int(q.by_unit["still_open"].sum()) >= int(problems["still_open"].sum())  # joint units count twice
    with pytest.raises(ValueError, match="after the latest month with data"):
        monthly.quarterly_view(sample_conn, "2019-10")


# --------------------------------------------------------------------------------------------- CLI


@pytest.fixture()
def small_db(tmp_path):
    """A store with the catalogue and two months of two units' reports (no turnover: growth is skipped)."""
    path = tmp_path / "small.sqlite"
    create_store(path, plan_dir=PLAN_DIR, sample_dir=None)
    conn = open_store(path)
    with transaction(conn):
        for month, v in (("2019-01", 500.0), ("2019-02", 1000.0)):
            sid = add_submission(
                conn, kind="progress", file_name="t.xlsx", sha256="0", unit="局工程科", month=month
            )
            rows = pd.DataFrame(
                [
                    {
                        "measure_id": "1-3-2.2",
                        "month": month,
                        "cumulative": v,
                        "status": "推进中",
                        "note": "=1+1",
                    },
                    {
                        "measure_id": "1-5-1.1",
                        "month": month,
                        "cumulative": 40.0,
                        "status": "推进中",
                        "note": "",
                    },
                ]
            )
            insert_progress(conn, sid, rows)
    conn.close()
    return path


def test_cli_json_lists_flags_with_owners_and_age(small_db, capsys):
    assert main(["--db", str(small_db), "risks", "--as-of", "2019-02", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 87
    need = {
        "measure_id",
        "indicator_id",
        "status",
        "reasons",
        "points_at_risk",
        "leaders",
        "units",
        "persons",
    }
    assert need | {"opened", "months_open"} <= set(data[0])
    points = [d["points_at_risk"] for d in data]
    assert points == sorted(points, reverse=True)
    by_id = {d["measure_id"]: d for d in data}
    behind = by_id["1-3-2.2"]  # 1000 of 30000 by February: 13.3 points behind
    assert behind["status"] == WATCH and behind["opened"] == "2019-01" and behind["months_open"] == 2
    assert (
        behind["leaders"] == ["傅远辉"]
        and behind["units"] == ["局工程科"]
        and behind["persons"] == ["刘善辉"]
    )
    assert by_id["1-5-1.1"]["status"] == OK and by_id["1-5-1.1"]["opened"] is None


def test_cli_csv_and_table(small_db, capsys):
    assert main(["--db", str(small_db), "risks", "--as-of", "2019-02", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("status,points_at_risk,measure_id")
    assert main(["--db", str(small_db), "risks", "--as-of", "2019-02"]) == 0
    out = capsys.readouterr().out
    assert "风险状态" in out and "傅远辉" in out
    assert main(["--db", str(small_db), "risks", "--as-of", "2019/02"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ files


@pytest.mark.slow
def test_notebook_writes_csv_and_xlsx(tmp_path, run_notebook):
    """The notebook on the sample reports (turnover left out: the growth models' fits are the slow part and
    are tested in test_growth)."""
    sample = tmp_path / "sample"
    sample.mkdir()
    for name in ("progress.csv", "assessments.csv"):
        shutil.copy(SAMPLE_DIR / name, sample / name)
    db = tmp_path / "perfkit.sqlite"
    create_store(db, plan_dir=PLAN_DIR, sample_dir=sample)
    out_dir = tmp_path / "out"
    nb = run_notebook("risks.ipynb", as_of="2019-09", db=str(db), out_dir=str(out_dir))
    raw = (out_dir / "risk_flags.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese
    csv = pd.read_csv(out_dir / "risk_flags.csv", encoding="utf-8-sig")
    assert len(csv) == 87 and csv["风险分值"].is_monotonic_decreasing
    assert {"预警", "缺报", "已完成"} <= set(csv["风险状态"])
    from openpyxl import load_workbook

    wb = load_workbook(out_dir / "risk_flags.xlsx")
    assert wb.sheetnames == ["风险清单", "按责任单位", "按分管领导", "说明"]
    assert "合成示例数据" in " ".join(str(c.value) for c in wb["说明"]["A"])
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)
