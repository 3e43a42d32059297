"""The fill-in workbooks perfkit writes and reads back: the units' monthly 工作台账 (perfkit.template), their
分月计划 (perfkit.workplan), the performance office's 考评结果 (perfkit.assessments) and the units' 自评
(perfkit.selfeval). This module is their one format, used by the writer and the reader alike.

Every form is one visible sheet: a title row, a header row (found again by its text when read), one row
per item, fill-in cells unlocked, coloured and validated, everything else locked (sheet protection without
a password: it prevents slips, it is not security), then a sign-off block (填报人, 审核人, 填报日期: unlocked
input cells in column B beside their labels in column A). A hidden sheet plus document properties record
what the file is for (`kind`, unit, month or year, catalogue version). Printed on A4, fitted to the width,
the header row on every page. Reading a filled copy goes through perfkit.safe_xlsx's safe opening (any
`Book`): here the sheet is located, its headers found, its rows and sign-off returned raw, so each form's
own module checks the values and names the cell of every problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pandas as pd

from .catalogue import Catalogue
from .errors import MAX_PROBLEMS_PER_FILE, InputError, Problem, times
from .exports import control_char, make_folder, neutralise, write_whole
from .labels import t
from .sheet_style import HEADER_FILL, print_setup, thin_border

FORMAT_VERSION = "1"
META_SHEET = "_perfkit"  # hidden, machine-read: not a user label
META_PROPERTY_PREFIX = "perfkit."
TITLE_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
HEADER_SEARCH_ROWS = 10
# the sign-off block below the table: field → labels key; the label sits in column A, the value in B
SIGN_OFF = {"preparer": "form.preparer", "reviewer": "form.reviewer", "prepared_on": "form.prepared_on"}
SIGN_OFF_LABEL_COLUMN, SIGN_OFF_VALUE_COLUMN = 1, 2
_EXCEL_EPOCH = date(1899, 12, 30)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


@dataclass(frozen=True)
class IntakeRules:
    """Limits and lists from plan.toml [intake]; the defaults match the bundled plan."""

    max_file_bytes: int = 5 * 1024 * 1024
    max_zip_entries: int = 500
    max_uncompressed_bytes: int = 20 * 1024 * 1024
    max_compression_ratio: int = 200  # for parts over 1 MiB: real sheets pack 5–30×, blank padding ~100×
    max_table_rows: int = 10_000  # a turnover table's data rows
    max_sheet_cells: int = 200_000  # rows × columns up to the last value: the grid calamine builds
    statuses: tuple[str, ...] = ("未启动", "推进中", "已完成")
    correction_prefix: str = "更正"
    max_note_chars: int = 2000
    max_name_chars: int = 50  # 填报人 / 审核人
    # a number over this many times its measure's annual target is a slip (元 for 万元, extra digits, 1e308)
    max_target_multiple: float = 10.0
    # a turnover figure this many times above or below its mode's typical month: 吨公里 for 万吨公里, 1e308
    max_turnover_ratio: float = 10.0
    max_problems_per_file: int = MAX_PROBLEMS_PER_FILE

    @classmethod
    def from_plan(cls, plan: dict) -> IntakeRules:
        s = plan.get("intake", {})
        d = cls()
        return cls(
            max_file_bytes=int(float(s.get("max_file_mb", d.max_file_bytes / 2**20)) * 2**20),
            max_zip_entries=int(s.get("max_zip_entries", d.max_zip_entries)),
            max_uncompressed_bytes=int(
                float(s.get("max_uncompressed_mb", d.max_uncompressed_bytes / 2**20)) * 2**20
            ),
            max_compression_ratio=int(s.get("max_compression_ratio", d.max_compression_ratio)),
            max_sheet_cells=int(s.get("max_sheet_cells", d.max_sheet_cells)),
            max_table_rows=int(s.get("max_table_rows", d.max_table_rows)),
            statuses=tuple(s.get("statuses", d.statuses)),
            correction_prefix=str(s.get("correction_prefix", d.correction_prefix)),
            max_note_chars=int(s.get("max_note_chars", d.max_note_chars)),
            max_name_chars=int(s.get("max_name_chars", d.max_name_chars)),
            max_target_multiple=float(s.get("max_target_multiple", d.max_target_multiple)),
            max_turnover_ratio=float(s.get("max_turnover_ratio", d.max_turnover_ratio)),
            max_problems_per_file=int(s.get("max_problems_per_file", d.max_problems_per_file)),
        )


class Book(Protocol):
    """What a form reader needs of a workbook: perfkit.safe_xlsx.Book, read safely, is one."""

    file: str
    sheets: list[str]

    def values(self, sheet: str) -> list[list]: ...

    def cell_flags(self, sheet: str) -> dict[str, str]: ...

    def properties(self, prefix: str) -> dict[str, str]: ...


# ------------------------------------------------------------------------------------------ cells


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def col_letter(index: int) -> str:
    """1 → 'A', 28 → 'AB'."""
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def is_blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def last_filled_row(grid: list[list]) -> int:
    """Index of the last row with any non-blank cell (-1 for none): the blank rows Excel keeps below a
    table (formatted once, or cleared) are not data."""
    for i in range(len(grid) - 1, -1, -1):
        if any(not is_blank(v) for v in grid[i]):
            return i
    return -1


def cell_text(v: object) -> str:
    if is_blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def cell_number(v: object) -> tuple[float | None, str | None]:
    """A fill-in number: (value, None), or (None, reason) when the cell does not hold a plain number."""
    if is_blank(v):
        return None, None
    if isinstance(v, bool):
        return None, f"TRUE/FALSE in a number cell: {v}"
    if isinstance(v, int | float):
        x = float(v)
        if not math.isfinite(x):  # INF, NaN or 1e999 typed or written into the cell
            return None, f"not a finite number ({v}): type the number itself"
        return x, None
    if isinstance(v, datetime | date):
        return None, f"a date ({v:%Y-%m-%d}) in a number cell"
    return None, f"text {str(v)!r} in a number cell: type the number itself (no units, commas or quotes)"


def beyond_target(value: float, target: object, unit: object, multiple: float) -> str | None:
    """Why a number is refused as out of all proportion to its measure's annual target (`multiple` times
    it, [intake] max_target_multiple): 23000 typed for 2.3 in 万元 units, digits typed twice, or 1e308,
    stored silently before, sent the projections to infinity. None when it is in proportion or the measure
    has no positive target."""
    try:
        target = float(target)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(target) or target <= 0 or value <= multiple * target:
        return None
    unit = "" if is_blank(unit) or (isinstance(unit, float) and math.isnan(unit)) else str(unit)
    in_unit = f" and that it is in {unit}" if unit else ""
    return (
        f"{value:,.15g} is {times(value / target)} times the annual target {target:g}{unit}: check the digits"
        f"{in_unit}; over {multiple:g} times the target is refused ([intake] max_target_multiple)"
    )


def month_text(v: object) -> object:
    """A month cell as text: Excel turns a typed '2019-03' into a date, LibreOffice may leave a serial."""
    if isinstance(v, datetime | date):
        return f"{v.year}-{v.month:02d}"
    if isinstance(v, float) and 20000 < v < 80000:  # an Excel date serial (1954..2119)
        d = pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(v))
        return f"{d.year}-{d.month:02d}"
    return v


def date_text(v: object) -> str:
    """A date cell as 'YYYY-MM-DD' where it holds one (a date, an Excel serial, or text such as 2019/10/8 or
    2019年10月8日), else its text as typed (a check then says it is not a date)."""
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 20000 < v < 80000:
        return (_EXCEL_EPOCH + timedelta(days=int(v))).isoformat()
    text = cell_text(v)
    m = _DATE_TEXT.fullmatch(text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            pass  # 2019-02-30: kept as typed, refused by the check
    return text


def find_header(
    grid: list[list], labels: dict[str, str], key: str, required: list[str], file: str, sheet: str
) -> tuple[int, dict[str, int]]:
    """The header row (the first of the top rows holding `labels[key]`, spaces ignored) and field →
    column number; InputError naming a header missing or given twice."""
    wanted = {re.sub(r"\s+", "", v): k for k, v in labels.items()}
    problems, header_row, columns = [], None, {}
    for r, rec in enumerate(grid[:HEADER_SEARCH_ROWS], start=1):
        found: dict[str, int] = {}
        for c, v in enumerate(rec, start=1):
            k = wanted.get(re.sub(r"\s+", "", cell_text(v)))
            if k and k in found:
                problems.append(
                    Problem(file, f"header {labels[k]} appears twice", sheet, f"{col_letter(c)}{r}")
                )
            elif k:
                found[k] = c
        if key in found:
            header_row, columns = r, found
            break
    if header_row is None:
        raise InputError(
            Problem(file, f"header {labels[key]} not found in rows 1–{HEADER_SEARCH_ROWS}", sheet)
        )
    for k in required:
        if k not in columns:
            problems.append(Problem(file, f"missing header {labels[k]}", sheet, f"row {header_row}"))
    if problems:
        raise InputError(problems)
    return header_row, columns


def safe_name(text: str) -> str:
    """`text` usable in a file name on every system (separators, reserved characters, spaces → _)."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", text)


