"""The fill-in forms by kind: which module reads, checks and stores a 分月计划, 考评结果 or 自评 workbook.

perfkit.forms is the forms' one format and imports none of them (each imports it); this registry sits above
them with plain imports, so the import graph (tests/test_structure.py) shows every form it dispatches to.
perfkit.intake asks here what a workbook is and hands it to its module.
"""

from __future__ import annotations

from types import ModuleType

from . import assessments, selfeval, workplan
from .catalogue import Catalogue
from .errors import InputError
from .forms import (
    META_PROPERTY_PREFIX,
    META_SHEET,
    Book,
    Checked,
    FormSheet,
    IntakeRules,
    book_meta,
    sign_off_checks,
)
from .labels import t

# template meta 'kind' → its module: SHEET_KEY (labels key of its sheet), read_book(book, name),
# check(conn, sheet, catalogue, file, today) → Checked, insert(conn, submission_id, rows)
FORMS: dict[str, ModuleType] = {m.KIND: m for m in (workplan, assessments, selfeval)}
FORM_KINDS = tuple(FORMS)


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
        for name, module in FORMS.items():
            if t(module.SHEET_KEY) in book.sheets:
                return name
    return None


def parse_form(book: Book, name: str) -> FormSheet:
    """Read a form workbook with the reader of its kind (intake's parse step: no store involved)."""
    return FORMS[form_kind(book)].read_book(book, name)


def check_form(conn, sheet: FormSheet, catalogue: Catalogue, file: str, today) -> Checked:
    """Check a form against the catalogue and the store (inside intake's transaction), its sign-off
    included; raises InputError with every problem."""
    rules = IntakeRules.from_plan(catalogue.plan)
    problems = sign_off_checks(sheet, file, today, catalogue.year, rules.max_name_chars)
    try:
        checked = FORMS[sheet.kind].check(conn, sheet, catalogue, file, today)
    except InputError as exc:
        raise InputError([*exc.problems, *problems]) from None
    if problems:
        raise InputError(problems)
    return checked


def store_form(conn, submission_id: int, kind: str, checked: Checked) -> None:
    """Insert the checked rows (inside intake's transaction)."""
    FORMS[kind].insert(conn, submission_id, checked.rows)
