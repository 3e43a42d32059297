"""The monthly snapshot: each month of the plan year computed once, kept in the store, read by everyone.

A month's snapshot holds what the bureau reads about that month: the score to date, the turnover growth
projection (and its growth paths), the investment and cumulative-measure projections, every measure's
flag with its rule codes and the numbers behind its reasons, the problem list (问题清单) with the
problems opened and closed, and what each open measure must deliver in each remaining month. It is
computed in one place (`compute_month`: score → growth → investment → flags → problems, deliveries) and stored with a fingerprint of what it was computed from:

- the data up to the month: progress (the latest submission per unit and month, content not ids),
  turnover, the year's assessments and the units' work plans (分月计划) made by the month;
- the plan: the stored catalogue and the plan folder's settings;
- the code: perfkit's own source;
- the previous month's fingerprint (a month's flags read the earlier months' statuses).

`ensure` recomputes a month only when its fingerprint changed, starting from the first changed month,
and otherwise reads it: a second `perfkit brief` with no new data fits no model. New data for October
leaves January..September as they are; a corrected June report recomputes June..as-of. Backfilling
January..as-of is the same call, and gives the month-by-month history trends draw from.

Beside the snapshot, the month keeps what the growth and investment notebooks show (REPORT_PARTS): the
growth backtest over past years, the investment calibration, the investment backtest on this year's reports
and on the real public series. They are computed by `ensure` too (in the brief's runner, while its kernels
start), so the notebooks only display. Two of them depend on less than the month: the past-years backtest on
the turnover of the years before the plan year, the public-series backtest on the plan alone. They carry a
key of exactly that (`part_keys`, with the code and plan versions) and are copied from an earlier month with
the same key instead of being recomputed: a new month's data refits nothing there; a corrected 2018 figure,
another plan or another growth model recomputes them.

Each month also keeps this year's investment interval widths as of it (SIGMA_PART): a later month's
investment backtest needs every earlier month's, and reads the current months' instead of calibrating them
again.

Reasons are stored as template keys and numbers (`reason_args`), never as words: `snapshot(…, lang)`
renders them in the reader's language.

Consumers: `perfkit score|growth|invest|risks`, `report.gather` (the brief), the notebooks and the
exports all read snapshots through this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import deliveries, labels, risks, scoring, workplan
from . import growth as growth_model
from . import investment as investment_model
from .catalogue import Catalogue
from .months import months_to, parse_month, quarter_of, resolve_as_of
from .store import (
    now_iso,
    read_assessments,
    read_catalogue,
    read_progress,
    read_turnover,
    transaction,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PARTS = ("score", "growth_projections", "growth_paths", "investment", "flags", "problems", "deliveries")
# What the growth and investment notebooks show beside the snapshot, computed with the month (in the brief's
# runner, while its kernels start) so that no notebook fits anything; read on demand (`growth_report`,
# `investment_report`), not by `load`.
REPORT_PARTS = ("growth_backtest", "investment_calibration", "investment_backtest", "investment_public")
# Of those, the parts that depend on less than the month are kept under a key of what they do depend on
# (`part_keys`, stored per month as KEYS_PART) and copied to a later month whose key is the same: the
# backtest over past years is not refitted when only a new month arrived.
KEPT_PARTS = ("growth_backtest", "investment_public")
KEYS_PART = "part_keys"
# This year's interval widths of the month's investment calibration (per kind and measure), kept so that a
# later month's backtest, which needs every earlier month's, reads them instead of calibrating those months
# again (8 calibrations, half the runner's snapshot, for September). Internal: no consumer reads it.
SIGMA_PART = "investment_sigma"
SIGMA_FIELDS = ("kind_sigma", "kind_cases", "measure_sigma", "measure_cases")


# --------------------------------------------------------------------------------------- fingerprints


# The modules whose code decides what a snapshot holds (presentation — report, charts, cli, brief — is
# applied when a snapshot is read, so editing it recomputes nothing).
COMPUTING_MODULES = (
    "catalogue",
    "config",
    "deliveries",
    "growth",
    "growth_backtest",
    "growth_engine",
    "growth_projection",
    "holidays",
    "investment",
    "monthly",
    "months",
    "risks",
    "rules",
    "scoring",
    "store",
    "turnover",
    "workplan",
)


def code_version() -> str:
    """The computing modules' source: editing the code that computes a snapshot invalidates it."""
    h = hashlib.sha256()
    for name in COMPUTING_MODULES:
        package = PACKAGE_DIR / name  # a package (perfkit/investment/) counts with every module in it
        for path in sorted(package.glob("*.py")) if package.is_dir() else [PACKAGE_DIR / f"{name}.py"]:
            h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
            h.update(path.read_bytes())
    h.update(labels.stored_vocabulary())  # labels are display text but for the words stored as data
    return h.hexdigest()[:16]


