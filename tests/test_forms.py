"""The shared bad-file battery (tests/battery.py) against the 分月计划 and 考评结果 workbooks: each bad file is
refused whole with its file, sheet, cell and reason, and leaves the store and the archive untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from battery import Form, form_cases
from openpyxl import load_workbook

from perfkit.errors import InputError
from perfkit.intake import ingest_file
from perfkit.selfeval import write_self_eval_templates
from perfkit.store import dump, read_catalogue
from perfkit.workplan import write_form_templates

UNIT = "市道管处"
PLAN_SHEET, BOOK_SHEET, SELF_SHEET = "分月计划", "考评结果", "自评"
BACK_LOADED = [3, 7, 11, 14, 18, 22, 25, 29, 33, 48, 64, 80]


def _rows(path: Path, sheet: str, key: str = "A") -> dict:
    ws = load_workbook(path)[sheet]
    return {ws[f"{key}{r}"].value: r for r in range(3, ws.max_row + 1) if ws[f"{key}{r}"].value}


def fill_plan(template: Path, out: Path) -> Path:
    wb = load_workbook(template)
    ws = wb[PLAN_SHEET]
    rows = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
    for mid, values in {"1-8-2.2": BACK_LOADED, "1-8-1.1": [2.0 * m + 6 for m in range(1, 13)]}.items():
        ws[f"H{rows[mid]}"] = "张三"
        for m, v in enumerate(values, start=1):
            ws.cell(rows[mid], 8 + m, v)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def fill_book(template: Path, out: Path) -> Path:
    wb = load_workbook(template)
    ws = wb[BOOK_SHEET]
    rows = {(ws[f"A{r}"].value, ws[f"B{r}"].value or ""): r for r in range(3, ws.max_row + 1)}
    ws[f"D{rows[('公众评议', '')]}"] = 90
    ws[f"E{rows[('等次评定', '4-1')]}"] = "良"
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _plan_row(mid: str):
    return lambda ws, rows: rows[mid]


def _grade_row(template: Path, ind: str) -> int:
    ws = load_workbook(template)[BOOK_SHEET]
    return next(
        r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == "等次评定" and ws[f"B{r}"].value == ind
    )


def _set_plan(mid: str, cell: str, value):
    def edit(ws, rows):
        ws[f"{cell}{rows[mid]}"] = value

    return edit


def _set_book(ind: str, changes: dict):
    def edit(ws, rows):
        r = next(
            r
            for r in range(3, ws.max_row + 1)
            if ws[f"A{r}"].value == "等次评定" and ws[f"B{r}"].value == ind
        )
        for col, value in changes.items():
            ws[f"{col}{r}"] = value

    return edit


WORKPLAN = Form(
    name="workplan",
    sheet=PLAN_SHEET,
    fill=fill_plan,
    number_cell=lambda t: f"I{_rows(t, PLAN_SHEET)['1-8-2.2']}",
    header_cell="I2",
    header="1月末",
    own={
        "unknown-id": (_set_plan("1-8-2.2", "A", "9-9-9.9"), lambda t: f"A{_rows(t, PLAN_SHEET)['1-8-2.2']}",
                       "unknown 措施编号 '9-9-9.9'"),
        # the row above now claims 1-8-2.2 too: the later row is the duplicate
        "duplicate-id": (_set_plan("1-8-1.1", "A", "1-8-2.2"), lambda t: f"A{_rows(t, PLAN_SHEET)['1-8-2.2']}",
                         "duplicate 措施编号 1-8-2.2"),
        "other-unit": (_set_plan("1-8-2.2", "A", "1-1-1.2"), lambda t: f"A{_rows(t, PLAN_SHEET)['1-8-2.2']}",
                       "1-1-1.2 is reported by 市高指, not 市道管处"),
        "no-person": (_set_plan("1-8-2.2", "H", None), lambda t: f"H{_rows(t, PLAN_SHEET)['1-8-2.2']}",
                      "1-8-2.2 needs its 具体责任人"),
    },
)  # fmt: skip

ASSESSMENTS = Form(
    name="assessment",
    sheet=BOOK_SHEET,
    fill=fill_book,
    number_cell=lambda t: f"D{_rows(t, BOOK_SHEET)['公众评议']}",
    header_cell="D2",
    header="分值",
    own={
        "unknown-id": (_set_book("4-1", {"B": "9-9"}), lambda t: f"B{_grade_row(t, '4-1')}", "unknown 指标编号 '9-9'"),
        "duplicate-row": (_set_book("4-2", {"B": "4-1", "E": "优"}), lambda t: f"A{_grade_row(t, '4-2')}",
                          "等次评定 4-1 given twice"),
        "not-graded": (_set_book("4-2", {"B": "1-1-1", "E": "优"}), lambda t: f"B{_grade_row(t, '4-2')}",
                       "1-1-1 is not a graded"),
    },
)  # fmt: skip


def fill_self(template: Path, out: Path) -> Path:
    wb = load_workbook(template)
    ws = wb[SELF_SHEET]
    for r in range(3, ws.max_row + 1):
        ws[f"E{r}"], ws[f"F{r}"] = "全年任务完成", "优"
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _set_self(ind: str, value: str):
    def edit(ws, rows):
        ws[f"A{rows[ind]}"] = value

    return edit


SELF_EVAL = Form(
    name="selfeval",
    sheet=SELF_SHEET,
    fill=fill_self,
    number_cell=None,
    header_cell="F2",
    header="自评等次",
    own={
        "unknown-id": (_set_self("8-1", "9-9"), lambda t: f"A{_rows(t, SELF_SHEET)['8-1']}", "unknown 指标编号 '9-9'"),
        "duplicate-id": (_set_self("8-1", "4-2"), lambda t: f"A{_rows(t, SELF_SHEET)['8-1']}",
                         "duplicate 指标编号 4-2"),
        "other-unit": (_set_self("8-1", "1-1-1"), lambda t: f"A{_rows(t, SELF_SHEET)['8-1']}",
                       "1-1-1 is not an indicator 局办公室 reports on"),
    },
)  # fmt: skip

FORMS = [WORKPLAN, ASSESSMENTS, SELF_EVAL]
CASES = [(form, *c) for form in FORMS for c in form_cases(form)]


@pytest.fixture()
def templates(sample_conn, tmp_path) -> dict[str, Path]:
    [plan] = write_form_templates(sample_conn, tmp_path / "t", None, [UNIT])
    [book] = write_form_templates(sample_conn, tmp_path / "t", assessments=True)
    [own] = write_self_eval_templates(read_catalogue(sample_conn), None, tmp_path / "t", ["局办公室"])
    return {"workplan": plan, "assessment": book, "selfeval": own}


@pytest.mark.parametrize(("form", "build", "sheet", "cell", "reason"), [(c[0], *c[2:]) for c in CASES],
                         ids=[c[1] for c in CASES])  # fmt: skip
def test_bad_form_is_rejected_whole_and_changes_nothing(
    sample_conn, templates, tmp_path, form, build, sheet, cell, reason
):
    template = templates[form.name]
    (tmp_path / "bad").mkdir()
    bad = build(template, tmp_path / "bad")
    archive = tmp_path / "archive"
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, bad, archive_dir=archive)
    cell = cell(template) if callable(cell) else cell
    where = str(bad) + (f" [{sheet}]" if sheet else "") + (f" {cell}" if cell else "") + ": "
    lines = str(exc.value).splitlines()
    assert any(line.startswith(where) and reason in line for line in lines), lines
    assert dump(sample_conn) == before
    assert not archive.exists()
    assert bad.exists()


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_the_good_copy_is_accepted(sample_conn, templates, tmp_path, form):
    good = form.fill(templates[form.name], tmp_path / "good" / templates[form.name].name)
    assert ingest_file(sample_conn, good, archive_dir=tmp_path / "a").status == "added"


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_every_form_prints_on_a4_and_keeps_its_sign_off(sample_conn, templates, tmp_path, form):
    """A4 (paper size 9) landscape fitted to the width with the header row on every page; the sign-off
    (填报人 / 审核人 / 填报日期) below the table, unlocked, read back on ingest into the submission."""
    from datetime import date

    template = templates[form.name]
    ws = load_workbook(template)[form.sheet]
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$2:$2"
    assert ws.protection.sheet
    labels = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
    assert labels["审核人"] == labels["填报人"] + 1 and labels["填报日期"] == labels["填报人"] + 2
    for key in ("填报人", "审核人", "填报日期"):
        assert ws[f"B{labels[key]}"].protection.locked is False

    good = form.fill(template, tmp_path / "good" / template.name)
    wb = load_workbook(good)
    ws = wb[form.sheet]
    ws[f"B{labels['填报人']}"] = "王五"
    ws[f"B{labels['审核人']}"] = "赵六"
    ws[f"B{labels['填报日期']}"] = date(2019, 12, 2)
    wb.save(good)
    result = ingest_file(sample_conn, good, archive_dir=tmp_path / "a", today=date(2020, 1, 10))
    got = sample_conn.execute(
        "SELECT preparer, reviewer, prepared_on FROM submissions WHERE id = ?", (result.submission_id,)
    ).fetchone()
    assert got == ("王五", "赵六", "2019-12-02")


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_a_bad_sign_off_date_on_a_form_is_refused(sample_conn, templates, tmp_path, form):
    from datetime import date

    template = templates[form.name]
    good = form.fill(template, tmp_path / "bad" / template.name)
    wb = load_workbook(good)
    ws = wb[form.sheet]
    row = next(r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == "填报日期")
    ws[f"B{row}"] = "明天"
    wb.save(good)
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, good, archive_dir=tmp_path / "a", today=date(2020, 1, 10))
    assert f"{good} [{form.sheet}] B{row}: 填报日期 '明天' is not a date" in str(exc.value).splitlines()[-1]
    assert dump(sample_conn) == before
