"""Trends: the plan year month by month, as the monthly snapshots hold it.

perfkit.monthly keeps one snapshot per month (January..as-of). This module lines up what they hold and
computes nothing again: per month the 目标考评 score to date, the projected year-end 目标考评 score (the
measures' weights less the month's points at risk: the brief's headline figure), the points at risk, the
measures on the problem list and the problems opened and closed that month, the measures in each status,
and each mode's turnover growth against the same period last year (同比, on the snapshot's basis).

The comparisons the brief prints are picked from these series here (the month against the one before,
this quarter against the last, turnover growth against an earlier period); their words are the report
layer's (perfkit.report).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import monthly, risks
from .catalogue import Catalogue
from .months import parse_month, quarter_end, quarter_of, quarter_start
from .store import read_catalogue

# the figures compared from one period to the next (month on month, quarter on quarter)
FIGURES = (
    "score_to_date",
    "projected_target_score",
    "points_at_risk",
    "problems_open",
    "problems_opened",
    "problems_closed",
)


@dataclass(frozen=True)
class Trends:
    """January..as-of, one row per month (`months`), one per month and status (`statuses`), one per
    month and transport mode (`turnover`)."""

    # month (Period[M]), score_to_date, projected_target_score, points_at_risk, problems_open,
    # problems_opened, problems_closed
    months: pd.DataFrame
    # month, status (risks.STATUSES, every one every month), measures
    statuses: pd.DataFrame
    # month (the snapshot's), mode, data_through (Period[M]), ytd_growth_pct, band_low, band_high
    turnover: pd.DataFrame

    def row(self, month: str | pd.Period) -> pd.Series | None:
        """The month's figures, or None when the series does not reach it."""
        month = parse_month(month)
        hit = self.months[self.months["month"] == month]
        return hit.iloc[0] if len(hit) else None

    def status_counts(self, month: str | pd.Period) -> pd.Series:
        """Measures in each status in `month` (status → count, in risks.STATUSES order)."""
        month = parse_month(month)
        s = self.statuses[self.statuses["month"] == month]
        return s.set_index("status")["measures"].reindex(list(risks.STATUSES), fill_value=0)


def read(conn: sqlite3.Connection, as_of: str | pd.Period) -> Trends:
    """The year's trends up to `as_of` from the stored snapshots (bring them up to date first:
    monthly.ensure or monthly.snapshot, as report.gather does)."""
    month = parse_month(as_of)
    parts = {
        name: monthly.read_months(conn, name, month.year, month)
        for name in ("score", "flags", "problems", "growth_projections")
    }
    wanted = [str(m) for m in pd.period_range(f"{month.year}-01", month, freq="M")]
    missing = [m for m in wanted if m not in parts["score"] or m not in parts["flags"]]
    if missing:
        raise LookupError(
            f"no snapshot of {', '.join(missing)} in the store: bring the months up to date first"
        )
    return from_snapshots(read_catalogue(conn), **parts)


def from_snapshots(
    catalogue: Catalogue,
    score: dict[str, dict],
    flags: dict[str, pd.DataFrame],
    problems: dict[str, pd.DataFrame],
    growth_projections: dict[str, pd.DataFrame],
) -> Trends:
    """Trends from the snapshots' parts, month → part (monthly.read_months)."""
    problem_statuses = risks.rules_from(catalogue)["problem_statuses"]
    weight = float(catalogue.measures["weight"].sum())
    rows, counts, turnover = [], [], []
    for key in sorted(flags):
        month = pd.Period(key, freq="M")
        f = flags[key]
        p = problems.get(key)
        opened = closed = 0
        if p is not None and len(p):
            opened = int((p["opened"] == month).sum())
            closed = int((p["closed"] == month).sum())
        points = float(f["points_at_risk"].sum())
        rows.append(
            {
                "month": month,
                "score_to_date": float(score[key]["totals"]["target_score"]),
                # the headline's expected year-end score: each measure's weight less its points at risk
                "projected_target_score": weight - points,
                "points_at_risk": points,
                "problems_open": int(f["status"].isin(problem_statuses).sum()),
                "problems_opened": opened,
                "problems_closed": closed,
            }
        )
        n = f["status"].value_counts()
        counts += [{"month": month, "status": s, "measures": int(n.get(s, 0))} for s in risks.STATUSES]
        g = growth_projections.get(key)
        if g is not None and len(g):
            turnover.append(
                pd.DataFrame(
                    {
                        "month": month,
                        "mode": g["mode"].astype(str).to_numpy(),
                        "data_through": pd.PeriodIndex(g["data_through"].astype(str), freq="M"),
                        "ytd_growth_pct": g["ytd_growth_pct"].astype(float).to_numpy(),
                        "band_low": g["band_low"].astype(float).to_numpy(),
                        "band_high": g["band_high"].astype(float).to_numpy(),
                    }
                )
            )
    months = pd.DataFrame(rows, columns=["month", *FIGURES])
    months["month"] = pd.PeriodIndex(months["month"], freq="M")
    statuses = pd.DataFrame(counts, columns=["month", "status", "measures"])
    statuses["month"] = pd.PeriodIndex(statuses["month"], freq="M")
    turnover_cols = ["month", "mode", "data_through", "ytd_growth_pct", "band_low", "band_high"]
    growth = pd.concat(turnover, ignore_index=True) if turnover else pd.DataFrame(columns=turnover_cols)
    return Trends(months.reset_index(drop=True), statuses.reset_index(drop=True), growth)


