"""Protected fill-in workbooks besides the monthly ledger: the units' 分月计划 (perfkit.workplan) and the
performance office's 考评结果 (perfkit.assessments).

They share the ledger's contract (perfkit.template): one visible sheet with a title row and a header row,
fill-in cells unlocked, coloured and validated, everything else locked (sheet protection without a
password: it prevents slips, it is not security), and a hidden sheet plus document properties recording
what the file is for (`kind`, unit, month or year, catalogue version). Reading a filled copy back goes
through perfkit.intake's safe opening (`Book`); here the sheet is located, its headers found and its
rows returned raw, so each form's own module checks the values and names the cell of every problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem
from .exports import neutralise
from .labels import t
from .template import (
    FORMAT_VERSION,
    META_PROPERTY_PREFIX,
    META_SHEET,
    cell_text,
    col_letter,
    find_header,
    is_blank,
    last_filled_row,
    month_text,
)

if TYPE_CHECKING:
    from .intake import Book

TITLE_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
# template meta 'kind' → the module that reads, checks and stores it: each has SHEET_KEY (labels key of its
# sheet), read_book(book, name), check(conn, sheet, catalogue, file, today) → Checked, insert(conn, id, rows)
FORMS = {"workplan": "perfkit.workplan", "assessment": "perfkit.assessments", "selfeval": "perfkit.selfeval"}
FORM_KINDS = tuple(FORMS)


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
) -> Path:
    """Write one protected form. `cell_rule(row, field)` names the rule of a fill-in cell, '' for a free
    fill-in cell, or None to close it (grey and locked: e.g. months after a measure's deadline)."""
    from openpyxl import Workbook
    from openpyxl.packaging.custom import StringProperty
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
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

    thin = Side(style="thin", color="A6A6A6")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
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

    ws.freeze_panes = f"{freeze}{FIRST_DATA_ROW}"
    ws.protection.sheet = True  # no password: guards against slips (docs/intake.md)
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"

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

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ------------------------------------------------------------------------------ reading it back


def book_meta(book: Book) -> tuple[dict[str, str], dict[str, str]]:
    """(template info, key → cell in the hidden sheet): the hidden sheet first, document properties fill in."""
    meta, cells = {}, {}
    if META_SHEET in book.sheets:
        for i, rec in enumerate(book.values(META_SHEET), start=1):
            if len(rec) >= 2 and not is_blank(rec[0]):
                key = cell_text(rec[0])
                meta[key] = cell_text(month_text(rec[1]) if key == "month" else rec[1])
                cells[key] = f"B{i}"
    for key, value in book.properties(META_PROPERTY_PREFIX).items():
        meta.setdefault(key, value)
    return meta, cells


def form_kind(book: Book) -> str | None:
    """The form kind a workbook was written as (one of FORM_KINDS), or None (a ledger or turnover table).
    A form's sheet without any template info still counts as that form, so the reason given is the
    missing template info."""
    # the document properties first: a ledger says 'progress' there without its hidden sheet being read
    kind = book.properties(META_PROPERTY_PREFIX).get("kind")
    if kind is None and META_SHEET in book.sheets:
        kind = book_meta(book)[0].get("kind")
    if kind in FORM_KINDS:
        return kind
    if kind is None:
        for name in FORMS:
            if t(_module(name).SHEET_KEY) in book.sheets:
                return name
    return None


def _module(kind: str):
    import importlib

    return importlib.import_module(FORMS[kind])


def read_form(
    book: Book,
    kind: str,
    sheet: str,
    labels: dict[str, str],
    key: str,
    required: list[str],
    fill_in: list[str],
) -> FormSheet:
    """Locate `sheet`, its header row (the one with `labels[key]` in the first rows) and the data rows
    with anything in a fill-in column. Missing sheet or headers raise InputError naming them."""
    meta, cells = book_meta(book)
    if sheet not in book.sheets:
        raise InputError(Problem(book.file, f"missing sheet {sheet} (sheets: {', '.join(book.sheets)})"))
    grid = book.values(sheet)
    header_row, columns = find_header(grid, labels, key, required, book.file, sheet)
    flags = book.cell_flags(sheet)
    rows = []
    for r in range(header_row + 1, last_filled_row(grid) + 2):  # blank rows Excel keeps below are not data
        rec = grid[r - 1]
        values = {k: (rec[c - 1] if c - 1 < len(rec) else "") for k, c in columns.items()}
        blank = all(is_blank(values.get(k)) for k in fill_in if k in values)
        # a formula without a cached value reads as empty: the row is still looked at
        if blank and not any(f"{col_letter(columns[k])}{r}" in flags for k in fill_in if k in columns):
            continue
        rows.append({**values, "row": r})
    return FormSheet(
        kind=kind,
        meta=meta,
        meta_cells=cells,
        rows=rows,
        columns={k: col_letter(c) for k, c in columns.items()},
        flags=flags,
        sheet=sheet,
    )


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


def flagged(sheet: FormSheet, rec: dict, keys: list[str], file: str) -> list[Problem]:
    """Formula without a cached value, error value or percent format in the row's fill-in cells, and text
    holding a control character (refused rather than altered, as in the ledger)."""
    from .exports import control_char

    out = []
    for k in keys:
        ref = sheet.cell(k, rec["row"])
        flag = sheet.flags.get(ref)
        if flag:
            out.append(Problem(file, flag, sheet.sheet, ref))
        elif isinstance(rec.get(k), str) and (reason := control_char(rec[k])):
            out.append(Problem(file, reason, sheet.sheet, ref))
    return out


def parse_form(book: Book, name: str) -> FormSheet:
    """Read a form workbook with the reader of its kind (intake's parse step: no store involved)."""
    return _module(form_kind(book)).read_book(book, name)


def check_form(conn, sheet: FormSheet, catalogue: Catalogue, file: str, today) -> Checked:
    """Check a form against the catalogue and the store (inside intake's transaction); raises InputError."""
    return _module(sheet.kind).check(conn, sheet, catalogue, file, today)


def store_form(conn, submission_id: int, kind: str, checked: Checked) -> None:
    """Insert the checked rows (inside intake's transaction)."""
    _module(kind).insert(conn, submission_id, checked.rows)
