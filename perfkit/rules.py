"""The risk rules, each a small named function: where a measure stands, and which rule raises its status.

`standing` lines every catalogue measure up with its reports, its schedule (序时进度, or the unit's own
plan), its projection and its growth band, as aligned arrays (`Standing`). Each rule reads a `Standing`
and the plan's [risks] thresholds and returns what it fires (`Fired`): where, at which status level, the
rule's code, and its reason's template key and numbers (the words are rendered at display time, in the
reader's language: perfkit.risks.render_reasons). perfkit.risks.flag_measures applies them in the order
of `RULES`, then `persistence` (it reads the level the others reached) and `points_at_risk`.

| rule | code(s) | fires when |
| --- | --- | --- |
| `past_deadline` | deadline_missed | the deadline has come and the target is not met (未完成) |
| `missing_report` | not_reported, stale | no report this month, or one copied unchanged while behind (缺报) |
| `behind_schedule` | behind_schedule, rhythm | behind the pro-rata line, the unit's plan or a recurring rhythm |
| `low_chance` | projected_short | the projection's chance of reaching the target is low |
| `below_band` | growth_below, growth_negative | a growth projection below its band, or growth so far negative |
| `anomaly` | fell, jump, out_of_range | a report that fell, jumped or lies outside what is possible |
| `plan_lowered` | plan_lowered | a unit's plan lowered after January, while below the line it replaced |
| `persistence` | streak, alert_held | months in a row at 关注 become 预警; a 预警 holds until back on schedule |
| `points_at_risk` | — | weight × (1 − expected year-end completion) |

Pure functions over arrays; nothing here reads the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .labels import t

STATUS_CODES = ("done", "ok", "watch", "alert", "missing", "missed")
DONE, OK, WATCH, ALERT, MISSING, MISSED = (t(f"risk.status.{c}") for c in STATUS_CODES)
STATUSES = (DONE, OK, WATCH, ALERT, MISSED, MISSING)
# Which status wins when several rules fire: 未完成 (the chance is gone) over 缺报 (nothing current to judge
# by) over 预警 over 关注. 已完成 is decided first and ends the matter.
LEVEL = {DONE: -1, OK: 0, WATCH: 1, ALERT: 2, MISSING: 3, MISSED: 4}
BY_LEVEL = {v: k for k, v in LEVEL.items()}

CUMULATIVE_KINDS = {"investment", "amount", "count", "length", "level", "percent", "milestone"}
REPORTED_DONE = t("status.done")  # the unit's own 已完成 in its progress report
Z80 = 1.2815515655446004  # an 80% central interval is mean ± Z80·σ
EPS = 1e-9

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
LOWERED_COLUMNS = ["measure_id", "revision", "plan_month", "before", "after", "baseline_now", "status"]


# ------------------------------------------------------------------------------------ small helpers


def num(x, digits: int = 1) -> str:
    """A number as people write it: rounded, no trailing zeros."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    s = f"{float(x):.{digits}f}"
    s = s.rstrip("0").rstrip(".") if "." in s else s
    return "0" if s == "-0" else s


def ordinals(col) -> np.ndarray:
    return pd.PeriodIndex(col, freq="M").asi8


def align(frame: pd.DataFrame | None, ids: pd.Index, columns: list[str]) -> pd.DataFrame:
    """One row per catalogue measure (NaN where `frame` has none), whatever order `frame` comes in."""
    if frame is None or len(frame) == 0:
        return pd.DataFrame(np.nan, index=ids, columns=columns[1:])
    f = frame.drop_duplicates("measure_id", keep="last").set_index("measure_id")
    out = f.reindex(ids)
    for col in columns[1:]:
        if col not in out.columns:
            out[col] = np.nan
    return out[columns[1:]]


_erf = np.frompyfunc(math.erf, 1, 1)


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


# ------------------------------------------------------------------------------------ the standing


