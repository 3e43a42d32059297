"""The monthly 工作台账 template: real .xlsx files written by perfkit and read back with openpyxl."""

from __future__ import annotations

import pandas as pd
import pytest
from openpyxl import load_workbook
from test_cli import permissions_apply  # noqa: F401 - a fixture, asked for by name

from perfkit.cli import main
from perfkit.errors import InputError
from perfkit.forms import FIRST_DATA_ROW, HEADER_ROW, META_SHEET, col_letter
from perfkit.labels import t
from perfkit.scoring import latest_values
from perfkit.store import open_store, read_catalogue, read_progress
from perfkit.template import (
    COLUMNS,
    reporting_units,
    template_file_name,
    template_rows,
    unit_measures,
    write_template,
    write_templates,
)

UNIT = "市道管处"  # the unit with the most kinds of measure: counts, %, milestones, qualitative


def sheet_rows(path) -> pd.DataFrame:
    ws = load_workbook(path)["填报"]
    header = [c.value for c in ws[HEADER_ROW]]
    data = []
    for r in ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True):
        if r[0] in ("填报人", "审核人", "填报日期"):
            break  # the sign-off block below the table
        data.append(list(r))
    return pd.DataFrame(data, columns=header)


def test_one_workbook_per_reporting_unit(catalogue, sample_conn, tmp_path):
    paths = write_templates(catalogue, read_progress(sample_conn), "2019-10", tmp_path)
    units = reporting_units(catalogue)
    assert [p.name for p in paths] == [f"{u}_2019-10_工作台账.xlsx" for u in units]
    assert len(units) == 18
    seen = []
    for unit, path in zip(units, paths, strict=True):
        ids = sheet_rows(path)["措施编号"].tolist()
        assert ids == unit_measures(catalogue, unit)["measure_id"].tolist()
        seen += ids
    m = catalogue.measures
    # every unit-reported measure is in exactly one template; the turnover-based 1-14 ones in none
    assert sorted(seen) == sorted(m.loc[m["schedule"] != "statistic", "measure_id"])
    assert "1-14-1.1" not in seen and "1-14-2.1" not in seen
    assert len(sheet_rows(tmp_path / "局运输科_2019-10_工作台账.xlsx")) == 3


def test_reporting_unit_override_in_catalogue(catalogue):
    # measures.csv names 市道管处 for 1-11-1.1, whose indicator lists other units first
    assert catalogue.measures.set_index("measure_id").loc["1-11-1.1", "reporting_unit"] == "市道管处"
    assert "1-11-1.1" in unit_measures(catalogue, "市道管处")["measure_id"].tolist()


