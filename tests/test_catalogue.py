"""The catalogue is exactly the plan's attachment: counts, weights, deadlines, owners, measures."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from openpyxl import load_workbook

from perfkit.catalogue import (
    load_catalogue,
    normalise_name,
    read_attachment_csv,
    split_names,
)
from perfkit.config import PLAN_DIR
from perfkit.errors import InputError
from perfkit.workbooks import write_attachment_xlsx


def test_sixty_three_indicators_and_plan_weights(catalogue):
    ind = catalogue.indicators
    assert len(ind) == 63
    assert ind["id"].is_unique
    by_section = ind.groupby("section")["weight"].sum()
    assert by_section["重点工作目标"] == 69
    assert by_section["常规工作目标"] == 11
    for area in ["科学行政", "依法行政", "高效行政", "廉洁行政", "管理创新"]:
        assert by_section[area] == 4
        assert (ind["section"] == area).sum() == 4
    by_category = ind.groupby("category")["weight"].sum()
    assert by_category["职能工作目标"] == 80
    assert by_category["行政能力目标"] == 20
    assert ind["weight"].sum() == 100
    assert (ind["section"] == "重点工作目标").sum() == 35
    assert (ind["section"] == "常规工作目标").sum() == 8


def test_deadlines_1_4_1_september_rest_december(catalogue):
    deadline = catalogue.indicators.set_index("id")["deadline_month"]
    assert deadline["1-4-1"] == 9
    assert (deadline.drop("1-4-1") == 12).all()


@pytest.mark.parametrize(
    "indicator, leaders, units, persons",
    [
        # blank leader cell continues the merged cell above; units and persons given
        ("1-2-2", ["黄俊杰"], ["市高速前期办", "市高速公路投资有限公司"], ["兰明雄", "吴文鸿"]),
        # all owner cells blank: everything from 1-5-1
        ("1-5-3", ["傅远辉"], ["局工程科"], ["刘善辉"]),
        # leader given, unit and person continue from 1-9-1
        ("1-9-3", ["黄克良"], ["市水运处"], ["黄克良"]),
        # unequal counts of units and persons are kept as given
        ("1-13-3", ["黄克良"], ["市水运处", "市交通执法支队"], ["黄克良"]),
        # padded names normalised, repeated name de-duplicated
        ("4-1", ["吴福铭"], ["系统党办"], ["刘滨"]),
        ("1-15", ["吴福铭"], ["局文明办"], ["刘滨"]),
        # a blank line between names is not a name
        ("1-13-2", ["杨琦伟"], ["市交通执法支队", "市道管处"], ["李进碧", "陈少雄"]),
        (
            "5-4",
            ["吴福铭", "傅远辉", "杨琦伟"],
            ["局人教科", "局政法科", "系统党办", "局工程科", "局运输科", "局安监科"],
            ["苏欣", "史美旭", "刘滨", "刘善辉", "尤景清", "邱进发"],
        ),
    ],
)
def test_owners_inherit_and_normalise(catalogue, indicator, leaders, units, persons):
    row = catalogue.indicators.set_index("id").loc[indicator]
    assert row["leaders"] == leaders
    assert row["units"] == units
    assert row["persons"] == persons


def test_inheritance_stays_within_first_level_group(catalogue):
    ind = catalogue.indicators.set_index("id")
    # 2-1-1 opens a routine group with no basis: it must not inherit 1-15's document
    assert ind.loc["2-1-1", "basis"] == []
    assert ind.loc["1-1-2", "basis"] == ind.loc["1-1-1", "basis"]
    assert len(ind.loc["1-1-1", "basis"]) == 6
    assert ind.loc["1-5-2", "group"].startswith("实施“四好农村路”")
    assert ind.loc["6-3", "group"] == "高效行政"


def test_names_normalised():
    assert normalise_name("刘  滨") == "刘滨"
    assert split_names(" 吴福铭\n吴福铭") == ["吴福铭"]
    assert split_names("吴福铭\n\n杨琦伟") == ["吴福铭", "杨琦伟"]


def test_measures_investment_total_and_kinds(catalogue):
    m = catalogue.measures
    inv = m[m["kind"] == "investment"]
    assert len(inv) == 13
    assert inv["target"].sum() == 194800
    assert inv.set_index("indicator_id").loc["1-1-1", "target"] == 80000  # 8亿元
    # 1-7-1's 20亿元 is revenue, not investment
    revenue = m[m["indicator_id"] == "1-7-1"]
    assert list(revenue["kind"]) == ["amount"] and revenue["target"].iloc[0] == 200000
    band = m[m["kind"] == "growth_band"].set_index("indicator_id")
    assert tuple(band.loc["1-14-1", ["target", "target_high"]]) == (13, 14)
    assert tuple(band.loc["1-14-2", ["target", "target_high"]]) == (18, 19)
    rec = m.set_index("measure_id").loc["1-4-2.1"]
    assert rec["schedule"] == "recurring" and rec["per_month"] == 2 and rec["target"] == 24
    assert set(m["kind"]) <= {
        "investment",
        "amount",
        "count",
        "length",
        "level",
        "percent",
        "growth_band",
        "milestone",
        "qualitative",
    }


def test_every_indicator_has_a_measure_and_weights_are_shared(catalogue):
    m = catalogue.measures
    assert set(m["indicator_id"]) == set(catalogue.indicators["id"])
    per_indicator = m.groupby("indicator_id")["weight"].sum()
    weights = catalogue.indicators.set_index("id")["weight"]
    pd.testing.assert_series_equal(per_indicator.sort_index(), weights.sort_index(), check_names=False)
    admin = m[m["indicator_id"].str.match(r"^[4-8]-")]
    assert (admin["kind"] == "qualitative").all() and len(admin) == 20


def test_reporting_unit_defaults_to_lead_unit_and_can_be_overridden(catalogue):
    m = catalogue.measures.set_index("measure_id")
    assert m.loc["1-1-1.6", "reporting_unit"] == "市高指"
    assert m.loc["1-11-1.1", "reporting_unit"] == "市道管处"  # override in measures.csv


def test_every_number_in_an_indicator_text_is_a_measure_target(catalogue):
    """A quantitative target in the plan text must not be silently dropped."""
    import re

    m = catalogue.measures
    for rec in catalogue.indicators.to_dict("records"):
        mine = m[m["indicator_id"] == rec["id"]]
        sources = " ".join(mine["source_text"])
        for number in re.findall(
            r"\d+(?:\.\d+)?(?=\s*(?:亿元|万元|%|公里|座|个|辆|次|条|处|万载重吨))", rec["text"]
        ):
            assert number in sources, f"{rec['id']}: {number} not covered by a measure"


def _raw():
    return read_attachment_csv(PLAN_DIR / "attachment.csv")


def test_excel_layout_round_trip(tmp_path, catalogue):
    path = write_attachment_xlsx(_raw(), tmp_path / "考评表.xlsx", "泉州市交通运输局2019年度绩效目标考评表")
    ws = load_workbook(path).active
    merged = [str(r) for r in ws.merged_cells.ranges]
    assert "A1:L1" in merged  # title row
    assert any(r.startswith("D") and ":F" in r for r in merged)  # admin text spans basis..second-level
    again = load_catalogue(PLAN_DIR, attachment=path)
    pd.testing.assert_frame_equal(
        again.indicators.drop(columns="source_row"), catalogue.indicators.drop(columns="source_row")
    )


def test_import_fails_when_weights_disagree_with_subtotal(tmp_path):
    raw = _raw()
    raw.loc[raw["id"] == "1-1-1", "weight"] = "3"
    path = write_attachment_xlsx(raw, tmp_path / "bad.xlsx", "考评表")
    with pytest.raises(InputError) as exc:
        load_catalogue(PLAN_DIR, attachment=path)
    text = str(exc.value)
    assert "bad.xlsx" in text
    assert "weights add up to 81 but the 职能工作目标 subtotal states 80" in text
    assert "重点工作目标: weights add up to 70 but the plan states 69" in text


def test_import_refuses_a_negative_weight_that_keeps_every_subtotal(tmp_path):
    # 1-1-1 5 and 1-1-2 -1 add up as 2 and 2 did: every stated subtotal held and the plan went in
    raw = _raw()
    raw.loc[raw["id"] == "1-1-1", "weight"] = "5"
    raw.loc[raw["id"] == "1-1-2", "weight"] = "-1"
    path = write_attachment_xlsx(raw, tmp_path / "neg.xlsx", "考评表")
    with pytest.raises(InputError) as exc:
        load_catalogue(PLAN_DIR, attachment=path)
    [problem] = exc.value.problems
    assert problem.reason == "1-1-2: weight must be a number above 0, got '-1'" and "neg.xlsx" in problem.file


def test_import_rejects_a_non_month_deadline(tmp_path):
    raw = _raw()
    raw.loc[raw["id"] == "2-2-1", "deadline"] = "年底"
    path = write_attachment_xlsx(raw, tmp_path / "bad.xlsx", "考评表")
    with pytest.raises(InputError, match=r"bad.xlsx C\d+: 2-2-1: deadline is not a month"):
        load_catalogue(PLAN_DIR, attachment=path)


def test_cli_catalog_import_and_show_json(tmp_path, sample_db):
    path = write_attachment_xlsx(_raw(), tmp_path / "plan.xlsx", "考评表")
    out = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "catalog", "import", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "63 indicators" in out.stdout and "total 100" in out.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "--db", str(sample_db), "catalog", "show", "--format", "json"],
        capture_output=True,
        text=True,
    )
    data = json.loads(shown.stdout)
    assert len(data) == 63
    first = data[0]
    for key in [
        "id",
        "category",
        "section",
        "weight",
        "deadline_month",
        "leaders",
        "units",
        "persons",
        "measures",
    ]:
        assert key in first
    assert {"id", "kind", "unit", "target"} <= set(first["measures"][0])
    assert any(m["measure_id"] == "1-1-1.6" and m["target"] == 80000 for m in first["measures"])


def test_cli_import_reports_bad_file_and_exits_2(tmp_path):
    bad = tmp_path / "plan.xlsx"
    bad.write_bytes(b"not a zip")
    out = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "catalog", "import", str(bad)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "plan.xlsx: not an .xlsx workbook (not a zip file" in out.stderr  # safe_xlsx's words


def test_an_attachment_csv_missing_a_folder_or_not_utf8_is_named_and_a_bom_is_read(tmp_path):
    """`catalog show --attachment` / `catalog import` with a CSV that is not there, a folder or not UTF-8
    went through the last resort (exit 1, FileNotFoundError / UnicodeDecodeError); each is one Problem now.
    A CSV saved by Excel as 'CSV UTF-8' (a BOM first) reads as the bundled one."""
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("项目".encode("gb18030"))
    cases = {
        tmp_path / "nope.csv": "cannot read the file (No such file or directory)",
        folder: "is a folder, not a file",
        latin: "not UTF-8 text (invalid continuation byte): save the CSV as UTF-8",
    }
    for path, reason in cases.items():
        with pytest.raises(InputError) as err:
            load_catalogue(PLAN_DIR, attachment=path)
        assert [str(p) for p in err.value.problems] == [f"{path}: {reason}"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (PLAN_DIR / "attachment.csv").read_bytes())
    with_bom = load_catalogue(PLAN_DIR, attachment=bom)
    pd.testing.assert_frame_equal(with_bom.indicators, load_catalogue(PLAN_DIR).indicators)


def test_an_attachment_workbook_is_checked_as_a_units_workbook_is(tmp_path):
    """`catalog import` and `catalog show --attachment` gave the bureau's workbook straight to openpyxl,
    which builds every cell: one value at XFD1048576 made it walk 17 billion cells (a hang), 1.2 million
    small cells packed in 2.5 MB took 55 s and 1.4 GB. It passes perfkit.safe_xlsx's checks first now (the
    default [intake] limits): one line, exit 2, at once; a real workbook still reads."""
    import zipfile

    from test_cli import one_line, perfkit

    good = write_attachment_xlsx(_raw(), tmp_path / "plan.xlsx", "考评表")
    far = tmp_path / "far.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(far, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                cell = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
                part = part.replace(b"</sheetData>", cell + b"</sheetData>")
            zout.writestr(info, part)
    for command in (["catalog", "import", str(far)], ["catalog", "show", "--attachment", str(far)]):
        got = perfkit(*command, timeout=120)
        assert got.returncode == 2
        line = one_line(got.stderr)
        assert line.startswith(f"{far} [考评表]: values reach XFD1048576: 1,048,576 rows × 16,384"), line
    assert perfkit("catalog", "import", str(good), timeout=120).returncode == 0


@pytest.mark.parametrize("broken", ["missing", "not-utf8", "no-kind-column"])
def test_a_plan_folder_with_a_broken_measures_file_is_one_line_exit_2_and_no_store(tmp_path, broken):
    """`perfkit init --plan` with measures.csv missing, not UTF-8 or without a column: went through the
    last resort (exit 1: FileNotFoundError, UnicodeDecodeError, KeyError 'kind'); one line naming the file
    now, exit 2, no store made."""
    import shutil

    from test_cli import one_line, perfkit

    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan)
    measures = plan / "measures.csv"
    text = measures.read_text(encoding="utf-8")
    if broken == "missing":
        measures.unlink()
        says = f"{measures}: cannot read the file (No such file or directory)"
    elif broken == "not-utf8":
        measures.write_bytes(text.encode("gb18030"))
        says = f"{measures}: not UTF-8 text (invalid start byte): save the CSV as UTF-8"
    else:
        measures.write_text(text.replace(",kind,", ",kinds,", 1), encoding="utf-8")
        says = f"{measures} row 1: missing columns: kind"
    db = tmp_path / "s.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(plan))
    assert (got.returncode, one_line(got.stderr)) == (2, says)
    assert not db.exists()


@pytest.mark.parametrize(
    "new, says",
    [
        (",percent,%,600,,", "1-1-1.2: a percentage target must be at most 100, got 600"),
        (",percent,%,60,50,", "1-1-1.2: target_high 50 is below target 60"),
        (",percent,%,60,nan,", "1-1-1.2: target_high must be a finite number, got nan"),
    ],
)
def test_a_target_no_calculation_can_use_is_refused_by_init(tmp_path, new, says):
    """measures.csv with a percentage target of 600 or a band upside down: `perfkit init --plan` made the
    store, and every completion, score and projection of the measure was nonsense on the brief. One line
    naming file, row and measure now, exit 2, no store (0, -5, inf: the test below)."""
    import shutil

    from test_cli import one_line, perfkit

    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan)
    measures = plan / "measures.csv"
    text = measures.read_text(encoding="utf-8")
    assert ",percent,%,60,," in text
    measures.write_text(text.replace(",percent,%,60,,", new, 1), encoding="utf-8")
    db = tmp_path / "s.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(plan))
    assert (got.returncode, one_line(got.stderr)) == (2, f"{measures} row 3: {says}")
    assert not db.exists()


@pytest.mark.parametrize("target", ["0", "-5", "inf", "nan"])
def test_a_plan_target_of_0_or_below_or_not_finite_is_refused(tmp_path, target):
    # 0 gave the measure full marks for any value, -5 or inf none: `perfkit init --plan` took them silently
    import shutil

    from test_cli import one_line, perfkit

    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan)
    measures = plan / "measures.csv"
    text = measures.read_text(encoding="utf-8")
    assert ",investment,万元,80000," in text
    measures.write_text(text.replace(",investment,万元,80000,", f",investment,万元,{target},", 1), "utf-8")
    db = tmp_path / "s.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(plan))
    says = f"{measures} row 7: 1-1-1.6: target must be a finite number above 0, got '{target}'"
    assert (got.returncode, one_line(got.stderr)) == (2, says)
    assert not db.exists()
