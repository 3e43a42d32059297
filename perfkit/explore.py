"""Drill-down for analysts: the questions asked in JupyterLab, each answered by a tidy DataFrame.

`load(conn, as_of)` reads the month once, through the functions the other notebooks call: the accepted
progress (perfkit.store), every submission with superseded ones marked (perfkit.intake.history), the risk
flags as recorded month by month (perfkit.risks; months never flagged are filled in as the risks notebook
does), the year-end projections (perfkit.investment) and each month's indicator scores (perfkit.scoring).
Nothing here scores, projects or flags anything itself; the functions below only select and join:

- `units_at_risk(wb)`: responsible units ranked by points at risk this month;
- `unit_measures(wb, unit)`: one unit's measures over the months (value, % of target, status, points);
- `measure_series(wb, measure_id)`: one measure month by month to its deadline: accepted value, the
  pro-rata schedule line (序时进度), the projection fan from the last report to the deadline, the status;
- `measure_submissions(wb, measure_id)`: every submission of the measure, superseded ones marked;
- `indicator_history(wb, indicator_id)`: an indicator's score and points at risk month by month;
- `changes(wb)`: what changed since last month (status, points at risk, reported value).

Charts for these views are in perfkit.charts (`units_chart`, `unit_chart`, `measure_chart`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem

# Stored flags carry these; the rest of a measure's description comes from the catalogue.
FLAG_FIELDS = ["as_of", "measure_id", "status", "points_at_risk", "reasons"]


@dataclass
class Workbench:
    """One as-of month read once for the drill-down views (see `load`)."""

    as_of: str
    catalogue: Catalogue
    measures: pd.DataFrame  # the catalogue's measures with their indicator's units and leaders (lists)
    progress: pd.DataFrame  # accepted values of the plan year up to as_of (perfkit.store.read_progress)
    submissions: pd.DataFrame  # every submission up to as_of, superseded ones marked (perfkit.intake)
    flags: pd.DataFrame  # the recorded flags of each month of the plan year up to as_of, with measure info
    projection: pd.DataFrame  # year-end projections as of the month (perfkit.investment.project_store)
    scores: pd.DataFrame  # indicator scores of each month of the plan year up to as_of

    @property
    def month(self) -> pd.Period:
        return pd.Period(self.as_of, freq="M")

    @property
    def units(self) -> list[str]:
        """Every responsible or reporting unit, sorted."""
        names = set(self.measures["reporting_unit"].dropna())
        names |= {u for lst in self.measures["units"] for u in lst}
        return sorted(n for n in names if n)


def load(conn: sqlite3.Connection, as_of: str = "") -> Workbench:
    """Read the month `as_of` ('YYYY-MM'; empty: the latest month with data) for the drill-down views.

    Months of the plan year without recorded flags are flagged and stored first (perfkit.risks.ensure_flags,
    as the risks notebook does); nothing else is written.
    """
    from . import intake, investment, risks, scoring
    from .brief import check_as_of
    from .store import latest_month, read_catalogue, read_progress

    as_of = check_as_of(as_of) if as_of else latest_month(conn)
    if as_of is None:
        raise InputError(Problem("store", "no progress data yet; ingest submissions first"))
    month = pd.Period(as_of, freq="M")
    catalogue = read_catalogue(conn)
    measures = _measure_info(catalogue)
    progress = read_progress(conn, as_of)
    progress = progress[progress["month"].dt.year == month.year].reset_index(drop=True)
    reported = measures.loc[measures["schedule"] != "statistic", "measure_id"]
    history = pd.concat([intake.history(conn, m) for m in reported], ignore_index=True)
    history = history[history["month"] <= month].reset_index(drop=True)

    risks.ensure_flags(conn, month)
    flags = risks.read_flags(conn, month.year, month)[FLAG_FIELDS]
    flags = flags.merge(measures, on="measure_id", how="left")

    months = pd.period_range(f"{month.year}-01", month, freq="M")
    scores = pd.concat(
        [scoring.score_store(conn, str(m)).indicators.assign(month=m) for m in months], ignore_index=True
    )
    return Workbench(
        as_of=str(month),
        catalogue=catalogue,
        measures=measures,
        progress=progress,
        submissions=history,
        flags=flags,
        projection=investment.project_store(conn, month),
        scores=scores,
    )


def _measure_info(catalogue: Catalogue) -> pd.DataFrame:
    ms = catalogue.measures
    ind = catalogue.indicators.set_index("id")
    return pd.DataFrame(
        {
            "measure_id": ms["measure_id"],
            "indicator_id": ms["indicator_id"],
            "name": ms["name"],
            "kind": ms["kind"],
            "schedule": ms["schedule"],
            "unit_of_measure": ms["unit"],
            "target": ms["target"],
            "deadline_month": ms["deadline_month"],
            "reporting_unit": ms["reporting_unit"],
            "units": ms["indicator_id"].map(ind["units"]).map(_as_list),
            "leaders": ms["indicator_id"].map(ind["leaders"]).map(_as_list),
        }
    ).reset_index(drop=True)


def _as_list(value) -> list[str]:
    return list(value) if isinstance(value, list | tuple) else []


# ----------------------------------------------------------------------------------------- the views


def units_at_risk(wb: Workbench) -> pd.DataFrame:
    """Responsible units this month, most points at risk first (perfkit.risks.totals_by: a measure counts
    fully for each of its units). Columns: unit_name, measures, flagged, points_at_risk, one count per status.
    """
    from .risks import totals_by

    return totals_by(wb.flags[wb.flags["as_of"] == wb.month], "units")


def unit_measure_ids(wb: Workbench, unit: str) -> list[str]:
    """The measures `unit` reports or is responsible for, in catalogue order."""
    ms = wb.measures
    mine = (ms["reporting_unit"] == unit) | ms["units"].map(lambda lst: unit in lst)
    if not mine.any():
        known = "、".join(wb.units[:8])
        raise InputError(Problem(unit or "unit", f"no measure names this unit; units include {known}…"))
    return ms.loc[mine, "measure_id"].tolist()


def unit_measures(wb: Workbench, unit: str) -> pd.DataFrame:
    """One unit's measures over the months of the plan year up to as_of: one row per measure × month.

    Columns: measure_id, name, kind, month ('YYYY-MM'), value (the accepted cumulative figure, NaN when not
    reported), target, unit_of_measure, completion_pct (value ÷ target), status and points_at_risk (as
    flagged that month), reporting_unit.
    """
    ids = unit_measure_ids(wb, unit)
    f = wb.flags[wb.flags["measure_id"].isin(ids)]
    values = wb.progress[["measure_id", "month", "cumulative"]].rename(columns={"month": "as_of"})
    out = f.merge(values, on=["measure_id", "as_of"], how="left").rename(columns={"cumulative": "value"})
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = out["value"] / out["target"] * 100
    out = out.assign(month=out["as_of"].astype(str), completion_pct=pct.where(out["target"] > 0))
    order = {m: i for i, m in enumerate(ids)}
    out = out.sort_values(
        ["measure_id", "month"], key=lambda s: s.map(order) if s.name == "measure_id" else s
    )
    cols = [
        "measure_id",
        "name",
        "kind",
        "month",
        "value",
        "target",
        "unit_of_measure",
        "completion_pct",
        "status",
        "points_at_risk",
        "reporting_unit",
    ]
    return out[cols].reset_index(drop=True)


def _measure(wb: Workbench, measure_id: str) -> pd.Series:
    row = wb.measures[wb.measures["measure_id"] == measure_id]
    if not len(row):
        raise InputError(Problem(measure_id or "measure", "unknown measure id"))
    return row.iloc[0]


def measure_submissions(wb: Workbench, measure_id: str) -> pd.DataFrame:
    """Every submission of the measure up to as_of, oldest first; `superseded` marks values a later
    submission for the same unit and month replaced (perfkit.intake.history). `month` as 'YYYY-MM'."""
    m = _measure(wb, measure_id)
    if m["schedule"] == "statistic":
        raise InputError(Problem(measure_id, "comes from the turnover table: see the growth notebook"))
    out = wb.submissions[wb.submissions["measure_id"] == measure_id]
    return out.assign(month=out["month"].astype(str)).reset_index(drop=True)


def measure_series(wb: Workbench, measure_id: str) -> pd.DataFrame:
    """One measure month by month, from January to its deadline (or as_of when later).

    Columns: month ('YYYY-MM'), actual (the accepted cumulative figure), schedule (the target on the
    pro-rata schedule, 序时进度: target × months elapsed ÷ months to deadline), projected, low_80 and
    high_80 (the projection fan: from the last accepted figure at as_of to perfkit.investment's
    projection and 80% interval at the deadline, straight in between), status and points_at_risk (as
    flagged that month), observed (a month up to as_of).
    """
    m = _measure(wb, measure_id)
    if m["schedule"] == "statistic":
        raise InputError(Problem(measure_id, "comes from the turnover table: see the growth notebook"))
    year = wb.month.year
    deadline = int(m["deadline_month"]) if pd.notna(m["deadline_month"]) else 12
    months = pd.period_range(f"{year}-01", f"{year}-{max(deadline, wb.month.month):02d}", freq="M")
    out = pd.DataFrame({"month": months})
    accepted = wb.progress[wb.progress["measure_id"] == measure_id].set_index("month")["cumulative"]
    out["actual"] = out["month"].map(accepted).astype(float)
    target = float(m["target"]) if pd.notna(m["target"]) else np.nan
    elapsed = np.minimum(out["month"].dt.month.to_numpy() / deadline, 1.0)
    out["schedule"] = target * elapsed if m["schedule"] == "cumulative" else np.nan
    out[["projected", "low_80", "high_80"]] = np.nan
    proj = wb.projection[wb.projection["measure_id"] == measure_id]
    if len(proj) and deadline > wb.month.month:
        p = proj.iloc[0]
        last = out.loc[out["month"] <= wb.month, "actual"].dropna()
        start = float(last.iloc[-1]) if len(last) else 0.0
        span = out["month"].dt.month.to_numpy() - wb.month.month
        share = np.where(span >= 0, span / (deadline - wb.month.month), np.nan)
        for col, end in (
            ("projected", "projected"),
            ("low_80", "interval_80_low"),
            ("high_80", "interval_80_high"),
        ):
            out[col] = start + share * (float(p[end]) - start)
    flags = wb.flags[wb.flags["measure_id"] == measure_id].set_index("as_of")
    out["status"] = out["month"].map(flags["status"])
    out["points_at_risk"] = out["month"].map(flags["points_at_risk"])
    out["observed"] = out["month"] <= wb.month
    return out.assign(month=out["month"].astype(str))


def indicator_history(wb: Workbench, indicator_id: str) -> pd.DataFrame:
    """An indicator's score month by month (perfkit.scoring.score_store as of each month) with the points
    at risk and flagged measures of its measures. Columns: month, indicator_id, weight, score, lost,
    points_at_risk, measures, flagged."""
    from .risks import LEVEL, OK

    s = wb.scores[wb.scores["id"] == indicator_id]
    if not len(s):
        raise InputError(Problem(indicator_id or "indicator", "unknown indicator id"))
    f = wb.flags[wb.flags["indicator_id"] == indicator_id]
    g = f.assign(flagged=f["status"].map(LEVEL).fillna(0) > LEVEL[OK]).groupby("as_of")
    risk = pd.DataFrame(
        {"points_at_risk": g["points_at_risk"].sum(), "measures": g.size(), "flagged": g["flagged"].sum()}
    )
    out = s.rename(columns={"id": "indicator_id"}).merge(risk, left_on="month", right_index=True, how="left")
    out = out.assign(month=out["month"].astype(str))
    cols = ["month", "indicator_id", "weight", "score", "lost", "points_at_risk", "measures", "flagged"]
    return out[cols].reset_index(drop=True)


def changes(wb: Workbench) -> pd.DataFrame:
    """What changed since last month: each measure whose status, points at risk (by 0.01 or more) or
    reported value changed, most points at risk first.

    Columns: measure_id, name, reporting_unit, status_before, status_now, points_before, points_now,
    points_change, value_before, value_now.
    """
    now, before = wb.month, wb.month - 1
    flags = wb.flags.set_index(["as_of", "measure_id"])
    cur = flags.xs(now, level="as_of")
    values = wb.progress.set_index(["month", "measure_id"])["cumulative"]
    out = pd.DataFrame(
        {
            "name": cur["name"],
            "reporting_unit": cur["reporting_unit"],
            "status_before": _at(flags["status"], before, cur.index),
            "status_now": cur["status"],
            "points_before": _at(flags["points_at_risk"], before, cur.index),
            "points_now": cur["points_at_risk"],
            "value_before": _at(values, before, cur.index),
            "value_now": _at(values, now, cur.index),
        }
    )
    out["points_change"] = out["points_now"] - out["points_before"].fillna(0.0)
    same_value = (out["value_before"] == out["value_now"]) | (
        out["value_before"].isna() & out["value_now"].isna()
    )
    changed = (out["status_before"] != out["status_now"]) | (out["points_change"].abs() >= 0.01) | ~same_value
    out = out[changed].reset_index().sort_values(["points_now", "measure_id"], ascending=[False, True])
    cols = [
        "measure_id",
        "name",
        "reporting_unit",
        "status_before",
        "status_now",
        "points_before",
        "points_now",
    ]
    return out[[*cols, "points_change", "value_before", "value_now"]].reset_index(drop=True)


def _at(series: pd.Series, month: pd.Period, index: pd.Index) -> pd.Series:
    """`series` (indexed by month × measure_id) at `month`, aligned to `index` (NaN where absent)."""
    return series[series.index.get_level_values(0) == month].droplevel(0).reindex(index)


def indicator_of(wb: Workbench, measure_id: str) -> str:
    """The indicator a measure belongs to."""
    return str(_measure(wb, measure_id)["indicator_id"])


def top_unit(wb: Workbench) -> str:
    """The unit with the most points at risk this month (the notebook's default)."""
    ranked = units_at_risk(wb)
    return str(ranked.iloc[0, 0]) if len(ranked) else wb.units[0]


def top_measure(wb: Workbench, unit: str) -> str:
    """The unit's reported measure with the most points at risk this month (the notebook's default)."""
    ids = set(unit_measure_ids(wb, unit))
    f = wb.flags[(wb.flags["as_of"] == wb.month) & wb.flags["measure_id"].isin(ids)]
    f = f[f["schedule"] != "statistic"].sort_values(["points_at_risk", "measure_id"], ascending=[False, True])
    return str(f["measure_id"].iloc[0]) if len(f) else sorted(ids)[0]
