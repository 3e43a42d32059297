"""Risk flags and the problem list (问题清单): turn the month's numbers into a status that names who must act.

Every measure gets one status per as-of month: 已完成, 正常, 关注 (watch), 预警 (at risk), 未完成 (deadline
passed, not met) or 缺报 (not reported, or a copied report). The rules and thresholds are data in plan.toml
[risks]; each flag carries the codes of the rules that fired and, per reason, its template key and numbers
(`reason_args`), rendered into plain words in the reader's language (`render_reasons`, templates in
perfkit.labels); the indicator's leaders, units and persons; and its points at risk: weight × (1 − expected
year-end completion).

This module is pure: it computes from DataFrames. Flags are kept by month in the store's monthly snapshots
(perfkit.monthly), so a problem's history is kept: when it opened, how long it has been open, when it was
closed (销号). Two rules need that history: three months in a row at 关注 becomes 预警, and a 预警 holds
until the measure is back on its schedule.

Everything over progress rows is vectorised (one sort, then array operations); only flagged measures are
visited in Python, to write their sentences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem
from .labels import t
from .months import parse_month, quarter_of  # noqa: F401 - quarter_of: notebooks call risks.quarter_of

STATUS_CODES = ("done", "ok", "watch", "alert", "missing", "missed")
DONE, OK, WATCH, ALERT, MISSING, MISSED = (t(f"risk.status.{c}") for c in STATUS_CODES)
STATUSES = (DONE, OK, WATCH, ALERT, MISSED, MISSING)
# Which status wins when several rules fire: 未完成 (the chance is gone) over 缺报 (nothing current to judge
# by) over 预警 over 关注. 已完成 is decided first and ends the matter.
LEVEL = {DONE: -1, OK: 0, WATCH: 1, ALERT: 2, MISSING: 3, MISSED: 4}
_BY_LEVEL = {v: k for k, v in LEVEL.items()}

CUMULATIVE_KINDS = {"investment", "amount", "count", "length", "level", "percent", "milestone"}
REPORTED_DONE = t("status.done")  # the unit's own 已完成 in its progress report
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
Z80 = 1.2815515655446004  # an 80% central interval is mean ± Z80·σ
EPS = 1e-9

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
INVESTMENT_COLUMNS = [
    "measure_id",
    "projected",
    "interval_80_low",
    "interval_80_high",
    "p_reach",
    "shortfall",
    "required_monthly",
    "schedule_gap_pp",
    "edge",
    "expected_shortfall",
]
GROWTH_COLUMNS = [
    "measure_id",
    "ytd_growth_pct",
    "projected_growth_pct",
    "interval_80_low",
    "interval_80_high",
    "band_low",
    "band_high",
    "p_reach_low",
]


# ------------------------------------------------------------------------------------------- rules


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


def _ordinals(col) -> np.ndarray:
    return pd.PeriodIndex(col, freq="M").asi8


def _periods(ordinals: np.ndarray) -> pd.PeriodIndex:
    """Month ordinals (NaN for none) → PeriodIndex with NaT."""
    ordinals = np.asarray(ordinals, dtype=float)
    ints = np.where(np.isnan(ordinals), np.iinfo(np.int64).min, ordinals).astype(np.int64)
    return pd.PeriodIndex(pd.arrays.PeriodArray(ints, dtype=pd.PeriodDtype("M")))


def _num(x, digits: int = 1) -> str:
    """A number as people write it: rounded, no trailing zeros."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    s = f"{float(x):.{digits}f}"
    s = s.rstrip("0").rstrip(".") if "." in s else s
    return "0" if s == "-0" else s


_erf = np.frompyfunc(math.erf, 1, 1)


def _plain(x):
    """A reason's field as a plain Python value (numbers stay numbers until they are rendered)."""
    return x.item() if isinstance(x, np.generic) else x


def render_reason(key: str, values: dict, lang: str = "zh") -> str:
    """One reason in words from its template key and numbers (a percentage chance 'p' with no decimals)."""
    shown = {k: _num(v, 0 if k == "p" else 1) if isinstance(v, float) else v for k, v in values.items()}
    return t(f"risk.reason.{key}", lang).format(**shown)


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


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.asarray(_erf(np.asarray(z, dtype=float) / math.sqrt(2.0)), dtype=float))


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _above(mu: np.ndarray, s: np.ndarray, k: np.ndarray) -> np.ndarray:
    """E[(X − k)+] for X ~ Normal(mu, s)."""
    z = (mu - k) / s
    return (mu - k) * _norm_cdf(z) + s * _norm_pdf(z)