@dataclass
class Standing:
    """Every catalogue measure, in catalogue order, as the rules see it at `as_of` (arrays of one length)."""

    as_of: pd.Period
    ids: pd.Index
    kind: np.ndarray
    schedule: np.ndarray
    target: np.ndarray
    per_month: np.ndarray
    deadline: np.ndarray
    weight: np.ndarray
    unit: np.ndarray
    # from the reports (risks.report_facts)
    actual: np.ndarray
    baseline: np.ndarray
    prev_value: np.ndarray
    increment: np.ndarray
    unchanged: np.ndarray  # reports in a row identical to the one before
    reported: np.ndarray  # a report for this month
    has_report: np.ndarray
    last_report: np.ndarray  # 'YYYY-MM' or ''
    note: np.ndarray
    first_no: np.ndarray  # month number of the year's first report (NaN: none)
    # what kind of schedule
    is_growth: np.ndarray
    is_qual: np.ndarray
    recurring: np.ndarray
    level_sched: np.ndarray
    cumulative: np.ndarray
    past: np.ndarray  # the deadline month has come
    months_left: np.ndarray
    # against the schedule (序时进度 or the unit's own plan)
    time_pct: np.ndarray
    completion_pct: np.ndarray
    expected_rec: np.ndarray  # a recurring measure's (or unit plan's) expected value by now
    own_plan: np.ndarray
    gap: np.ndarray  # completion − schedule, points
    schedule_source: np.ndarray  # unit_plan, pro_rata or ''
    # projections (investment.project_measures, growth.project_modes), NaN where none
    projected: np.ndarray
    sigma: np.ndarray
    p_reach: np.ndarray
    shortfall: np.ndarray
    required_monthly: np.ndarray
    expected_shortfall: np.ndarray
    ytd: np.ndarray
    g_proj: np.ndarray
    g_sigma: np.ndarray
    p_low: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    # decided before any rule
    done: np.ndarray
    expects_report: np.ndarray

    @property
    def month_no(self) -> int:
        return self.as_of.month

    @property
    def live(self) -> np.ndarray:
        """Not done and before the deadline: the rules about pace and projection apply."""
        return ~self.done & ~self.past