def _hash_frame(h, frame: pd.DataFrame) -> None:
    h.update(repr(list(frame.columns)).encode())
    if len(frame):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(b"|")


def plan_version(catalogue: Catalogue) -> str:
    """The plan as the store holds it: catalogue rows and the plan folder's settings."""
    h = hashlib.sha256()
    # every column of both tables, column by column (the nested catalogue JSON, row by row, cost 0.1 s of
    # every snapshot read)
    for frame in (catalogue.indicators, catalogue.measures):
        h.update(json.dumps(frame.to_dict("list"), ensure_ascii=False, default=str).encode())
    h.update(json.dumps(catalogue.plan, sort_keys=True, ensure_ascii=False, default=str).encode())
    return h.hexdigest()[:16]


@dataclass
class Inputs:
    """What the months up to `as_of` are computed from, read once from the store."""

    catalogue: Catalogue
    progress: pd.DataFrame  # every year up to as_of
    turnover: pd.DataFrame
    assessments: pd.DataFrame
    plans: pd.DataFrame  # the units' work plans of the year, every revision (workplan.read_workplans)
    as_of: pd.Period

    @property
    def history(self) -> pd.DataFrame | None:
        """Earlier years' reports (they teach the investment profile); None when there are none."""
        past = self.progress[self.progress["month"].dt.year < self.as_of.year]
        return past if len(past) else None

    def progress_upto(self, month: pd.Period) -> pd.DataFrame:
        """This plan year's reports up to `month`."""
        p = self.progress
        return p[(p["month"] <= month) & (p["month"].dt.year == month.year)]

    def plans_upto(self, month: pd.Period) -> pd.DataFrame:
        """The work plans made in or before `month` (a later revision cannot change how it was judged)."""
        return self.plans[self.plans["revision"] <= month]


def read_inputs(conn: sqlite3.Connection, as_of: pd.Period) -> Inputs:
    as_of = parse_month(as_of)
    return Inputs(
        catalogue=read_catalogue(conn),
        progress=read_progress(conn, str(as_of)),
        turnover=read_turnover(conn),
        assessments=read_assessments(conn, as_of.year),
        plans=workplan.read_workplans(conn, as_of.year),
        as_of=as_of,
    )


def fingerprints(inputs: Inputs, months: list[pd.Period]) -> dict[pd.Period, str]:
    """Each month's fingerprint, chained: a month's changes reach every later month."""
    base = hashlib.sha256()
    base.update(code_version().encode())
    base.update(plan_version(inputs.catalogue).encode())
    a = inputs.assessments
    _hash_frame(base, a.drop(columns=[c for c in ("submission_id", "received_at") if c in a.columns]))
    progress = inputs.progress[["measure_id", "month", "cumulative", "status", "note", "unit"]]
    progress = progress.assign(month=progress["month"].astype(str))
    turnover = inputs.turnover.assign(month=inputs.turnover["month"].astype(str))
    # a plan counts from the month it was made (its revision); submission order decides which one is in force
    plans = inputs.plans.sort_values("submission_id", kind="stable").drop(columns=["submission_id"])
    plans = plans.assign(revision=plans["revision"].astype(str))
    out: dict[pd.Period, str] = {}
    previous = base.hexdigest()
    for month in months:
        h = hashlib.sha256(previous.encode())
        h.update(str(month).encode())
        # only this month's rows: the earlier ones are in the previous fingerprint (history years in January's)
        first = month == months[0]
        p_rows = progress["month"] <= str(month) if first else progress["month"] == str(month)
        t_rows = turnover["month"] <= str(month) if first else turnover["month"] == str(month)
        w_rows = plans["revision"] <= str(month) if first else plans["revision"] == str(month)
        _hash_frame(h, progress[p_rows.to_numpy()])
        _hash_frame(h, turnover[t_rows.to_numpy()])
        _hash_frame(h, plans[w_rows.to_numpy()])
        previous = out[month] = h.hexdigest()[:32]
    return out


