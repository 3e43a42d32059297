"""Monthly intake with real files: templates written by perfkit, filled with openpyxl as a unit would,
ingested into the real SQLite store and read back. Every bad-input rule has a row in one table that
asserts the message (file, sheet, cell, reason) and an unchanged store."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from battery import FILE_CASES, rezip
from openpyxl import Workbook, load_workbook
from openpyxl.packaging.custom import CustomPropertyList

from perfkit.cli import main
from perfkit.config import ROOT
from perfkit.errors import InputError, Problem
from perfkit.exports import write_csv
from perfkit.intake import IntakeRules, history, ingest_file
from perfkit.sample import turnover_table
from perfkit.store import dump, open_store, read_progress, read_submissions, read_turnover, sha256_file
from perfkit.template import write_templates
from perfkit.turnover import normalise_turnover

UNIT = "市道管处"  # counts, investment, %, milestones and qualitative measures
MONTH = "2019-10"  # the sample store holds 2019-01..2019-09
SHEET = "填报"
COL = {"measure_id": "A", "previous": "H", "cumulative": "J", "status": "K", "note": "L"}


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture()
def template(sample_conn, tmp_path) -> Path:
    from perfkit.store import read_catalogue

    [path] = write_templates(
        read_catalogue(sample_conn), read_progress(sample_conn), MONTH, tmp_path / "templates", [UNIT]
    )
    return path


def rows_of(path: Path) -> dict[str, int]:
    ws = load_workbook(path)[SHEET]
    return {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value}


def fill(template: Path, out: Path, changes: dict | None = None, step: float = 1.0, edit=None) -> Path:
    """Fill every row as a unit would (last month's value + `step`, status, note), then apply `changes`
    {measure_id: {field: value}} and `edit(wb)`; save under `out`."""
    wb = load_workbook(template)
    ws = wb[SHEET]
    for r in range(3, ws.max_row + 1):
        kind, unit, prev = ws[f"D{r}"].value, ws[f"E{r}"].value, ws[f"H{r}"].value
        if kind != "定性评价":
            value = (prev or 0) + step
            ws[f"J{r}"] = min(value, 100) if unit == "%" else value
        ws[f"K{r}"] = "推进中"
        ws[f"L{r}"] = "按计划推进"
    rows = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
    for mid, fields in (changes or {}).items():
        for key, value in fields.items():
            ws[f"{COL[key]}{rows[mid]}"] = value
    if edit:
        edit(wb)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------------------------ accepted files


def test_round_trip_template_fill_ingest(sample_db, sample_conn, template, tmp_path, capsys):
    filled = fill(template, tmp_path / "in" / template.name)
    archive = (
        sample_db.parent / "archive"
    )  # the default: next to the store (data/archive for data/perfkit.sqlite)
    code, out, err = run(capsys, "--db", sample_db, "ingest", filled)
    assert (code, err) == (0, "")
    assert re.fullmatch(
        rf"{re.escape(str(filled))}: added submission \d+ \(progress: 市道管处 2019-10, 18 rows\)\n", out
    )

    got = read_progress(sample_conn)
    got = got[got["month"] == pd.Period(MONTH, "M")].set_index("measure_id")
    assert len(got) == 18
    prev = read_progress(sample_conn, "2019-09")
    sept = prev[prev["month"] == pd.Period("2019-09", "M")].set_index("measure_id")
    assert got.loc["1-8-1.1", "cumulative"] == sept.loc["1-8-1.1", "cumulative"] + 1 == 22
    assert got.loc["2-3-1.1", "cumulative"] <= 100
    assert pd.isna(got.loc["1-10-3.1", "cumulative"]) and got.loc["1-10-3.1", "status"] == "推进中"
    assert (got["unit"] == UNIT).all()

    sub = read_submissions(sample_conn, "progress").iloc[-1]
    assert (sub["file_name"], sub["unit"], sub["month"], sub["rows"]) == (filled.name, UNIT, MONTH, 18)
    assert sub["sha256"] == sha256_file(filled) and sub["source"] == "ingest"
    assert sub["catalogue_version"] == "2019.1"
    assert datetime.fromisoformat(sub["received_at"]).tzinfo is not None
    kept = archive / f"{sub['sha256']}.xlsx"
    assert Path(sub["archive_path"]) == kept.resolve()
    assert kept.read_bytes() == filled.read_bytes()
    assert not kept.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # read-only


def test_same_file_twice_changes_nothing(sample_db, sample_conn, template, tmp_path, capsys):
    filled = fill(template, tmp_path / template.name)
    archive = tmp_path / "archive"
    assert run(capsys, "--db", sample_db, "ingest", filled, "--archive", archive)[0] == 0
    before = dump(sample_conn)
    copy = shutil.copy(filled, tmp_path / "renamed copy.xlsx")  # same bytes under another name
    code, out, err = run(capsys, "--db", sample_db, "ingest", filled, copy, "--archive", archive)
    assert (code, err) == (0, "")
    assert out.count("already ingested as submission") == 2 and "nothing changed" in out
    assert dump(sample_conn) == before
    assert len(list(archive.iterdir())) == 1


def test_later_submission_supersedes_and_history_keeps_both(
    sample_db, sample_conn, template, tmp_path, capsys
):
    first = fill(template, tmp_path / "a" / template.name, step=1)
    second = fill(template, tmp_path / "b" / template.name, step=2)
    archive = tmp_path / "archive"
    run(capsys, "--db", sample_db, "ingest", first, "--archive", archive)
    code, out, _ = run(capsys, "--db", sample_db, "ingest", second, "--archive", archive)
    ids = read_submissions(sample_conn, "progress")["id"].tolist()[-2:]
    assert code == 0 and f"supersedes submission {ids[0]}" in out

    progress = read_progress(sample_conn)
    oct_ = progress[progress["month"] == pd.Period(MONTH, "M")].set_index("measure_id")
    assert oct_.loc["1-8-1.1", "cumulative"] == 23  # 21 + 2: the later file counts
    h = history(sample_conn, "1-8-1.1")
    assert h["month"].tolist()[-2:] == [pd.Period(MONTH, "M")] * 2
    assert h["cumulative"].tolist()[-2:] == [22, 23]
    assert h["superseded"].tolist()[-2:] == [True, False]
    assert h.loc[h["month"] == pd.Period("2019-07", "M"), "note"].iloc[0].startswith("更正")

    code, out, _ = run(capsys, "--db", sample_db, "history", "1-8-1.1")
    assert code == 0 and out.splitlines()[0].split()[:4] == ["月份", "填报单位", "本年累计完成", "进展状态"]
    code, out, _ = run(capsys, "--db", sample_db, "history", "1-8-1.1", "--format", "json")
    recs = json.loads(out)
    assert [r["superseded"] for r in recs[-2:]] == [True, False] and recs[-1]["month"] == MONTH


def test_a_resubmission_leaving_reported_measures_blank_is_refused(
    sample_db, sample_conn, template, tmp_path, capsys
):
    # a correction sent with only the corrected row filled in: the month's other 17 measures fell back to
    # 缺报 and September's numbers, with exit 0
    archive = tmp_path / "archive"
    run(
        capsys,
        "--db",
        sample_db,
        "ingest",
        fill(template, tmp_path / "a" / template.name),
        "--archive",
        archive,
    )
    before = dump(sample_conn)

    def only_1_8_1_1(wb):
        ws = wb[SHEET]
        for r in range(3, ws.max_row + 1):
            if ws[f"A{r}"].value not in ("1-8-1.1", None) and ws[f"D{r}"].value:
                for c in "JKL":
                    ws[f"{c}{r}"] = None

    partial = fill(
        template, tmp_path / "b" / template.name, {"1-8-1.1": {"cumulative": 24}}, edit=only_1_8_1_1
    )
    code, out, err = run(capsys, "--db", sample_db, "ingest", partial, "--archive", archive)
    assert code == 2 and err.startswith(f"{partial} [{SHEET}]: 1-6-2.1, 1-7-1.1, "), err
    assert "reported for 2019-10 in submission" in err and "fill them in again" in err
    assert dump(sample_conn) == before
    # the whole ledger again, with the correction: accepted
    whole = fill(template, tmp_path / "c" / template.name, {"1-8-1.1": {"cumulative": 24}})
    code, out, err = run(capsys, "--db", sample_db, "ingest", whole, "--archive", archive)
    assert code == 0 and "supersedes submission" in out, err


def test_correction_below_last_value_is_accepted_when_it_says_so(sample_conn, template, tmp_path):
    note = "更正：9月误报2辆，予以扣除"
    filled = fill(template, tmp_path / template.name, {"1-8-1.1": {"cumulative": 19, "note": note}})
    result = ingest_file(sample_conn, filled, archive_dir=tmp_path / "archive")
    assert result.status == "added"
    h = history(sample_conn, "1-8-1.1").iloc[-1]
    assert (h["cumulative"], h["note"]) == (19, note)


def test_resubmission_is_checked_against_the_latest_accepted_value(sample_conn, template, tmp_path):
    ingest_file(
        sample_conn,
        fill(template, tmp_path / "a" / template.name, {"1-8-1.1": {"cumulative": 30}}),
        archive_dir=tmp_path / "x",
    )
    lower = fill(template, tmp_path / "b" / template.name, {"1-8-1.1": {"cumulative": 25}})
    with pytest.raises(InputError, match=r"J6: 25 is below the last accepted 30 \(2019-10\)"):
        ingest_file(sample_conn, lower, archive_dir=tmp_path / "x")


@pytest.mark.parametrize(
    "name", ["市道管处工作台账（2019-11-05报送）.xlsx", "市道管处2019年10月台账_2019年11月5日.xlsx"]
)
def test_a_sending_date_in_the_file_name_is_not_a_month_claim(sample_conn, template, tmp_path, name):
    result = ingest_file(sample_conn, fill(template, tmp_path / name), archive_dir=tmp_path / "archive")
    assert (result.status, result.month) == ("added", MONTH)


def test_rows_left_blank_are_not_reported(sample_conn, template, tmp_path):
    def clear(wb):
        ws = wb[SHEET]
        for r in range(4, ws.max_row + 1):
            for c in ("J", "K", "L"):
                ws[f"{c}{r}"] = None

    filled = fill(template, tmp_path / template.name, edit=clear)
    result = ingest_file(sample_conn, filled, archive_dir=tmp_path / "archive")
    assert result.rows == 1 and len(result.blank) == 17
    assert "not reported: " in result.describe()
    assert set(history(sample_conn, "1-8-1.1")["month"].astype(str)) == {
        f"2019-{m:02d}" for m in range(1, 10)
    }


def test_next_template_carries_the_ingested_values(sample_conn, template, tmp_path):
    from perfkit.store import read_catalogue

    ingest_file(sample_conn, fill(template, tmp_path / template.name), archive_dir=tmp_path / "a")
    [nov] = write_templates(
        read_catalogue(sample_conn), read_progress(sample_conn), "2019-11", tmp_path, [UNIT]
    )
    ws = load_workbook(nov)[SHEET]
    assert ws[f"H{rows_of(nov)['1-8-1.1']}"].value == 22


def libreoffice_save_as(src: Path, fmt: str, out: Path, tmp_path: Path) -> Path:
    """`src` saved by real LibreOffice as `fmt` (xlsx, xls) into `out`; skips the test without it."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc to run this")
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            fmt,
            "--outdir",
            out,
            src,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out / src.with_suffix(f".{fmt}").name