def standing(
    catalogue: Catalogue,
    facts: pd.DataFrame,
    as_of: pd.Period,
    rules: dict,
    investment: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
    planned: np.ndarray | None = None,
) -> Standing:
    """Where each measure stands at `as_of`. facts: risks.report_facts; planned: the planned year-to-date
    value of the unit's own plan (NaN without one; perfkit.workplan)."""
    m = catalogue.measures.reset_index(drop=True)
    ids = pd.Index(m["measure_id"])
    inv = align(investment, ids, INVESTMENT_COLUMNS)
    gro = align(growth, ids, GROWTH_COLUMNS)
    kind = m["kind"].to_numpy(dtype=object)
    schedule = m["schedule"].to_numpy(dtype=object)
    target = m["target"].to_numpy(dtype=float)
    per_month = m["per_month"].to_numpy(dtype=float)
    deadline = m["deadline_month"].to_numpy(dtype=int)
    month_no = as_of.month
    actual = facts["actual"].to_numpy(dtype=float)
    baseline = facts["baseline"].to_numpy(dtype=float)
    has_report = facts["n_reports"].to_numpy() > 0
    first_no = np.where(facts["first_report"].isna(), np.nan, facts["first_report"].array.asi8 % 12 + 1)

    is_growth = kind == "growth_band"
    is_qual = kind == "qualitative"
    recurring = schedule == "recurring"
    level_sched = schedule == "level"
    cumulative = (schedule == "cumulative") & np.isin(kind, list(CUMULATIVE_KINDS))
    past = month_no >= deadline

    # where the measure stands against its schedule (序时进度, linear through the deadline month)
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
        planned = np.full(len(ids), np.nan) if planned is None else planned
        own_plan = scheduled & ~np.isnan(planned)
        expected_rec = np.where(own_plan, np.minimum(planned, target), expected_rec)
        time_pct = np.where(own_plan, planned / target * 100, time_pct)
        completion_pct = np.where(own_plan, actual / target * 100, completion_pct)
        gap = np.where(scheduled, completion_pct - time_pct, np.nan)
    schedule_source = np.where(own_plan, "unit_plan", np.where(scheduled, "pro_rata", ""))
    # the investment projection measures the gap on its completion profile: it replaces the straight line
    inv_gap = inv["schedule_gap_pp"].to_numpy(dtype=float)
    use_inv_gap = ~np.isnan(inv_gap) & ~np.isnan(actual) & ~own_plan
    gap = np.where(use_inv_gap, inv_gap, gap)
    time_pct = np.where(use_inv_gap, completion_pct - inv_gap, time_pct)
    gap = np.where(np.isnan(actual), np.nan, gap)

    ytd = gro["ytd_growth_pct"].to_numpy(dtype=float)
    band_low = gro["band_low"].to_numpy(dtype=float)
    band_low = np.where(np.isnan(band_low) & is_growth, target, band_low)
    band_high = gro["band_high"].to_numpy(dtype=float)
    band_high = np.where(np.isnan(band_high) & is_growth, m["target_high"].to_numpy(dtype=float), band_high)
    edge = inv["edge"].astype(object).fillna("").to_numpy(dtype=object)
    reported_status = facts["reported_status"].to_numpy(dtype=object)
    done = (
        (~is_growth & ~is_qual & (actual >= target - EPS))
        | (np.isnan(actual) & (reported_status == REPORTED_DONE))
        | (edge == "complete")
        | (is_growth & past & (ytd >= band_low))
    )

    def width(frame: pd.DataFrame) -> np.ndarray:
        high, low = (
            frame["interval_80_high"].to_numpy(dtype=float),
            frame["interval_80_low"].to_numpy(dtype=float),
        )
        return (high - low) / (2 * Z80)

    return Standing(
        as_of=as_of,
        ids=ids,
        kind=kind,
        schedule=schedule,
        target=target,
        per_month=per_month,
        deadline=deadline,
        weight=m["weight"].to_numpy(dtype=float),
        unit=m["unit"].fillna("").to_numpy(dtype=object),
        actual=actual,
        baseline=baseline,
        prev_value=facts["prev_value"].to_numpy(dtype=float),
        increment=facts["increment"].to_numpy(dtype=float),
        unchanged=facts["months_unchanged"].to_numpy(),
        reported=facts["last_report"].array.asi8 == as_of.ordinal,
        has_report=has_report,
        last_report=np.where(has_report, facts["last_report"].astype(str).to_numpy(dtype=object), ""),
        note=facts["note"].to_numpy(dtype=object),
        first_no=first_no,
        is_growth=is_growth,
        is_qual=is_qual,
        recurring=recurring,
        level_sched=level_sched,
        cumulative=cumulative,
        past=past,
        months_left=np.maximum(deadline - month_no, 0),
        time_pct=time_pct,
        completion_pct=completion_pct,
        expected_rec=expected_rec,
        own_plan=own_plan,
        gap=gap,
        schedule_source=schedule_source,
        projected=inv["projected"].to_numpy(dtype=float),
        sigma=width(inv),
        p_reach=inv["p_reach"].to_numpy(dtype=float),
        shortfall=inv["shortfall"].to_numpy(dtype=float),
        required_monthly=inv["required_monthly"].to_numpy(dtype=float),
        expected_shortfall=inv["expected_shortfall"].to_numpy(dtype=float),
        ytd=ytd,
        g_proj=gro["projected_growth_pct"].to_numpy(dtype=float),
        g_sigma=width(gro),
        p_low=gro["p_reach_low"].to_numpy(dtype=float),
        band_low=band_low,
        band_high=band_high,
        done=done,
        expects_report=~np.isin(schedule, rules["unreported_schedules"]),
    )


# ------------------------------------------------------------------------------------------ the rules


@dataclass
class Fired:
    """Where a rule fires (`mask`), at which status level (a number or one per measure), with the rule's
    code and its reason: a template key (labels 'risk.reason.<key>') and its numbers (scalars or arrays)."""

    mask: np.ndarray
    level: int | np.ndarray
    code: str
    key: str
    fields: dict


def past_deadline(s: Standing, rules: dict) -> list[Fired]:
    """未完成: the deadline has come and the target is not met."""
    judged = ~s.is_qual & (s.has_report | s.is_growth)
    missed = s.past & ~s.done & judged
    missed_value = missed & ~s.is_growth & ~np.isnan(s.actual)
    missed_status = missed & ~s.is_growth & np.isnan(s.actual)
    missed_growth = s.past & ~s.done & s.is_growth & ~np.isnan(s.ytd)
    month = f"{s.month_no}"
    return [
        Fired(
            missed_value,
            LEVEL[MISSED],
            "deadline_missed",
            "deadline_missed",
            {"deadline": s.deadline, "month": month, "completion": s.completion_pct},
        ),
        Fired(
            missed_status | missed_growth,
            LEVEL[MISSED],
            "deadline_missed",
            "deadline_missed_status",
            {"deadline": s.deadline, "month": month},
        ),
    ]