# ---------------------------------------------------------------------------------- the form itself


@dataclass(frozen=True)
class Field:
    field: str  # the name the form's module reads it back as
    label: str  # header text (already translated)
    width: float
    fill_in: bool = False
    wrap: bool = False


@dataclass(frozen=True)
class Rule:
    """A data validation for fill-in cells: kind 'decimal'/'whole'/'list'/'textLength'/'date'."""

    kind: str
    error: str  # labels key of the message Excel shows
    prompt: str  # labels key of the input prompt
    operator: str | None = None
    formula1: str | None = None
    formula2: str | None = None
    error_text: str | None = None  # the message itself, when it needs a number filled in


@dataclass
class FormSheet:
    """What a form workbook says, before any check against the catalogue or the store."""

    kind: str
    meta: dict[str, str]
    meta_cells: dict[str, str]  # key → its value's cell in the hidden sheet
    rows: list[dict]  # raw cells per data row (every field found), plus 'row'
    columns: dict[str, str]  # field → column letter
    flags: dict[str, str]  # cell → formula without cached value, error value, percent format
    sheet: str
    claims: dict[str, str] = field(default_factory=dict)  # the ledger: where each month claim comes from
    sign_off: dict[str, str] = field(default_factory=dict)  # preparer, reviewer, prepared_on: as text
    sign_off_cells: dict[str, str] = field(default_factory=dict)  # key → its value's cell

    def cell(self, key: str, row: int) -> str:
        return f"{self.columns.get(key, '?')}{row}"