def test_libreoffice_resave_is_accepted(sample_conn, template, tmp_path):
    filled = fill(
        template,
        tmp_path / "filled" / template.name,
        {"1-8-1.1": {"cumulative": 25}},
        edit=sign("张三", "李四", date(2019, 11, 5)),
    )
    resaved = libreoffice_save_as(filled, "xlsx", tmp_path / "resaved", tmp_path)
    assert resaved.read_bytes() != filled.read_bytes()
    with zipfile.ZipFile(resaved) as z:
        assert b"sharedStrings" in z.read("[Content_Types].xml")  # LibreOffice's own layout
    result = ingest_file(sample_conn, resaved, archive_dir=tmp_path / "archive")
    assert (result.status, result.rows, result.unit, result.month) == ("added", 18, UNIT, MONTH)
    got = history(sample_conn, "1-8-1.1").iloc[-1]
    assert got["cumulative"] == 25.0 and got["status"] == "推进中"
    assert (got["preparer"], got["reviewer"], got["prepared_on"]) == ("张三", "李四", "2019-11-05")


# ------------------------------------------------------------------- sign-off: 填报人 / 审核人 / 填报日期


def sign(preparer=None, reviewer=None, prepared_on=None):
    """An `edit` for `fill`: the sign-off cells (column B beside their labels below the table)."""

    def edit(wb):
        ws = wb[SHEET]
        rows = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
        for label, value in (("填报人", preparer), ("审核人", reviewer), ("填报日期", prepared_on)):
            if value is not None:
                ws[f"B{rows[label]}"] = value

    return edit


def test_sign_off_is_kept_with_the_submission_and_shown_by_history(
    sample_db, sample_conn, template, tmp_path, capsys
):
    ws = load_workbook(template)[SHEET]
    labels = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
    assert [labels.get(k, 0) - labels["填报人"] for k in ("审核人", "填报日期")] == [1, 2]
    assert ws[f"B{labels['填报人']}"].protection.locked is False  # input cells in the protected sheet
    assert ws[f"A{labels['填报人']}"].protection.locked is not False
    assert ws[f"B{labels['填报日期']}"].number_format == "yyyy-mm-dd"
    filled = fill(template, tmp_path / "in" / template.name, edit=sign("张三", "李四", date(2019, 11, 5)))
    code, out, err = run(capsys, "--db", sample_db, "ingest", filled)
    assert (code, err) == (0, ""), err
    got = sample_conn.execute(
        "SELECT preparer, reviewer, prepared_on FROM submissions ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert got == ("张三", "李四", "2019-11-05")
    code, out, _ = run(capsys, "--db", sample_db, "history", "1-8-1.1", "--format", "json")
    last = json.loads(out)[-1]
    assert (last["preparer"], last["reviewer"], last["prepared_on"]) == ("张三", "李四", "2019-11-05")
    code, out, _ = run(capsys, "--db", sample_db, "history", "1-8-1.1")
    assert "填报人" in out and "张三" in out and "2019-11-05" in out


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("2019/11/5", "2019-11-05"),
        ("2019年11月5日", "2019-11-05"),
        (43774.0, "2019-11-05"),
        (" 2019-11-05 ", "2019-11-05"),
    ],
)
def test_sign_off_dates_typed_as_text_or_serials_are_read(sample_conn, template, tmp_path, typed, stored):
    filled = fill(template, tmp_path / template.name, edit=sign("张三", prepared_on=typed))
    result = ingest_file(sample_conn, filled, archive_dir=tmp_path / "archive", today=date(2019, 11, 30))
    got = sample_conn.execute(
        "SELECT preparer, reviewer, prepared_on FROM submissions WHERE id = ?", (result.submission_id,)
    ).fetchone()
    assert got == ("张三", "", stored)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (sign(prepared_on="下周一"), "填报日期 '下周一' is not a date"),
        (sign(prepared_on="2019-02-30"), "填报日期 '2019-02-30' is not a date"),
        (sign(prepared_on=date(2019, 12, 24)), "填报日期 2019-12-24 is in the future (today is 2019-11-30)"),
        (sign(prepared_on=date(2016, 1, 4)), "填报日期 2016-01-04 is not in or next to the plan year 2019"),
        (sign(preparer="张" * 51), "填报人 is 51 characters, over 50"),
        (sign(reviewer="李_x001B_[2J四"), "control character U+001B"),  # as Excel escapes ESC
    ],
)
def test_bad_sign_off_is_refused_naming_its_cell(sample_conn, template, tmp_path, edit, reason):
    filled = fill(template, tmp_path / template.name, edit=edit)
    ws = load_workbook(filled)[SHEET]
    labels = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, filled, archive_dir=tmp_path / "archive", today=date(2019, 11, 30))
    [problem] = exc.value.problems
    key = "审核人" if "U+001B" in reason else "填报人" if "填报人" in reason else "填报日期"
    assert (problem.sheet, problem.cell) == (SHEET, f"B{labels[key]}")
    assert reason in problem.reason and template.name in str(problem)
    assert dump(sample_conn) == before


def test_a_template_made_before_the_sign_off_still_ingests(sample_conn, template, tmp_path):
    def without_sign_off(wb):  # the layout perfkit wrote before: the table ends with the last measure
        ws = wb[SHEET]
        first = next(r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == "填报人")
        for rng in [r for r in ws.merged_cells.ranges if r.min_row >= first]:
            ws.unmerge_cells(str(rng))
        ws.delete_rows(first, 3)

    filled = fill(template, tmp_path / template.name, edit=without_sign_off)
    assert "填报人" not in [c.value for c in load_workbook(filled)[SHEET]["A"]]
    result = ingest_file(sample_conn, filled, archive_dir=tmp_path / "archive")
    assert (result.status, result.rows) == ("added", 18)
    got = sample_conn.execute(
        "SELECT preparer, reviewer, prepared_on FROM submissions WHERE id = ?", (result.submission_id,)
    ).fetchone()
    assert got == ("", "", "")


def test_legacy_xls_is_refused_with_a_reason(sample_conn, template, tmp_path):
    filled = fill(template, tmp_path / "filled" / template.name)
    xls = libreoffice_save_as(filled, "xls", tmp_path / "xls", tmp_path)
    legacy = Path(shutil.copy(xls, tmp_path / "saved-as-xls.xlsx"))
    before = dump(sample_conn)
    with pytest.raises(InputError, match=r"saved-as-xls.xlsx: an old .xls \(Excel 97–2003\) workbook"):
        ingest_file(sample_conn, legacy, archive_dir=tmp_path / "archive")
    assert dump(sample_conn) == before