def missing_report(s: Standing, rules: dict) -> list[Fired]:
    """缺报: nothing reported this month, or a report copied unchanged for months while behind."""
    silent = s.expects_report & ~s.done & ~s.reported
    behind = (s.gap < 0) if rules["stale_only_when_behind"] else np.ones(len(s.ids), bool)
    stale = (
        s.expects_report
        & ~s.done
        & s.reported
        & np.isin(s.schedule, rules["stale_schedules"])
        & (s.unchanged >= rules["stale_months"])
        & behind
    )
    return [
        Fired(
            silent & s.has_report,
            LEVEL[MISSING],
            "not_reported",
            "not_reported",
            {"month": f"{s.month_no}", "last": s.last_report},
        ),
        Fired(silent & ~s.has_report, LEVEL[MISSING], "not_reported", "never_reported", {}),
        Fired(stale, LEVEL[MISSING], "stale", "unchanged", {"n": s.unchanged}),
    ]


def behind_schedule(s: Standing, rules: dict) -> list[Fired]:
    """Behind the pro-rata schedule (序时进度), the unit's own plan or, for a level measure, its climb:
    关注 from watch_gap_pp points behind, 预警 beyond alert_gap_pp; recurring actions behind their monthly
    rhythm."""
    watch_gap = s.live & ~s.recurring & (s.gap <= -rules["watch_gap_pp"])
    alert_gap = s.live & (s.gap < -rules["alert_gap_pp"])
    level = np.where(alert_gap, LEVEL[ALERT], LEVEL[WATCH])
    fields = {
        "actual": s.actual,
        "unit": s.unit,
        "target": s.target,
        "completion": s.completion_pct,
        "time": s.time_pct,
        "gap": -s.gap,
        "baseline": s.baseline,
    }
    rhythm = s.live & s.recurring & (s.actual < s.expected_rec - EPS)
    return [
        Fired(watch_gap & ~s.level_sched & ~s.own_plan, level, "behind_schedule", "behind_schedule", fields),
        Fired(watch_gap & s.own_plan, level, "behind_schedule", "behind_plan", fields),
        Fired(
            watch_gap & s.level_sched & ~s.own_plan, level, "behind_schedule", "behind_schedule_level", fields
        ),
        Fired(
            rhythm,
            np.where(alert_gap, LEVEL[ALERT], LEVEL[rules["rhythm_status"]]),
            "rhythm",
            "rhythm",
            {
                "per_month": s.per_month,
                "month": f"{s.month_no}",
                "expected": s.expected_rec,
                "actual": s.actual,
                "short": s.expected_rec - s.actual,
            },
        ),
    ]


def low_chance(s: Standing, rules: dict) -> list[Fired]:
    """The projection gives a low chance of reaching the target by the deadline (预警 below
    alert_probability)."""
    short = s.live & (s.p_reach < rules["low_probability"]) & ~(s.shortfall <= 0)
    return [
        Fired(
            short,
            np.where(s.p_reach < rules["alert_probability"], LEVEL[ALERT], LEVEL[WATCH]),
            "projected_short",
            "projected_short",
            {
                "projected": s.projected,
                "unit": s.unit,
                "target": s.target,
                "p": s.p_reach * 100,
                "months": s.months_left,
                "required": s.required_monthly,
            },
        )
    ]


def below_band(s: Standing, rules: dict) -> list[Fired]:
    """Growth bands: the projected growth below the band, or growth so far negative."""
    below = s.is_growth & ~s.past & (s.g_proj < s.band_low)
    fired = [
        Fired(
            below,
            np.where(s.p_low < rules["alert_probability"], LEVEL[ALERT], LEVEL[WATCH]),
            "growth_below",
            "growth_below",
            {"projected": s.g_proj, "low": s.band_low, "high": s.band_high, "p": s.p_low * 100},
        )
    ]
    if rules["negative_growth_alert"]:
        negative = s.is_growth & ~s.past & (s.ytd < 0)
        fired.append(Fired(negative, LEVEL[ALERT], "growth_negative", "growth_negative", {"ytd": s.ytd}))
    return fired