def test_layout_protection_and_validation(catalogue, sample_conn, tmp_path):
    [path] = write_templates(catalogue, read_progress(sample_conn), "2019-10", tmp_path, [UNIT])
    wb = load_workbook(path)
    ws = wb["填报"]
    assert wb.sheetnames == ["填报", META_SHEET]
    headers = [c.value for c in ws[HEADER_ROW]]
    for word in [
        "措施编号",
        "指标编号",
        "考核内容",
        "计量单位",
        "年度目标",
        "上月累计",
        "本年累计完成",
        "进展状态",
        "情况说明",
    ]:
        assert word in headers
    assert "市道管处" in ws["A1"].value and "2019年10月" in ws["A1"].value
    assert ws.freeze_panes == "C3"
    assert ws.column_dimensions["C"].width >= 30 and ws.column_dimensions["L"].width >= 30
    # protected without a password; only the fill-in cells are open
    assert ws.protection.sheet and not ws.protection.password
    assert wb.security.lockStructure
    col = {c.field: col_letter(i) for i, c in enumerate(COLUMNS, start=1)}
    ids = [ws[f"A{r}"].value for r in range(FIRST_DATA_ROW, ws.max_row + 1)]
    assert ids[-3:] == ["填报人", "审核人", "填报日期"]  # the sign-off block right below the table
    ids = ids[:-3]
    kinds = unit_measures(catalogue, UNIT).set_index("measure_id")["kind"]
    for r, mid in enumerate(ids, start=FIRST_DATA_ROW):
        assert ws[f"{col['measure_id']}{r}"].protection.locked
        assert ws[f"{col['previous_cumulative']}{r}"].protection.locked
        assert not ws[f"{col['status']}{r}"].protection.locked
        assert not ws[f"{col['note']}{r}"].protection.locked
        assert ws[f"{col['cumulative']}{r}"].protection.locked == (kinds[mid] == "qualitative")
    # data validation: numbers ≥ 0, percentages 0–100, the status list
    dvs = ws.data_validations.dataValidation
    by_type = {(dv.type, dv.operator): dv for dv in dvs}
    status = by_type[("list", None)]
    assert status.formula1 == '"未启动,推进中,已完成"'
    number = by_type[("decimal", "greaterThanOrEqual")]
    whole = by_type[("whole", "greaterThanOrEqual")]  # counts: Excel refuses 2.5 vehicles as typed
    percent = by_type[("decimal", "between")]
    assert number.formula1 == whole.formula1 == "0" and (percent.formula1, percent.formula2) == ("0", "100")
    pct_row = FIRST_DATA_ROW + ids.index("2-3-1.1")  # unit %
    cnt_row = FIRST_DATA_ROW + ids.index("1-8-1.1")  # vehicles
    inv_row = FIRST_DATA_ROW + ids.index("1-8-1.2")  # 万元
    assert f"J{pct_row}" in percent.sqref and f"J{cnt_row}" in whole.sqref and f"J{inv_row}" in number.sqref
    assert f"K{cnt_row}" in status.sqref
    assert all(dv.showErrorMessage for dv in dvs)
    note = next(dv for dv in dvs if dv.type == "textLength" and dv.formula1 == "2000")
    assert note.error == "情况说明不超过2000字。"
    # the sign-off: names up to 50 characters, a date in or next to the plan year, open for input
    sign_row = FIRST_DATA_ROW + len(ids)
    name = next(dv for dv in dvs if dv.type == "textLength" and dv.formula1 == "50")
    date_dv = by_type[("date", "between")]
    assert f"B{sign_row}" in name.sqref and f"B{sign_row + 1}" in name.sqref
    assert f"B{sign_row + 2}" in date_dv.sqref and "2018年至2020年" in date_dv.error
    assert f"B{sign_row}:D{sign_row}" in [str(r) for r in ws.merged_cells.ranges]
    assert not any(ws[f"B{sign_row + i}"].protection.locked for i in range(3))
    # printed on A4 landscape, fitted to the width, the header row on every page
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$2:$2"


def test_hidden_sheet_and_properties_record_unit_month_version(catalogue, sample_conn, tmp_path):
    [path] = write_templates(catalogue, read_progress(sample_conn), "2019-10", tmp_path, [UNIT])
    wb = load_workbook(path)
    info = wb[META_SHEET]
    assert info.sheet_state == "hidden"
    meta = {r[0]: r[1] for r in info.iter_rows(values_only=True)}
    assert (meta["unit"], meta["month"], meta["catalogue_version"]) == (UNIT, "2019-10", "2019.1")
    props = {p.name: p.value for p in wb.custom_doc_props}
    assert props["perfkit.unit"] == UNIT and props["perfkit.month"] == "2019-10"
    assert props["perfkit.catalogue_version"] == catalogue.version


def test_previous_cumulative_comes_from_the_store(catalogue, sample_conn, tmp_path):
    [path] = write_templates(catalogue, read_progress(sample_conn), "2019-10", tmp_path, [UNIT])
    got = sheet_rows(path).set_index("措施编号")
    want = latest_values(read_progress(sample_conn), "2019-09").set_index("measure_id")
    for mid, row in got.iterrows():
        if pd.isna(want.loc[mid, "cumulative"]):
            assert pd.isna(row["上月累计"])
        else:
            assert row["上月累计"] == pytest.approx(want.loc[mid, "cumulative"])
        assert row["上月状态"] == want.loc[mid, "status"]
    assert got.loc["1-8-1.1", "上月累计"] == 21  # sample September value
    # the fill-in columns start empty
    assert got[["本年累计完成", "进展状态", "情况说明"]].isna().all().all()


