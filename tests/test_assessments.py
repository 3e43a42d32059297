"""The 考评结果 workbook with real files: written by `perfkit template --assessments`, filled with openpyxl
as the performance office would, ingested into the real store, and scored."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from perfkit.errors import InputError
from perfkit.intake import ingest_file
from perfkit.store import dump, read_assessments, read_submissions

SHEET = "考评结果"
COL = {"item": "A", "indicator_id": "B", "points": "D", "grade": "E", "description": "F", "document": "G"}
COL |= {"date": "H", "level": "I", "unit": "J"}


@pytest.fixture()
def book(sample_db, tmp_path, cli) -> Path:
    code, out, _ = cli("--db", sample_db, "template", "--assessments", "--out", tmp_path / "t")
    assert code == 0
    return Path(out.split("wrote ", 1)[1].strip())


def rows_of(path: Path) -> dict[tuple[str, str], int]:
    ws = load_workbook(path)[SHEET]
    return {
        (ws[f"A{r}"].value, ws[f"B{r}"].value or ""): r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value
    }


def fill(book: Path, out: Path, *, public=90.0, items=(), grades=None, edit=None) -> Path:
    """公众评议, bonus/deduction items [(item, points, reason, document, date)] in the blank rows, grades."""
    wb = load_workbook(book)
    ws = wb[SHEET]
    rows = {(ws[f"A{r}"].value, ws[f"B{r}"].value or ""): r for r in range(3, ws.max_row + 1)}
    if public is not None:
        ws[f"D{rows[('公众评议', '')]}"] = public
    for ind, grade in (grades or {}).items():
        ws[f"E{rows[('等次评定', ind)]}"] = grade
    blank = [r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value is None]
    for r, (item, points, reason, document, when) in zip(blank, items, strict=False):
        ws[f"A{r}"], ws[f"D{r}"], ws[f"F{r}"], ws[f"G{r}"], ws[f"H{r}"] = item, points, reason, document, when
    if edit:
        edit(ws, rows, blank)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


ITEMS = [
    ("正向激励加分", 0.5, "获评省级示范", "闽交〔2019〕12号", date(2019, 8, 2)),
    ("正向激励加分", 0.3, "经验做法获全省推广", "闽交办〔2019〕40号", date(2019, 10, 9)),
    ("察访核验扣分", 0.2, "台账更新不及时", "泉效办〔2019〕7号", date(2019, 9, 1)),
]


def test_template_is_prefilled_with_what_is_recorded(book):
    rows = rows_of(book)
    ws = load_workbook(book)[SHEET]
    assert ws.protection.sheet and ws[f"D{rows[('考评得分', '1-15')]}"].value == 9.2
    assert ws[f"E{rows[('等次评定', '5-3')]}"].value == "良"
    assert ("等次评定", "4-1") in rows and ("等次评定", "1-15") not in rows  # 1-15 takes a score
    kinds = [k for k, _ in rows]
    assert kinds.count("正向激励加分") == 1 and kinds.count("察访核验扣分") == 1  # the sample's items


def test_recorded_values_give_the_plan_formula_exactly(sample_db, sample_conn, book, tmp_path, cli):
    # the recorded items replace the sample's (the template carried them; here they are overwritten)
    def clear_sample_items(ws, rows, blank):
        for (item, _), r in rows.items():
            if item in ("正向激励加分", "察访核验扣分") and r not in blank:
                for c in "ADFGHIJ":
                    ws[f"{c}{r}"] = None

    filled = fill(book, tmp_path / "in" / book.name, public=91.5, items=ITEMS, grades={"4-1": "中"},
                  edit=clear_sample_items)  # fmt: skip
    code, out, err = cli("--db", sample_db, "ingest", filled, "--archive", tmp_path / "a")
    assert (code, err) == (0, "") and "(assessment: 2019," in out and "supersedes" not in out

    code, out, _ = cli("--db", sample_db, "score", "--as-of", "2019-09", "--format", "json")
    totals = json.loads(out)["totals"]
    assert totals["public"] == 91.5 and totals["bonus"] == 0.8 and totals["deduction"] == 0.2
    want = totals["target_score"] * 0.7 + 91.5 * 0.3 + 0.8 - 0.2
    assert totals["total"] == pytest.approx(want, abs=1e-4)
    assert json.loads(out)["assumed"] == []
    a = read_assessments(sample_conn, 2019)
    assert set(a["kind"]) == {"public", "bonus", "deduction", "grade", "indicator_score"}
    assert a.loc[a["kind"] == "deduction", "document"].tolist() == ["泉效办〔2019〕7号"]
    assert a.loc[a["kind"] == "deduction", "date"].tolist() == ["2019-09-01"]

    # a grade recorded for 4-1 (中 = 0.75 of its weight 1) costs 0.25 points against the default 优
    code, table, _ = cli("--db", sample_db, "score", "--as-of", "2019-09")
    assert "recorded: public, bonus, deduction, score 1-15, grade 4-1, grade 5-3" in table
    assert re.search(r"still assumed: grade 1-1-2, .*grade 8-4", table)

    # what-if runs still override the recorded parts
    code, out, _ = cli("--db", sample_db, "score", "--as-of", "2019-09", "--public", "80",
                       "--bonus", "0", "--deduction", "1", "--format", "json")  # fmt: skip
    w = json.loads(out)["totals"]
    assert (w["public"], w["bonus"], w["deduction"]) == (80, 0, 1)
    assert w["total"] == pytest.approx(w["target_score"] * 0.7 + 80 * 0.3 - 1, abs=1e-4)
    code, table, _ = cli("--db", sample_db, "score", "--as-of", "2019-09", "--public", "80")
    assert "given on the command line (what-if): public" in table


def test_a_later_workbook_supersedes_and_both_are_kept(sample_db, sample_conn, book, tmp_path, cli):
    first = fill(book, tmp_path / "a" / book.name, public=88)
    cli("--db", sample_db, "ingest", first, "--archive", tmp_path / "x")
    code, out, _ = cli("--db", sample_db, "template", "--assessments", "--out", tmp_path / "t2")
    second = fill(Path(out.split("wrote ", 1)[1].strip()), tmp_path / "b" / book.name, public=92)
    code, out, _ = cli("--db", sample_db, "ingest", second, "--archive", tmp_path / "x")
    ids = read_submissions(sample_conn, "assessment")["id"].tolist()
    assert code == 0 and f"supersedes submission {ids[-2]}" in out
    a = read_assessments(sample_conn, 2019)
    assert a.loc[a["kind"] == "public", "points"].tolist() == [92]
    assert len(read_assessments(sample_conn)) > len(a)  # history: every workbook's rows stay stored
    code, out, _ = cli("--db", sample_db, "ingest", second, "--archive", tmp_path / "x")
    assert "already ingested" in out


def test_a_workbook_from_a_template_older_than_the_record_is_refused(
    sample_db, sample_conn, book, tmp_path, cli
):
    # two people fill the same template: the second's workbook, stored, silently dropped the first's items
    deduction = [("察访核验扣分", 2, "安全检查发现问题", "泉效办〔2019〕9号", date(2019, 6, 1))]
    first = fill(book, tmp_path / "a" / book.name, items=deduction)
    code, out, err = cli("--db", sample_db, "ingest", first, "--archive", tmp_path / "x")
    assert code == 0, err
    before = dump(sample_conn)
    second = fill(
        book, tmp_path / "b" / book.name, items=[("正向激励加分", 1, "获省级表彰", "闽交〔2019〕3号", None)]
    )
    code, out, err = cli("--db", sample_db, "ingest", second, "--archive", tmp_path / "x")
    [sid] = read_submissions(sample_conn, "assessment")["id"].tolist()[-1:]
    assert code == 2 and err.startswith(f"{second} [_perfkit] B")
    assert (
        f"pre-filled from the record as of submission 0, but submission {sid} has been recorded since" in err
    )
    assert dump(sample_conn) == before
    a = read_assessments(sample_conn, 2019)
    assert a.loc[a["kind"] == "deduction", "points"].max() == 2


# fmt: off
CASES = [
    ("bad-grade", dict(grades={"4-1": "甲"}), "E", ("等次评定", "4-1"), "等次 '甲' is not one of 优/良/中/差"),
    ("public-range", dict(public=120), "D", ("公众评议", ""), "公众评议 120 is outside 0–100"),
    ("bonus-cap", dict(items=[("正向激励加分", 3, "a", "x号", None), ("正向激励加分", 3, "b", "y号", None)]), "D", "blank1", "over the plan's cap of 5"),
    # a row copied by mistake was counted twice
    ("copied-item", dict(items=[("察访核验扣分", 0.5, "台账不全", "x号", None), ("察访核验扣分", 0.5, "台账不全", "x号", None)]), "A", "blank1", "the same 察访核验扣分 as A"),
    ("no-reason", dict(items=[("察访核验扣分", 0.5, None, "x号", None)]), "F", "blank0", "察访核验扣分 needs its 事由"),
    ("bad-item", dict(items=[("加分", 0.5, "a", "x号", None)]), "A", "blank0", "项目 '加分' is not one of"),
    ("bad-date", dict(items=[("正向激励加分", 0.5, "a", "x号", "去年")]), "H", "blank0", "not a date: '去年'"),
    ("future-date", dict(items=[("正向激励加分", 0.5, "a", "x号", date(2031, 1, 1))]), "H", "blank0", "date 2031-01-01 is in the future"),
]
# fmt: on


@pytest.mark.parametrize(
    ("changes", "col", "where", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_assessment_rules_name_the_cell(sample_conn, book, tmp_path, changes, col, where, reason):
    bad = fill(book, tmp_path / book.name, **changes)
    ws = load_workbook(bad)[SHEET]
    blank = [r for r in range(3, ws.max_row + 1) if ws[f"B{r}"].value is None and ws[f"C{r}"].value is None]
    row = (
        blank[int(where[-1]) + 2] if isinstance(where, str) else rows_of(book)[where]
    )  # 2 sample items first
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, bad, archive_dir=tmp_path / "a")
    assert f"{bad} [{SHEET}] {col}{row}: " in str(exc.value) and reason in str(exc.value), str(exc.value)
    assert dump(sample_conn) == before


def test_an_item_date_typed_in_chinese_or_with_dots_is_read(sample_db, sample_conn, book, tmp_path, cli):
    # 2019年8月2日 and 2019.8.2 were refused as 'not a date' here while the sign-off took them
    items = [
        ("正向激励加分", 0.5, "获评省级示范", "闽交〔2019〕12号", "2019年8月2日"),
        ("察访核验扣分", 0.2, "台账更新不及时", "泉效办〔2019〕7号", "2019.9.1"),
    ]
    filled = fill(book, tmp_path / "in" / book.name, items=items)
    code, out, err = cli("--db", sample_db, "ingest", filled, "--archive", tmp_path / "a")
    assert code == 0, err
    a = read_assessments(sample_conn, 2019)
    assert set(a.loc[a["document"].isin(["闽交〔2019〕12号", "泉效办〔2019〕7号"]), "date"]) == {
        "2019-08-02",
        "2019-09-01",
    }