def test_html_and_csv_outputs_neutralise_submitted_text(sample_db, sample_conn, template, tmp_path, capsys):
    def as_text(wb):  # a unit typing '=… with a leading apostrophe: text, not a formula
        ws = wb[SHEET]
        r = rows_of(template)["1-8-1.1"]
        ws[f"L{r}"] = '=HYPERLINK("http://example.invalid","点击")'
        ws[f"L{r}"].data_type = "s"
        ws[f"L{r + 1}"] = "<script>alert(1)</script>"

    filled = fill(template, tmp_path / template.name, edit=as_text)
    ingest_file(sample_conn, filled, archive_dir=tmp_path / "archive")
    code, out, _ = run(capsys, "--db", sample_db, "history", "1-8-1.1", "--format", "csv")
    assert code == 0
    assert "'=HYPERLINK" in out and ",=HYPERLINK" not in out
    h = history(sample_conn, "1-8-1.2")
    path = write_csv(h, tmp_path / "h.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "&lt;script&gt;" in h.to_html() and "<script>" not in h.to_html()


def test_history_of_unknown_or_statistic_measure(sample_conn, sample_db, capsys):
    with pytest.raises(InputError, match="unknown measure id"):
        history(sample_conn, "9-9-9.9")
    code, _, err = run(capsys, "--db", sample_db, "history", "1-14-1.1")
    assert code == 2 and "turnover table" in err


def test_history_before_any_submission(empty_db, capsys):
    assert run(capsys, "--db", empty_db, "history", "1-8-1.1")[:2] == (0, "1-8-1.1: no submissions yet\n")
    assert history(open_store(empty_db), "1-8-1.1").empty


# ---------------------------------------------------------------------------------- turnover tables


def test_turnover_csv_year_to_date_is_normalised(empty_db, tmp_path, capsys):
    table = turnover_table()
    path = tmp_path / "周转量_2019-09.csv"
    table.to_csv(path, index=False, encoding="utf-8-sig")
    code, out, err = run(capsys, "--db", empty_db, "ingest", path, "--archive", tmp_path / "archive")
    assert (code, err) == (0, "")
    assert "turnover up to 2019-09" in out
    conn = open_store(empty_db)
    got = read_turnover(conn)
    want = normalise_turnover(table, "x")
    assert len(got) == len(want)
    feb = got[(got["mode"] == "road") & (got["month"] == pd.Period("2019-02", "M"))].iloc[0]
    assert feb["span_months"] == 2  # 1—2月 combined
    road_sep = got[(got["mode"] == "road") & (got["month"] == pd.Period("2019-09", "M"))].iloc[0]
    src = table[(table["月份"] == "2019年9月") & (table["运输方式"] == "公路")].iloc[0]
    prev = table[(table["月份"] == "2019年8月") & (table["运输方式"] == "公路")].iloc[0]
    assert road_sep["ton_km"] == pytest.approx(src["货物周转量（万吨公里）"] - prev["货物周转量（万吨公里）"])
    assert road_sep["official_yoy_pct"] == src["总周转量累计同比（%）"]  # kept as published


def test_turnover_xlsx_monthly_values_and_gb18030_csv(empty_db, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "周转量"
    ws.append(
        ["月份", "运输方式", "口径", "旅客周转量（万人公里）", "货物周转量（万吨公里）", "同比增长（%）"]
    )
    ws.append(
        [datetime(2019, 8, 1), "公路", "当月", 31000.5, 160000, 12.4]
    )  # Excel turned 2019-08 into a date
    ws.append(["2019年9月", "公路", "当月", 32000, 165000.25, None])
    ws.append(["2019-09", "水路", "当月", 400, 300000, 18.1])
    ws["A2"].number_format = "yyyy-mm"
    xlsx = tmp_path / "turnover.xlsx"
    wb.save(xlsx)
    conn = open_store(empty_db)
    result = ingest_file(conn, xlsx, archive_dir=tmp_path / "a")
    assert (result.kind, result.rows, result.month) == ("turnover", 3, "2019-09")
    got = read_turnover(conn).set_index(["mode", "month"])
    assert got.loc[("road", pd.Period("2019-08", "M")), "official_yoy_pct"] == 12.4
    assert got.loc[("road", pd.Period("2019-09", "M")), "ton_km"] == 165000.25

    csv = tmp_path / "gbk.csv"
    csv.write_bytes("月份,运输方式,旅客周转量,货物周转量\n2019-09,水路,410,310000\n".encode("gb18030"))
    ingest_file(conn, csv, archive_dir=tmp_path / "a")
    assert (
        read_turnover(conn)
        .set_index(["mode", "month"])
        .loc[("waterway", pd.Period("2019-09", "M")), "ton_km"]
        == 310000
    )


# ------------------------------------------------------------------------------- rejected files: table


def _row(template, mid):
    return rows_of(template)[mid]


def _edit(fn):
    """A case that edits the filled workbook with openpyxl."""
    return lambda template, tmp: fill(template, tmp / template.name, edit=lambda wb: fn(wb, template))


def _change(changes):
    return lambda template, tmp: fill(template, tmp / template.name, changes)


def _from_good(make):
    """A shared battery case (tests/battery.py) made from a good filled ledger."""

    def build(template, tmp):
        return make(fill(template, tmp / "good" / template.name), tmp / template.name)

    return build


def _zipped(change=None, extra=None):
    def build(template, tmp):
        good = fill(template, tmp / "good" / template.name)
        return rezip(good, tmp / template.name, change, extra)

    return build


def _error_value(name, data):
    if name != "xl/worksheets/sheet1.xml":
        return data
    return re.sub(
        rb'<c r="J5"[^>]*?(/>|>.*?</c>)', b'<c r="J5" t="e"><f>1/0</f><v>#DIV/0!</v></c>', data, count=1
    )


def _no_info(wb, template):
    del wb["_perfkit"]
    wb.custom_doc_props = CustomPropertyList()


def _set(cell_fn, value, number_format=None):
    def edit(wb, template):
        cell = wb[SHEET][cell_fn(template)]
        cell.value = value
        if number_format:
            cell.number_format = number_format

    return edit


def _month_in_name(template, tmp):
    good = fill(template, tmp / "good" / template.name)
    return Path(shutil.copy(good, tmp / template.name.replace("2019-10", "2019-08")))


def _future(template, tmp):
    return fill(template, tmp / template.name)


J = lambda mid: lambda t: f"J{_row(t, mid)}"  # noqa: E731
A = lambda mid: lambda t: f"A{_row(t, mid)}"  # noqa: E731


K = lambda mid: lambda t: f"K{_row(t, mid)}"  # noqa: E731
L = lambda mid: lambda t: f"L{_row(t, mid)}"  # noqa: E731


def _cell_xml(mid, col, inner: str, kind: str = ""):
    """A case whose cell (measure `mid`, column `col`) holds the raw XML `inner`: values openpyxl will not
    write (INF, NaN, 1e999 as numbers; control characters, as Excel escapes them or raw)."""

    def build(template, tmp):
        ref = f"{col}{_row(template, mid)}"
        attr = f' t="{kind}"' if kind else ""

        def change(name, data):
            if name != "xl/worksheets/sheet1.xml":
                return data
            cell = f'<c r="{ref}"{attr}>{inner}</c>'.encode()
            return re.sub(rb'<c r="%s"[^>]*?(/>|>.*?</c>)' % ref.encode(), cell, data, count=1)

        return rezip(fill(template, tmp / "good" / template.name), tmp / template.name, change)

    return build


def _note(text: str):
    return _cell_xml("1-8-1.1", "L", f"<is><t>{text}</t></is>", "inlineStr")


# id, build(template, tmp) → bad file, sheet, cell (text or a function of the template), reason, today
# fmt: off
# the file-level cases are the shared battery's (tests/battery.py), made from a good filled ledger
CASES = [(case_id, _from_good(make), "", "", reason, None) for case_id, make, reason in FILE_CASES] + [
    ("missing-sheet", _edit(lambda wb, t: setattr(wb[SHEET], "title", "Sheet1")), "", "", "missing sheet 填报 (sheets: Sheet1, _perfkit)", None),
    ("missing-header", _edit(_set(lambda t: "J2", "累计数")), SHEET, "row 2", "missing header 本年累计完成", None),
    ("no-template-info", _edit(_no_info), "", "", "no template info", None),
    ("catalogue-version", _edit(lambda wb, t: wb["_perfkit"].__setitem__("B5", "2018.1")), "_perfkit", "B5", "catalogue version 2018.1", None),
    ("unknown-id", _change({"1-8-1.1": {"measure_id": "9-9-9.9"}}), SHEET, A("1-8-1.1"), "unknown 措施编号 '9-9-9.9'", None),
    ("duplicate-id", _change({"1-8-1.2": {"measure_id": "1-8-1.1"}}), SHEET, A("1-8-1.2"), "duplicate 措施编号 1-8-1.1", None),
    ("other-unit", _change({"1-8-1.1": {"measure_id": "1-1-1.2"}}), SHEET, A("1-8-1.1"), "1-1-1.2 is reported by 市高指, not 市道管处", None),
    ("statistic", _change({"1-8-1.1": {"measure_id": "1-14-1.1"}}), SHEET, A("1-8-1.1"), "turnover table", None),
    ("no-measure-id", _change({"1-8-1.1": {"measure_id": None}}), SHEET, A("1-8-1.1"), "values without a 措施编号", None),
    ("month-mismatch", _month_in_name, "_perfkit", "B4", "month mismatch", None),
    ("future-month", _future, "_perfkit", "B4", "month 2019-10 is in the future (today is 2019-09-30)", date(2019, 9, 30)),
    ("text-number", _change({"1-8-1.1": {"cumulative": "22"}}), SHEET, J("1-8-1.1"), "text '22' in a number cell", None),
    ("text-with-unit", _change({"1-7-2.1": {"cumulative": "2300万元"}}), SHEET, J("1-7-2.1"), "text '2300万元'", None),
    ("formula-no-cache", _change({"1-8-1.1": {"cumulative": "=H6+1"}}), SHEET, J("1-8-1.1"), "formula without a cached value", None),
    ("error-value", _zipped(change=_error_value), SHEET, "J5", "error value #DIV/0!", None),
    ("percent-format", _edit(_set(J("2-3-1.1"), 0.85, "0%")), SHEET, J("2-3-1.1"), "formatted as a percentage", None),
    ("boolean", _change({"1-8-1.1": {"cumulative": True}}), SHEET, J("1-8-1.1"), "TRUE/FALSE in a number cell", None),
    ("date", _change({"1-8-1.1": {"cumulative": datetime(2019, 10, 1)}}), SHEET, J("1-8-1.1"), "a date (2019-10-01)", None),
    ("negative", _change({"1-7-2.1": {"cumulative": -5}}), SHEET, J("1-7-2.1"), "negative number -5", None),
    ("percent-over-100", _change({"2-3-1.1": {"cumulative": 120}}), SHEET, J("2-3-1.1"), "120 is over 100 for a percentage", None),
    # the score takes the number: 已完成 beside last month's 79.4% scored 79.4% without a word
    ("done-below-target", _change({"1-10-2.1": {"cumulative": 80, "status": "已完成"}}), SHEET, K("1-10-2.1"), "进展状态 已完成 but 本年累计完成 80 is below the annual target 100%", None),
    ("count-not-whole", _change({"1-8-1.1": {"cumulative": 22.5}}), SHEET, J("1-8-1.1"), "22.5 is not a whole number (1-8-1.1 counts 辆)", None),
    # stored silently before: 1e308 sent the investment projection to infinity; 元 typed for 万元 is 10,000×
    ("1e308-number", _cell_xml("1-7-2.1", "J", "<v>1e308</v>"), SHEET, J("1-7-2.1"), "times the annual target 3000万元", None),
    ("yuan-for-wan-yuan", _change({"1-7-2.1": {"cumulative": 22448000}}), SHEET, J("1-7-2.1"), "22,448,000 is 7,483 times the annual target 3000万元: check the digits and that it is in 万元", None),
    ("below-last", _change({"1-8-1.1": {"cumulative": 20}}), SHEET, J("1-8-1.1"), "20 is below the last accepted 21 (2019-09)", None),
    ("no-number", _change({"1-8-1.1": {"cumulative": None}}), SHEET, J("1-8-1.1"), "1-8-1.1 needs its 本年累计完成", None),
    ("qualitative-number", _change({"1-10-3.1": {"cumulative": 1}}), SHEET, J("1-10-3.1"), "1-10-3.1 is qualitative", None),
    ("bad-status", _change({"1-8-1.1": {"status": "完成了"}}), SHEET, K("1-8-1.1"), "进展状态 '完成了' is not one of 未启动/推进中/已完成", None),
    ("no-status", _change({"2-3-2.1": {"status": None}}), SHEET, K("2-3-2.1"), "2-3-2.1 needs its 进展状态", None),
    ("long-note", _change({"1-8-1.1": {"note": "说" * 2001}}), SHEET, L("1-8-1.1"), "情况说明 is 2001 characters", None),
    ("nothing-filled", lambda t, tmp: Path(shutil.copy(t, tmp / t.name)), SHEET, "", "nothing filled in", None),
    ("inf-number", _cell_xml("1-8-1.1", "J", "<v>INF</v>"), SHEET, J("1-8-1.1"), "not a finite number (inf)", None),
    ("nan-number", _cell_xml("1-8-1.1", "J", "<v>NaN</v>"), SHEET, J("1-8-1.1"), "not a finite number (nan)", None),
    ("1e999-number", _cell_xml("1-7-2.1", "J", "<v>1e999</v>"), SHEET, J("1-7-2.1"), "not a finite number (inf)", None),
    ("minus-1e999", _cell_xml("1-7-2.1", "J", "<v>-1e999</v>"), SHEET, J("1-7-2.1"), "not a finite number (-inf)", None),
    ("inf-text", _change({"1-8-1.1": {"cumulative": "INF"}}), SHEET, J("1-8-1.1"), "text 'INF' in a number cell", None),
    ("nan-text", _change({"1-8-1.1": {"cumulative": "NaN"}}), SHEET, J("1-8-1.1"), "text 'NaN' in a number cell", None),
    ("1e999-text", _change({"1-8-1.1": {"cumulative": "1e999"}}), SHEET, J("1-8-1.1"), "text '1e999'", None),
    ("note-esc", _note("按计划_x001B_[2J推进"), SHEET, L("1-8-1.1"), "control character U+001B (ESC) at character 4", None),
    ("note-bel", _note("响铃\x07"), SHEET, L("1-8-1.1"), "control character U+0007 (BEL) at character 3", None),
    ("note-c1-csi", _note("\u009b31m红"), SHEET, L("1-8-1.1"), "control character U+009B at character 1", None),
    ("status-esc", _cell_xml("1-8-1.1", "K", "<is><t>推进中&#27;</t></is>", "inlineStr"), SHEET, K("1-8-1.1"), "control character U+001B", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("build", "sheet", "cell", "reason", "today"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_rejected_whole_and_changes_nothing(
    sample_conn, template, tmp_path, build, sheet, cell, reason, today
):
    (tmp_path / "bad").mkdir()
    bad = build(template, tmp_path / "bad")
    archive = tmp_path / "archive"
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, bad, archive_dir=archive, today=today)
    cell = cell(template) if callable(cell) else cell
    where = str(bad) + (f" [{sheet}]" if sheet else "") + (f" {cell}" if cell else "") + ": "
    lines = str(exc.value).splitlines()
    assert any(line.startswith(where) and reason in line for line in lines), lines
    assert dump(sample_conn) == before
    assert not archive.exists()  # nothing archived for a rejected file
    assert bad.exists()  # the raw input is never touched


# fmt: off
TURNOVER_CASES = [
    ("negative", "月份,运输方式,旅客周转量,货物周转量\n2019-09,公路,-1,100\n", "C2", "must be a finite number ≥ 0", None),
    ("inf-passenger-km", "月份,运输方式,旅客周转量,货物周转量\n2019-09,公路,inf,100\n", "C2", "must be a finite number ≥ 0, got 'inf'", None),
    ("1e999-ton-km", "月份,运输方式,旅客周转量,货物周转量\n2019-09,公路,1,1e999\n", "D2", "got '1e999'", None),
    ("nan-ton-km", "月份,运输方式,旅客周转量,货物周转量\n2019-09,公路,1,nan\n", "D2", "got 'nan'", None),
    ("inf-yoy", "月份,运输方式,旅客周转量,货物周转量,同比增长\n2019-09,公路,1,2,inf\n", "E2", "YoY is not a finite number: 'inf'", None),
    ("1e999-yoy", "月份,运输方式,旅客周转量,货物周转量,同比增长\n2019-09,公路,1,2,1e999%\n", "E2", "YoY is not a finite number", None),
    ("nan-yoy", "月份,运输方式,旅客周转量,货物周转量,同比增长\n2019-09,公路,1,2,NaN\n", "E2", "YoY is not a finite number", None),
    ("missing-column", "月份,运输方式,旅客周转量\n2019-09,公路,1\n", "row 1", "missing column(s): ton_km", None),
    ("bad-mode", "月份,运输方式,旅客周转量,货物周转量\n2019-09,铁路,1,100\n", "B2", "mode must be 公路 or 水路", None),
    ("future", "月份,运输方式,旅客周转量,货物周转量\n2019-08,公路,1,100\n2019-09,公路,1,100\n", "A3",
     "month 2019-09 is in the future", date(2019, 8, 31)),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "cell", "reason", "today"), [c[1:] for c in TURNOVER_CASES], ids=[c[0] for c in TURNOVER_CASES]
)
def test_bad_turnover_csv_is_rejected(sample_conn, tmp_path, text, cell, reason, today):
    path = tmp_path / "turnover.csv"
    path.write_text(text, encoding="utf-8")
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, path, archive_dir=tmp_path / "archive", today=today)
    assert any(line.startswith(f"{path} {cell}: ") and reason in line for line in str(exc.value).splitlines())
    assert dump(sample_conn) == before


def test_january_alone_beside_a_stored_1_2_release_is_refused_and_score_still_runs(
    sample_db, tmp_path, capsys
):
    # the store holds 2019年1—2月; a lone January went in and every later `perfkit score` failed (exit 1)
    head = "月份,运输方式,口径,旅客周转量,货物周转量\n"
    jan = tmp_path / "jan.csv"
    jan.write_text(head + "2019年1月,公路,当月,30000,110000\n", encoding="utf-8")
    conn = open_store(sample_db)
    before = dump(conn)
    code, out, err = run(capsys, "--db", sample_db, "ingest", jan, "--archive", tmp_path / "archive")
    assert code == 2 and err.startswith(f"{jan}: road 2019: January given both 2019-01 alone"), err
    assert dump(conn) == before
    # January and February each alone supersede the stored February: consistent, accepted
    both = tmp_path / "jan_feb.csv"
    both.write_text(head + "2019年1月,公路,当月,30000,110000\n2019年2月,公路,当月,31000,111000\n", "utf-8")
    code, out, err = run(capsys, "--db", sample_db, "ingest", both, "--archive", tmp_path / "archive")
    assert code == 0, err
    code, out, err = run(capsys, "--db", sample_db, "score", "--as-of", "2019-09")
    assert code == 0, err
    conn.close()


def test_a_turnover_figure_out_of_all_proportion_is_refused(sample_db, tmp_path, capsys):
    # 吨公里 for 万吨公里, or 1e308: stored silently, growth printed a 300-digit percentage
    head = "月份,运输方式,口径,旅客周转量,货物周转量\n"
    bad = tmp_path / "units.csv"
    bad.write_text(head + "2019年9月,公路,当月,7100,300000000\n2019年9月,水路,当月,430,1e308\n", "utf-8")
    conn = open_store(sample_db)
    before = dump(conn)
    code, out, err = run(capsys, "--db", sample_db, "ingest", bad, "--archive", tmp_path / "archive")
    lines = err.splitlines()
    assert code == 2 and len(lines) == 2, err
    assert lines[0].startswith(
        f"{bad}: road 2019-09: ton-km 300,000,000 is 2,572 times above the typical month"
    )
    assert (
        lines[1].startswith(f"{bad}: waterway 2019-09: ton-km 1e+308 is ")
        and "[intake] max_turnover_ratio" in err
    )
    assert dump(conn) == before
    ok = tmp_path / "ok.csv"  # the month as the office publishes it: in proportion, accepted
    ok.write_text(head + "2019年9月,公路,当月,7100,30000\n2019年9月,水路,当月,430,320000\n", "utf-8")
    code, out, err = run(capsys, "--db", sample_db, "ingest", ok, "--archive", tmp_path / "archive")
    assert code == 0, err
    conn.close()


def test_turnover_xlsx_text_and_formula_cells_are_rejected(sample_conn, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["月份", "运输方式", "旅客周转量", "货物周转量"])
    ws.append(["2019-09", "公路", "32,000", 100])
    ws.append(["2019-09", "水路", 10, "=B2*2"])
    path = tmp_path / "turnover.xlsx"
    wb.save(path)
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, path, archive_dir=tmp_path / "archive")
    lines = str(exc.value).splitlines()
    assert any(line.startswith(f"{path} [Sheet] C2: text '32,000'") for line in lines), lines
    assert any(line.startswith(f"{path} [Sheet] D3: formula without a cached value") for line in lines), lines
    assert dump(sample_conn) == before


def test_cli_reports_each_problem_and_goes_on_with_other_files(sample_db, template, tmp_path, capsys):
    good = fill(template, tmp_path / "good" / template.name)
    bad = fill(
        template,
        tmp_path / "bad" / template.name,
        {"1-8-1.1": {"cumulative": -1}, "2-3-1.1": {"cumulative": 101}, "1-8-1.2": {"status": "好"}},
    )
    code, out, err = run(capsys, "--db", sample_db, "ingest", bad, good, "--archive", tmp_path / "archive")
    assert code == 2
    assert f"{good}: added submission" in out and str(bad) not in out
    assert out.splitlines()[-1] == "2 files: 1 added, 0 already ingested, 1 rejected"
    lines = err.splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{bad} [填报] ") for line in lines)
    assert {line.split(": ", 1)[0].rsplit(" ", 1)[1] for line in lines} == {
        f"J{_row(template, '1-8-1.1')}",
        f"J{_row(template, '2-3-1.1')}",
        f"K{_row(template, '1-8-1.2')}",
    }


def test_limits_come_from_the_plan(catalogue):
    rules = IntakeRules.from_plan(catalogue.plan)
    assert rules.max_file_bytes == 5 * 2**20 and rules.statuses == ("未启动", "推进中", "已完成")
    assert rules.correction_prefix == "更正"


# ------------------------------------------------------------------------------------ parallel parse

PARALLEL_SCRIPT = """
import json, sys
import perfkit.intake as intake
from perfkit.cli import main

pools = []
make_pool = intake._parser_pool
intake._parser_pool = lambda n: pools.append(make_pool(n)) or pools[-1]  # record which path ran
code = main(sys.argv[1:])
print(json.dumps({"code": code, "parallel": bool(pools and pools[0] is not None)}), file=sys.stderr)
"""


def test_a_large_batch_is_parsed_in_parallel_with_the_same_outcome(
    sample_db, template, tmp_path, monkeypatch
):
    """A CLI run over many files parses them in a forked process while the main one checks them against
    the store and writes them; what is stored and reported is what the one-process path gives."""
    import perfkit.intake as intake

    files = []
    for i in range(intake.PARALLEL_MIN_FILES + 2):  # resubmissions: each supersedes the one before
        files.append(
            fill(template, tmp_path / "in" / f"{i:02d}" / template.name, {"1-8-1.1": {"note": f"第{i}次"}})
        )
    files[3] = tmp_path / "in" / "03" / template.name
    files[3].write_text("月份,运输方式\n", encoding="utf-8")  # not a zip: refused while parsing
    files[7] = fill(template, tmp_path / "in" / "07" / template.name, {"1-8-1.1": {"cumulative": "22万"}})
    serial_db = tmp_path / "serial.sqlite"
    shutil.copy(sample_db, serial_db)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--db", str(sample_db), "ingest", *map(str, files), "--archive", str(tmp_path / "archive-p")]
    child = subprocess.run(
        [sys.executable, "-c", PARALLEL_SCRIPT, *args], capture_output=True, text=True, env=env, timeout=300
    )
    *problem_lines, status = child.stderr.strip().splitlines()
    assert json.loads(status) == {"code": 2, "parallel": True}

    monkeypatch.setattr(intake, "PARALLEL_MIN_FILES", 10**9)
    conn = open_store(serial_db)
    report = intake.ingest_files(conn, files, archive_dir=tmp_path / "archive-s")
    assert [str(p) for p in report.problems] == problem_lines
    assert report.rejected == [str(files[3]), str(files[7])]
    assert len(report.results) == len(files) - 2

    parallel = open_store(sample_db)
    keep = ["kind", "file_name", "unit", "month", "sha256", "rows"]
    pd.testing.assert_frame_equal(read_submissions(parallel)[keep], read_submissions(conn)[keep])
    pd.testing.assert_frame_equal(read_progress(parallel), read_progress(conn))
    stored = read_progress(conn)
    note = stored[(stored["measure_id"] == "1-8-1.1") & (stored["month"] == pd.Period(MONTH, "M"))]["note"]
    assert list(note) == [f"第{len(files) - 1}次"]  # the last file of the batch is the current one


DYING_PARSER_SCRIPT = """
import os, sys
import perfkit.intake as intake
from perfkit.cli import main

parse, main_pid = intake._parse_job, os.getpid()
def dying(path, data, rules):  # a forked parser dies on the fifth file
    if path.parent.name == "04" and os.getpid() != main_pid:
        os._exit(1)
    return parse(path, data, rules)
intake._parse_job = dying
sys.exit(main(sys.argv[1:]))
"""


def test_a_parser_process_that_dies_costs_no_file(sample_db, template, tmp_path):
    """A parser process killed mid-batch (out of memory, say): its files and the rest are parsed in the
    main process; every file is still stored, in order."""
    import perfkit.intake as intake

    files = [
        fill(template, tmp_path / "in" / f"{i:02d}" / template.name, {"1-8-1.1": {"note": f"第{i}次"}})
        for i in range(intake.PARALLEL_MIN_FILES + 2)
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--db", str(sample_db), "ingest", *map(str, files), "--archive", str(tmp_path / "archive")]
    child = subprocess.run(
        [sys.executable, "-c", DYING_PARSER_SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert (
        child.stdout.splitlines()[-1]
        == f"{len(files)} files: {len(files)} added, 0 already ingested, 0 rejected"
    )
    stored = read_submissions(open_store(sample_db), "progress")
    assert list(stored["sha256"].iloc[-len(files) :]) == [sha256_file(f) for f in files]


PARSERS_SCRIPT = """
import hashlib, json, os, signal, sys
from pathlib import Path
import perfkit.intake as intake
from perfkit.forms import IntakeRules

good, bad = sys.argv[1:3]
parsers = intake._parser_pool(intake.PARALLEL_MIN_FILES)
parsers.start(IntakeRules())
asked = [parsers.submit(0, good), parsers.submit(1, bad)]
data, sha, (kind, sheet) = parsers.result(0)
_, _, refused = parsers.result(1)  # read, hashed, refused by its checks
out = {
    "asked": asked, "kind": kind, "rows": len(sheet.rows),
    "same_bytes": data == Path(good).read_bytes(), "sha": sha == hashlib.sha256(data).hexdigest(),
    "refused": [str(p) for p in refused.problems],
}
parsers.shutdown()
out["exit_codes"] = [p.exitcode for p in parsers.procs]
parsers = intake._parser_pool(intake.PARALLEL_MIN_FILES)
parsers.start(IntakeRules())
os.kill(parsers.procs[0].pid, signal.SIGKILL)  # a parser dies: its next file is the caller's to do
parsers.procs[0].join()
out["after_death"] = [parsers.submit(0, good), parsers.result(0)]
parsers.shutdown()
print(json.dumps(out))
"""


def test_parser_processes_answer_in_order_and_exit_when_the_ingest_closes_their_pipes(template, tmp_path):
    """A parser reads, hashes and parses the file it is sent and sends back those very bytes; a file it
    refuses comes back as its problems; a dead parser's files fall to the caller; the others exit by
    themselves (exit code 0, not killed) once their pipes are closed."""
    good = fill(template, tmp_path / template.name)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", PARSERS_SCRIPT, str(good), str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    got = json.loads(child.stdout)
    assert got["asked"] == [True, True] and got["kind"] == "progress" and got["rows"] > 0
    assert got["same_bytes"] and got["sha"]
    assert got["refused"] == [
        f"{bad}: not an .xlsx workbook (not a zip file: renamed, or saved in another format?)"
    ]
    assert got["after_death"][1] is None  # asked of the dead parser, or refused at once: the caller does it
    assert got["exit_codes"] and got["exit_codes"] == [0] * len(got["exit_codes"])


# ---------------------------------------------------------------------------------------- crash


CRASH_SCRIPT = """
import sys, time
from perfkit.intake import ingest_file
from perfkit.store import open_store

def stall():
    print("inside the transaction", flush=True)
    time.sleep(120)

ingest_file(open_store(sys.argv[1]), sys.argv[2], archive_dir=sys.argv[3], before_commit=stall)
"""


def test_killed_mid_ingest_leaves_the_store_consistent(sample_db, template, tmp_path):
    filled = fill(template, tmp_path / template.name)
    conn = open_store(sample_db)
    before = dump(conn)
    conn.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(sample_db), str(filled), str(tmp_path / "archive")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout.readline().strip() == "inside the transaction"
        os.kill(child.pid, signal.SIGKILL)  # rows inserted, not committed
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    conn = open_store(sample_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert dump(conn) == before
    # and the same file goes in cleanly afterwards (its archived copy is reused, not rewritten)
    result = ingest_file(conn, filled, archive_dir=tmp_path / "archive")
    assert result.status == "added" and result.rows == 18
    n = conn.execute(
        "SELECT COUNT(*) FROM progress WHERE submission_id = ?", (result.submission_id,)
    ).fetchone()[0]
    assert n == 18
    [kept] = (tmp_path / "archive").iterdir()
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == result.sha256
    conn.close()


# ------------------------------------------------------------------------------------ group commit

KILLED_BATCH_SCRIPT = """
import sys, time
import perfkit.intake as intake
from perfkit.cli import main

intake.GROUP_FILES, intake.GROUP_SECONDS = 8, 1e9  # three groups of eight, whatever the machine's speed
settle, groups = intake._settle_archive, []

def stall_in_the_second_group(ctx):
    settle(ctx)  # its archive copies fsynced and renamed into place, its rows inserted, no COMMIT yet
    groups.append(1)
    if len(groups) == 2:
        print("second group inside its transaction", flush=True)
        time.sleep(120)

intake._settle_archive = stall_in_the_second_group
sys.exit(main(sys.argv[1:]))
"""


def test_a_batch_killed_mid_group_leaves_no_half_written_store_and_a_rerun_stores_the_rest_once(
    sample_db, template, tmp_path
):
    """SIGKILL while a group's rows are inserted and its archive copies in place, before its COMMIT: the
    store holds the first group exactly, nothing of the second; every archive file is whole; the same
    command again stores the other sixteen files once each and reports the first eight as stored."""
    files = [
        fill(template, tmp_path / "in" / f"{i:02d}" / template.name, {"1-8-1.1": {"note": f"第{i}次"}})
        for i in range(24)
    ]
    archive = tmp_path / "archive"
    args = ["--db", str(sample_db), "ingest", *map(str, files), "--archive", str(archive)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BATCH_SCRIPT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [child.stdout.readline() for _ in range(9)]
        assert lines[-1].strip() == "second group inside its transaction", lines + [child.stderr.read()]
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert [line.split(": added submission")[0] for line in lines[:8]] == [str(f) for f in files[:8]]

    conn = open_store(sample_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    shas = [sha256_file(f) for f in files]
    stored = read_submissions(conn, "progress")["sha256"].tolist()
    assert stored[-8:] == shas[:8] and not set(shas[8:]) & set(stored)
    kept = {p.name: p for p in archive.iterdir() if not p.name.startswith(".")}
    assert {f"{sha}.xlsx" for sha in shas[:16]} == set(kept)  # the second group's copies were in place
    for name, path in kept.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == name.split(".")[0]
    conn.close()

    again = _cli(*args[:-2], "--archive", archive)  # the plain CLI, the same files
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert out.splitlines()[-1] == "24 files: 16 added, 8 already ingested, 0 rejected"
    conn = open_store(sample_db)
    counts = dict(conn.execute("SELECT sha256, COUNT(*) FROM submissions GROUP BY sha256").fetchall())
    assert [counts.get(sha) for sha in shas] == [1] * 24
    stored = read_progress(conn)
    note = stored[(stored["measure_id"] == "1-8-1.1") & (stored["month"] == pd.Period(MONTH, "M"))]["note"]
    assert list(note) == ["第23次"]  # the last file is the current one
    conn.close()


def test_a_bad_file_in_a_group_is_rejected_alone_and_the_others_are_kept(
    sample_db, sample_conn, template, tmp_path, monkeypatch
):
    """One transaction for the group, a savepoint for each file: a file refused by a cell check, and one
    refused after its rows were written (forced here), are rolled back alone, with their cell-named
    problems; the files around them are stored, and later files are checked against earlier ones of the
    same group (a fall below the group's own earlier value needs 更正)."""
    import perfkit.intake as intake

    row = _row(template, "1-8-1.1")
    files = [
        fill(template, tmp_path / "0" / template.name, {"1-8-1.1": {"cumulative": 30}}),
        fill(template, tmp_path / "1" / template.name, {"1-8-1.1": {"cumulative": -1}}),
        fill(template, tmp_path / "2" / template.name, {"1-8-1.1": {"cumulative": 31, "note": "late"}}),
        fill(template, tmp_path / "3" / template.name, {"1-8-1.1": {"cumulative": 25}}),
        fill(
            template,
            tmp_path / "4" / template.name,
            {"1-8-1.1": {"cumulative": 25, "note": "更正：重复统计"}},
        ),
    ]
    insert = intake._insert_progress

    def fails_after_writing(conn, submission_id, rows):
        stored = insert(conn, submission_id, rows)
        if any(r["note"] == "late" for r in rows):
            raise InputError(Problem(str(files[2]), "refused after its rows were written", SHEET, f"L{row}"))
        return stored

    monkeypatch.setattr(intake, "_insert_progress", fails_after_writing)
    before = read_submissions(sample_conn)["id"].max()
    report = intake.ingest_files(sample_conn, files, archive_dir=tmp_path / "archive")
    assert report.rejected == [str(files[1]), str(files[2]), str(files[3])]
    assert [str(p) for p in report.problems] == [
        f"{files[1]} [{SHEET}] J{row}: negative number -1",
        f"{files[2]} [{SHEET}] L{row}: refused after its rows were written",
        f"{files[3]} [{SHEET}] J{row}: 25 is below the last accepted 30 (2019-10): a correction must say so"
        " in 情况说明 starting with 更正",
    ]
    subs = read_submissions(sample_conn)
    added = subs[subs["id"] > before]
    assert added["sha256"].tolist() == [sha256_file(files[0]), sha256_file(files[4])]
    orphans = sample_conn.execute(
        "SELECT COUNT(*) FROM progress WHERE submission_id NOT IN (SELECT id FROM submissions)"
    ).fetchone()[0]
    assert orphans == 0 and sample_conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == sorted(
        f"{sha}.xlsx" for sha in added["sha256"]
    )  # no copy of a refused file, no temporary left
    assert history(sample_conn, "1-8-1.1")["cumulative"].tolist()[-2:] == [30, 25]


def test_archive_copies_are_fsynced_and_in_place_before_their_group_commits(
    sample_db, sample_conn, template, tmp_path, monkeypatch
):
    """For each group: every new archive copy is fsynced under its temporary name, then renamed to its
    content address, then the folder is fsynced once, and only then does the COMMIT run. The copies are
    read-only and hold the bytes their names say."""
    import perfkit.intake as intake

    files = [
        fill(template, tmp_path / "in" / f"{i}" / template.name, {"1-8-1.1": {"note": f"第{i}次"}})
        for i in range(7)
    ]
    archive = tmp_path / "archive"
    monkeypatch.setattr(intake, "GROUP_FILES", 3)
    monkeypatch.setattr(intake, "GROUP_SECONDS", 1e9)
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        real_fsync(fd)
        with lock:
            events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def replace(src, dst):
        real_replace(src, dst)
        with lock:
            events.append(("rename", f"{src} -> {dst}"))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    sample_conn.set_trace_callback(lambda sql: sql == "COMMIT" and events.append(("sql", sql)))
    report = intake.ingest_files(sample_conn, files, archive_dir=archive)
    sample_conn.set_trace_callback(None)
    assert report.ok and len(report.results) == 7

    groups, current = [], []
    for event in events:
        if event == ("sql", "COMMIT"):
            groups.append(current)
            current = []
        else:
            current.append(event)
    assert [sum(e[0] == "rename" for e in g) for g in groups] == [3, 3, 1]
    folder = str(archive.resolve())
    for group in groups:
        renames = [i for i, e in enumerate(group) if e[0] == "rename"]
        for i in renames:
            src, dst = group[i][1].split(" -> ")
            assert Path(dst).parent.resolve() == archive.resolve() and Path(src).name.startswith(".")
            assert ("fsync", str(Path(src).resolve())) in group[:i]  # the data is durable before its name
        assert group[-1] == ("fsync", folder) and max(renames) < len(group) - 1  # names durable, then COMMIT
    for sub in read_submissions(sample_conn, "progress").tail(7).itertuples():
        kept = Path(sub.archive_path)
        assert (
            kept.name == f"{sub.sha256}.xlsx" and hashlib.sha256(kept.read_bytes()).hexdigest() == sub.sha256
        )
        assert not kept.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert sorted(p.name for p in archive.iterdir()) == sorted(f"{sha256_file(f)}.xlsx" for f in files)


# ------------------------------------------------------------------------------ hostile input, issue 12


def _store_old_row(conn, note: str, file_name: str = "old.xlsx") -> None:
    """A progress row as a store written before intake refused control characters may hold it."""
    conn.execute(
        "INSERT INTO submissions (kind, file_name, sha256, unit, month, received_at) VALUES"
        " ('progress', ?, 'f' || hex(randomblob(8)), ?, '2019-09', '2019-10-01T00:00:00+00:00')",
        (file_name, UNIT),
    )
    sid = conn.execute("SELECT MAX(id) FROM submissions").fetchone()[0]
    conn.execute("INSERT INTO progress VALUES (?, '1-8-1.1', '2019-09', 21, '推进中', ?)", (sid, note))


def test_history_escapes_stored_control_characters(sample_db, sample_conn, capsys):
    note = "清屏\x1b[2J\x1b]0;pwned\x07响铃\x9b31m\u202e反向"
    _store_old_row(sample_conn, note, "evil\x1b[31m.xlsx")
    for fmt in ("table", "csv", "json"):
        code, out, err = run(capsys, "--db", sample_db, "history", "1-8-1.1", "--format", fmt)
        assert (code, err) == (0, "")
        assert not any(ch in out for ch in "\x1b\x07\x9b\u202e"), fmt
        if fmt == "json":  # escaped, not lost
            assert json.loads(out)[-1]["note"] == note
        else:
            assert r"清屏\x1b[2J\x1b]0;pwned\x07响铃\x9b31m\u202e反向" in out
            assert r"evil\x1b[31m.xlsx" in out


def test_growth_refuses_a_stored_non_finite_turnover_value(sample_db, sample_conn, capsys):
    sample_conn.execute(
        "INSERT INTO submissions (kind, file_name, sha256, month, received_at)"
        " VALUES ('turnover', 'old.csv', 'ff', '2019-09', '2019-10-01T00:00:00+00:00')"
    )
    sid = sample_conn.execute("SELECT MAX(id) FROM submissions").fetchone()[0]
    sample_conn.execute("INSERT INTO turnover VALUES (?, 'road', '2019-09', 1, 9e999, 100, 9e999)", (sid,))
    code, out, err = run(capsys, "--db", sample_db, "growth", "--as-of", "2019-09", "--mode", "road")
    assert code == 2 and out == ""
    assert err.startswith("growth: stored turnover road 2019-09 has a non-finite passenger_km (inf)")
    assert len(err.splitlines()) == 1


TURNOVER_HEAD = ["月份", "运输方式", "旅客周转量", "货物周转量"]


def test_trailing_blank_rows_are_not_data(sample_db, sample_conn, template, tmp_path, capsys):
    """Excel keeps rows that were once formatted or cleared: 100,000 of them below a table are nothing."""
    csv = tmp_path / "周转量.csv"
    csv.write_text(
        ",".join(TURNOVER_HEAD) + "\n2019-09,公路,7100,30000\n" + ",,,\n" * 100_000, encoding="utf-8"
    )
    wb = Workbook()
    ws = wb.active
    ws.append(TURNOVER_HEAD)
    ws.append(["2019-09", "水路", 430, 320000])  # figures in proportion to the sample's months
    for r in range(3, 100_003):
        ws.cell(r, 1).number_format = "@"  # styled, empty: written as <c r="A…" s="1"/>
        ws.cell(r, 2).value = "" if r % 2 else None
    xlsx = tmp_path / "周转量.xlsx"
    wb.save(xlsx)

    def blank_tail(wb):
        sheet = wb[SHEET]
        for r in range(sheet.max_row + 1, sheet.max_row + 100_001):
            sheet.cell(r, 12).number_format = "@"

    ledger = fill(template, tmp_path / "in" / template.name, edit=blank_tail)
    archive = tmp_path / "archive"
    code, out, err = run(capsys, "--db", sample_db, "ingest", csv, xlsx, ledger, "--archive", archive)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "3 files: 3 added, 0 already ingested, 0 rejected"
    assert "(turnover: turnover up to 2019-09, 1 rows)" in out and "18 rows" in out


def test_problem_lists_are_capped(sample_db, sample_conn, tmp_path, capsys):
    csv = tmp_path / "周转量.csv"
    csv.write_text(",".join(TURNOVER_HEAD) + "\n" + "2019-09,铁路,1,1\n" * 9_000, encoding="utf-8")
    before = dump(sample_conn)
    code, out, err = run(capsys, "--db", sample_db, "ingest", csv, "--archive", tmp_path / "archive")
    lines = err.splitlines()
    assert code == 2 and len(lines) == 51
    assert lines[0] == f"{csv} B2: mode must be 公路 or 水路, got '铁路'"
    assert lines[-1] == f"{csv}: … and 8950 more problems"
    assert dump(sample_conn) == before


def _forged_zip(entries: list[tuple[str, bytes]], forged: str, payload, declared: int) -> bytes:
    """A zip whose entry `forged` holds the deflated chunks of `payload` (an iterable of bytes) while both
    its headers (local and central) declare `declared` bytes: what a hostile sender can make in a second."""
    deflate, crc, packed = zlib.compressobj(9, zlib.DEFLATED, -15), 0, bytearray()
    for chunk in payload:
        crc = zlib.crc32(chunk, crc)
        packed += deflate.compress(chunk)
    packed += deflate.flush()
    out, central = bytearray(), bytearray()
    for name, data in entries:
        raw = name.encode()
        if name == forged:
            method, body, size, c = 8, bytes(packed), declared, crc
        else:
            method, body, size, c = 0, data, len(data), zlib.crc32(data)
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, c, len(body), size, len(raw), 0
        )
        out += raw + body
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, c, len(body), size, len(raw),
            0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


MEASURED_SCRIPT = """
import sys
from perfkit.cli import main

try:
    code = main(sys.argv[1:])
finally:  # the kernel's high-water mark of this process's memory (ru_maxrss also counts the parent's
    # pages when it was forked from a large pytest process)
    peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
    print("peak-kb", peak.split()[1])
sys.exit(code)
"""


def _ingest_measured(db: Path, *files: Path, archive: Path) -> tuple[int, str, int]:
    """`perfkit ingest` in a child process: (exit code, stderr, the child's peak RSS in MB)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--db", str(db), "ingest", *map(str, files), "--archive", str(archive)]
    child = subprocess.run(
        [sys.executable, "-c", MEASURED_SCRIPT, *args], capture_output=True, text=True, env=env, timeout=300
    )
    peak_kb = int(child.stdout.split("peak-kb")[-1])
    return child.returncode, child.stderr, peak_kb // 1024


def test_a_zip_entry_that_lies_about_its_size_is_refused_in_bounded_memory(sample_db, template, tmp_path):
    """1 GiB of spaces in the sheet entry, both zip headers saying 2,000 bytes: refused after reading at
    most the declared size, under 200 MB peak (zipfile's read unpacked it all first: 2.1 GB)."""
    good = fill(template, tmp_path / "good" / template.name)
    with zipfile.ZipFile(good) as z:
        entries = [(i.filename, z.read(i)) for i in z.infolist()]
    spaces = (b" " * 2**20 for _ in range(1024))
    bomb = tmp_path / template.name
    bomb.write_bytes(_forged_zip(entries, "xl/worksheets/sheet1.xml", spaces, 2000))
    assert bomb.stat().st_size < 5 * 2**20
    before = dump(open_store(sample_db))
    code, err, peak_mb = _ingest_measured(sample_db, bomb, archive=tmp_path / "archive")
    assert code == 2, err
    assert err == (
        f"{bomb}: xl/worksheets/sheet1.xml unpacks to more than the 2,000 bytes its zip headers declare"
        " (a forged or damaged zip): refused\n"
    )
    assert peak_mb < 200, peak_mb
    assert dump(open_store(sample_db)) == before and not (tmp_path / "archive").exists()


def test_a_value_in_a_far_cell_is_refused_before_the_grid_is_built(sample_db, tmp_path):
    """One value at XFD1048576 would make calamine allocate 17 billion cells."""
    wb = Workbook()
    ws = wb.active
    ws.append(["月份", "运输方式", "旅客周转量", "货物周转量"])
    ws.append(["2019-09", "公路", 1, 100])
    ws["XFD1048576"] = 1
    path = tmp_path / "周转量.xlsx"
    wb.save(path)
    code, err, peak_mb = _ingest_measured(sample_db, path, archive=tmp_path / "archive")
    assert (code, err) == (
        2,
        f"{path} [Sheet]: values reach XFD1048576: 1,048,576 rows × 16,384 columns is over the limit of"
        " 200,000 cells ([intake] max_sheet_cells)\n",
    )
    assert peak_mb < 200


def test_an_entry_packed_beyond_the_ratio_limit_is_refused(sample_conn, template, tmp_path):
    good = fill(template, tmp_path / "good" / template.name)
    with zipfile.ZipFile(good) as z:
        entries = [(i.filename, z.read(i)) for i in z.infolist()]
    path = tmp_path / template.name
    path.write_bytes(_forged_zip(entries, "xl/styles.xml", [b" " * 15 * 2**20], 15 * 2**20))
    with pytest.raises(
        InputError, match=r"xl/styles.xml unpacks [\d,]+ times its packed size, over the limit of 200"
    ):
        ingest_file(sample_conn, path, archive_dir=tmp_path / "archive")


def test_a_table_of_too_many_rows_is_refused_before_it_is_read(sample_conn, tmp_path):
    csv = tmp_path / "周转量.csv"
    csv.write_text(
        ",".join(TURNOVER_HEAD) + "\n" + "2019-09,公路,1,1\n" * 10_001 + ",,,\n" * 10, encoding="utf-8"
    )
    with pytest.raises(
        InputError, match=r"10,001 data rows, over the limit of 10,000 \(\[intake\] max_table_rows\)"
    ):
        ingest_file(sample_conn, csv, archive_dir=tmp_path / "archive")


# ------------------------------------------------------------------- stops, kills and failing disks


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None once it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else (fields[0], int(fields[1]))


def _children_of(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) and st[1] == pid:
            out.append(int(name))
    return out


def _cli(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "perfkit.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_or_killed_ingest_leaves_no_process_and_says_what_it_stored(
    sample_db, template, tmp_path, sig, code
):
    """A batch big enough for the forked parsers, stopped once they run: no parser outlives the ingest,
    `$(perfkit ingest …)` sees EOF at once, and a SIGINT/SIGTERM stop ends with a summary, no traceback."""
    filled = fill(template, tmp_path / "one.xlsx")
    (tmp_path / "in").mkdir()
    files = [filled] + [Path(shutil.copy(filled, tmp_path / "in" / f"{i:04d}.xlsx")) for i in range(1500)]
    child = _cli("--db", sample_db, "ingest", *files, "--archive", tmp_path / "archive")
    first = child.stdout.readline()  # the first file is committed, and said so at once
    assert first.startswith(f"{filled}: added submission"), first + child.stderr.read()[-2000:]
    parsers = _children_of(child.pid)
    assert parsers, "no parser process was started"
    os.kill(child.pid, sig)
    got: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda k=k, f=f: got.__setitem__(k, f.read()))
        for k, f in (("out", child.stdout), ("err", child.stderr))
    ]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=20)  # EOF on stdout and stderr: nothing holds the pipes open
    assert set(got) == {"out", "err"}, "the ingest's output pipes stayed open"
    child.wait(timeout=20)
    out, err = first + got["out"], got["err"]
    assert child.returncode == code, err[-2000:]
    deadline = time.monotonic() + 5
    while any(_stat(p) for p in parsers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in parsers if _stat(p)], "a parser outlived the ingest"
    if sig == signal.SIGKILL:
        return
    assert "Traceback" not in err and err == ""
    lines = out.splitlines()
    stored = [line for line in lines[:-1] if "added submission" in line or "already ingested" in line]
    name = signal.Signals(sig).name
    assert re.fullmatch(
        rf"{len(files)} files: 1 added, {len(stored) - 1} already ingested, 0 rejected,"
        rf" {len(files) - len(stored)} not stored \(stopped by {name}\): .*",
        lines[-1],
    ), lines[-1]
    conn = open_store(sample_db)
    assert conn.execute(
        "SELECT COUNT(*) FROM submissions WHERE sha256 = ?", (sha256_file(filled),)
    ).fetchone() == (1,)


def test_a_file_size_limit_mid_batch_names_the_file_and_keeps_what_was_committed(
    sample_db, template, tmp_path
):
    """RLIMIT_FSIZE (SIGXFSZ ignored) stands in for a full disk: the store's WAL cannot grow past it. The
    twelve files are one group (group commit) that does not fit: it is rolled back and its files stored
    one transaction each, so those that fit are kept and the first that does not is named."""
    import resource

    files = [
        fill(template, tmp_path / "in" / f"{i:02d}" / template.name, {"1-8-1.1": {"note": f"第{i}次"}})
        for i in range(12)
    ]
    before = dump(open_store(sample_db))  # the store is in WAL mode; its WAL is checkpointed on close
    limit = 70 * 1024  # the group's one commit needs more; one file's commit ~20 KB

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    child = _cli(
        "--db", sample_db, "ingest", *files, "--archive", tmp_path / "archive", preexec_fn=small_disk
    )
    out, err = child.communicate(timeout=300)
    assert child.returncode == 3, err
    assert "Traceback" not in err
    added = [line for line in out.splitlines() if "added submission" in line]
    assert 0 < len(added) < len(files)
    failed = files[len(added)]
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith(
        f"{failed}: not stored, rolled back: "
    )
    assert out.splitlines()[-1].startswith(
        f"{len(files)} files: {len(added)} added, 0 already ingested, 0 rejected,"
        f" {len(files) - len(added)} not stored (the store or archive failed): {failed}, "
    )
    conn = open_store(sample_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = read_submissions(conn, "progress")["sha256"].tolist()
    assert stored[-len(added) :] == [sha256_file(f) for f in files[: len(added)]]
    assert sha256_file(failed) not in stored and dump(conn) != before


def _immutable(path: Path) -> None:
    """chattr +i: not even root may write it (the tests run as root, which file modes do not stop)."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("needs chattr +i on this file system")


@pytest.mark.parametrize("what", ["store", "archive"])
def test_a_store_or_archive_that_cannot_be_written_is_one_line_and_changes_nothing(
    sample_db, template, tmp_path, what
):
    filled = fill(template, tmp_path / "in" / template.name)
    archive = tmp_path / "archive"
    archive.mkdir()
    before = dump(open_store(sample_db))
    locked = sample_db if what == "store" else archive
    _immutable(locked)
    try:
        child = _cli("--db", sample_db, "ingest", filled, "--archive", archive)
        out, err = child.communicate(timeout=120)
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert (child.returncode, out) == (3, ""), err
    reason = {"store": "the store is read-only", "archive": "cannot write to the archive"}[what]
    assert len(err.splitlines()) == 1 and err.startswith(f"store error: {locked}: {reason}")
    assert list(archive.iterdir()) == []  # no unused archive copy
    assert dump(open_store(sample_db)) == before


@pytest.mark.parametrize("where", ["under-a-file", "a-file"])
def test_an_archive_folder_blocked_by_a_file_names_the_file(sample_db, template, tmp_path, where):
    """`ingest --archive` under a regular file (or naming one): exit 3 as before, and the one line names the
    file in the way (it said only 'Not a directory' / 'File exists'); nothing stored or archived."""
    filled = fill(template, tmp_path / "in" / template.name)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    archive = a_file / "archive" if where == "under-a-file" else a_file
    before = dump(open_store(sample_db))
    child = _cli("--db", sample_db, "ingest", filled, "--archive", archive)
    out, err = child.communicate(timeout=120)
    assert (child.returncode, out) == (3, ""), err
    line = f"store error: {archive}: cannot write to the archive folder ({a_file} is a file, not a folder)"
    assert err.splitlines() == [line]
    assert a_file.read_text() == "x" and dump(open_store(sample_db)) == before


def test_turnover_xlsx_non_finite_values_are_refused(sample_conn, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["月份", "运输方式", "旅客周转量", "货物周转量", "同比增长（%）"])
    ws.append(["2019-08", "公路", 111.5, 100, 12.0])
    ws.append(["2019-09", "公路", 1, 222.5, "1e999"])
    ws.append(["2019-09", "水路", 1, 2, 333.5])
    made = tmp_path / "made.xlsx"
    wb.save(made)
    forged = {
        b"<v>111.5</v>": b"<v>INF</v>",
        b"<v>222.5</v>": b"<v>NaN</v>",
        b"<v>333.5</v>": b"<v>-1e999</v>",
    }

    def non_finite(name, data):  # openpyxl writes inf and nan as empty cells: put them in the XML
        for old, new in forged.items():
            data = data.replace(old, new) if name.startswith("xl/worksheets/") else data
        return data

    path = rezip(made, tmp_path / "turnover.xlsx", non_finite)
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, path, archive_dir=tmp_path / "archive")
    lines = str(exc.value).splitlines()
    for cell, reason in [("C2", "not a finite number (inf)"), ("D3", "not a finite number (nan)"),
                         ("E3", "text '1e999' in a number cell"), ("E4", "not a finite number (-inf)")]:  # fmt: skip
        assert any(line.startswith(f"{path} [Sheet] {cell}: {reason}") for line in lines), (cell, lines)
    assert dump(sample_conn) == before and not (tmp_path / "archive").exists()