def test_empty_store_leaves_previous_blank(empty_db, tmp_path):
    conn = open_store(empty_db)
    cat = read_catalogue(conn)
    [path] = write_templates(cat, read_progress(conn), "2019-01", tmp_path, [UNIT])
    assert sheet_rows(path)["上月累计"].isna().all()


@pytest.mark.parametrize(
    ("month", "units", "reason"),
    [
        ("2019-13", None, "expected a month as YYYY-MM"),
        ("Sept", None, "expected a month as YYYY-MM"),
        ("2020-01", None, "outside the plan's year 2019"),
        ("2019-10", ["市交通局"], "not a reporting unit: '市交通局'"),
    ],
)
def test_bad_arguments(catalogue, tmp_path, month, units, reason):
    with pytest.raises(InputError) as exc:
        write_templates(catalogue, pd.DataFrame(), month, tmp_path, units)
    assert reason in str(exc.value)
    assert not list(tmp_path.iterdir())


def test_text_that_looks_like_a_formula_is_written_as_text(catalogue, tmp_path):
    rows = template_rows(catalogue, UNIT, pd.Period("2019-10", "M"), pd.DataFrame())
    rows.loc[0, "name"] = '=HYPERLINK("http://example.invalid","x")'
    path = write_template(
        rows,
        tmp_path / "t.xlsx",
        unit=UNIT,
        month=pd.Period("2019-10", "M"),
        catalogue=catalogue,
        statuses=["a"],
    )
    cell = load_workbook(path)["填报"][f"C{FIRST_DATA_ROW}"]
    assert cell.data_type == "s" and cell.value.startswith("'=")


def test_cli_template(sample_db, tmp_path, capsys):
    code = main(
        ["--db", str(sample_db), "template", "--month", "2019-10", "--out", str(tmp_path), "--unit", UNIT]
    )
    assert code == 0
    assert (
        capsys.readouterr().out.strip()
        == f"wrote {tmp_path / template_file_name(UNIT, pd.Period('2019-10'))}"
    )
    code = main(["--db", str(sample_db), "template", "--month", "2019/10", "--out", str(tmp_path)])
    assert code == 2
    assert "--month: expected a month as YYYY-MM, got '2019/10'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", [[], ["--assessments"]])  # all kinds share forms.write_form
def test_template_out_that_cannot_hold_workbooks_is_one_line_exit_2(sample_db, tmp_path, kind, request):
    """`perfkit template --out` under a file, or a folder without write permission, for every kind: exit 2,
    one line naming the folder and the reason, nothing written (was exit 1 through the last resort: a
    NotADirectoryError or PermissionError naming the first unit's workbook)."""
    request.getfixturevalue("permissions_apply")  # skips where permissions cannot be made to apply
    from test_cli import one_line, perfkit

    work = tmp_path / "work"
    work.mkdir()
    a_file = work / "a-file"
    a_file.write_text("x")
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    month = [] if kind else ["--month", "2019-09"]
    for out, says in [
        (a_file / "t", f"{a_file} is a file, not a folder"),
        (locked, f"cannot write in {locked}: Permission denied"),
    ]:
        got = perfkit("--db", str(sample_db), "template", *kind, *month, "--out", str(out), reader=True)
        assert (got.returncode, one_line(got.stderr)) == (2, f"{out}: {says}")
    locked.chmod(0o755)
    assert sorted(p.name for p in work.iterdir()) == ["a-file", "locked"] and not list(locked.iterdir())


