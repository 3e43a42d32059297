"""perfkit.form_kinds: what a real workbook is, read from the file perfkit wrote (the dispatch's import graph
is checked in tests/test_structure.py)."""

from __future__ import annotations

import pandas as pd

from perfkit import form_kinds, workplan
from perfkit.forms import IntakeRules
from perfkit.safe_xlsx import open_book
from perfkit.template import reporting_units, template_rows, write_template


def test_a_work_plan_is_told_from_a_progress_ledger(catalogue, tmp_path):
    rules = IntakeRules.from_plan(catalogue.plan)
    unit = reporting_units(catalogue)[0]
    plan_path = workplan.write_workplan(catalogue, unit, pd.Period("2019-01", "M"), None, tmp_path)
    book = open_book(plan_path, plan_path.read_bytes(), rules)
    assert form_kinds.form_kind(book) == "workplan"
    assert form_kinds.parse_form(book, plan_path.name).kind == "workplan"
    month = pd.Period("2019-03", "M")
    rows = template_rows(catalogue, unit, month, pd.DataFrame())
    ledger = write_template(
        rows, tmp_path / "ledger.xlsx", unit=unit, month=month, catalogue=catalogue, statuses=["进行中"]
    )
    assert form_kinds.form_kind(open_book(ledger, ledger.read_bytes(), rules)) is None
