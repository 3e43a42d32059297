"""The units' own monthly work plans (分月计划): 分解落实任务, 泉交办〔2019〕28号 四(二).

In January each responsible unit splits its targets into its own plan: for each measure the planned
year-to-date value (milestones: percent done) at the end of each month up to the deadline, the person
responsible and the measures taken. `perfkit template --workplan` writes one protected workbook per unit
(pre-filled with the plan in force, so a revision starts from it); `perfkit ingest` checks it (planned
values never fall, reach the target by the deadline, stay within the measure's kind: percentages ≤ 100,
counts whole) and stores it whole or not at all. A revision supersedes the unit's earlier plan from its
month on; every plan stays in the store.

Where a unit has a plan, perfkit.risks judges the schedule gap against it (and perfkit.investment shapes
the projection by it) instead of the pro-rata line; `schedule_source` says which. A plan lowered after
the first months of the year (plan.toml [workplan] free_revision_months) is itself flagged.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem
from .forms import (
    META_SHEET,
    Checked,
    Field,
    FormSheet,
    IntakeRules,
    Rule,
    beyond_target,
    cell_number,
    cell_text,
    flagged,
    form_meta,
    meta_checks,
    read_form,
    safe_name,
    write_form,
)
from .labels import t
from .months import check_month, parse_month
from .template import chosen_units, reporting_units, unit_measures

KIND = "workplan"
SHEET_KEY = "workplan.sheet"
MONTHS = 12
MONTH_FIELDS = [f"m{m:02d}" for m in range(1, MONTHS + 1)]
PLANNED_KINDS = {"investment", "amount", "count", "length", "level", "percent", "milestone"}
WHOLE_KINDS = {"count"}
EPS = 1e-9
PLAN_COLUMNS = ["measure_id", "month", "planned", "person", "note"]


def fields() -> list[Field]:
    head = [
        Field("measure_id", t("measure_id"), 11),
        Field("indicator_id", t("indicator_id"), 10),
        Field("name", t("name"), 32, wrap=True),
        Field("kind", t("kind"), 9),
        Field("unit", t("unit"), 8),
        Field("target", t("target"), 10),
        Field("deadline_month", t("deadline_month"), 9),
        Field("person", t("workplan.person"), 11, fill_in=True),
    ]
    months = [
        Field(f, t("workplan.month_col").format(m=i), 9, fill_in=True) for i, f in enumerate(MONTH_FIELDS, 1)
    ]
    return [*head, *months, Field("note", t("workplan.note"), 36, fill_in=True, wrap=True)]


FILL_IN = ["person", *MONTH_FIELDS, "note"]


def settings(catalogue: Catalogue) -> dict:
    s = catalogue.plan.get("workplan", {})
    return {
        "free_revision_months": int(s.get("free_revision_months", 1)),
        "downward_status": str(s.get("downward_status", "关注")),
    }


def template_file_name(unit: str, month: pd.Period) -> str:
    return f"{safe_name(unit)}_{month}_{safe_name(t('workplan.file_suffix'))}.xlsx"


def template_rows(catalogue: Catalogue, unit: str, current: pd.DataFrame | None) -> list[dict]:
    """One row per measure the unit reports, pre-filled with `current` (the plan in force, if any)."""
    ms = unit_measures(catalogue, unit)
    cur = current if current is not None else pd.DataFrame(columns=PLAN_COLUMNS)
    rows = []
    for rec in ms.to_dict("records"):
        mine = cur[cur["measure_id"] == rec["measure_id"]]
        row = {
            "measure_id": rec["measure_id"],
            "indicator_id": rec["indicator_id"],
            "name": rec["name"],
            "kind": t(f"kind.{rec['kind']}"),
            "kind_code": rec["kind"],
            "unit": rec["unit"],
            "target": rec["target"],
            "deadline_month": rec["deadline_month"],
            "person": next((p for p in mine["person"] if p), ""),
            "note": next((p for p in mine["note"] if p), ""),
        }
        for month, planned in zip(mine["month"], mine["planned"], strict=True):
            if month and pd.notna(planned):
                row[f"m{pd.Period(month, freq='M').month:02d}"] = float(planned)
        rows.append(row)
    return rows


def write_workplan(catalogue: Catalogue, unit: str, month: pd.Period, current, out_dir: str | Path) -> Path:
    rules = {
        "number": Rule("decimal", "intake.error.number", "workplan.prompt.planned", "greaterThanOrEqual", "0"),
        "percent": Rule("decimal", "intake.error.percent", "workplan.prompt.planned", "between", "0", "100"),
        "whole": Rule("whole", "workplan.error.whole", "workplan.prompt.planned", "greaterThanOrEqual", "0"),
        "person": Rule("textLength", "intake.error.note", "workplan.prompt.person", "lessThanOrEqual", "100"),
        "note": Rule("textLength", "intake.error.note", "workplan.prompt.note", "lessThanOrEqual", "2000"),
    }  # fmt: skip

    def cell_rule(rec: dict, field: str) -> str | None:
        if field in ("person", "note"):
            return field
        month = int(field[1:])
        if rec["kind_code"] not in PLANNED_KINDS or month > int(rec["deadline_month"]):
            return None  # no monthly number for it, or after its deadline
        if rec["unit"] == "%":
            return "percent"
        return "whole" if rec["kind_code"] in WHOLE_KINDS else "number"

    title = t("workplan.title").format(
        title=catalogue.plan["plan"]["title"], unit=unit, year=month.year, month=month.month
    )
    return write_form(
        Path(out_dir) / template_file_name(unit, month),
        sheet=t("workplan.sheet"),
        title=title,
        fields=fields(),
        rows=template_rows(catalogue, unit, current),
        meta=form_meta(KIND, catalogue, unit=unit, month=str(month)),
        rules=rules,
        cell_rule=cell_rule,
    )


def write_form_templates(
    conn: sqlite3.Connection,
    out_dir: str | Path,
    month: str | None = None,
    units: list[str] | None = None,
    *,
    assessments: bool = False,
) -> list[Path]:
    """`perfkit template --workplan` (one per unit, pre-filled with its plan in force) or `--assessments`."""
    from .store import read_assessments, read_catalogue

    catalogue = read_catalogue(conn)
    if assessments:
        from .assessments import latest_record, write_assessment_template

        recorded, based_on = read_assessments(conn, catalogue.year), latest_record(conn, catalogue.year)
        return [write_assessment_template(catalogue, recorded, out_dir, based_on)]
    period = pd.Period(year=catalogue.year, month=1, freq="M")
    if month:
        period = check_month(parse_month(month, "--month"), catalogue.year, source="--month")
    chosen = chosen_units(catalogue, units)
    plans = read_workplans(conn, catalogue.year)
    from .safe_xlsx import check_template_targets  # here: the snapshot's modules do not import it

    targets = (Path(out_dir) / template_file_name(unit, period) for unit in chosen)
    # pre-filled with the plan in force: only a sign-off tells that someone filled one in
    check_template_targets(
        targets, t("workplan.sheet"), {f.field: f.label for f in fields()}, "measure_id", []
    )
    out = []
    for unit in chosen:
        current = in_force(plans[plans["unit"] == unit], period)
        out.append(write_workplan(catalogue, unit, period, current, out_dir))
    return out


# --------------------------------------------------------------------------------- reading it back


def read_book(book, name: str) -> FormSheet:
    labels = {f.field: f.label for f in fields()}
    return read_form(book, KIND, t("workplan.sheet"), labels, "measure_id", ["measure_id", *FILL_IN], FILL_IN)


def check(
    conn: sqlite3.Connection, sheet: FormSheet, catalogue: Catalogue, file: str, today: date
) -> Checked:
    """Validate a unit's plan: rows (measure_id, month, planned, person, note) or InputError."""
    problems = meta_checks(sheet, catalogue, file)

    def meta_problem(key: str, reason: str) -> None:
        cell = sheet.meta_cells.get(key, "")
        problems.append(Problem(file, reason, META_SHEET if cell else "", cell))

    unit = sheet.meta.get("unit", "")
    try:
        month = parse_month(sheet.meta.get("month", ""), file)
    except InputError as exc:
        meta_problem("month", exc.problems[0].reason)
        raise InputError(problems) from exc
    if month.year != catalogue.year:
        meta_problem("month", f"month {month} is outside the plan year {catalogue.year}")
    if month > pd.Period(today, freq="M"):
        meta_problem("month", f"month {month} is in the future (today is {today:%Y-%m-%d})")
    if unit not in reporting_units(catalogue):
        meta_problem("unit", f"{unit!r} is not a reporting unit in the catalogue")
    measures = catalogue.measures.set_index("measure_id")
    multiple = IntakeRules.from_plan(catalogue.plan).max_target_multiple
    seen: dict[str, str] = {}
    out: list[dict] = []

    def problem(reason: str, key: str, r: int) -> None:
        problems.append(Problem(file, reason, sheet.sheet, sheet.cell(key, r)))

    for rec in sheet.rows:
        r = rec["row"]
        mid = cell_text(rec.get("measure_id"))
        if not mid:
            problem("values without a 措施编号", "measure_id", r)
            continue
        if mid in seen:
            problem(f"duplicate 措施编号 {mid} (also in {seen[mid]})", "measure_id", r)
            continue
        seen[mid] = sheet.cell("measure_id", r)
        if mid not in measures.index:
            problem(f"unknown 措施编号 {mid!r}", "measure_id", r)
            continue
        m = measures.loc[mid]
        if m["schedule"] == "statistic":
            problem(f"{mid} comes from the statistics office's turnover table, not a unit", "measure_id", r)
            continue
        if m["reporting_unit"] != unit:
            problem(f"{mid} is reported by {m['reporting_unit']}, not {unit}", "measure_id", r)
            continue
        bad = flagged(sheet, rec, [k for k in FILL_IN if k in sheet.columns], file)
        if bad:
            problems.extend(bad)
            continue
        out.extend(_check_row(rec, mid, m, catalogue.year, problem, multiple))
    if not sheet.rows and not problems:
        problems.append(Problem(file, "nothing filled in: every 计划 cell is empty", sheet.sheet))
    if problems:
        raise InputError(problems)
    prior = conn.execute(
        "SELECT MAX(id) FROM submissions WHERE kind = 'workplan' AND unit = ?", (unit,)
    ).fetchone()[0]
    return Checked(rows=out, unit=unit, month=str(month), supersedes=prior)


