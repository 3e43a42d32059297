"""The projection: each investment and cumulative measure at its deadline, and totals by unit and leader.

Projection: A + scale × (1 − τ), with an 80% interval, the chance of reaching the target, the shortfall,
the monthly amount still needed and the gap to the schedule (序时进度, or the unit's own plan). Edges: no
reports yet; already complete (fixed-scope items stop at the target, spending goes on); the deadline
passed (the value at the deadline is final); a correction that lowered an earlier figure.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd

from ..catalogue import Catalogue
from ..months import parse_month
from ..store import read_catalogue, read_progress
from ..workplan import in_force, planned_at, read_workplans
from .calibration import Calibration, calibrate
from .model import DISCRETE_KINDS, _estimate, _final_distribution, _panel, _state
from .profile import MONTHS, _elapsed, _tidy, settings

EDGES = ("", "no_data", "complete", "deadline_passed", "corrected")


COLUMNS = [
    "measure_id",
    "indicator_id",
    "name",
    "kind",
    "unit",
    "schedule",
    "reporting_unit",
    "leaders",
    "units",
    "persons",
    "target",
    "actual",
    "projected",
    "interval_80_low",
    "interval_80_high",
    "p_reach",
    "shortfall",
    "expected_shortfall",
    "required_monthly",
    "actual_pct",
    "projected_pct",
    "schedule_pct",
    "schedule_gap_pp",
    "profile_pct",
    "profile_gap_pp",
    "deadline_month",
    "months_elapsed",
    "data_month",
    "months_since_report",
    "edge",
    "method",
    "profile_source",
    "schedule_source",
]


def project_measures(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str | pd.Period,
    history: pd.DataFrame | None = None,
    calibration: Calibration | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per projected measure (investment and every other cumulative/recurring measure).

    `progress`: tidy reports (measure_id, month Period[M], cumulative, note); rows after `as_of` and
    outside the plan year are ignored. `history`: previous years' reports in the same shape (a `kind`
    column is optional), used to learn the completion profile and the interval width.
    `plan`: the units' plans in force (perfkit.workplan.in_force): a measure with planned values is
    projected along its plan's shape and its schedule is the plan, not the straight line.
    Columns: see COLUMNS; amounts are in each measure's unit (万元 for investment).
    """
    cfg = settings(catalogue)
    period = parse_month(as_of)
    prog = _tidy(progress, "progress")
    prog = prog[prog["month"] <= period]
    cal = calibration or calibrate(catalogue, prog, period, history)
    panel = _panel(catalogue, prog, cal.profiles, cfg, plan)
    n = len(panel.target)
    r = np.arange(n)
    T, d = panel.target, panel.deadline
    elapsed = _elapsed(catalogue, period)
    t = np.minimum(np.full(n, min(elapsed, MONTHS)), d)  # data after the deadline do not count
    st = _state(panel, t, cfg.recent_months)
    A = np.where(st.last > 0, st.actual, np.nan)

    scale, point, unit_sd = _estimate(
        A, st.a, st.actual_back, st.a_back, T, 1.0, cfg.recent_weight, cfg.prior_weight
    )
    remaining = point - A
    sigma = cal.sigmas(panel.measures)
    discrete = panel.measures["kind"].isin(DISCRETE_KINDS).to_numpy()
    shape = scale * (st.a + cfg.prior_weight)
    low, high, p_reach, exp_short, median = _final_distribution(
        A, remaining, sigma * unit_sd, T, discrete, shape
    )

    no_data = st.last == 0
    complete = ~no_data & (A >= T - 1e-9)
    passed = ~no_data & ~complete & (elapsed > d)
    corrected = ~no_data & ~complete & ~passed & st.corrected
    edge = np.select([no_data, complete, passed, corrected], list(EDGES[1:]), default="")
    # The reported value is final at the deadline; a fixed-scope item (a station, 30 vehicles) stops at its
    # target, while spending goes on past the plan (national 2019: 120% of plan by November).
    keeps_going = panel.measures["kind"].isin(cfg.continue_after_target).to_numpy()
    fixed = (complete & ~keeps_going) | passed
    # the median of the final value's distribution: whole items for counts
    projected = np.where(no_data, np.nan, np.where(fixed, A, np.where(discrete, median, point)))
    low = np.where(no_data, np.nan, np.where(fixed, A, low))
    high = np.where(no_data, np.nan, np.where(fixed, A, high))
    # A share of a whole (梁片完成比例 …) cannot pass 100%.
    share = (panel.measures["unit"] == "%").to_numpy()
    projected, low, high = (np.where(share, np.minimum(v, 100.0), v) for v in (projected, low, high))
    p_reach = np.where(no_data, np.nan, np.where(complete, 1.0, np.where(passed, 0.0, p_reach)))
    exp_short = np.where(no_data, np.nan, np.where(complete, 0.0, np.where(passed, T - A, exp_short)))
    method = np.select(
        [no_data, fixed & complete, passed], ["none", "complete", "at_deadline"], default="blend"
    )

    months_left = d - elapsed
    todo = np.where(no_data, T, np.maximum(T - np.nan_to_num(A), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        required = np.where(complete, 0.0, np.where(months_left > 0, todo / months_left, np.nan))
    schedule = np.minimum(elapsed / d, 1.0)
    own_plan = np.zeros(n, bool)
    if plan is not None and len(plan):
        planned = planned_at(plan, pd.Index(panel.measures["measure_id"]), period)
        own_plan = ~np.isnan(planned)
        with np.errstate(divide="ignore", invalid="ignore"):
            schedule = np.where(own_plan, planned / T, schedule)
    prof_share = panel.tau[r, np.minimum(np.minimum(elapsed, MONTHS), d)]

    out = panel.measures.copy()
    out["actual"] = A
    out["projected"] = projected
    out["interval_80_low"] = low
    out["interval_80_high"] = high
    out["p_reach"] = p_reach
    out["shortfall"] = np.where(no_data, np.nan, np.maximum(T - projected, 0.0))
    out["expected_shortfall"] = exp_short
    out["required_monthly"] = required
    out["actual_pct"] = A / T * 100
    out["projected_pct"] = projected / T * 100
    out["schedule_pct"] = schedule * 100
    out["schedule_gap_pp"] = out["actual_pct"] - out["schedule_pct"]
    out["profile_pct"] = prof_share * 100
    out["profile_gap_pp"] = out["actual_pct"] - out["profile_pct"]
    out["months_elapsed"] = elapsed
    out["data_month"] = np.where(no_data, np.nan, st.last).astype(float)
    out["months_since_report"] = np.where(no_data, np.nan, np.minimum(elapsed, d) - st.last).astype(float)
    out["edge"] = edge
    out["method"] = method
    out["profile_source"] = np.where(own_plan, "unit_plan", out["kind"].map(cal.profile_source))
    out["schedule_source"] = np.where(own_plan, "unit_plan", "pro_rata")
    return out[COLUMNS]


def store_inputs(
    conn: sqlite3.Connection, as_of: str | pd.Period
) -> tuple[Catalogue, pd.DataFrame, pd.DataFrame | None]:
    """From the store: the catalogue, this plan year's reports up to `as_of`, and earlier years' reports
    (the history that teaches the profile; None when the store holds only this year)."""
    period = parse_month(as_of)
    catalogue = read_catalogue(conn)
    progress = read_progress(conn, str(period))
    year = progress["month"].dt.year
    history = progress[year < catalogue.year]
    return catalogue, progress[year == catalogue.year], (history if len(history) else None)


def project_store(conn: sqlite3.Connection, as_of: str | pd.Period) -> pd.DataFrame:
    """The projection from the store (see store_inputs), along the units' plans in force where they have one."""
    catalogue, progress, history = store_inputs(conn, as_of)
    plans = read_workplans(conn, catalogue.year)
    plan = in_force(plans, parse_month(as_of)) if len(plans) else None
    return project_measures(catalogue, progress, as_of, history, plan=plan)


def _aggregate(df: pd.DataFrame, key: str, money_kinds: tuple[str, ...]) -> pd.DataFrame:
    money = df["kind"].isin(money_kinds)
    d = df.assign(
        _money=money,
        _target=df["target"].where(money),
        _actual=df["actual"].where(money),
        _projected=df["projected"].where(money),
        _shortfall=df["shortfall"].where(money),
        _short=df["p_reach"] < 0.5,
        _complete=df["edge"] == "complete",
        _no_data=df["edge"] == "no_data",
    )
    g = d.groupby(key, sort=False)
    out = pd.DataFrame(
        {
            "n_measures": g.size(),
            "n_money": g["_money"].sum(),
            "target": g["_target"].sum(min_count=1),
            "actual": g["_actual"].sum(min_count=1),
            "projected": g["_projected"].sum(min_count=1),
            "shortfall": g["_shortfall"].sum(min_count=1),
            "n_unlikely": g["_short"].sum(),
            "n_complete": g["_complete"].sum(),
            "n_no_data": g["_no_data"].sum(),
        }
    )
    out["projected_pct"] = out["projected"] / out["target"] * 100
    return out.reset_index().sort_values(["shortfall", "n_unlikely"], ascending=False, ignore_index=True)


def by_unit(df: pd.DataFrame, money_kinds: tuple[str, ...] = ("investment",)) -> pd.DataFrame:
    """Totals by reporting unit. Sums (target, actual, projected, shortfall) cover `money_kinds` only
    (万元 for investment; kilometres and vehicles do not add up with money); counts cover every measure:
    n_unlikely has p_reach below 0.5."""
    return _aggregate(df, "reporting_unit", money_kinds)


def by_leader(df: pd.DataFrame, money_kinds: tuple[str, ...] = ("investment",)) -> pd.DataFrame:
    """Totals by lead leader (分管领导), as by_unit. A measure under two leaders counts for each."""
    ex = df.explode("leaders").rename(columns={"leaders": "leader"})
    ex["leader"] = ex["leader"].fillna("")
    return _aggregate(ex, "leader", money_kinds)