def form_meta(kind: str, catalogue: Catalogue, **values: str) -> dict[str, str]:
    """The hidden sheet's and document properties' record (all text)."""
    return {
        "format": FORMAT_VERSION,
        "kind": kind,
        **values,
        "catalogue_version": catalogue.version,
        "plan_year": str(catalogue.year),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_form(
    path: str | Path,
    *,
    sheet: str,
    title: str,
    fields: list[Field],
    rows: list[dict],
    meta: dict[str, str],
    rules: dict[str, Rule],
    cell_rule: Callable[[dict, str], str | None],
    freeze: str = "C",
    max_name_chars: int = IntakeRules.max_name_chars,
) -> Path:
    """Write one protected form. `cell_rule(row, field)` names the rule of a fill-in cell, '' for a free
    fill-in cell, or None to close it (grey and locked: e.g. months after a measure's deadline). Right
    below the table, the sign-off block (SIGN_OFF)."""
    from openpyxl import Workbook
    from openpyxl.packaging.custom import StringProperty
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter
    from openpyxl.workbook.protection import WorkbookProtection
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    last_col = get_column_letter(len(fields))
    ws.cell(TITLE_ROW, 1, neutralise(title)).font = Font(bold=True, size=13)
    ws.merge_cells(f"A{TITLE_ROW}:{last_col}{TITLE_ROW}")
    ws.row_dimensions[TITLE_ROW].height = 24

    border = thin_border()
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    fill_in_fill = PatternFill("solid", fgColor="FFF2CC")
    closed_fill = PatternFill("solid", fgColor="EDEDED")
    for j, f in enumerate(fields, start=1):
        cell = ws.cell(HEADER_ROW, j, f.label)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.border = border
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(j)].width = f.width
    ws.row_dimensions[HEADER_ROW].height = 30

    validations = {}
    for key, r in rules.items():
        dv = DataValidation(
            type=r.kind,
            allow_blank=True,
            showErrorMessage=True,
            showInputMessage=True,
            errorTitle=t("intake.error.title"),
            error=r.error_text or t(r.error),
            promptTitle=t("intake.prompt.title"),
            prompt=t(r.prompt),
        )
        dv.operator, dv.formula1, dv.formula2 = r.operator, r.formula1, r.formula2
        validations[key] = dv

    for i, rec in enumerate(rows):
        r = FIRST_DATA_ROW + i
        shown = rec.get(
            "shown", {}
        )  # display text for a field, where it differs from the value the rules see
        for j, f in enumerate(fields, start=1):
            v = shown.get(f.field, rec.get(f.field))
            v = None if v is None or (isinstance(v, float) and pd.isna(v)) or v == "" else v
            cell = ws.cell(r, j, neutralise(v))
            cell.border = border
            cell.alignment = Alignment(vertical="center", wrap_text=f.wrap)
            if not f.fill_in:
                continue
            rule = cell_rule(rec, f.field)
            if rule is None:
                cell.fill = closed_fill
                continue
            cell.fill = fill_in_fill
            cell.protection = Protection(locked=False)
            if rule:
                validations[rule].add(cell.coordinate)
    for dv in validations.values():
        if dv.sqref:
            ws.add_data_validation(dv)
    _write_sign_off(ws, FIRST_DATA_ROW + len(rows), len(fields), meta, max_name_chars, border, fill_in_fill)

    ws.freeze_panes = f"{freeze}{FIRST_DATA_ROW}"
    ws.protection.sheet = True  # no password: guards against slips (docs/intake.md)
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    print_setup(ws, landscape=True, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")

    info = wb.create_sheet(META_SHEET)
    for key, value in meta.items():
        info.append([key, value])
    info.sheet_state = "hidden"
    info.protection.sheet = True
    for key, value in meta.items():
        wb.custom_doc_props.append(StringProperty(name=META_PROPERTY_PREFIX + key, value=value))
    wb.security = WorkbookProtection(lockStructure=True)
    wb.properties.title = title
    wb.properties.creator = "perfkit"

    make_folder(Path(path).parent)  # a file in the way or no permission: one OutputError line (exit 2)
    return write_whole(path, wb.save)  # whole: a kill or a full disk never leaves half a workbook


def _write_sign_off(ws, first: int, n_fields: int, meta: dict, max_name_chars: int, border, fill) -> None:
    """填报人 / 审核人 / 填报日期 from row `first`: labels in column A, unlocked input cells in column B
    (merged across to column D where the form is that wide), validated as names and a date."""
    from openpyxl.styles import Alignment, Font, Protection
    from openpyxl.worksheet.datavalidation import DataValidation

    year = int(meta.get("plan_year") or datetime.now(UTC).year)
    span = min(max(n_fields, 2), 4)  # the value's cell runs from B to this column
    serial = lambda d: str((d - _EXCEL_EPOCH).days)  # noqa: E731 - date validation bounds are serials
    checks = {
        "name": DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(max_name_chars)),
        "date": DataValidation(
            type="date",
            operator="between",
            formula1=serial(date(year - 1, 1, 1)),
            formula2=serial(date(year + 1, 12, 31)),
        ),
    }
    for key, dv in checks.items():
        dv.allow_blank = dv.showErrorMessage = dv.showInputMessage = True
        dv.errorTitle, dv.promptTitle = t("intake.error.title"), t("intake.prompt.title")
        dv.error = t(f"form.error.{key}").format(n=max_name_chars, first=year - 1, last=year + 1)
        dv.prompt = t(f"form.prompt.{key}")
        ws.add_data_validation(dv)
    for i, (key, label) in enumerate(SIGN_OFF.items()):
        r = first + i
        head = ws.cell(r, SIGN_OFF_LABEL_COLUMN, t(label))
        head.font = Font(bold=True)
        head.border = border
        head.alignment = Alignment(horizontal="center", vertical="center")
        for c in range(SIGN_OFF_VALUE_COLUMN, span + 1):
            cell = ws.cell(r, c)
            cell.border = border
            cell.fill = fill
            cell.protection = Protection(locked=False)
            cell.alignment = Alignment(horizontal="left", vertical="center")
        value = ws.cell(r, SIGN_OFF_VALUE_COLUMN)
        if key == "prepared_on":
            value.number_format = "yyyy-mm-dd"
            checks["date"].add(value.coordinate)
        else:
            checks["name"].add(value.coordinate)
        if span > SIGN_OFF_VALUE_COLUMN:
            ws.merge_cells(start_row=r, start_column=SIGN_OFF_VALUE_COLUMN, end_row=r, end_column=span)
        ws.row_dimensions[r].height = 22