def _check_row(rec: dict, mid: str, m: pd.Series, year: int, problem, multiple: float) -> list[dict]:
    """One measure's planned months: never falling, no gap after the first, the target by the deadline."""
    r = rec["row"]
    person, note = cell_text(rec.get("person")), cell_text(rec.get("note"))
    deadline, target, kind = int(m["deadline_month"]), float(m["target"]), m["kind"]
    values: list[tuple[int, float]] = []
    ok = True
    for i, key in enumerate(MONTH_FIELDS, start=1):
        value, reason = cell_number(rec.get(key))
        if reason:
            problem(reason, key, r)
            ok = False
            continue
        if value is None:
            if values and i <= deadline:
                problem(
                    f"month {i} is blank after planned values: give every month up to the deadline", key, r
                )
                ok = False
            continue
        if kind not in PLANNED_KINDS:
            problem(f"{mid} is {t('kind.' + kind)}: no monthly values, only 责任人 and 说明", key, r)
            ok = False
        elif i > deadline:
            problem(f"{value:g} planned for month {i}, after the deadline (month {deadline})", key, r)
            ok = False
        elif value < 0:
            problem(f"negative number {value:g}", key, r)
            ok = False
        elif m["unit"] == "%" and value > 100:
            problem(f"{value:g} is over 100 for a percentage", key, r)
            ok = False
        elif reason := beyond_target(value, target, m["unit"], multiple):
            problem(reason, key, r)
            ok = False
        elif kind in WHOLE_KINDS and not float(value).is_integer():
            problem(f"{value:g} is not a whole number ({mid} counts items)", key, r)
            ok = False
        elif values and value < values[-1][1] - EPS:
            problem(
                f"{value:g} is below {values[-1][1]:g} planned for month {values[-1][0]}: planned totals never fall",
                key,
                r,
            )
            ok = False
        values.append((i, value))
    if ok and values and kind in PLANNED_KINDS and not np.isnan(target):
        last_month, last = values[-1]
        if last_month < deadline or last < target - EPS:
            problem(
                f"the plan reaches {last:g} by month {last_month}, not the annual target {target:g} by the "
                f"deadline (month {deadline})",
                MONTH_FIELDS[last_month - 1],
                r,
            )
    if values and not person:
        problem(f"{mid} needs its 具体责任人", "person", r)
    rows = [
        {"measure_id": mid, "month": f"{year}-{i:02d}", "planned": v, "person": person, "note": note}
        for i, v in values
    ]
    return rows or [{"measure_id": mid, "month": "", "planned": None, "person": person, "note": note}]