# ---------------------------------------------------------------------------------------- comparisons


def month_on_month(trends: Trends, as_of: str | pd.Period) -> pd.Series | None:
    """较上月: each figure of `as_of` less the month before's; None in January (no earlier month)."""
    month = parse_month(as_of)
    now, before = trends.row(month), trends.row(month - 1) if month.month > 1 else None
    if now is None or before is None:
        return None
    return pd.Series({k: now[k] - before[k] for k in FIGURES})


@dataclass(frozen=True)
class QuarterComparison:
    """This quarter (to `end`) against the last: `table` has one row per figure (FIGURES, then
    'status:<status>' for the measures in each status at the quarter's end) with previous, current and
    change. Problems opened and closed are summed over the quarter's months; the rest are at its end."""

    year: int
    quarter: int
    end: pd.Period
    previous_quarter: int | None  # None in the first quarter: the plan year has no earlier quarter
    previous_end: pd.Period | None
    table: pd.DataFrame


def quarter_on_quarter(trends: Trends, as_of: str | pd.Period) -> QuarterComparison:
    end = parse_month(as_of)
    year, q = quarter_of(end)
    if q == 1:
        return QuarterComparison(year, q, end, None, None, pd.DataFrame())
    prev_end = quarter_end(year, q - 1)

    def figures(first: pd.Period, last: pd.Period) -> dict[str, float]:
        span = trends.months[(trends.months["month"] >= first) & (trends.months["month"] <= last)]
        at_end = trends.row(last)
        out = {k: float(at_end[k]) for k in FIGURES}
        out["problems_opened"] = float(span["problems_opened"].sum())
        out["problems_closed"] = float(span["problems_closed"].sum())
        out |= {f"status:{s}": float(n) for s, n in trends.status_counts(last).items()}
        return out

    this = figures(quarter_start(year, q), end)
    last = figures(quarter_start(year, q - 1), prev_end)
    table = pd.DataFrame(
        {"figure": list(this), "previous": [last[k] for k in this], "current": list(this.values())}
    )
    table["change"] = table["current"] - table["previous"]
    return QuarterComparison(year, q, end, q - 1, prev_end, table)


def turnover_against(
    trends: Trends, as_of: str | pd.Period, earlier: str | pd.Period | None = None
) -> pd.DataFrame:
    """Each mode's growth to date in `as_of`'s snapshot against the same period last year (同比), beside
    the growth to date in `earlier`'s snapshot: mode, data_through, ytd_growth_pct, earlier_through,
    earlier_growth_pct, change_pp (NaN when there is no earlier snapshot, it has no figure or it covers
    the same months), band_low, band_high, position (below, within or above the band)."""
    cols = [
        "mode",
        "data_through",
        "ytd_growth_pct",
        "earlier_through",
        "earlier_growth_pct",
        "change_pp",
        "band_low",
        "band_high",
        "position",
    ]
    t = trends.turnover
    now = t[t["month"] == parse_month(as_of)]
    if not len(now):
        return pd.DataFrame(columns=cols)
    before = t[t["month"] == parse_month(earlier)].set_index("mode") if earlier is not None else t.iloc[:0]
    out = now[["mode", "data_through", "ytd_growth_pct", "band_low", "band_high"]].reset_index(drop=True)
    out["earlier_through"] = out["mode"].map(before["data_through"]) if len(before) else pd.NaT
    out["earlier_growth_pct"] = (
        out["mode"].map(before["ytd_growth_pct"]).astype(float) if len(before) else np.nan
    )
    same = out["earlier_through"].astype(str) == out["data_through"].astype(str)
    out["change_pp"] = (out["ytd_growth_pct"] - out["earlier_growth_pct"]).where(~same)
    out.loc[same, "earlier_growth_pct"] = np.nan
    g = out["ytd_growth_pct"]
    out["position"] = np.select(
        [g.isna(), g < out["band_low"], g > out["band_high"]], ["", "below", "above"], "within"
    )
    return out[cols]