def expected_clipped(mu, sigma, lo, hi) -> np.ndarray:
    """E[clip(X, lo, hi)] for X ~ Normal(mu, sigma); sigma 0 or NaN means X = mu exactly.

    Expected completion: a cumulative measure cannot end below what is done (lo) and scores nothing above
    its target (hi).
    """
    mu, sigma, lo, hi = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(mu, sigma, lo, hi))
    certain = ~(sigma > 0)
    s = np.where(certain, 1.0, sigma)
    stochastic = lo + _above(mu, s, lo) - _above(mu, s, hi)
    return np.where(certain, np.clip(mu, lo, hi), stochastic)


def _align(frame: pd.DataFrame | None, ids: pd.Index, columns: list[str]) -> pd.DataFrame:
    """One row per catalogue measure (NaN where `frame` has none), whatever order `frame` comes in."""
    if frame is None or len(frame) == 0:
        return pd.DataFrame(np.nan, index=ids, columns=columns[1:])
    f = frame.drop_duplicates("measure_id", keep="last").set_index("measure_id")
    out = f.reindex(ids)
    for col in columns[1:]:
        if col not in out.columns:
            out[col] = np.nan
    return out[columns[1:]]


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
    month = _ordinals(progress["month"])
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


def _history(previous: pd.DataFrame | None, ids: pd.Index, as_of: pd.Period) -> tuple[np.ndarray, np.ndarray]:
    """From earlier months' flags: months in a row at 关注 just before `as_of`, and the latest status.

    缺报 months are skipped by both (a silent unit neither breaks nor extends a run); a month with no flag
    at all breaks them. Only this plan year counts.
    """
    n = len(ids)
    run = np.zeros(n, dtype=int)
    last = np.full(n, "", dtype=object)
    if previous is None or len(previous) == 0:
        return run, last
    months = _ordinals(previous["as_of"])
    start = pd.Period(year=as_of.year, month=1, freq="M").ordinal
    sel = (months < as_of.ordinal) & (months >= start)
    code = ids.get_indexer(previous["measure_id"].to_numpy(dtype=object)[sel])
    back = as_of.ordinal - months[sel]
    status = previous["status"].to_numpy(dtype=object)[sel]
    ok = code >= 0
    if not ok.any():
        return run, last
    width = int(back[ok].max())
    grid = np.full((n, width + 1), "", dtype=object)
    grid[code[ok], back[ok]] = status[ok]
    alive = np.ones(n, bool)
    chain = np.ones(n, bool)
    found = np.zeros(n, bool)
    for j in range(1, width + 1):  # months back from as_of: a dozen at most
        s = grid[:, j]
        absent = s == ""
        skip = s == MISSING
        watch = s == WATCH
        run += alive & watch
        alive &= (watch | skip) & ~absent
        take = chain & ~found & ~absent & ~skip
        last[take] = s[take]
        found |= take
        chain &= ~absent
    return run, last


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
    m = catalogue.measures.reset_index(drop=True)
    ids = pd.Index(m["measure_id"])
    n = len(m)
    facts = report_facts(catalogue, progress, as_of)
    inv = _align(investment, ids, INVESTMENT_COLUMNS)
    gro = _align(growth, ids, GROWTH_COLUMNS)

    kind = m["kind"].to_numpy(dtype=object)
    schedule = m["schedule"].to_numpy(dtype=object)
    target = m["target"].to_numpy(dtype=float)
    per_month = m["per_month"].to_numpy(dtype=float)
    deadline = m["deadline_month"].to_numpy(dtype=int)
    weight = m["weight"].to_numpy(dtype=float)
    unit = m["unit"].fillna("").to_numpy(dtype=object)
    month_no = as_of.month
    actual = facts["actual"].to_numpy(dtype=float)
    baseline = facts["baseline"].to_numpy(dtype=float)
    increment = facts["increment"].to_numpy(dtype=float)
    last_ord = facts["last_report"].array.asi8
    reported = last_ord == as_of.ordinal
    has_report = facts["n_reports"].to_numpy() > 0
    note = facts["note"].to_numpy(dtype=object)
    reported_status = facts["reported_status"].to_numpy(dtype=object)
    first_no = np.where(facts["first_report"].isna(), np.nan, facts["first_report"].array.asi8 % 12 + 1)

    is_growth = kind == "growth_band"
    is_qual = kind == "qualitative"
    recurring = schedule == "recurring"
    level_sched = schedule == "level"
    cumulative = (schedule == "cumulative") & np.isin(kind, list(CUMULATIVE_KINDS))
    past = month_no >= deadline
    months_left = np.maximum(deadline - month_no, 0)

    # --- where the measure stands against its schedule (序时进度, linear through the deadline month)
    with np.errstate(divide="ignore", invalid="ignore"):
        elapsed = np.minimum(month_no, deadline).astype(float)
        time_pct = elapsed / deadline * 100
        completion_pct = actual / target * 100
        expected_rec = np.minimum(per_month * elapsed, target)
        time_pct = np.where(recurring, expected_rec / target * 100, time_pct)
        # level measures (fleet size, coverage) start high: judge the climb from the year's first report
        span = deadline - first_no
        level_time = np.where(span > 0, np.clip((month_no - first_no) / span, 0, 1) * 100, 100.0)
        level_done = np.where(target - baseline > EPS, (actual - baseline) / (target - baseline) * 100, 100.0)
        time_pct = np.where(level_sched, level_time, time_pct)
        completion_pct = np.where(level_sched, level_done, completion_pct)
        # the unit's own plan, where it has one, replaces the line (perfkit.workplan)
        scheduled = cumulative | recurring | level_sched
        planned = _planned(unit_plan, ids, as_of)
        own_plan = scheduled & ~np.isnan(planned)
        expected_rec = np.where(own_plan, np.minimum(planned, target), expected_rec)
        time_pct = np.where(own_plan, planned / target * 100, time_pct)
        completion_pct = np.where(own_plan, actual / target * 100, completion_pct)
        gap = np.where(scheduled, completion_pct - time_pct, np.nan)
    schedule_source = np.where(own_plan, "unit_plan", np.where(scheduled, "pro_rata", ""))
    inv_gap = inv["schedule_gap_pp"].to_numpy(dtype=float)
    use_inv_gap = ~np.isnan(inv_gap) & ~np.isnan(actual) & ~own_plan
    gap = np.where(use_inv_gap, inv_gap, gap)
    time_pct = np.where(use_inv_gap, completion_pct - inv_gap, time_pct)
    gap = np.where(np.isnan(actual), np.nan, gap)

    # --- done?
    ytd = gro["ytd_growth_pct"].to_numpy(dtype=float)
    band_low = gro["band_low"].to_numpy(dtype=float)
    band_low = np.where(np.isnan(band_low) & is_growth, target, band_low)
    band_high = gro["band_high"].to_numpy(dtype=float)
    band_high = np.where(np.isnan(band_high) & is_growth, m["target_high"].to_numpy(dtype=float), band_high)
    edge = inv["edge"].astype(object).fillna("").to_numpy(dtype=object)
    done = (
        (~is_growth & ~is_qual & (actual >= target - EPS))
        | (np.isnan(actual) & (reported_status == REPORTED_DONE))
        | (edge == "complete")
        | (is_growth & past & (ytd >= band_low))
    )
    expects_report = ~np.isin(schedule, rules["unreported_schedules"])

    level = np.zeros(n, dtype=int)
    reason_args: list[list[list]] = [[] for _ in range(n)]
    codes: list[list[str]] = [[] for _ in range(n)]

    def fire(mask: np.ndarray, status_level, code: str, key: str, fields: dict) -> None:
        """Raise the level where `mask` holds and record the rule's code and its reason's template key and
        numbers (rendered into words at display time, in the reader's language: `render_reasons`)."""
        nonlocal level
        mask = np.asarray(mask, bool)
        level = np.maximum(level, np.where(mask, status_level, 0))
        for i in np.flatnonzero(mask):
            values = {k: _plain(v[i] if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
            reason_args[i].append([key, values])
            codes[i].append(code)

    months_txt = f"{month_no}"

    # 未完成: the deadline has come and the target is not met
    judged = ~is_qual & (has_report | is_growth)
    missed_value = past & ~done & judged & ~is_growth & ~np.isnan(actual)
    missed_status = past & ~done & judged & ~is_growth & np.isnan(actual)
    missed_growth = past & ~done & is_growth & ~np.isnan(ytd)
    fire(
        missed_value,
        LEVEL[MISSED],
        "deadline_missed",
        "deadline_missed",
        {"deadline": deadline, "month": months_txt, "completion": completion_pct},
    )
    fire(
        missed_status | missed_growth,
        LEVEL[MISSED],
        "deadline_missed",
        "deadline_missed_status",
        {"deadline": deadline, "month": months_txt},
    )

    # 缺报: nothing this month, or a report copied unchanged while behind
    silent = expects_report & ~done & ~reported
    last_txt = np.where(has_report, facts["last_report"].astype(str).to_numpy(dtype=object), "")
    fire(
        silent & has_report,
        LEVEL[MISSING],
        "not_reported",
        "not_reported",
        {"month": months_txt, "last": last_txt},
    )
    fire(silent & ~has_report, LEVEL[MISSING], "not_reported", "never_reported", {})
    unchanged = facts["months_unchanged"].to_numpy()
    behind = (gap < 0) if rules["stale_only_when_behind"] else np.ones(n, bool)
    stale = (
        expects_report
        & ~done
        & reported
        & np.isin(schedule, rules["stale_schedules"])
        & (unchanged >= rules["stale_months"])
        & behind
    )
    fire(stale, LEVEL[MISSING], "stale", "unchanged", {"n": unchanged})

    # Behind the pro-rata schedule (recurring actions: behind the monthly rhythm)
    live = ~done & ~past
    watch_gap = live & ~recurring & (gap <= -rules["watch_gap_pp"])
    alert_gap = live & (gap < -rules["alert_gap_pp"])
    fields = {
        "actual": actual,
        "unit": unit,
        "target": target,
        "completion": completion_pct,
        "time": time_pct,
        "gap": -gap,
        "baseline": baseline,
    }
    fire(
        watch_gap & ~level_sched & ~own_plan,
        np.where(alert_gap, LEVEL[ALERT], LEVEL[WATCH]),
        "behind_schedule",
        "behind_schedule",
        fields,
    )
    fire(
        watch_gap & own_plan,
        np.where(alert_gap, LEVEL[ALERT], LEVEL[WATCH]),
        "behind_schedule",
        "behind_plan",
        fields,
    )
    fire(
        watch_gap & level_sched & ~own_plan,
        np.where(alert_gap, LEVEL[ALERT], LEVEL[WATCH]),
        "behind_schedule",
        "behind_schedule_level",
        fields,
    )
    rhythm = live & recurring & (actual < expected_rec - EPS)
    fire(
        rhythm,
        np.where(alert_gap, LEVEL[ALERT], LEVEL[rules["rhythm_status"]]),
        "rhythm",
        "rhythm",
        {
            "per_month": per_month,
            "month": months_txt,
            "expected": expected_rec,
            "actual": actual,
            "short": expected_rec - actual,
        },
    )

    # Projection: a low chance of reaching the target by the deadline
    p_reach = inv["p_reach"].to_numpy(dtype=float)
    shortfall = inv["shortfall"].to_numpy(dtype=float)
    short = live & (p_reach < rules["low_probability"]) & ~(shortfall <= 0)
    fire(
        short,
        np.where(p_reach < rules["alert_probability"], LEVEL[ALERT], LEVEL[WATCH]),
        "projected_short",
        "projected_short",
        {
            "projected": inv["projected"].to_numpy(dtype=float),
            "unit": unit,
            "target": target,
            "p": p_reach * 100,
            "months": months_left,
            "required": inv["required_monthly"].to_numpy(dtype=float),
        },
    )

    # Growth bands: the projection below the band, or growth so far negative
    g_proj = gro["projected_growth_pct"].to_numpy(dtype=float)
    p_low = gro["p_reach_low"].to_numpy(dtype=float)
    below = is_growth & ~past & (g_proj < band_low)
    fire(
        below,
        np.where(p_low < rules["alert_probability"], LEVEL[ALERT], LEVEL[WATCH]),
        "growth_below",
        "growth_below",
        {
            "projected": g_proj,
            "low": band_low,
            "high": band_high,
            "p": p_low * 100,
        },
    )
    if rules["negative_growth_alert"]:
        fire(
            is_growth & ~past & (ytd < 0),
            LEVEL[ALERT],
            "growth_negative",
            "growth_negative",
            {"ytd": ytd},
        )

    # Data anomalies in this month's report
    anomaly = LEVEL[rules["anomaly_status"]]
    counting = cumulative | recurring
    marked = np.array([rules["correction_marker"] in s for s in note], dtype=bool) if n else np.zeros(0, bool)
    fell = reported & counting & (increment < -EPS) & ~marked
    fire(
        fell,
        anomaly,
        "fell",
        "fell",
        {"prev": facts["prev_value"].to_numpy(dtype=float), "actual": actual, "unit": unit},
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        monthly = np.where(recurring, per_month, target / deadline)
    allowed = rules["jump_factor"] * np.maximum(monthly, np.where(kind == "count", 1.0, 0.0))
    jump = reported & counting & (increment > allowed + EPS)
    fire(
        jump,
        anomaly,
        "jump",
        "jump",
        {"increment": increment, "unit": unit, "factor": _num(rules["jump_factor"])},
    )
    out_of_range = reported & ~is_growth & ((actual < -EPS) | (actual > rules["jump_factor"] * target + EPS))
    fire(
        out_of_range,
        anomaly,
        "out_of_range",
        "out_of_range",
        {"actual": actual, "unit": unit, "factor": _num(rules["jump_factor"])},
    )

    # A plan lowered after the year started: flagged while the measure is below the line it replaced
    if lowered is not None and len(lowered):
        columns = ["measure_id", "revision", "plan_month", "before", "after", "baseline_now", "status"]
        low = _align(lowered, ids, columns)
        revision = low["revision"].fillna("").to_numpy(dtype=object)
        baseline_now = low["baseline_now"].to_numpy(dtype=float)
        down = (revision != "") & ~done & ((revision == str(as_of)) | ~(actual >= baseline_now - EPS))
        raised = low["status"].fillna(WATCH).map(LEVEL).fillna(LEVEL[WATCH]).to_numpy(dtype=int)
        fire(
            down,
            raised,
            "plan_lowered",
            "plan_lowered",
            {
                "revision": revision,
                "plan_month": low["plan_month"].to_numpy(dtype=float),
                "before": low["before"].to_numpy(dtype=float),
                "after": np.nan_to_num(low["after"].to_numpy(dtype=float)),
                "baseline": baseline_now,
                "unit": unit,
            },
        )

    # Persistence: three months at 关注 become 预警; a 预警 holds until back on schedule
    run, last_status = _history(previous, ids, as_of)
    streak = ~done & (level == LEVEL[WATCH]) & (run >= rules["watch_months_to_alert"] - 1)
    fire(streak, LEVEL[ALERT], "streak", "streak", {"n": run + 1})
    back = (level == LEVEL[OK]) & ~(gap < -rules["clear_gap_pp"])
    held = ~done & (last_status == ALERT) & (level <= LEVEL[WATCH]) & ~back
    fire(held & ~np.isnan(gap), LEVEL[ALERT], "alert_held", "alert_held", {})
    fire(held & np.isnan(gap), LEVEL[ALERT], "alert_held", "alert_held_other", {})

    status = np.array([_BY_LEVEL[x] for x in level], dtype=object).reshape(n)
    status[done] = DONE

    # --- expected year-end completion → points at risk
    by_status = pd.Series(status).map(rules["expected_completion"]).fillna(1.0).to_numpy(dtype=float)
    now = np.clip(np.nan_to_num(actual / np.where(target > 0, target, np.nan)), 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pace = np.select(
            [recurring, level_sched, month_no >= deadline],
            [
                actual + per_month * months_left,
                np.where(
                    month_no > first_no,
                    baseline + (actual - baseline) * (deadline - first_no) / (month_no - first_no),
                    actual,
                ),
                actual,
            ],
            actual * deadline / np.maximum(month_no, 1),
        )
    projected = inv["projected"].to_numpy(dtype=float)
    sigma = (inv["interval_80_high"].to_numpy(dtype=float) - inv["interval_80_low"].to_numpy(dtype=float)) / (
        2 * Z80
    )
    has_proj = ~np.isnan(projected) & ~np.isnan(actual)
    projected = np.where(has_proj, projected, np.where(cumulative | recurring | level_sched, pace, np.nan))
    safe_target = np.where(target > 0, target, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        numeric = (
            expected_clipped(projected, np.where(has_proj, sigma, 0.0), np.nan_to_num(actual), target)
            / safe_target
        )
        g_sigma = (
            gro["interval_80_high"].to_numpy(dtype=float) - gro["interval_80_low"].to_numpy(dtype=float)
        ) / (2 * Z80)
        g_low = np.where(band_low > 0, band_low, np.nan)
        growth_exp = expected_clipped(g_proj, g_sigma, 0.0, band_low) / g_low
        growth_now = np.clip(ytd / g_low, 0, 1)
    # The investment projection's own E[shortfall] is exact for its (skewed) distribution: prefer it.
    exp_short = inv["expected_shortfall"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        numeric = np.where(has_proj & ~np.isnan(exp_short), 1 - exp_short / safe_target, numeric)
    expected = by_status.copy()
    numeric_ok = ~np.isnan(numeric) & ~is_qual & ~is_growth
    expected = np.where(numeric_ok, np.clip(numeric, 0, 1), expected)
    expected = np.where(numeric_ok & past, now, expected)
    expected = np.where(is_growth & ~np.isnan(growth_exp) & ~past, np.clip(growth_exp, 0, 1), expected)
    expected = np.where(is_growth & past & ~np.isnan(growth_now), growth_now, expected)
    assessed = _assessed_fraction(catalogue, assessments)
    expected = np.where(is_qual & ~np.isnan(assessed), assessed, expected)
    expected = np.where(done, 1.0, expected)
    points = np.round(np.clip(weight * (1 - expected), 0, None), 6)  # a millionth of a point is noise

    ind = catalogue.indicators.set_index("id")
    out = pd.DataFrame(
        {
            "as_of": str(as_of),
            "measure_id": ids,
            "indicator_id": m["indicator_id"].to_numpy(dtype=object),
            "name": m["name"].to_numpy(dtype=object),
            "kind": kind,
            "status": status,
            "reasons": [render_reasons(a, lang) for a in reason_args],
            "points_at_risk": points,
            "weight": weight,
            "leaders": m["indicator_id"].map(ind["leaders"]).to_numpy(dtype=object),
            "units": m["indicator_id"].map(ind["units"]).to_numpy(dtype=object),
            "persons": m["indicator_id"].map(ind["persons"]).to_numpy(dtype=object),
            "reporting_unit": m["reporting_unit"].to_numpy(dtype=object),
            "last_report": last_txt,
            "actual": np.where(is_growth, ytd, actual),
            "target": np.where(is_growth, band_low, target),
            "unit": unit,
            "completion_pct": np.where(is_growth, np.nan, completion_pct),
            "time_pct": np.where(is_growth | is_qual, np.nan, time_pct),
            "schedule_gap_pp": gap,
            "projected": np.where(is_growth, g_proj, projected),
            "p_reach": np.where(is_growth, p_low, p_reach),
            "expected_completion": expected,
            "months_unchanged": unchanged,
            "increment": increment,
            "rules": codes,
            "schedule_source": schedule_source,
            "reason_args": reason_args,
        }
    )
    severity = np.array([LEVEL[x] for x in status], dtype=int)
    order = np.lexsort((np.arange(n), -severity, -points))
    return out.iloc[order].reset_index(drop=True)[FLAG_COLUMNS]


def _planned(unit_plan: pd.DataFrame | None, ids: pd.Index, as_of: pd.Period) -> np.ndarray:
    """The planned year-to-date value at `as_of` per measure (NaN without a unit plan)."""
    if unit_plan is None or len(unit_plan) == 0:
        return np.full(len(ids), np.nan)
    from .workplan import planned_at

    return planned_at(unit_plan, ids, as_of)


def _assessed_fraction(catalogue: Catalogue, assessments: pd.DataFrame | None) -> np.ndarray:
    """Qualitative measures: the stored grade (优/良/中/差 as a fraction), or an assessed indicator's score
    over its weight (1-15); NaN where nothing is stored yet."""
    m = catalogue.measures
    out = np.full(len(m), np.nan)
    if assessments is None or len(assessments) == 0:
        return out
    fractions = catalogue.plan["scoring"]["grade_fraction"]
    grades = assessments[(assessments["kind"] == "grade") & (assessments["indicator_id"] != "")]
    grade = grades.groupby("indicator_id")["grade"].last().map(fractions)
    scored = assessments[(assessments["kind"] == "indicator_score") & (assessments["indicator_id"] != "")]
    points = scored.groupby("indicator_id")["points"].last()
    weight = catalogue.indicators.set_index("id")["weight"]
    by_score = (points / weight.reindex(points.index)).clip(0, 1)
    frac = pd.concat([grade.dropna(), by_score.dropna()])
    frac = frac[~frac.index.duplicated(keep="last")]
    return m["indicator_id"].map(frac).to_numpy(dtype=float)


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
    months = _ordinals(history["as_of"]) if len(history) else np.zeros(0, dtype=np.int64)
    start = pd.Period(year=as_of.year, month=1, freq="M").ordinal
    h = history[(months <= as_of.ordinal) & (months >= start)]
    month = _ordinals(h["as_of"]) if len(h) else np.zeros(0, dtype=np.int64)
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
                "worst_status": [_BY_LEVEL[w] for w in worst],
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
    first = pd.Period(year=year, month=3 * quarter - 2, freq="M")
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