def insert(conn: sqlite3.Connection, submission_id: int, rows: list[dict]) -> None:
    conn.executemany(
        "INSERT INTO workplan (submission_id, measure_id, month, planned, person, note) VALUES (?,?,?,?,?,?)",
        [(submission_id, r["measure_id"], r["month"], r["planned"], r["person"], r["note"]) for r in rows],
    )


# ---------------------------------------------------------------------------------- using the plans


def read_workplans(conn: sqlite3.Connection, year: int) -> pd.DataFrame:
    """Every stored plan row of `year`'s revisions, superseded ones included: submission_id, unit,
    revision (Period[M], the month the plan was made), measure_id, month ('YYYY-MM' or ''), planned,
    person, note."""
    df = pd.read_sql_query(
        """
        SELECT w.submission_id, s.unit, s.month AS revision, w.measure_id, w.month, w.planned, w.person, w.note
        FROM workplan w JOIN submissions s ON s.id = w.submission_id
        WHERE s.kind = 'workplan' AND s.month BETWEEN ? AND ?
        ORDER BY w.submission_id, w.measure_id, w.month
        """,
        conn,
        params=(f"{year}-01", f"{year}-12"),
    )
    df["revision"] = pd.PeriodIndex(df["revision"], freq="M") if len(df) else pd.PeriodIndex([], freq="M")
    return df


