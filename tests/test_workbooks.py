"""The workbooks people print: risk_flags.xlsx and the catalogue export, written and read back with openpyxl."""

from __future__ import annotations

import pandas as pd
from openpyxl import load_workbook
from test_cli import one_line, perfkit, permissions_apply  # noqa: F401 - the fixture is used by name

from perfkit import risks
from perfkit.catalogue import load_catalogue, read_attachment_csv
from perfkit.config import PLAN_DIR
from perfkit.workbooks import problems_first, write_attachment_xlsx, write_flags_xlsx


def _progress(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["measure_id", "month", "cumulative", "status", "note"])
    df["month"] = pd.PeriodIndex(df["month"], freq="M")
    return df


def _monthly(measure_id, values, note="按计划推进", status="推进中"):
    return [(measure_id, f"2019-{i + 1:02d}", v, status, note) for i, v in enumerate(values)]


def _assert_printed_on_a4(ws, title_rows: str) -> None:
    assert ws.page_setup.paperSize == 9  # A4
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == title_rows


def test_flags_xlsx_problems_first_wrapped_printed_on_a4(catalogue, tmp_path):
    from perfkit.charts import STATUS_COLOURS

    rows = _monthly("1-1-1.6", [1000 * k for k in range(1, 7)]) + _monthly(
        "1-5-1.1", [20, 40, 60, 80, 100, 100]
    )
    flags = risks.flag_measures(catalogue, _progress(rows), "2019-06")
    flags.loc[0, "reasons"] = ['=HYPERLINK("http://x")', "第二句。" * 40]
    path = write_flags_xlsx(
        flags, tmp_path / "risk_flags.xlsx", by_unit=risks.totals_by(flags), notes=["数据截至：2019-06"]
    )
    wb = load_workbook(path)
    assert wb.sheetnames == ["风险清单", "按责任单位", "说明"]
    ws = wb["风险清单"]
    header = [c.value for c in ws[1]]
    assert header[:5] == ["风险状态", "风险分值", "措施编号", "指标编号", "考核内容"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
    assert ws.max_row == 1 + len(flags)
    _assert_printed_on_a4(ws, "$1:$1")
    _assert_printed_on_a4(wb["按责任单位"], "$1:$1")
    assert wb["按责任单位"].freeze_panes == "A2"

    # problems (未完成, 预警, 缺报) first, then 关注, then 正常, then 已完成; by points at risk within each
    rank = {"未完成": 0, "预警": 0, "缺报": 0, "关注": 1, "正常": 2, "已完成": 3}
    listed = [(rank[ws.cell(r, 1).value], -(ws.cell(r, 2).value or 0)) for r in range(2, ws.max_row + 1)]
    assert listed == sorted(listed)
    assert listed[0][0] == 0 and listed[-1][0] >= 2  # the sample month has problems and measures on track
    for row in range(2, ws.max_row + 1):
        cell = ws.cell(row, 1)
        assert cell.fill.fgColor.rgb.endswith(STATUS_COLOURS[cell.value].lstrip("#").upper())
        assert cell.border.left.style == "thin"

    reason_col = header.index("原因") + 1
    ids = [ws.cell(r, 3).value for r in range(2, ws.max_row + 1)]
    long_row = 2 + ids.index(flags.loc[0, "measure_id"])
    reason = ws.cell(long_row, reason_col)
    assert reason.value.startswith("'=HYPERLINK")  # neutralised
    assert reason.alignment.wrap_text
    width = ws.column_dimensions[reason.column_letter].width
    assert width <= 60
    # 160 CJK characters in a column at most 60 wide: at least 6 lines, and the row is sized for them
    assert ws.row_dimensions[long_row].height >= 6 * 15
    assert ws.row_dimensions[long_row].height > ws.row_dimensions[2 if long_row != 2 else 3].height


def test_problems_first_keeps_every_flag_and_orders_by_points(catalogue):
    flags = pd.DataFrame(
        {
            "measure_id": list("abcdef"),
            "status": ["正常", "关注", "预警", "已完成", "缺报", "未完成"],
            "points_at_risk": [0.9, 0.2, 0.1, 0.0, 0.5, 0.3],
        }
    )
    out = problems_first(flags)
    assert list(out["measure_id"]) == ["e", "f", "c", "b", "a", "d"]
    assert sorted(out["measure_id"]) == list("abcdef")


def test_catalogue_export_bureau_layout(tmp_path, catalogue):
    raw = read_attachment_csv(PLAN_DIR / "attachment.csv")
    path = write_attachment_xlsx(raw, tmp_path / "考评表.xlsx", "泉州市交通运输局2019年度绩效目标考评表")
    ws = load_workbook(path).active
    merged = [str(r) for r in ws.merged_cells.ranges]
    assert "A1:L1" in merged  # title row
    assert any(r.startswith("D") and ":F" in r for r in merged)  # admin text spans basis..second-level

    # each first-level block is one merged cell down all its rows, once
    first = 4
    ids = [ws.cell(r, 3).value for r in range(first, ws.max_row + 1)]
    func_rows = [first + i for i, v in enumerate(ids) if v and v.split("-")[0] in ("1", "2")]
    admin_rows = [first + i for i, v in enumerate(ids) if v and v.split("-")[0] not in ("1", "2")]
    col_a = [r for r in merged if r.startswith("A") and not r.startswith("A1:") and ":A" in r]
    assert f"A{func_rows[0]}:A{func_rows[-1]}" in col_a
    assert f"A{admin_rows[0]}:A{admin_rows[-1]}" in col_a
    assert len(col_a) == 2
    assert ws[f"A{func_rows[0]}"].value == "职能工作目标80分"
    # sections too: 重点工作目标 and 常规工作目标 once each, 高效行政 once
    col_b = sorted(r for r in merged if r.startswith("B") and ":B" in r and not r.startswith("B2"))
    starts = [ws[r.split(":")[0]].value for r in col_b]
    assert starts.count("重点工作目标") == 1 and starts.count("常规工作目标") == 1
    assert sum("高效行政" in s for s in starts) == 1

    # borders on every cell of the table, wrapped text, rows sized for their lines
    from openpyxl.cell.cell import MergedCell

    last = ws.max_row
    for row in ws.iter_rows(min_row=2, max_row=last, max_col=12):
        for cell in row:
            if not isinstance(cell, MergedCell):
                b = cell.border
                assert b.top.style == b.left.style == b.right.style == b.bottom.style == "thin", cell
    for rng in ws.merged_cells.ranges:  # a merged block's outline is drawn too
        if rng.min_row >= 2:
            for col in range(rng.min_col, rng.max_col + 1):
                assert ws.cell(rng.max_row, col).border.bottom.style == "thin", rng
    assert ws.cell(first, 6).alignment.wrap_text
    heights = [ws.row_dimensions[r].height for r in range(first, last + 1)]
    assert all(h and h >= 15 for h in heights) and max(heights) >= 3 * 15
    # frozen header, A4 landscape fitted to the width, the two header rows on every page
    assert ws.freeze_panes == "A4"
    _assert_printed_on_a4(ws, "$2:$3")

    # and it reads back to the same catalogue
    again = load_catalogue(PLAN_DIR, attachment=path)
    pd.testing.assert_frame_equal(
        again.indicators.drop(columns="source_row"), catalogue.indicators.drop(columns="source_row")
    )


def test_cli_catalog_export_writes_the_layout(tmp_path, empty_db, cli):
    out = tmp_path / "考评表.xlsx"
    code, stdout, stderr = cli("--db", empty_db, "catalog", "export", "--out", out)
    assert code == 0, stderr
    ws = load_workbook(out).active
    assert ws.page_setup.paperSize == 9 and ws.freeze_panes == "A4"


def test_catalog_export_where_it_cannot_write_is_one_line_and_keeps_what_was_there(
    tmp_path,
    sample_db,
    permissions_apply,  # noqa: F811
):
    """A real `perfkit catalog export` each time: a folder, a missing folder, a read-only file, a file open
    in Excel, a folder without write permission and a full disk (a file-size limit, the store read-only so
    only the export writes) each give one line naming the file, exit 2, and leave the earlier file."""
    db = str(sample_db)

    def export(out, **kw):
        run = perfkit("--db", kw.pop("db", db), "catalog", "export", "--out", str(out), **kw)
        return run.returncode, one_line(run.stderr)

    (tmp_path / "folder.xlsx").mkdir()
    assert export(tmp_path / "folder.xlsx") == (2, f"{tmp_path / 'folder.xlsx'}: is a folder, not a file")
    code, line = export(tmp_path / "no" / "such" / "x.xlsx")
    assert code == 2 and line.endswith(f"the folder {tmp_path / 'no' / 'such'} does not exist")
    assert not (tmp_path / "no").exists()
    signed = tmp_path / "signed.xlsx"
    signed.write_bytes(b"the signed copy")
    signed.chmod(0o444)
    assert (
        export(signed)[1] == f"{signed}: is read-only: left as it is (make it writable, or write elsewhere)"
    )
    opened = tmp_path / "考评表.xlsx"
    opened.write_bytes(b"open in Excel")
    (tmp_path / "~$考评表.xlsx").write_bytes(b"Excel's owner file")
    code, line = export(opened)
    assert code == 2 and "is open in another program (its lock file ~$考评表.xlsx" in line
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, line = export(locked / "x.xlsx", reader=True)
    assert code == 2 and line == f"{locked / 'x.xlsx'}: cannot write in {locked}: Permission denied"
    read_only_store = tmp_path / "ro.sqlite"
    read_only_store.write_bytes(sample_db.read_bytes())
    read_only_store.chmod(0o444)
    full = tmp_path / "full.xlsx"
    full.write_bytes(b"the earlier export")
    code, line = export(full, db=str(read_only_store), reader=True, file_size_limit=4000)
    assert (code, line) == (
        2,
        f"{full}: the disk is full (or a file-size limit was reached): nothing written",
    )
    assert signed.read_bytes() == b"the signed copy" and opened.read_bytes() == b"open in Excel"
    assert full.read_bytes() == b"the earlier export" and list(locked.iterdir()) == []
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