def part_keys(inputs: Inputs) -> dict[str, str]:
    """What each of KEPT_PARTS truly depends on, hashed (besides the code and plan versions): the growth
    backtest over past years on the turnover of the years before the plan year (each past year is projected
    from the years before it, never from this year's figures); the backtest on the public investment series
    on the plan alone (plan.toml [[investment.public_series]])."""
    base = f"{code_version()}|{plan_version(inputs.catalogue)}"
    year = inputs.as_of.year
    turnover = inputs.turnover
    past = turnover[(turnover["month"].dt.year < year).to_numpy()] if len(turnover) else turnover
    growth = hashlib.sha256(f"{base}|growth_backtest|{year}".encode())
    _hash_frame(growth, past.assign(month=past["month"].astype(str)))
    public = hashlib.sha256(f"{base}|investment_public".encode())
    return {"growth_backtest": growth.hexdigest()[:32], "investment_public": public.hexdigest()[:32]}


# ------------------------------------------------------------------------------------------- compute


def month_growth(catalogue: Catalogue, turnover: pd.DataFrame, month: pd.Period, backtest: bool = False):
    """The month's turnover growth projections and paths (the plan's default models); with `backtest`, also
    the backtest over every past year, sharing the fits (the projection is the same either way)."""
    if not len(turnover):
        return None
    months = growth_model.BACKTEST_MONTHS if backtest else ()
    return growth_model.growth_report(catalogue, turnover, month, backtest_months=months)


def _month_growth(job: tuple):
    return month_growth(*job)