def in_force(plans: pd.DataFrame, month: str | pd.Period) -> pd.DataFrame:
    """The plan each unit had in force at `month`: its latest submission made in or before that month."""
    month = pd.Period(month, freq="M")
    if plans is None or plans.empty:
        return pd.DataFrame(columns=["submission_id", "unit", "revision", *PLAN_COLUMNS])
    made = plans[plans["revision"] <= month]
    latest = made.groupby("unit")["submission_id"].transform("max")
    return made[made["submission_id"] == latest].reset_index(drop=True)


def planned_at(plan: pd.DataFrame, ids: pd.Index, month: str | pd.Period) -> np.ndarray:
    """Per measure in `ids`: the planned year-to-date value at the end of `month` (the last planned month on
    or before it; 0 before the first planned month), NaN where the measure has no planned values."""
    month = pd.Period(month, freq="M")
    out = np.full(len(ids), np.nan)
    if plan is None or plan.empty:
        return out
    p = plan[(plan["month"] != "") & plan["planned"].notna()]
    if p.empty:
        return out
    months = pd.PeriodIndex(p["month"], freq="M")
    code = ids.get_indexer(p["measure_id"])
    has = np.unique(code[code >= 0])
    out[has] = 0.0
    sel = (months <= month) & (code >= 0)
    if sel.any():
        upto = p[sel].assign(code=code[sel], m=months[sel]).sort_values(["code", "m"])
        last = upto.groupby("code")["planned"].last()
        out[last.index.to_numpy()] = last.to_numpy(dtype=float)
    return out