def anomaly(s: Standing, rules: dict) -> list[Fired]:
    """Data anomalies in this month's report: a cumulative value that fell (unless marked a correction),
    jumped by more than jump_factor months' worth, or lies below zero or far above the target."""
    level = LEVEL[rules["anomaly_status"]]
    counting = s.cumulative | s.recurring
    marker = rules["correction_marker"]
    marked = np.array([marker in x for x in s.note], dtype=bool) if len(s.ids) else np.zeros(0, bool)
    fell = s.reported & counting & (s.increment < -EPS) & ~marked
    with np.errstate(divide="ignore", invalid="ignore"):
        monthly = np.where(s.recurring, s.per_month, s.target / s.deadline)
    allowed = rules["jump_factor"] * np.maximum(monthly, np.where(s.kind == "count", 1.0, 0.0))
    jump = s.reported & counting & (s.increment > allowed + EPS)
    high = rules["jump_factor"] * s.target + EPS
    out_of_range = s.reported & ~s.is_growth & ((s.actual < -EPS) | (s.actual > high))
    factor = num(rules["jump_factor"])
    return [
        Fired(fell, level, "fell", "fell", {"prev": s.prev_value, "actual": s.actual, "unit": s.unit}),
        Fired(jump, level, "jump", "jump", {"increment": s.increment, "unit": s.unit, "factor": factor}),
        Fired(
            out_of_range,
            level,
            "out_of_range",
            "out_of_range",
            {"actual": s.actual, "unit": s.unit, "factor": factor},
        ),
    ]


def plan_lowered(s: Standing, lowered: pd.DataFrame | None) -> list[Fired]:
    """A unit's plan lowered after the year started (workplan.downward_revisions): flagged at its status
    while the measure is below the line it replaced (and in the month of the revision)."""
    if lowered is None or not len(lowered):
        return []
    low = align(lowered, s.ids, LOWERED_COLUMNS)
    revision = low["revision"].fillna("").to_numpy(dtype=object)
    baseline_now = low["baseline_now"].to_numpy(dtype=float)
    down = (revision != "") & ~s.done & ((revision == str(s.as_of)) | ~(s.actual >= baseline_now - EPS))
    level = low["status"].fillna(WATCH).map(LEVEL).fillna(LEVEL[WATCH]).to_numpy(dtype=int)
    fields = {
        "revision": revision,
        "plan_month": low["plan_month"].to_numpy(dtype=float),
        "before": low["before"].to_numpy(dtype=float),
        "after": np.nan_to_num(low["after"].to_numpy(dtype=float)),
        "baseline": baseline_now,
        "unit": s.unit,
    }
    return [Fired(down, level, "plan_lowered", "plan_lowered", fields)]


def watch_history(
    previous: pd.DataFrame | None, ids: pd.Index, as_of: pd.Period
) -> tuple[np.ndarray, np.ndarray]:
    """From earlier months' flags: months in a row at 关注 just before `as_of`, and the latest status.

    缺报 months are skipped by both (a silent unit neither breaks nor extends a run); a month with no flag
    at all breaks them. Only this plan year counts.
    """
    n = len(ids)
    run = np.zeros(n, dtype=int)
    last = np.full(n, "", dtype=object)
    if previous is None or len(previous) == 0:
        return run, last
    months = ordinals(previous["as_of"])
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
        col = grid[:, j]
        absent = col == ""
        skip = col == MISSING
        watch = col == WATCH
        run += alive & watch
        alive &= (watch | skip) & ~absent
        take = chain & ~found & ~absent & ~skip
        last[take] = col[take]
        found |= take
        chain &= ~absent
    return run, last


def persistence(s: Standing, level: np.ndarray, previous: pd.DataFrame | None, rules: dict) -> list[Fired]:
    """Over the months: watch_months_to_alert months in a row at 关注 become 预警; a 预警 holds until the
    measure is back on schedule (within clear_gap_pp). `level`: what the other rules reached this month."""
    run, last_status = watch_history(previous, s.ids, s.as_of)
    streak = ~s.done & (level == LEVEL[WATCH]) & (run >= rules["watch_months_to_alert"] - 1)
    level = np.maximum(level, np.where(streak, LEVEL[ALERT], 0))
    back = (level == LEVEL[OK]) & ~(s.gap < -rules["clear_gap_pp"])
    held = ~s.done & (last_status == ALERT) & (level <= LEVEL[WATCH]) & ~back
    # 'not yet back on schedule' only where it is true: one back on schedule but held by another rule (a jump
    # to check) is held for that cause, as one without a schedule is
    behind = s.gap < -rules["clear_gap_pp"]
    return [
        Fired(streak, LEVEL[ALERT], "streak", "streak", {"n": run + 1}),
        Fired(held & behind, LEVEL[ALERT], "alert_held", "alert_held", {}),
        Fired(held & ~behind, LEVEL[ALERT], "alert_held", "alert_held_other", {}),
    ]