def growth_by_month(
    catalogue: Catalogue,
    turnover: pd.DataFrame,
    months: list[pd.Period],
    workers: int | None = None,
    backtest: pd.Period | None = None,
) -> dict:
    """`month_growth` for several months, on all cores: the fits are most of a month's cost, and months
    do not depend on one another's growth (only their flags are chained). Workers are spawned with one
    BLAS thread each (as growth.project_many's); one month is computed here. `backtest`: the month whose
    report also carries the backtest over past years."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from .config import single_thread_env

    workers = min(workers or os.cpu_count() or 1, len(months))
    # spawn re-imports the caller's main module: a Jupyter kernel's has no __spec__, so it computes here
    spawnable = hasattr(sys.modules.get("__main__"), "__spec__")
    jobs = [(catalogue, turnover, m, m == backtest) for m in months]
    if workers <= 1 or not len(turnover) or not spawnable:
        return {job[2]: month_growth(*job) for job in jobs}
    with (
        single_thread_env(),
        ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool,
    ):
        reports = list(pool.map(_month_growth, jobs))
    return dict(zip(months, reports, strict=True))


def compute_month(
    inputs: Inputs,
    month: pd.Period,
    previous_flags: pd.DataFrame | None,
    calibration=None,
    growth=...,
    calibrated: dict | None = None,
) -> tuple[dict, object]:
    """The month's parts (score, growth, investment, flags, problems) and the investment calibration
    (the next month reuses its month-independent part). `growth`: the month's growth report when it was
    computed already (`growth_by_month`). `calibrated`: the calibrations of the months before it, by month
    (made in the same pass, or the interval widths stored with a current month, SIGMA_PART, completed with
    this month's month-independent part); the month's own is added (the investment backtest reuses them)."""
    catalogue = inputs.catalogue
    rules = risks.rules_from(catalogue)
    upto = inputs.progress_upto(month)
    growth_now = scoring.growth_to_date(catalogue, inputs.turnover, str(month))
    score = scoring.score(
        catalogue, inputs.progress, str(month), inputs.assessments, growth_now
    )  # as `perfkit score` always did: latest report of each measure up to the month
    report = month_growth(catalogue, inputs.turnover, month) if growth is ... else growth
    calibration = investment_model.calibrate(catalogue, upto, month, inputs.history, prior=calibration)
    calibrated = {} if calibrated is None else calibrated
    calibrated[month] = calibration
    for earlier, stored in list(calibrated.items()):
        if isinstance(stored, dict):  # the profiles and reference σ depend on the plan and history alone
            calibrated[earlier] = dataclasses.replace(calibration, **stored)
    # the units' own plans, where they have one: the schedule, the rules and the projection's shape use them
    own = workplan.for_month(inputs.plans_upto(month), month, catalogue)
    investment = investment_model.project_measures(
        catalogue, upto, month, inputs.history, calibration=calibration, plan=own["unit_plan"]
    )
    flags = risks.flag_measures(
        catalogue,
        upto,
        month,
        investment,
        report.projections if report is not None else None,
        previous_flags,
        rules,
        assessments=inputs.assessments,
        **own,
    ).drop(columns=["reasons"])
    keep = ["as_of", "measure_id", "status", "reason_args", "points_at_risk"]
    history = flags.assign(as_of=month)[keep]
    if previous_flags is not None and len(previous_flags):
        history = pd.concat([previous_flags[keep], history], ignore_index=True)
    problems = risks.problems_from_flags(history, month, catalogue, rules["problem_statuses"])
    flags = risks.with_problem_age(flags, problems)
    parts = {
        "score": _score_payload(score),
        # what the investment notebook shows beside the projection: what it learned, and its backtest on
        # this year's reports (both read this month's figures, so they are the month's own)
        "investment_calibration": calibration.summary(),
        SIGMA_PART: {name: _plain(getattr(calibration, name)) for name in SIGMA_FIELDS},
        "investment_backtest": investment_model.backtest(
            catalogue, upto, month, inputs.history, calibrated=calibrated
        ),
        "growth_projections": report.projections if report is not None else None,
        "growth_paths": report.paths if report is not None else None,
        "investment": investment,
        "flags": flags,
        "problems": problems,
        # what each open measure must deliver in each remaining month (the unit pages)
        "deliveries": deliveries.remaining(catalogue, flags, month, own["unit_plan"]),
    }
    return parts, calibration


# ------------------------------------------------------------------------------------ the snapshot


@dataclass
class Snapshot:
    """One month as computed once. `flags` and `problems` carry `reasons` in the language asked for."""

    month: str
    fingerprint: str
    catalogue: Catalogue
    score: scoring.ScoreResult
    growth: growth_model.GrowthReport | None
    investment: pd.DataFrame
    flags: pd.DataFrame
    problems: pd.DataFrame
    lang: str = "zh"
    # per open measure and remaining month: required_total, deliver, source (perfkit.deliveries)
    deliveries: pd.DataFrame = field(default_factory=deliveries.empty)

    @property
    def growth_projections(self) -> pd.DataFrame | None:
        return None if self.growth is None else self.growth.projections

    def quarterly_view(self) -> risks.QuarterlyView:
        """季度通报 of the quarter the month falls in, up to the month, from this snapshot's problem list."""
        month = parse_month(self.month)
        year, quarter = quarter_of(month)
        return risks.quarter_summary(self.problems, year, quarter, month)


@dataclass
class Ensured:
    """What `ensure` did: the months it computed (empty when everything was read) and their fingerprints."""

    as_of: pd.Period
    computed: list[str]
    fingerprints: dict[str, str]
    kept_computed: list[str] = field(default_factory=list)  # KEPT_PARTS computed (the others were reused)

    @property
    def fingerprint(self) -> str:
        return self.fingerprints[str(self.as_of)]


def ensure(conn: sqlite3.Connection, as_of: str | pd.Period, fingerprint: str | None = None) -> Ensured:
    """Make the snapshots of January..`as_of` current: recompute from the first month whose fingerprint
    changed (or that has none), read the rest. Each month is written in its own transaction.

    `fingerprint`: the month's fingerprint as the caller knows it current (the brief's runner made the month
    current and hands it to its notebooks): when the stored snapshot has it, nothing is read or hashed, and
    the notebooks read the very snapshot the brief's folder records; any other value (the store moved on, a
    kept copy run again by hand) is ignored and the month brought up to date as without it."""
    as_of = resolve_as_of(conn, as_of, source="as_of")  # in the plan's year, not after the latest data
    if fingerprint:
        row = conn.execute("SELECT fingerprint FROM snapshots WHERE month = ?", (str(as_of),)).fetchone()
        if row is not None and row[0] == fingerprint:
            return Ensured(as_of, [], {str(as_of): fingerprint})
    inputs = read_inputs(conn, as_of)
    months = months_to(as_of)
    wanted = fingerprints(inputs, months)
    stored = _stored_fingerprints(conn, as_of.year)
    stale = [m for m in months if stored.get(str(m)) != wanted[m]]
    computed: list[str] = []
    kept_computed: list[str] = []
    if stale:
        first = stale[0]
        previous = read_flags(conn, as_of.year, first - 1) if first.month > 1 else None
        calibration = None
        # each month's investment calibration, for the later months' backtests: the current months' as stored
        calibrated: dict = _stored_sigmas(conn, as_of.year, first)
        todo = [m for m in months if m >= first]
        keys = part_keys(inputs)
        kept = _kept_payloads(conn, keys)  # computed for an earlier month from the same inputs: reused
        reused = set(kept)
        growth = growth_by_month(
            inputs.catalogue,
            inputs.turnover,
            todo,
            backtest=None if "growth_backtest" in kept else todo[-1],
        )
        if "growth_backtest" not in kept and growth[todo[-1]] is not None:
            kept["growth_backtest"] = _Payload(encode_frame(growth[todo[-1]].backtest))
        if "investment_public" not in kept:
            kept["investment_public"] = _Payload(
                encode_frame(investment_model.backtest_public(inputs.catalogue))
            )
        kept_computed = [part for part in KEPT_PARTS if part in kept and part not in reused]
        for month in todo:
            parts, calibration = compute_month(
                inputs, month, previous, calibration, growth[month], calibrated
            )
            _write(conn, month, wanted[month], parts | kept | {KEYS_PART: keys})
            computed.append(str(month))
            flags = parts["flags"].assign(as_of=month)[
                ["as_of", "measure_id", "status", "reason_args", "points_at_risk"]
            ]
            previous = flags if previous is None else pd.concat([previous, flags], ignore_index=True)
    return Ensured(as_of, computed, {str(m): fp for m, fp in wanted.items()}, kept_computed)


def snapshot(
    conn: sqlite3.Connection, as_of: str | pd.Period, lang: str = "zh", fingerprint: str | None = None
) -> Snapshot:
    """The month's snapshot, computed first where it (or an earlier month of the year) is out of date
    (`fingerprint`: see `ensure`)."""
    done = ensure(conn, as_of, fingerprint)
    return load(conn, done.as_of, lang, fingerprint=done.fingerprint)


def load(
    conn: sqlite3.Connection, month: str | pd.Period, lang: str = "zh", fingerprint: str | None = None
) -> Snapshot:
    """Read a stored snapshot as it is (see `snapshot` for one that is brought up to date first)."""
    month = parse_month(month)
    row = conn.execute("SELECT fingerprint FROM snapshots WHERE month = ?", (str(month),)).fetchone()
    if row is None or (fingerprint is not None and row[0] != fingerprint):
        raise LookupError(f"no current snapshot of {month} in the store")
    parts = _read_parts(conn, month, PARTS)
    catalogue = read_catalogue(conn)
    projections, paths = parts.get("growth_projections"), parts.get("growth_paths")
    report = None
    if projections is not None:  # the backtest is read by `growth_report` only
        report = growth_model.GrowthReport(
            projections, paths, pd.DataFrame(columns=growth_model.BACKTEST_COLUMNS + ["mode"]), pd.DataFrame()
        )
    return Snapshot(
        month=str(month),
        fingerprint=row[0],
        catalogue=catalogue,
        score=_score_from(parts["score"]),
        growth=report,
        investment=parts["investment"],
        flags=risks.with_reasons(parts["flags"], lang),
        problems=risks.with_reasons(parts["problems"], lang),
        lang=lang,
        deliveries=parts["deliveries"] if "deliveries" in parts else deliveries.empty(),
    )


def growth_report(
    conn: sqlite3.Connection,
    as_of: str | pd.Period,
    bands: dict | None = None,
    fingerprint: str | None = None,
) -> growth_model.GrowthReport:
    """The month's growth report with its backtest over past years (what the growth notebook shows), read
    from the snapshot: nothing is fitted. Bands other than the plan's are a what-if: computed, not kept.
    `fingerprint`: see `ensure`."""
    if bands:
        growth_model.check_bands(bands, list(read_catalogue(conn).plan["turnover"]["bands"]))
    done = ensure(conn, as_of, fingerprint)
    snap = load(conn, done.as_of, fingerprint=done.fingerprint)
    if snap.growth is None:  # no turnover yet: an empty report (the brief says so), not a failed brief
        return growth_model.empty_report()
    inputs_needed = bands and any(
        list(map(float, v)) != list(map(float, read_catalogue(conn).plan["turnover"]["bands"].get(k, [])))
        for k, v in bands.items()
    )
    if inputs_needed:
        cat = read_catalogue(conn)
        return growth_model.growth_report(cat, read_turnover(conn), done.as_of, bands=bands)
    backtest = _read_parts(conn, done.as_of, ("growth_backtest",)).get("growth_backtest")
    if backtest is not None and len(backtest):
        snap.growth.backtest = backtest
        snap.growth.summary = growth_model.backtest_summary(backtest, by=("mode",))
    return snap.growth


@dataclass
class InvestmentReport:
    """What the investment notebook shows, read from the month's snapshot (nothing is fitted)."""

    projection: pd.DataFrame  # the snapshot's investment part (investment.project_measures)
    calibration: pd.DataFrame  # Calibration.summary(): per kind, the profile and interval width used
    backtest: pd.DataFrame  # investment.backtest on this year's reports up to the month
    public: pd.DataFrame  # investment.backtest_public on the plan's real public series


def investment_report(
    conn: sqlite3.Connection, as_of: str | pd.Period, fingerprint: str | None = None
) -> InvestmentReport:
    """The month's investment projection with its calibration and backtests (the investment notebook;
    `fingerprint`: see `ensure`)."""
    done = ensure(conn, as_of, fingerprint)
    names = ("investment", "investment_calibration", "investment_backtest", "investment_public")
    parts = _read_parts(conn, done.as_of, names)
    return InvestmentReport(*(parts.get(name, pd.DataFrame()) for name in names))


# ------------------------------------------------------------------------------ reads for consumers


def read_flags(conn: sqlite3.Connection, year: int, upto: str | pd.Period | None = None) -> pd.DataFrame:
    """The stored flags of `year` up to `upto`: as_of (Period[M]), measure_id, status, reason_args,
    points_at_risk (the history the 关注→预警 and 预警-hold rules read)."""
    sql = "SELECT month, payload FROM snapshot_parts WHERE part = 'flags' AND month BETWEEN ? AND ?"
    last = str(parse_month(upto)) if upto is not None else f"{year}-12"
    frames = []
    for month, payload in conn.execute(sql + " ORDER BY month", (f"{year}-01", last)).fetchall():
        f = decode_frame(payload)
        frames.append(
            f.assign(as_of=pd.Period(month, freq="M"))[
                ["as_of", "measure_id", "status", "reason_args", "points_at_risk"]
            ]
        )
    if not frames:
        return pd.DataFrame(
            {
                "as_of": pd.PeriodIndex([], freq="M"),
                "measure_id": pd.Series([], dtype=object),
                "status": pd.Series([], dtype=object),
                "reason_args": pd.Series([], dtype=object),
                "points_at_risk": pd.Series([], dtype=float),
            }
        )
    return pd.concat(frames, ignore_index=True)


def read_months(conn: sqlite3.Connection, part: str, year: int, upto: str | pd.Period) -> dict[str, object]:
    """One stored part of each month of `year` up to `upto`, as stored: month → frame (the score: its
    payload, a dict with `totals`). Months without that part are left out. What trends read; nothing is
    computed, so call after `ensure`."""
    if part not in PARTS + REPORT_PARTS:
        raise ValueError(f"unknown snapshot part {part!r}")
    sql = "SELECT month, payload FROM snapshot_parts WHERE part = ? AND month BETWEEN ? AND ? ORDER BY month"
    rows = conn.execute(sql, (part, f"{year}-01", str(parse_month(upto)))).fetchall()
    return {m: json.loads(p) if part == "score" else decode_frame(p) for m, p in rows}


def problem_list(conn: sqlite3.Connection, as_of: str | pd.Period, lang: str = "zh") -> pd.DataFrame:
    """The 问题清单 as of a month: every problem of the plan year so far."""
    return snapshot(conn, as_of, lang).problems


def quarterly_view(conn: sqlite3.Connection, as_of: str | pd.Period, lang: str = "zh") -> risks.QuarterlyView:
    """季度通报 of the quarter `as_of` falls in, up to `as_of` (see Snapshot.quarterly_view)."""
    return snapshot(conn, as_of, lang).quarterly_view()


def computed_months(conn: sqlite3.Connection) -> dict[str, str]:
    """month → when its snapshot was computed (tests and `perfkit brief` say what was recomputed)."""
    return dict(conn.execute("SELECT month, computed_at FROM snapshots ORDER BY month").fetchall())


# ---------------------------------------------------------------------------------------- storage


def _stored_sigmas(conn: sqlite3.Connection, year: int, first: pd.Period) -> dict[pd.Period, dict]:
    """SIGMA_PART of the months of `year` before `first` (the current ones), by month."""
    rows = conn.execute(
        "SELECT month, payload FROM snapshot_parts WHERE part = ? AND month BETWEEN ? AND ?",
        (SIGMA_PART, f"{year}-01", str(first - 1)),
    ).fetchall()
    return {pd.Period(month, freq="M"): json.loads(payload) for month, payload in rows}


def _stored_fingerprints(conn: sqlite3.Connection, year: int) -> dict[str, str]:
    rows = conn.execute(
        "SELECT month, fingerprint FROM snapshots WHERE month BETWEEN ? AND ?", (f"{year}-01", f"{year}-12")
    ).fetchall()
    return dict(rows)


def _write(conn: sqlite3.Connection, month: pd.Period, fingerprint: str, parts: dict) -> None:
    """Replace the month's snapshot in one transaction: a kill mid-write leaves the previous one whole."""
    rows = [
        (
            str(month),
            name,
            v
            if isinstance(v, _Payload)
            else encode_frame(v)
            if isinstance(v, pd.DataFrame)
            else json.dumps(v, ensure_ascii=False),
        )
        for name, v in parts.items()
        if v is not None
    ]
    with transaction(conn):
        conn.execute("DELETE FROM snapshot_parts WHERE month = ?", (str(month),))
        conn.execute("DELETE FROM snapshots WHERE month = ?", (str(month),))
        conn.execute("INSERT INTO snapshots VALUES (?, ?, ?)", (str(month), fingerprint, now_iso()))
        conn.executemany("INSERT INTO snapshot_parts VALUES (?, ?, ?)", rows)


class _Payload(str):
    """A part already encoded as stored (a kept part copied from an earlier month)."""


def _kept_payloads(conn: sqlite3.Connection, keys: dict[str, str]) -> dict[str, _Payload]:
    """The stored KEPT_PARTS whose key is the one wanted now (whichever month holds them), as stored."""
    out: dict[str, _Payload] = {}
    sql = "SELECT month, payload FROM snapshot_parts WHERE part = ? ORDER BY month DESC"
    for month, payload in conn.execute(sql, (KEYS_PART,)).fetchall():
        stored = json.loads(payload)
        for part in KEPT_PARTS:
            if part in out or part not in keys or stored.get(part) != keys[part]:
                continue
            row = conn.execute(
                "SELECT payload FROM snapshot_parts WHERE month = ? AND part = ?", (month, part)
            ).fetchone()
            if row is not None:
                out[part] = _Payload(row[0])
    return out


def _read_parts(conn: sqlite3.Connection, month: pd.Period, names: tuple[str, ...]) -> dict:
    """The month's stored parts of `names` (those it has), decoded."""
    out = {}
    marks = ", ".join("?" * len(names))
    for name, payload in conn.execute(
        f"SELECT part, payload FROM snapshot_parts WHERE month = ? AND part IN ({marks})",
        (str(month), *names),
    ).fetchall():
        out[name] = json.loads(payload) if name in ("score", KEYS_PART) else decode_frame(payload)
    return out


def _score_payload(result: scoring.ScoreResult) -> dict:
    return {
        "as_of": result.as_of,
        "measures": json.loads(encode_frame(result.measures)),
        "indicators": json.loads(encode_frame(result.indicators)),
        "sections": json.loads(encode_frame(result.sections)),
        "totals": {k: _plain(v) for k, v in result.totals.items()},
        "assumed": list(result.assumed),
    }


def _score_from(payload: dict) -> scoring.ScoreResult:
    return scoring.ScoreResult(
        as_of=payload["as_of"],
        measures=decode_frame(json.dumps(payload["measures"])),
        indicators=decode_frame(json.dumps(payload["indicators"])),
        sections=decode_frame(json.dumps(payload["sections"])),
        totals=payload["totals"],
        assumed=payload["assumed"],
    )


# A frame as JSON with its dtypes: floats round-trip exactly (Python's shortest repr), NaN included,
# periods as 'YYYY-MM', lists as lists. JSON rather than pickle: a store file handed over is data, not code.


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Period):
        return str(v)
    if isinstance(v, np.ndarray | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if v is pd.NaT or v is pd.NA:
        return None
    return v


def encode_frame(df: pd.DataFrame) -> str:
    columns = [str(c) for c in df.columns]
    dtypes = [str(t) for t in df.dtypes]
    data = [[_plain(v) for v in row] for row in df.itertuples(index=False, name=None)]
    return json.dumps({"columns": columns, "dtypes": dtypes, "data": data}, ensure_ascii=False)


def decode_frame(payload: str) -> pd.DataFrame:
    obj = json.loads(payload)
    columns, dtypes = obj["columns"], obj["dtypes"]
    df = pd.DataFrame(obj["data"], columns=columns) if obj["data"] else pd.DataFrame(columns=columns)
    if len(set(columns)) != len(columns):  # not a frame encode_frame wrote: column by column, in place
        for i, dtype in enumerate(dtypes):
            df.isetitem(i, _decoded(df.iloc[:, i], dtype))
        return df
    # Only the columns whose inferred dtype is not the stored one are converted, and the frame is made once:
    # assigning every column back (2,000 assignments and conversions a brief's trends read) was most of
    # reading a snapshot. The frames are the same, column by column.
    decoded = {col: _decoded(df[col], dtype) for col, dtype in zip(columns, dtypes, strict=True)}
    return pd.DataFrame(decoded, index=df.index, columns=columns)


def _decoded(column: pd.Series, dtype: str):
    if dtype.startswith("period"):
        return pd.PeriodIndex([v if v is not None else None for v in column], freq="M")
    if dtype == "object":
        return column if column.dtype == object else column.astype(object)
    if str(column.dtype) == dtype:
        return column
    try:
        return column.astype(dtype)
    except (TypeError, ValueError):
        return column  # e.g. an int column that held None: kept as read


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)