def test_template_workbooks_are_written_whole(sample_db, tmp_path, request):
    """Every fill-in workbook goes through exports.write_whole: on a full disk (a file-size limit) the
    command is one line naming the workbook, exit 2, with no half workbook and no temporary file left.
    (The store is read-only here, read into memory: its shared-memory file would meet the limit first.)"""
    request.getfixturevalue("permissions_apply")  # skips where permissions cannot be made to apply
    from test_cli import one_line, perfkit

    out = tmp_path / "forms"
    sample_db.chmod(0o444)
    got = perfkit(
        "--db", str(sample_db), "template", "--month", "2019-09", "--out", str(out), "--unit", "局综规科",
        reader=True, file_size_limit=4096,
    )  # fmt: skip
    sample_db.chmod(0o644)
    assert got.returncode == 2, got.stderr
    target = out / template_file_name("局综规科", pd.Period("2019-09", "M"))
    line = f"{target}: the disk is full (or a file-size limit was reached): nothing written"
    assert one_line(got.stderr) == line
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("kind", ["ledger", "workplan", "self-eval"])
@pytest.mark.parametrize("blocker", ["open in Excel", "read-only"])
def test_template_checks_every_target_before_writing_any(sample_db, catalogue, tmp_path, kind, blocker):
    """One workbook per unit: the last unit's target open in Excel (its ~$ lock file beside it) or read-only
    is refused in one line naming it, exit 2, before any workbook is written (the earlier units' workbooks
    were written first, then the command stopped)."""
    from test_cli import one_line, perfkit

    from perfkit import selfeval, workplan

    if kind == "ledger":
        args = ["--month", "2019-09"]
        name = template_file_name(reporting_units(catalogue)[-1], pd.Period("2019-09"))
    elif kind == "workplan":
        args = ["--workplan"]
        name = workplan.template_file_name(reporting_units(catalogue)[-1], pd.Period("2019-01"))
    else:
        args = ["--self-eval"]
        name = selfeval.template_file_name(selfeval.units(catalogue)[-1], catalogue.year)
    out = tmp_path / "forms"
    out.mkdir()
    target = out / name
    if blocker == "read-only":
        target.write_bytes(b"the unit's earlier workbook")
        target.chmod(0o444)
        leave, why = [name], "is read-only: left as it is (make it writable, or write elsewhere)"
    else:
        (out / f"~${name}").write_bytes(b"owner")
        leave = [f"~${name}"]
        why = f"is open in another program (its lock file ~${name} is beside it): close it and run again"
    got = perfkit("--db", str(sample_db), "template", *args, "--out", str(out))
    assert (got.returncode, one_line(got.stderr)) == (2, f"{target}: {why}")
    assert sorted(p.name for p in out.iterdir()) == leave and got.stdout == ""


def test_a_template_does_not_replace_a_filled_in_workbook_of_the_same_name(sample_db, tmp_path, cli):
    """A unit's return carries the template's name: `perfkit template --out inbox` replaced a filled-in
    ledger (or a signed 考评结果) with a blank one. Now refused, one line each, nothing written; a blank
    template there is still replaced."""
    from openpyxl import load_workbook

    inbox = tmp_path / "inbox"
    code, out, err = cli("--db", sample_db, "template", "--month", "2019-10", "--out", inbox, "--unit", UNIT)
    assert code == 0, err
    ledger = inbox / template_file_name(UNIT, pd.Period("2019-10"))
    code, out, err = cli("--db", sample_db, "template", "--month", "2019-10", "--out", inbox, "--unit", UNIT)
    assert code == 0, err  # a blank template is replaced
    wb = load_workbook(ledger)
    ws = wb[t("intake.sheet")]
    row = next(r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == "1-8-1.1")
    ws[f"J{row}"] = 22
    wb.save(ledger)
    before = ledger.read_bytes()
    code, out, err = cli("--db", sample_db, "template", "--month", "2019-10", "--out", inbox)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"{ledger}: is a filled-in workbook (1 row filled in): a template does not replace it; move it"
        " away or choose another --out"
    )
    assert ledger.read_bytes() == before and sorted(inbox.iterdir()) == [ledger]  # no other unit written

    code, out, err = cli("--db", sample_db, "template", "--assessments", "--out", inbox)
    [book] = [p for p in inbox.iterdir() if p != ledger]
    wb = load_workbook(book)
    ws = wb.worksheets[0]
    sign = next(r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == t("form.preparer"))
    ws[f"B{sign}"] = "张三"
    wb.save(book)
    code, out, err = cli("--db", sample_db, "template", "--assessments", "--out", inbox)
    assert code == 2 and "is a filled-in workbook (its sign-off filled in)" in err
