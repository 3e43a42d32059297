"""The monthly 工作台账 template: one workbook per reporting unit, one row per measure it reports.

The plan asks every responsible unit to keep a 绩效目标工作台账 (泉交办〔2019〕28号, 四(三)); the bureau's
office collects it monthly. The template is the contract `perfkit.intake` reads back: sheet 填报 with a
title row and a header row, fill-in columns unlocked and validated, everything else locked (sheet protection
without a password: it prevents slips, it is not security), and a hidden sheet plus document properties
recording the unit, month and catalogue version the file was made for. Reading a filled copy back and
checking it against the catalogue and the last accepted values happen here too (`read_progress_book`,
`check_progress`); the safe opening of the file and the store are perfkit.intake's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem
from .exports import control_char
from .forms import (
    META_PROPERTY_PREFIX,
    META_SHEET,
    Book,
    Field,
    FormSheet,
    IntakeRules,
    Rule,
    beyond_target,
    book_meta,
    cell_number,
    cell_text,
    form_meta,
    read_form,
    safe_name,
    sign_off_checks,
    write_form,
)
from .labels import t
from .months import check_month, parse_month

KIND = "progress"
NUMBER_KINDS = {"investment", "amount", "count", "length", "level", "percent"}  # need 本年累计完成
STATUS_KINDS = {"milestone", "qualitative"}  # need 进展状态
WHOLE_KINDS = {"count"}  # projects, vehicles, actions: whole numbers (the 分月计划's rule too)
MONOTONE_SCHEDULES = {"cumulative", "recurring"}  # year-to-date totals never fall without a correction
# a month in a file name ('2019-10', '2019年10月'), not a full date: units name files by the day they send them
_NAME_MONTH = re.compile(r"(?<!\d)(\d{4})\s*(?:-|_|\.|年)\s*(\d{1,2})(?!\d)(?!\s*(?:[-./]|月)\s*\d)")
ProgressSheet = (
    FormSheet  # a ledger read back: a form sheet whose `claims` say where each month claim came from
)


@dataclass(frozen=True)
class Column:
    field: str  # the name intake reads it back as
    label: str  # key in perfkit.labels.TEXT
    width: float
    fill_in: bool = False
    wrap: bool = False


COLUMNS = [
    Column("measure_id", "measure_id", 11),
    Column("indicator_id", "indicator_id", 10),
    Column("name", "name", 36, wrap=True),
    Column("kind", "kind", 10),
    Column("unit", "unit", 10),
    Column("target", "target", 11),
    Column("deadline_month", "deadline_month", 10),
    Column("previous_cumulative", "intake.previous_cumulative", 12),
    Column("previous_status", "intake.previous_status", 10),
    Column("cumulative", "intake.cumulative", 14, fill_in=True),
    Column("status", "intake.status", 11, fill_in=True),
    Column("note", "intake.note", 40, fill_in=True, wrap=True),
]
FILL_IN = [c.field for c in COLUMNS if c.fill_in]


def header_labels() -> dict[str, str]:
    """field → the Chinese header written in the template (and looked for on ingest)."""
    return {c.field: t(c.label) for c in COLUMNS}


def reporting_units(catalogue: Catalogue) -> list[str]:
    """Units that report at least one measure in the monthly 工作台账, in catalogue order."""
    m = catalogue.measures
    return list(dict.fromkeys(m.loc[m["schedule"] != "statistic", "reporting_unit"]))


def unit_measures(catalogue: Catalogue, unit: str) -> pd.DataFrame:
    """The measures `unit` reports monthly; 'statistic' ones come from the turnover table instead."""
    m = catalogue.measures
    return m[(m["reporting_unit"] == unit) & (m["schedule"] != "statistic")].reset_index(drop=True)


def template_rows(catalogue: Catalogue, unit: str, month: pd.Period, progress: pd.DataFrame) -> pd.DataFrame:
    """One row per measure of `unit`, with the last accepted value before `month` as 上月累计.

    `progress` is tidy (measure_id, month Period[M], cumulative, status), e.g. `store.read_progress`.
    """
    from .scoring import latest_values

    ms = unit_measures(catalogue, unit)
    before = latest_values(progress, month - 1) if len(progress) else pd.DataFrame()
    cumulative = dict(zip(before.get("measure_id", []), before.get("cumulative", []), strict=True))
    status = dict(zip(before.get("measure_id", []), before.get("status", []), strict=True))
    return pd.DataFrame(
        {
            "measure_id": ms["measure_id"],
            "indicator_id": ms["indicator_id"],
            "name": ms["name"],
            "kind": ms["kind"],
            "unit": ms["unit"],
            "target": ms["target"],
            "deadline_month": ms["deadline_month"],
            "previous_cumulative": [float(cumulative.get(m, float("nan"))) for m in ms["measure_id"]],
            "previous_status": [s if isinstance(s := status.get(m), str) else "" for m in ms["measure_id"]],
        }
    )


def template_file_name(unit: str, month: pd.Period) -> str:
    """'市道管处_2019-09_工作台账.xlsx': the unit and month are readable from the name alone."""
    return f"{safe_name(unit)}_{month}_{t('intake.file_suffix')}.xlsx"


def write_template(
    rows: pd.DataFrame,
    path: str | Path,
    *,
    unit: str,
    month: pd.Period,
    catalogue: Catalogue,
    statuses: list[str],
    max_note_chars: int = IntakeRules.max_note_chars,
    max_name_chars: int = IntakeRules.max_name_chars,
) -> Path:
    """Write one unit's template workbook (rows from `template_rows`), in the protected style every
    fill-in workbook shares (perfkit.forms.write_form), its sign-off block included."""
    rules = {
        "number": Rule("decimal", "intake.error.number", "intake.prompt.cumulative", "greaterThanOrEqual", "0"),
        "whole": Rule("whole", "workplan.error.whole", "intake.prompt.cumulative", "greaterThanOrEqual", "0"),
        "percent": Rule("decimal", "intake.error.percent", "intake.prompt.cumulative", "between", "0", "100"),
        "status": Rule("list", "intake.error.status", "intake.prompt.status", formula1='"' + ",".join(statuses) + '"'),
        "note": Rule("textLength", "intake.error.note", "intake.prompt.note", "lessThanOrEqual", str(max_note_chars),
                     error_text=t("intake.error.note").format(n=max_note_chars)),
    }  # fmt: skip

    def cell_rule(rec: dict, field: str) -> str | None:
        if field != "cumulative":
            return field
        if rec["kind"] == "qualitative":
            return None  # no number for qualitative measures
        if rec["kind"] in WHOLE_KINDS:
            return "whole"  # Excel refuses 2.5 as it is typed
        return "percent" if rec["unit"] == "%" else "number"

    records = rows.to_dict("records")
    for rec in records:
        rec["shown"] = {"kind": t(f"kind.{rec['kind']}")}
    title = t("intake.title").format(
        title=catalogue.plan["plan"]["title"], unit=unit, year=month.year, month=month.month
    )
    return write_form(
        path,
        sheet=t("intake.sheet"),
        title=title,
        fields=[Field(c.field, t(c.label), c.width, c.fill_in, c.wrap) for c in COLUMNS],
        rows=records,
        meta=template_meta(unit, month, catalogue),
        rules=rules,
        cell_rule=cell_rule,
        max_name_chars=max_name_chars,
    )


def template_meta(unit: str, month: pd.Period, catalogue: Catalogue) -> dict[str, str]:
    """What the hidden sheet and document properties record (all text: spreadsheets keep text as is)."""
    return form_meta(KIND, catalogue, unit=unit, month=str(month))


def write_templates(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    month: str | pd.Period,
    out_dir: str | Path,
    units: list[str] | None = None,
    statuses: list[str] | None = None,
) -> list[Path]:
    """One template per reporting unit (or only `units`) for `month`, written into `out_dir`."""
    month = check_month(parse_month(month, "--month"), catalogue.year, source="--month")
    chosen = chosen_units(catalogue, units)
    rules = IntakeRules.from_plan(catalogue.plan)
    statuses = statuses or list(rules.statuses)
    from .safe_xlsx import check_template_targets  # here: the snapshot's modules do not import it

    targets = (Path(out_dir) / template_file_name(unit, month) for unit in chosen)
    check_template_targets(targets, t("intake.sheet"), header_labels(), "measure_id", FILL_IN)
    out = []
    for unit in chosen:
        rows = template_rows(catalogue, unit, month, progress)
        path = Path(out_dir) / template_file_name(unit, month)
        out.append(
            write_template(
                rows,
                path,
                unit=unit,
                month=month,
                catalogue=catalogue,
                statuses=statuses,
                max_note_chars=rules.max_note_chars,
                max_name_chars=rules.max_name_chars,
            )
        )
    return out


# ------------------------------------------------------------------- reading a filled copy back


def read_progress_book(book: Book, name: str) -> ProgressSheet:
    """The 填报 sheet, its sign-off and the template info of a unit workbook (`name`: the file name, for
    its month). The month is claimed by the hidden sheet, the document properties and the file name:
    `claims` keeps each, and `check_progress` refuses a file whose claims differ."""
    sheet = t("intake.sheet")
    problems = []
    props = book.properties(META_PROPERTY_PREFIX)
    meta, meta_cells = book_meta(book, props)
    claims = {}
    if meta_cells.get("month") and meta.get("month"):
        claims["hidden sheet " + META_SHEET] = meta["month"]
    if props.get("month"):
        claims["document properties"] = props["month"]
    if meta_cells.get("unit") and props.get("unit") and meta["unit"] != props["unit"]:
        problems.append(
            Problem(book.file, f"unit differs: {META_SHEET} says {meta['unit']}, properties {props['unit']}")
        )
    m = _NAME_MONTH.search(name)
    if m and 1 <= int(m.group(2)) <= 12:
        claims["file name"] = f"{int(m.group(1))}-{int(m.group(2)):02d}"
    if not meta.get("unit") or not meta.get("month"):
        problems.append(
            Problem(
                book.file,
                f"no template info (hidden sheet {META_SHEET} or document properties): "
                "fill in the workbook written by `perfkit template`",
            )
        )
    if sheet not in book.sheets:
        problems.append(Problem(book.file, f"missing sheet {sheet} (sheets: {', '.join(book.sheets)})"))
    if problems:
        raise InputError(problems)
    fields = ["measure_id", *FILL_IN]  # what check_progress reads of a row
    read = read_form(
        book, KIND, sheet, header_labels(), "measure_id", fields, FILL_IN, (meta, meta_cells), fields
    )
    read.claims = claims
    return read


def chosen_units(catalogue: Catalogue, units: list[str] | None) -> list[str]:
    """`units` (all reporting units when None), each checked to be one: `--unit` of `perfkit template`."""
    known = reporting_units(catalogue)
    chosen = units or known
    unknown = [u for u in chosen if u not in known]
    if unknown:
        raise InputError(
            [Problem("--unit", f"not a reporting unit: {u!r} (known: {'、'.join(known)})") for u in unknown]
        )
    return chosen


PROGRESS_COLUMNS = ["measure_id", "month", "cumulative", "status", "note"]


def measure_index(catalogue: Catalogue) -> dict[str, dict]:
    """measure_id → kind, unit, schedule, reporting_unit, target as plain dicts: built once per catalogue by intake
    (iterating the catalogue's columns for every file was a large share of ingest time)."""
    m_ = catalogue.measures
    return {
        mid: {"kind": k, "unit": u, "schedule": s, "reporting_unit": ru, "target": tg}
        for mid, k, u, s, ru, tg in zip(
            m_["measure_id"].tolist(),
            m_["kind"].tolist(),
            m_["unit"].tolist(),
            m_["schedule"].tolist(),
            m_["reporting_unit"].tolist(),
            m_["target"].tolist(),
            strict=True,
        )
    }


def check_progress(
    sheet: ProgressSheet,
    catalogue: Catalogue,
    last_accepted: pd.DataFrame,
    rules: IntakeRules,
    file: str,
    today: date,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate a unit's sheet: (rows to store, problems). Pure: the store's state comes in as
    `last_accepted` (measure_id, month, cumulative), the latest accepted value per measure up to the month.
    """
    records, problems = check_progress_records(sheet, catalogue, last_accepted, rules, file, today)
    if records is None:
        return pd.DataFrame(), problems
    return pd.DataFrame(records, columns=PROGRESS_COLUMNS), problems


def check_progress_records(
    sheet: ProgressSheet,
    catalogue: Catalogue,
    last_accepted: pd.DataFrame | dict[str, tuple[str, float]],
    rules: IntakeRules,
    file: str,
    today: date,
    measures: dict[str, dict] | None = None,
) -> tuple[list[dict] | None, list[Problem]]:
    """`check_progress` as plain records (None when the month is unreadable), for intake's hot path.
    `last_accepted` may also be a dict measure_id → (month, cumulative); `measures` is `measure_index`."""
    problems: list[Problem] = []

    def problem(reason: str, cell: str = "") -> None:
        problems.append(Problem(file, reason, sheet.sheet, cell))

    def meta_problem(key: str, reason: str) -> None:
        cell = sheet.meta_cells.get(key, "")  # template info kept only as document properties has no cell
        problems.append(Problem(file, reason, META_SHEET if cell else "", cell))

    meta = sheet.meta
    unit = meta.get("unit", "")
    if len(set(sheet.claims.values())) > 1:
        meta_problem(
            "month", "month mismatch: " + "; ".join(f"{k} says {v}" for k, v in sheet.claims.items())
        )
    try:
        month = parse_month(meta.get("month", ""), file)
    except InputError as exc:
        meta_problem("month", exc.problems[0].reason)
        return None, problems
    if month > pd.Period(today, freq="M"):
        meta_problem("month", f"month {month} is in the future (today is {today:%Y-%m-%d})")
    if month.year != catalogue.year:
        meta_problem("month", f"month {month} is outside the plan year {catalogue.year}")
    if meta.get("catalogue_version") and meta["catalogue_version"] != catalogue.version:
        meta_problem(
            "catalogue_version",
            f"template for catalogue version {meta['catalogue_version']}, the store has {catalogue.version}:"
            " use a new template",
        )
    # plain dicts: this runs once per file, and pandas row access would dominate intake time
    if measures is None:
        measures = measure_index(catalogue)
    if not any(m["reporting_unit"] == unit and m["schedule"] != "statistic" for m in measures.values()):
        meta_problem("unit", f"{unit!r} is not a reporting unit in the catalogue")

    if isinstance(last_accepted, dict):
        last = last_accepted
    else:
        last = dict(
            zip(
                last_accepted.get("measure_id", []),
                zip(last_accepted.get("month", []), last_accepted.get("cumulative", []), strict=True),
                strict=True,
            )
        )
    cell = lambda key, row: f"{sheet.columns[key]}{row}"  # noqa: E731
    fractions = catalogue.plan.get("scoring", {}).get("milestone_status_fraction", {})
    done = {s for s, f in fractions.items() if f >= 1}  # 已完成
    seen: dict[str, str] = {}
    out = []
    for rec in sheet.rows:
        r = rec["row"]
        mid = cell_text(rec["measure_id"])
        if not mid:
            problem("values without a 措施编号", cell("measure_id", r))
            continue
        if reason := control_char(mid):
            problem(reason, cell("measure_id", r))
            continue
        if mid in seen:
            problem(f"duplicate 措施编号 {mid} (also in {seen[mid]})", cell("measure_id", r))
            continue
        seen[mid] = cell("measure_id", r)
        if mid not in measures:
            problem(f"unknown 措施编号 {mid!r}", cell("measure_id", r))
            continue
        m = measures[mid]
        if m["schedule"] == "statistic":
            problem(
                f"{mid} comes from the statistics office's turnover table, not a unit", cell("measure_id", r)
            )
            continue
        if m["reporting_unit"] != unit:
            problem(f"{mid} is reported by {m['reporting_unit']}, not {unit}", cell("measure_id", r))
            continue
        bad = False
        for key in FILL_IN:
            flag = sheet.flags.get(cell(key, r))
            if flag and (key == "cumulative" or not flag.startswith("formatted")):
                problem(flag, cell(key, r))
                bad = True
            elif isinstance(rec[key], str) and (reason := control_char(rec[key])):
                problem(reason, cell(key, r))
                bad = True
        if bad:
            continue
        value, reason = cell_number(rec["cumulative"])
        status = cell_text(rec["status"])
        note = cell_text(rec["note"])
        where = cell("cumulative", r)
        if reason:
            problem(reason, where)
        elif value is not None:
            if m["kind"] == "qualitative":
                problem(f"{mid} is qualitative: give its 进展状态 and 情况说明, no number", where)
            elif value < 0:
                problem(f"negative number {value:g}", where)
            elif m["unit"] == "%" and value > 100:
                problem(f"{value:g} is over 100 for a percentage", where)
            elif reason := beyond_target(value, m["target"], m["unit"], rules.max_target_multiple):
                problem(reason, where)
            elif m["kind"] in WHOLE_KINDS and not value.is_integer():  # 2.5 辆: a slip (25?), stored as is
                problem(f"{value:g} is not a whole number ({mid} counts {m['unit'] or 'items'})", where)
            elif mid in last and m["schedule"] in MONOTONE_SCHEDULES:
                before_month, before = last[mid]
                if (
                    pd.notna(before)
                    and value < before - 1e-9
                    and not note.startswith(rules.correction_prefix)
                ):
                    problem(
                        f"{value:g} is below the last accepted {before:g} ({before_month}):"
                        f" a correction must say so in 情况说明 starting with {rules.correction_prefix}",
                        where,
                    )
        elif m["kind"] in NUMBER_KINDS:
            problem(f"{mid} needs its 本年累计完成 (a number)", where)
        if status and status not in rules.statuses:
            problem(f"进展状态 {status!r} is not one of {'/'.join(rules.statuses)}", cell("status", r))
        elif (
            status in done
            and m["schedule"] == "cumulative"  # a recurring action's 已完成 may speak of the month's round
            and value is not None
            and not reason
            and value < float(m["target"]) - 1e-9
        ):
            # the score takes the number: 已完成 beside last month's 79% scored 79%, and nobody was told
            problem(
                f"进展状态 {status} but 本年累计完成 {value:g} is below the annual target"
                f" {float(m['target']):g}{m['unit'] if isinstance(m['unit'], str) else ''}: give the total"
                " reached, or the status it is at",
                cell("status", r),
            )
        elif not status and m["kind"] in STATUS_KINDS:
            problem(f"{mid} needs its 进展状态 ({'/'.join(rules.statuses)})", cell("status", r))
        if len(note) > rules.max_note_chars:
            problem(f"情况说明 is {len(note)} characters, over {rules.max_note_chars}", cell("note", r))
        out.append(
            {"measure_id": mid, "month": str(month), "cumulative": value, "status": status, "note": note}
        )
    if not sheet.rows and not problems:
        problem("nothing filled in: every 本年累计完成, 进展状态 and 情况说明 is empty")
    problems.extend(sign_off_checks(sheet, file, today, catalogue.year, rules.max_name_chars))
    return out, problems