# ------------------------------------------------------------------------------ reading it back


def book_meta(book: Book, props: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(template info, key → cell in the hidden sheet): the hidden sheet first, document properties fill in
    (`props`: the properties when the caller has read them already)."""
    meta, cells = {}, {}
    if META_SHEET in book.sheets:
        for i, rec in enumerate(book.values(META_SHEET), start=1):
            if len(rec) >= 2 and not is_blank(rec[0]):
                key = cell_text(rec[0])
                meta[key] = cell_text(month_text(rec[1]) if key == "month" else rec[1])
                cells[key] = f"B{i}"
    for key, value in (book.properties(META_PROPERTY_PREFIX) if props is None else props).items():
        meta.setdefault(key, value)
    return meta, cells


def read_form(
    book: Book,
    kind: str,
    sheet: str,
    labels: dict[str, str],
    key: str,
    required: list[str],
    fill_in: list[str],
    meta: tuple[dict[str, str], dict[str, str]] | None = None,
    keep: list[str] | None = None,
) -> FormSheet:
    """Locate `sheet`, its header row (the one with `labels[key]` in the first rows), the data rows with
    anything in a fill-in column, and the sign-off block (rows whose column A holds a SIGN_OFF label; a
    workbook made before it has none). Missing sheet or headers raise InputError naming them. `meta`: the
    template info as `book_meta` read it, when the caller has it already; `keep`: the fields a row keeps
    (all found by default; fewer is quicker for the ledger, read thousands of times in a batch)."""
    meta, cells = meta if meta is not None else book_meta(book)
    if sheet not in book.sheets:
        raise InputError(Problem(book.file, f"missing sheet {sheet} (sheets: {', '.join(book.sheets)})"))
    grid = book.values(sheet)
    header_row, columns = find_header(grid, labels, key, required, book.file, sheet)
    flags = book.cell_flags(sheet)
    sign_off_keys = {_label_key(t(v)): k for k, v in SIGN_OFF.items()}
    starts = {label[0] for label in sign_off_keys}
    fill_in_columns = [(k, col_letter(columns[k])) for k in fill_in if k in columns]
    wanted = [(k, c - 1) for k, c in columns.items() if keep is None or k in keep]
    rows, sign_off, sign_off_cells = [], {}, {}
    for r in range(header_row + 1, last_filled_row(grid) + 2):  # blank rows Excel keeps below are not data
        rec = grid[r - 1]
        first = rec[0] if rec else ""
        if (
            isinstance(first, str)
            and first.lstrip()[:1] in starts  # cheap: ids and items never start like the labels
            and (k := sign_off_keys.get(_label_key(first)))
        ):
            value = rec[SIGN_OFF_VALUE_COLUMN - 1] if len(rec) >= SIGN_OFF_VALUE_COLUMN else ""
            sign_off[k] = date_text(value) if k == "prepared_on" else cell_text(value)
            sign_off_cells[k] = f"{col_letter(SIGN_OFF_VALUE_COLUMN)}{r}"
            continue
        n = len(rec)
        values = {k: (rec[i] if i < n else "") for k, i in wanted}
        if all(is_blank(values.get(k)) for k, _ in fill_in_columns) and not (
            # a formula without a cached value or an error value reads as empty: the row is still looked
            # at; a blank cell that is only formatted (as a percentage) is not a value
            flags
            and any(
                not flags.get(f"{letter}{r}", "formatted").startswith("formatted")
                for _, letter in fill_in_columns
            )
        ):
            continue
        values["row"] = r
        rows.append(values)
    return FormSheet(
        kind=kind,
        meta=meta,
        meta_cells=cells,
        rows=rows,
        columns={k: col_letter(c) for k, c in columns.items()},
        flags=flags,
        sheet=sheet,
        sign_off=sign_off,
        sign_off_cells=sign_off_cells,
    )


def _label_key(text: str) -> str:
    return re.sub(r"[\s：:]+", "", text)


@dataclass
class Checked:
    """A form's rows ready to store, and what the ingest report says about it."""

    rows: list[dict]
    unit: str = ""
    month: str = ""  # the revision month (workplan) or the year (assessment)
    supersedes: int | None = None  # the latest earlier submission this one replaces in calculations
    notes: list[str] = field(default_factory=list)


def meta_checks(sheet: FormSheet, catalogue: Catalogue, file: str) -> list[Problem]:
    """Template info shared by every form: its catalogue version and plan year."""
    problems = []

    def where(key: str) -> tuple[str, str]:
        cell = sheet.meta_cells.get(key, "")
        return (META_SHEET if cell else "", cell)

    if not sheet.meta.get("kind"):
        problems.append(Problem(file, "no template info: fill in the workbook written by `perfkit template`"))
    version = sheet.meta.get("catalogue_version")
    if version and version != catalogue.version:
        problems.append(
            Problem(
                file,
                f"template for catalogue version {version}, the store has {catalogue.version}: use a new template",
                *where("catalogue_version"),
            )
        )
    year = sheet.meta.get("plan_year")
    if year and year != str(catalogue.year):
        problems.append(
            Problem(file, f"template for plan year {year}, not {catalogue.year}", *where("plan_year"))
        )
    return problems


def sign_off_checks(
    sheet: FormSheet, file: str, today: date, plan_year: int, max_name_chars: int
) -> list[Problem]:
    """The sign-off block, when the workbook has one (every field is optional): 填报人 and 审核人 plain
    names no longer than `max_name_chars`, without control characters; 填报日期 a real date, not after
    `today`, and in the plan year, the year before (a plan made in December) or the year after (a December
    ledger filled in January)."""
    problems = []
    for key, text in sheet.sign_off.items():
        if not text:
            continue
        label, where = t(SIGN_OFF[key]), sheet.sign_off_cells.get(key, "")

        def problem(reason: str, where: str = where) -> None:
            problems.append(Problem(file, reason, sheet.sheet, where))

        if key != "prepared_on":
            if reason := control_char(text):
                problem(reason)
            elif len(text) > max_name_chars:
                problem(f"{label} is {len(text)} characters, over {max_name_chars}: give the person's name")
            continue
        try:
            day = date.fromisoformat(text) if _ISO_DAY.fullmatch(text) else None
        except ValueError:
            day = None
        if day is None:
            problem(f"{label} {text!r} is not a date: type it as {plan_year}-10-08")
        elif day > today:
            problem(f"{label} {day} is in the future (today is {today:%Y-%m-%d})")
        elif not plan_year - 1 <= day.year <= plan_year + 1:
            problem(f"{label} {day} is not in or next to the plan year {plan_year}")
    return problems


def flagged(sheet: FormSheet, rec: dict, keys: list[str], file: str) -> list[Problem]:
    """Formula without a cached value, error value or percent format in the row's fill-in cells, and text
    holding a control character (refused rather than altered, as in the ledger)."""
    out = []
    for k in keys:
        ref = sheet.cell(k, rec["row"])
        flag = sheet.flags.get(ref)
        if flag:
            out.append(Problem(file, flag, sheet.sheet, ref))
        elif isinstance(rec.get(k), str) and (reason := control_char(rec[k])):
            out.append(Problem(file, reason, sheet.sheet, ref))
    return out
