"""Risk flags and the problem list (问题清单): turn the month's numbers into a status that names who must act.

Every measure gets one status per as-of month: 已完成, 正常, 关注 (watch), 预警 (at risk), 未完成 (deadline
passed, not met) or 缺报 (not reported, or a copied report). The rules and thresholds are data in plan.toml
[risks]; each flag carries the codes of the rules that fired and, per reason, its template key and numbers
(`reason_args`), rendered into plain words in the reader's language (`render_reasons`, templates in
perfkit.labels); the indicator's leaders, units and persons; and its points at risk: weight × (1 − expected
year-end completion).

The rules themselves, each a small named function (past deadline, missing report, behind schedule, low
chance, below band, anomaly, plan lowered, persistence, points at risk), are in perfkit.rules;
`flag_measures` here applies them in order and writes the flags. This module is pure: it computes from
DataFrames. Flags are kept by month in the store's monthly snapshots
(perfkit.monthly), so a problem's history is kept: when it opened, how long it has been open, when it was
closed (销号). Two rules need that history: three months in a row at 关注 becomes 预警, and a 预警 holds
until the measure is back on its schedule.

Everything over progress rows is vectorised (one sort, then array operations); only flagged measures are
visited in Python, to write their sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem
from .labels import number_unit, say, t
from .months import parse_month, quarter_of, quarter_start  # noqa: F401 - quarter_of: notebooks call risks.quarter_of
from .rules import (  # noqa: F401 - the statuses and expected_clipped, long read as risks.X, stay so
    ALERT,
    BY_LEVEL,
    DONE,
    LEVEL,
    MISSED,
    MISSING,
    OK,
    RULES,
    STATUS_CODES,
    STATUSES,
    WATCH,
    AtRisk,
    Fired,
    Standing,
    assessed_fraction,
    expected_clipped,
    num,
    ordinals,
    persistence,
    plan_lowered,
    points_at_risk,
    standing,
)
from .workplan import planned_at

REQUIRED_RULES: dict[str, type] = {
    "watch_gap_pp": float,
    "alert_gap_pp": float,
    "watch_months_to_alert": int,
    "low_probability": float,
    "alert_probability": float,
    "stale_months": int,
    "jump_factor": float,
    "clear_gap_pp": float,
    "negative_growth_alert": bool,
    "rhythm_status": str,
    "anomaly_status": str,
    "correction_marker": str,
    "unreported_schedules": list,
    "stale_schedules": list,
    "stale_only_when_behind": bool,
    "problem_statuses": list,
    "expected_completion": dict,
}
FLAG_COLUMNS = [
    "as_of",
    "measure_id",
    "indicator_id",
    "name",
    "kind",
    "status",
    "reasons",
    "points_at_risk",
    "weight",
    "leaders",
    "units",
    "persons",
    "reporting_unit",
    "last_report",
    "actual",
    "target",
    "unit",
    "completion_pct",
    "time_pct",
    "schedule_gap_pp",
    "projected",
    "p_reach",
    "expected_completion",
    "months_unchanged",
    "increment",
    "rules",
    "schedule_source",  # unit_plan (judged against the unit's own plan) or pro_rata
    "reason_args",  # per reason: [template key, {field: number or text}] (see render_reasons)
]


# ------------------------------------------------------------------------------------ plan settings


def rules_from(catalogue: Catalogue) -> dict:
    """The [risks] section of plan.toml, checked: a missing or mistyped rule names its key."""
    plan_file = str(Path(catalogue.plan_dir) / "plan.toml")
    rules = dict(catalogue.plan.get("risks", {}))
    problems = []
    for key, typ in REQUIRED_RULES.items():
        value = rules.get(key)
        if key not in rules:
            problems.append(Problem(plan_file, f"[risks] {key} is missing", cell=key))
        elif typ is float and isinstance(value, int | float) and not isinstance(value, bool):
            rules[key] = float(value)
        elif not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            problems.append(
                Problem(plan_file, f"[risks] {key} must be a {typ.__name__}, got {value!r}", cell=key)
            )
    if problems:
        raise InputError(problems)
    for key in ("rhythm_status", "anomaly_status"):
        if rules[key] not in (WATCH, ALERT):
            problems.append(Problem(plan_file, f"[risks] {key} must be {WATCH} or {ALERT}", cell=key))
    unknown = [s for s in [*rules["expected_completion"], *rules["problem_statuses"]] if s not in STATUSES]
    if unknown:
        problems.append(Problem(plan_file, f"[risks] unknown status {unknown[0]!r}", cell=unknown[0]))
    if not 0 <= rules["alert_probability"] <= rules["low_probability"] <= 1:
        problems.append(
            Problem(
                plan_file, "[risks] need 0 ≤ alert_probability ≤ low_probability ≤ 1", cell="low_probability"
            )
        )
    if not 0 <= rules["watch_gap_pp"] <= rules["alert_gap_pp"]:
        problems.append(
            Problem(plan_file, "[risks] need 0 ≤ watch_gap_pp ≤ alert_gap_pp", cell="watch_gap_pp")
        )
    if rules["watch_months_to_alert"] < 1 or rules["stale_months"] < 1:
        problems.append(
            Problem(
                plan_file, "[risks] watch_months_to_alert and stale_months must be ≥ 1", cell="stale_months"
            )
        )
    if problems:
        raise InputError(problems)
    return rules


# ------------------------------------------------------------------------------------ small helpers


def _periods(ordinals: np.ndarray) -> pd.PeriodIndex:
    """Month ordinals (NaN for none) → PeriodIndex with NaT."""
    ordinals = np.asarray(ordinals, dtype=float)
    ints = np.where(np.isnan(ordinals), np.iinfo(np.int64).min, ordinals).astype(np.int64)
    return pd.PeriodIndex(pd.arrays.PeriodArray(ints, dtype=pd.PeriodDtype("M")))


def _plain(x):
    """A reason's field as a plain Python value (numbers stay numbers until they are rendered)."""
    return x.item() if isinstance(x, np.generic) else x