def planned_grid(plan: pd.DataFrame, ids: pd.Index, year: int) -> np.ndarray:
    """`planned_at` for every month: (measures × 13), column m the planned value at the end of month m
    (column 0 is 0); NaN rows where the measure has no planned values."""
    out = np.full((len(ids), MONTHS + 1), np.nan)
    for mo in range(1, MONTHS + 1):
        out[:, mo] = planned_at(plan, ids, pd.Period(year=year, month=mo, freq="M"))
    out[:, 0] = np.where(np.isnan(out[:, MONTHS]), np.nan, 0.0)
    return out


def planned_shape(plan: pd.DataFrame, ids: pd.Index, year: int) -> np.ndarray:
    """Per measure, the planned share of its final planned value at the end of months 0..12 (NaN rows where
    the measure has no planned values): the projection's profile time τ for that measure."""
    if plan is None or plan.empty:
        return np.full((len(ids), MONTHS + 1), np.nan)
    grid = planned_grid(plan, ids, year)
    final = grid[:, MONTHS]
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(final[:, None] > 0, grid / final[:, None], np.nan)
    return np.minimum(shape, 1.0)


def downward_revisions(plans: pd.DataFrame, month: str | pd.Period, free_months: int) -> pd.DataFrame:
    """Measures whose plan in force at `month` was lowered after the first `free_months` months: compared
    with the plan in force at the end of that free period (else the unit's first plan), some month's
    planned value is lower. Columns: measure_id, revision ('YYYY-MM'), plan_month, before, after, and
    `baseline_now` (what the earlier plan asked for by `month`)."""
    month = pd.Period(month, freq="M")
    cols = ["measure_id", "revision", "plan_month", "before", "after", "baseline_now"]
    current = in_force(plans, month)
    if current.empty:
        return pd.DataFrame(columns=cols)
    year = month.year
    free_end = pd.Period(year=year, month=max(min(free_months, MONTHS), 1), freq="M")
    rows = []
    for unit, cur in current.groupby("unit"):
        revision = cur["revision"].iloc[0]
        if revision <= free_end:
            continue
        mine = plans[plans["unit"] == unit]
        base = in_force(mine, free_end)
        if base.empty:
            first = mine["submission_id"].min()
            base = mine[mine["submission_id"] == first]
        if base["submission_id"].iloc[0] == cur["submission_id"].iloc[0]:
            continue
        ids = pd.Index(sorted(set(base["measure_id"])))
        before = planned_grid(base, ids, year)[:, 1:]
        after = planned_grid(cur, ids, year)[:, 1:]
        drop = np.where(np.isnan(before), 0.0, before - np.nan_to_num(after))  # a plan dropped counts as 0
        worst = drop.argmax(axis=1)  # the month lowered most (the first such)
        k = np.arange(len(ids))
        now_base = before[:, month.month - 1]
        for i in np.flatnonzero(drop[k, worst] > EPS):
            rows.append(
                (
                    ids[i],
                    str(revision),
                    int(worst[i]) + 1,
                    before[i, worst[i]],
                    after[i, worst[i]],
                    now_base[i],
                )
            )
    return pd.DataFrame(rows, columns=cols)


def for_month(plans: pd.DataFrame, month: str | pd.Period, catalogue: Catalogue) -> dict:
    """What perfkit.risks.flag_measures takes from the plans for `month` (`read_workplans` rows): the plan
    in force (`unit_plan`) and the downward revisions with the status they raise (`lowered`); None
    for both when no unit has a plan."""
    if plans is None or plans.empty:
        return {"unit_plan": None, "lowered": None}
    cfg = settings(catalogue)
    lowered = downward_revisions(plans, month, cfg["free_revision_months"])
    return {"unit_plan": in_force(plans, month), "lowered": lowered.assign(status=cfg["downward_status"])}