RULES = (past_deadline, missing_report, behind_schedule, low_chance, below_band, anomaly)


# ------------------------------------------------------------------------------------ points at risk


def assessed_fraction(catalogue: Catalogue, assessments: pd.DataFrame | None) -> np.ndarray:
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


@dataclass
class AtRisk:
    """Expected year-end completion (0..1), the projected year-end value, and the points at risk."""

    expected: np.ndarray
    projected: np.ndarray
    points: np.ndarray


def points_at_risk(s: Standing, status: np.ndarray, rules: dict, assessed: np.ndarray) -> AtRisk:
    """weight × (1 − expected year-end completion). The expectation comes from the projection where there
    is one (its own E[shortfall] when it has it), else from the pace so far; growth measures from their
    projected growth against the band; qualitative ones from a stored grade; otherwise from the status
    (plan.toml [risks] expected_completion). assessed: assessed_fraction."""
    actual, target, deadline, month_no = s.actual, s.target, s.deadline, s.month_no
    by_status = pd.Series(status).map(rules["expected_completion"]).fillna(1.0).to_numpy(dtype=float)
    now = np.clip(np.nan_to_num(actual / np.where(target > 0, target, np.nan)), 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pace = np.select(
            [s.recurring, s.level_sched, month_no >= deadline],
            [
                actual + s.per_month * s.months_left,
                np.where(
                    month_no > s.first_no,
                    s.baseline + (actual - s.baseline) * (deadline - s.first_no) / (month_no - s.first_no),
                    actual,
                ),
                actual,
            ],
            actual * deadline / np.maximum(month_no, 1),
        )
    has_proj = ~np.isnan(s.projected) & ~np.isnan(actual)
    projected = np.where(
        has_proj, s.projected, np.where(s.cumulative | s.recurring | s.level_sched, pace, np.nan)
    )
    # a share of a whole (a milestone's progress, 梁片完成比例) ends the year at 100% at most: the pace of one
    # done by September read 133.3% (200% in June) on the unit pages and in risk_flags.csv. Points do not
    # move: a target is at most 100 (catalogue), so the expected completion was already capped at it.
    share = np.isin(s.kind, ("milestone", "percent"))
    projected = np.where(share & (projected > 100), 100.0, projected)
    safe_target = np.where(target > 0, target, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        numeric = (
            expected_clipped(projected, np.where(has_proj, s.sigma, 0.0), np.nan_to_num(actual), target)
            / safe_target
        )
        g_low = np.where(s.band_low > 0, s.band_low, np.nan)
        growth_exp = expected_clipped(s.g_proj, s.g_sigma, 0.0, s.band_low) / g_low
        growth_now = np.clip(s.ytd / g_low, 0, 1)
    # The investment projection's own E[shortfall] is exact for its (skewed) distribution: prefer it.
    with np.errstate(divide="ignore", invalid="ignore"):
        numeric = np.where(
            has_proj & ~np.isnan(s.expected_shortfall), 1 - s.expected_shortfall / safe_target, numeric
        )
    expected = by_status.copy()
    numeric_ok = ~np.isnan(numeric) & ~s.is_qual & ~s.is_growth
    expected = np.where(numeric_ok, np.clip(numeric, 0, 1), expected)
    expected = np.where(numeric_ok & s.past, now, expected)
    expected = np.where(s.is_growth & ~np.isnan(growth_exp) & ~s.past, np.clip(growth_exp, 0, 1), expected)
    expected = np.where(s.is_growth & s.past & ~np.isnan(growth_now), growth_now, expected)
    expected = np.where(s.is_qual & ~np.isnan(assessed), assessed, expected)
    expected = np.where(s.done, 1.0, expected)
    points = np.round(np.clip(s.weight * (1 - expected), 0, None), 6)  # a millionth of a point is noise
    return AtRisk(expected, projected, points)