def render_reason(key: str, values: dict, lang: str = "zh") -> str:
    """One reason in words from its template key and numbers (a percentage chance 'p' with no decimals)."""
    shown = {k: num(v, 0 if k == "p" else 1) if isinstance(v, float) else v for k, v in values.items()}
    if "unit" in shown:  # the plan's unit of measure, spaced from its number as the language writes it
        shown["unit"] = number_unit(shown["unit"], lang)
    return say(f"risk.reason.{key}", lang, **shown)


def render_reasons(reason_args, lang: str = "zh") -> list[str]:
    """A flag's reasons in `lang` from its `reason_args`."""
    return [render_reason(key, values, lang) for key, values in reason_args]


def with_reasons(frame: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Flags or problems with `reasons` rendered from their `reason_args` in the reader's language."""
    if "reason_args" not in frame.columns:
        return frame
    out = frame.copy()
    out["reasons"] = [render_reasons(a, lang) for a in out["reason_args"]]
    return out


# ------------------------------------------------------------------------------------ report facts


def report_facts(catalogue: Catalogue, progress: pd.DataFrame, as_of: str | pd.Period) -> pd.DataFrame:
    """What the reports say about each measure by `as_of` (this plan year only), one row per measure.

    Columns: measure_id, n_reports, last_report and first_report (Period, NaT if none), actual (latest
    cumulative), reported_status, note, prev_value (the report before the latest), baseline (the year's
    first value), increment (actual − prev_value), months_unchanged (reports in a row identical to the one
    before, ending at the latest).
    """
    as_of = parse_month(as_of)
    need = ["measure_id", "month", "cumulative", "status", "note"]
    missing = [c for c in need if c not in progress.columns]
    if missing:
        raise ValueError(f"progress lacks column(s): {', '.join(missing)}")
    ids = pd.Index(catalogue.measures["measure_id"])
    n = len(ids)
    month = ordinals(progress["month"])
    start = pd.Period(year=as_of.year, month=1, freq="M").ordinal
    keep = (month <= as_of.ordinal) & (month >= start)
    code = ids.get_indexer(progress["measure_id"].to_numpy(dtype=object)[keep])
    known = code >= 0
    code = code[known]
    month = month[keep][known]
    value = progress["cumulative"].to_numpy(dtype=float, na_value=np.nan)[keep][known]
    status = progress["status"].fillna("").to_numpy(dtype=object)[keep][known]
    note = progress["note"].fillna("").to_numpy(dtype=object)[keep][known]

    if not len(code):  # nothing reported this year: the arrays below need at least one row
        code, month, value = np.zeros(1, int), np.full(1, start - 1), np.full(1, np.nan)
        status, note = np.array([""], dtype=object), np.array([""], dtype=object)
        none = True
    else:
        none = False
    order = np.lexsort((month, code))
    code, month, value, status, note = (a[order] for a in (code, month, value, status, note))
    # Two rows for one measure and month (two units reporting it): the later one in the input stands.
    dup = np.r_[(code[1:] == code[:-1]) & (month[1:] == month[:-1]), False]
    if dup.any():
        code, month, value, status, note = (a[~dup] for a in (code, month, value, status, note))

    same = np.r_[False, code[1:] == code[:-1]]
    prev_value = np.where(same, np.r_[np.nan, value[:-1]], np.nan)
    equal_value = (value == prev_value) | (np.isnan(value) & np.isnan(prev_value))
    unchanged = same & equal_value & (status == np.r_[None, status[:-1]]) & (note == np.r_[None, note[:-1]])
    counts = np.cumsum(unchanged)
    run = counts - np.maximum.accumulate(np.where(unchanged, 0, counts))
    last = np.r_[code[1:] != code[:-1], True] & (not none)

    def spread(arr, fill, dtype=float):
        out = np.full(n, fill, dtype=dtype)
        out[code[last]] = arr[last]
        return out

    valued = ~np.isnan(value) & (not none)
    first_code, first_idx = np.unique(code[valued], return_index=True)
    baseline = np.full(n, np.nan)
    baseline[first_code] = value[valued][first_idx]
    first_month = np.full(n, np.nan)
    first_month[first_code] = month[valued][first_idx]

    facts = pd.DataFrame({"measure_id": ids})
    facts["n_reports"] = np.bincount(code, minlength=n) * (not none)
    facts["last_report"] = _periods(spread(month.astype(float), np.nan))
    facts["first_report"] = _periods(first_month)
    facts["actual"] = spread(value, np.nan)
    facts["reported_status"] = spread(status, "", object)
    facts["note"] = spread(note, "", object)
    facts["prev_value"] = spread(prev_value, np.nan)
    facts["baseline"] = baseline
    facts["increment"] = facts["actual"] - facts["prev_value"]
    facts["months_unchanged"] = spread(run, 0, int)
    return facts


# ---------------------------------------------------------------------------------------- flagging


def flag_measures(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str | pd.Period,
    investment: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    rules: dict | None = None,
    *,
    assessments: pd.DataFrame | None = None,
    unit_plan: pd.DataFrame | None = None,
    lowered: pd.DataFrame | None = None,
    lang: str = "zh",
) -> pd.DataFrame:
    """One flag per measure for `as_of`, ordered by points at risk (highest first).

    progress: tidy measure × month rows (measure_id, month, cumulative, status, note).
    investment: investment.project_measures output (per cumulative measure); growth: growth.project_modes
    output (per growth-band measure); either may be None or partial: measures without a projection are
    judged on their pace to date. previous: earlier months' flags (as_of, measure_id, status).
    rules: plan.toml [risks] (default: the catalogue's). assessments: stored grades and assessed scores.
    unit_plan: the units' 分月计划 in force (perfkit.workplan.in_force): a measure with planned values is
    judged against its plan instead of the pro-rata line (`schedule_source`); lowered: its
    downward_revisions, flagged at plan.toml [workplan] downward_status.
    Columns: see FLAG_COLUMNS; reasons and rules are lists, leaders/units/persons lists of names.
    """
    as_of = parse_month(as_of)
    rules = rules_from(catalogue) if rules is None else rules
    ids = pd.Index(catalogue.measures["measure_id"])
    facts = report_facts(catalogue, progress, as_of)
    s = standing(catalogue, facts, as_of, rules, investment, growth, _planned(unit_plan, ids, as_of))
    n = len(ids)
    level = np.zeros(n, dtype=int)
    reason_args: list[list[list]] = [[] for _ in range(n)]
    codes: list[list[str]] = [[] for _ in range(n)]

    def apply(fired: list[Fired]) -> None:
        """Raise the level where each rule fired and record its code and its reason's template key and
        numbers (rendered into words at display time, in the reader's language: `render_reasons`)."""
        nonlocal level
        for f in fired:
            mask = np.asarray(f.mask, bool)
            level = np.maximum(level, np.where(mask, f.level, 0))
            for i in np.flatnonzero(mask):
                values = {k: _plain(v[i] if isinstance(v, np.ndarray) else v) for k, v in f.fields.items()}
                reason_args[i].append([f.key, values])
                codes[i].append(f.code)

    for rule in RULES:
        apply(rule(s, rules))
    apply(plan_lowered(s, lowered))
    apply(persistence(s, level, previous, rules))  # reads the level the other rules reached
    status = np.array([BY_LEVEL[x] for x in level], dtype=object).reshape(n)
    status[s.done] = DONE
    risk = points_at_risk(s, status, rules, assessed_fraction(catalogue, assessments))
    return _flag_frame(catalogue, s, status, risk, reason_args, codes, lang)


def _flag_frame(catalogue, s: Standing, status, risk: AtRisk, reason_args, codes, lang: str) -> pd.DataFrame:
    """The flags as a frame (FLAG_COLUMNS), ordered by points at risk, then severity, then catalogue."""
    m = catalogue.measures.reset_index(drop=True)
    ind = catalogue.indicators.set_index("id")
    g = s.is_growth
    out = pd.DataFrame(
        {
            "as_of": str(s.as_of),
            "measure_id": s.ids,
            "indicator_id": m["indicator_id"].to_numpy(dtype=object),
            "name": m["name"].to_numpy(dtype=object),
            "kind": s.kind,
            "status": status,
            "reasons": [render_reasons(a, lang) for a in reason_args],
            "points_at_risk": risk.points,
            "weight": s.weight,
            "leaders": m["indicator_id"].map(ind["leaders"]).to_numpy(dtype=object),
            "units": m["indicator_id"].map(ind["units"]).to_numpy(dtype=object),
            "persons": m["indicator_id"].map(ind["persons"]).to_numpy(dtype=object),
            "reporting_unit": m["reporting_unit"].to_numpy(dtype=object),
            "last_report": s.last_report,
            "actual": np.where(g, s.ytd, s.actual),
            "target": np.where(g, s.band_low, s.target),
            "unit": s.unit,
            "completion_pct": np.where(g, np.nan, s.completion_pct),
            "time_pct": np.where(g | s.is_qual, np.nan, s.time_pct),
            "schedule_gap_pp": s.gap,
            "projected": np.where(g, s.g_proj, risk.projected),
            "p_reach": np.where(g, s.p_low, s.p_reach),
            "expected_completion": risk.expected,
            "months_unchanged": s.unchanged,
            "increment": s.increment,
            "rules": codes,
            "schedule_source": s.schedule_source,
            "reason_args": reason_args,
        }
    )
    severity = np.array([LEVEL[x] for x in status], dtype=int)
    order = np.lexsort((np.arange(len(out)), -severity, -risk.points))
    return out.iloc[order].reset_index(drop=True)[FLAG_COLUMNS]


def _planned(unit_plan: pd.DataFrame | None, ids: pd.Index, as_of: pd.Period) -> np.ndarray:
    """The planned year-to-date value at `as_of` per measure (NaN without a unit plan)."""
    if unit_plan is None or len(unit_plan) == 0:
        return np.full(len(ids), np.nan)
    return planned_at(unit_plan, ids, as_of)


# ----------------------------------------------------------------------------------- problem list


def problems_from_flags(
    history: pd.DataFrame,
    as_of: str | pd.Period,
    catalogue: Catalogue | None = None,
    problem_statuses: list[str] | None = None,
) -> pd.DataFrame:
    """Problems (问题清单) from stored flags: one row per run of consecutive months a measure was flagged.

    history: as_of (Period[M]), measure_id, status, reasons, points_at_risk (read_flags). A problem opens in
    the first month of the run and is closed (销号) in the first month after it with no problem status.
    Columns: measure_id, opened, closed (Period or NaT), months_open, status (latest), worst_status,
    reasons (latest), points_at_risk (the measure's at `as_of`, else at the run's last month), and with a
    catalogue: indicator_id, name, leaders, units, persons. Ordered by points at risk, open ones first.
    """
    as_of = parse_month(as_of)
    if problem_statuses is None:
        problem_statuses = (rules_from(catalogue) if catalogue is not None else {}).get(
            "problem_statuses", [WATCH, ALERT, MISSED, MISSING]
        )
    cols = [
        "measure_id",
        "opened",
        "closed",
        "months_open",
        "status",
        "worst_status",
        "reasons",
        "points_at_risk",
    ]
    months = ordinals(history["as_of"]) if len(history) else np.zeros(0, dtype=np.int64)
    start = pd.Period(year=as_of.year, month=1, freq="M").ordinal
    h = history[(months <= as_of.ordinal) & (months >= start)]
    month = ordinals(h["as_of"]) if len(h) else np.zeros(0, dtype=np.int64)
    code, ids = pd.factorize(h["measure_id"].to_numpy(dtype=object))
    order = np.lexsort((month, code))
    code, month = code[order], month[order]
    status = h["status"].to_numpy(dtype=object)[order]
    # reasons travel as their template keys and numbers when the history has them (rendered at display)
    why = "reason_args" if "reason_args" in h.columns else "reasons"
    cols[cols.index("reasons")] = why
    reasons = h[why].to_numpy(dtype=object)[order]
    points = h["points_at_risk"].to_numpy(dtype=float)[order]
    flagged = np.isin(status, problem_statuses)
    continues = np.r_[False, (code[1:] == code[:-1]) & (month[1:] == month[:-1] + 1) & flagged[:-1]]
    start_run = flagged & ~continues
    run_id = np.cumsum(start_run)
    sel = np.flatnonzero(flagged)
    if not len(sel):
        out = pd.DataFrame(columns=cols)
    else:
        rid = run_id[sel]
        first = np.r_[True, rid[1:] != rid[:-1]]
        last = np.r_[rid[1:] != rid[:-1], True]
        severity = np.array([LEVEL.get(s, 0) for s in status[sel]], dtype=int)
        worst = pd.Series(severity).groupby(rid).max().to_numpy()
        i_first, i_last = sel[first], sel[last]
        # closed: the next flag of the same measure, the month after the run, carries no problem status
        nxt = np.minimum(i_last + 1, len(code) - 1)
        closes = (code[nxt] == code[i_last]) & (month[nxt] == month[i_last] + 1) & (nxt != i_last)
        is_open = month[i_last] == as_of.ordinal
        closed = np.where(is_open, np.nan, month[i_last] + 1.0)
        closed = np.where(
            ~is_open & ~closes, month[i_last] + 1.0, closed
        )  # flags missing after: taken as closed
        current = pd.Series(points[month == as_of.ordinal], index=code[month == as_of.ordinal])
        pts = pd.Series(code[i_last]).map(current).to_numpy(dtype=float)
        out = pd.DataFrame(
            {
                "measure_id": ids[code[i_first]],
                "opened": _periods(month[i_first].astype(float)),
                "closed": _periods(closed),
                "months_open": np.where(
                    is_open, as_of.ordinal - month[i_first] + 1, closed - month[i_first]
                ).astype(int),
                "status": status[i_last],
                "worst_status": [BY_LEVEL[w] for w in worst],
                why: reasons[i_last],
                "points_at_risk": np.where(np.isnan(pts), points[i_last], pts),
            }
        )
        order = np.lexsort(
            (out["opened"].array.asi8, ~is_open, -np.round(out["points_at_risk"].to_numpy(), 9))
        )
        out = out.iloc[order].reset_index(drop=True)
    if catalogue is not None:
        out = _with_owners(out, catalogue)
    return out


def _with_owners(frame: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    m = catalogue.measures.set_index("measure_id")
    ind = catalogue.indicators.set_index("id")
    out = frame.copy()
    out.insert(1, "indicator_id", out["measure_id"].map(m["indicator_id"]))
    out.insert(2, "name", out["measure_id"].map(m["name"]))
    for col in ("leaders", "units", "persons"):
        out[col] = out["indicator_id"].map(ind[col])
    return out


def with_problem_age(flags: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """Flags plus `opened` ('YYYY-MM', '' when no open problem) and `months_open` (0 when none)."""
    open_ = problems[problems["closed"].isna()].drop_duplicates("measure_id").set_index("measure_id")
    out = flags.copy()
    opened = (
        out["measure_id"].map(open_["opened"].astype(str))
        if len(open_)
        else pd.Series(np.nan, index=out.index)
    )
    out["opened"] = opened.fillna("").astype(object)
    months = out["measure_id"].map(open_["months_open"]) if len(open_) else pd.Series(0, index=out.index)
    out["months_open"] = months.fillna(0).astype(int)
    return out


# ----------------------------------------------------------------------------------------- totals

_KEY_NAMES = {"units": "unit_name", "leaders": "leader_name"}


def totals_by(
    frame: pd.DataFrame, column: str = "units", problem_statuses: list[str] | None = None
) -> pd.DataFrame:
    """Points at risk and status counts per unit or leader (a measure counts fully for each of its units).

    `frame`: flags with `column` holding lists of names. Columns: unit_name (or leader_name), measures,
    flagged (measures with a problem status), points_at_risk, one count column per status present.
    Ordered by points at risk, highest first.
    """
    key = _KEY_NAMES.get(column, column)
    if not len(frame):
        return pd.DataFrame(columns=[key, "measures", "flagged", "points_at_risk"])
    problems = problem_statuses or [WATCH, ALERT, MISSED, MISSING]
    long = frame[[column, "status", "points_at_risk"]].explode(column).rename(columns={column: "name"})
    long = long[long["name"].notna() & (long["name"] != "")]
    g = long.assign(flagged=long["status"].isin(problems)).groupby("name", sort=False)
    out = pd.DataFrame(
        {
            "measures": g.size(),
            "flagged": g["flagged"].sum().astype(int),
            "points_at_risk": g["points_at_risk"].sum(),
        }
    )
    status_cols = [s for s in STATUSES if s in set(long["status"])]
    counts = pd.crosstab(long["name"], long["status"]).reindex(columns=status_cols, fill_value=0)
    out = out.join(counts).fillna(0).rename_axis("name").reset_index()
    out[status_cols] = out[status_cols].astype(int)
    out = out.sort_values(
        ["points_at_risk", "flagged", "name"], ascending=[False, False, True], kind="stable"
    )
    return out.reset_index(drop=True).rename(columns={"name": key})


@dataclass
class QuarterlyView:
    """季度通报: problems opened, closed and still open over a quarter, by unit and by leader."""

    year: int
    quarter: int
    months: list[str]
    problems: pd.DataFrame
    by_unit: pd.DataFrame
    by_leader: pd.DataFrame

    def title(self, lang: str = "zh") -> str:
        return t("risk.quarter.title", lang).format(
            year=self.year, quarter=self.quarter, first=self.months[0], last=self.months[-1]
        )


def quarter_summary(problems: pd.DataFrame, year: int, quarter: int, end: pd.Period) -> QuarterlyView:
    """Pure part of the quarterly view: `problems` as from problems_from_flags(…, end)."""
    first = quarter_start(year, quarter)
    months = [str(p) for p in pd.period_range(first, end, freq="M")]
    p = problems.copy()
    opened = p["opened"].array.asi8 if len(p) else np.zeros(0, dtype=np.int64)
    closed = p["closed"] if len(p) else pd.Series([], dtype="period[M]")
    closed_ord = np.where(closed.isna(), np.iinfo(np.int64).max, closed.array.asi8) if len(p) else opened
    p["opened_in_quarter"] = (opened >= first.ordinal) & (opened <= end.ordinal)
    p["closed_in_quarter"] = (closed_ord >= first.ordinal) & (closed_ord <= end.ordinal)
    p["still_open"] = closed_ord > end.ordinal
    p = p[p["opened_in_quarter"] | p["closed_in_quarter"] | p["still_open"]].reset_index(drop=True)

    def by(column: str) -> pd.DataFrame:
        cols = ["name", "opened_in_quarter", "closed_in_quarter", "still_open", "points_at_risk"]
        if not len(p):
            return pd.DataFrame(columns=cols).rename(columns={"name": _KEY_NAMES[column]})
        long = p[[column, "opened_in_quarter", "closed_in_quarter", "still_open", "points_at_risk"]]
        long = long.explode(column).rename(columns={column: "name"})
        long = long.assign(open_points=np.where(long["still_open"], long["points_at_risk"], 0.0))
        g = long.groupby("name", sort=False)
        out = pd.DataFrame(
            {
                "opened_in_quarter": g["opened_in_quarter"].sum().astype(int),
                "closed_in_quarter": g["closed_in_quarter"].sum().astype(int),
                "still_open": g["still_open"].sum().astype(int),
                "points_at_risk": g["open_points"].sum(),
            }
        ).reset_index()
        out = out.sort_values(["points_at_risk", "still_open", "name"], ascending=[False, False, True])
        return out.reset_index(drop=True)[cols].rename(columns={"name": _KEY_NAMES[column]})

    return QuarterlyView(year, quarter, months, p, by("units"), by("leaders"))
