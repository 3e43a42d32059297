"""The units' 分月计划 with real files: written by `perfkit template --workplan`, filled with openpyxl as a
unit would, ingested into the real store; then the risk flags judged against it on the sample."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from perfkit import monthly
from perfkit.errors import InputError
from perfkit.intake import ingest_file
from perfkit.investment import project_store
from perfkit.store import dump, read_submissions
from perfkit.workplan import MONTH_FIELDS, in_force, read_workplans

UNIT = "市道管处"
SHEET = "分月计划"
PERSON, FIRST_MONTH, NOTE = "H", 9, "U"  # columns: 具体责任人, 1月末 (I), 工作措施及说明
# the sample's 1-8-2.2 (80 vehicles by December) stands at 33 in September: 41% against 75% pro rata (预警)
BACK_LOADED = [3, 7, 11, 14, 18, 22, 25, 29, 33, 48, 64, 80]
# 1-8-1.1 (30 vehicles) stands at 21 in September (正常 pro rata); this plan had them all by June
FRONT_LOADED = [5, 10, 15, 20, 25, 30, 30, 30, 30, 30, 30, 30]


def col(month: int) -> str:
    return chr(ord("A") + FIRST_MONTH - 1 + month - 1)


@pytest.fixture()
def template(sample_db, tmp_path, cli) -> Path:
    code, out, _ = cli("--db", sample_db, "template", "--workplan", "--unit", UNIT, "--out", tmp_path / "t")
    assert code == 0
    return Path(out.split("wrote ", 1)[1].strip())


def rows_of(path: Path) -> dict[str, int]:
    ws = load_workbook(path)[SHEET]
    return {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value}


def fill(template: Path, out: Path, plans: dict[str, list] | None = None, edit=None) -> Path:
    """Plan the given measures month by month (others left blank: judged pro rata), with a person and note."""
    wb = load_workbook(template)
    ws = wb[SHEET]
    rows = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1)}
    for mid, values in (plans or {}).items():
        r = rows[mid]
        ws[f"{PERSON}{r}"] = "张三"
        ws[f"{NOTE}{r}"] = "按月推进"
        for m, v in enumerate(values, start=1):
            ws[f"{col(m)}{r}"] = v
    if edit:
        edit(ws, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def test_template_layout(template, catalogue):
    ws = load_workbook(template)[SHEET]
    assert [ws.cell(2, c).value for c in (8, 9, 20, 21)] == [
        "具体责任人",
        "1月末",
        "12月末",
        "工作措施及说明",
    ]
    rows = rows_of(template)
    assert ws[f"{col(1)}{rows['1-8-2.2']}"].protection.locked is False
    assert ws[f"{col(1)}{rows['1-10-3.1']}"].protection.locked is True  # qualitative: no monthly numbers
    assert ws.protection.sheet and "_perfkit" in load_workbook(template).sheetnames


def test_round_trip_revision_supersedes_and_history_keeps_both(
    sample_db, sample_conn, template, tmp_path, cli
):
    first = fill(template, tmp_path / "a" / template.name, {"1-8-2.2": BACK_LOADED})
    code, out, err = cli("--db", sample_db, "ingest", first, "--archive", tmp_path / "x")
    assert (code, err) == (0, "") and f"(workplan: {UNIT} 2019-01, 12 rows)" in out
    sub = read_submissions(sample_conn, "workplan").iloc[-1]
    assert (sub["unit"], sub["month"], sub["source"]) == (UNIT, "2019-01", "ingest")
    assert (tmp_path / "x" / f"{sub['sha256']}.xlsx").exists()

    # the next template starts from the plan in force
    code, out, _ = cli("--db", sample_db, "template", "--workplan", "--unit", UNIT, "--month", "2019-03",
                       "--out", tmp_path / "t2")  # fmt: skip
    again = Path(out.split("wrote ", 1)[1].strip())
    ws = load_workbook(again)[SHEET]
    r = rows_of(again)["1-8-2.2"]
    assert [ws[f"{col(m)}{r}"].value for m in range(1, 13)] == BACK_LOADED and ws[
        f"{PERSON}{r}"
    ].value == "张三"

    revised = fill(again, tmp_path / "b" / again.name, {"1-8-2.2": [4, 8, *BACK_LOADED[2:]]})
    code, out, _ = cli("--db", sample_db, "ingest", revised, "--archive", tmp_path / "x")
    assert code == 0 and f"supersedes submission {sub['id']}" in out
    plans = read_workplans(sample_conn, 2019)
    assert plans["submission_id"].nunique() == 2  # the earlier plan is kept
    assert in_force(plans, "2019-02")["submission_id"].unique().tolist() == [sub["id"]]
    assert in_force(plans, "2019-03")["submission_id"].unique().tolist() != [sub["id"]]


def _risks(conn, month="2019-09") -> pd.DataFrame:
    """The month's flags as its snapshot holds them (recomputed where a plan changed its inputs)."""
    return monthly.snapshot(conn, month).flags.set_index("measure_id")


def test_back_loaded_plan_clears_a_pro_rata_alert(sample_conn, template, tmp_path):
    before = _risks(sample_conn)
    assert (
        before.loc["1-8-2.2", "status"] == "预警" and before.loc["1-8-2.2", "schedule_source"] == "pro_rata"
    )
    ingest_file(sample_conn, fill(template, tmp_path / template.name, {"1-8-2.2": BACK_LOADED}),
                archive_dir=tmp_path / "x", today=date(2019, 1, 20))  # fmt: skip
    # a plan made in January is in every month's fingerprint: the snapshots are recomputed from January
    assert monthly.ensure(sample_conn, "2019-09").computed == [f"2019-0{m}" for m in range(1, 10)]
    for month in ("2019-03", "2019-06", "2019-09"):
        after = _risks(sample_conn, month)
        assert after.loc["1-8-2.2", "status"] == "正常", (month, after.loc["1-8-2.2", "reasons"])
        assert after.loc["1-8-2.2", "schedule_source"] == "unit_plan"
    assert after.loc["1-8-2.2", "schedule_gap_pp"] == pytest.approx(0.0)
    # the unit's other measures have no plan: judged as before
    same = ["status", "points_at_risk", "schedule_gap_pp"]
    others = [m for m in before.index if m != "1-8-2.2"]
    pd.testing.assert_frame_equal(after.loc[others, same], before.loc[others, same])
    inv = project_store(sample_conn, "2019-09").set_index("measure_id")
    assert (
        inv.loc["1-8-2.2", "schedule_source"] == "unit_plan"
        and inv.loc["1-8-2.3", "schedule_source"] == "pro_rata"
    )
    assert inv.loc["1-8-2.2", "p_reach"] > 0.3  # projected along the plan's shape, not the straight line


def test_front_loaded_plan_raises_a_flag(sample_conn, template, tmp_path):
    assert _risks(sample_conn).loc["1-8-1.1", "status"] == "正常"
    ingest_file(sample_conn, fill(template, tmp_path / template.name, {"1-8-1.1": FRONT_LOADED}),
                archive_dir=tmp_path / "x", today=date(2019, 1, 20))  # fmt: skip
    after = _risks(sample_conn)
    assert after.loc["1-8-1.1", "status"] == "预警"
    assert any("低于本单位分月计划" in r or "继续预警" in r for r in after.loc["1-8-1.1", "reasons"])


def test_a_plan_lowered_after_january_is_flagged(sample_db, sample_conn, template, tmp_path, cli):
    ingest_file(sample_conn, fill(template, tmp_path / "a" / template.name, {"1-8-1.1": FRONT_LOADED}),
                archive_dir=tmp_path / "x", today=date(2019, 1, 20))  # fmt: skip
    code, out, _ = cli("--db", sample_db, "template", "--workplan", "--unit", UNIT, "--month", "2019-09",
                       "--out", tmp_path / "t9")  # fmt: skip
    later = Path(out.split("wrote ", 1)[1].strip())
    lowered = [2, 4, 7, 9, 11, 14, 14, 18, 21, 24, 27, 30]  # moved to match what was done
    ingest_file(sample_conn, fill(later, tmp_path / "b" / later.name, {"1-8-1.1": lowered}),
                archive_dir=tmp_path / "x", today=date(2019, 9, 25))  # fmt: skip
    flags = _risks(sample_conn)
    row = flags.loc["1-8-1.1"]
    assert row["status"] in ("关注", "预警") and "plan_lowered" in row["rules"]
    # the month lowered most: June, 30 → 14 (the earlier plan asked for all 30 by now)
    assert any("6月末由30辆降至14辆" in r and "应完成30辆" in r for r in row["reasons"]), row["reasons"]
    assert row["schedule_gap_pp"] == pytest.approx(0.0)  # on its new line, still flagged


# fmt: off
CASES = [
    ("falls", {"1-8-2.2": [3, 7, 5, *BACK_LOADED[3:]]}, lambda r: f"{col(3)}{r['1-8-2.2']}", "5 is below 7 planned for month 2"),
    ("short-of-target", {"1-8-2.2": [*BACK_LOADED[:11], 70]}, lambda r: f"{col(12)}{r['1-8-2.2']}", "not the annual target 80"),
    ("gap", {"1-8-2.2": [3, None, *BACK_LOADED[2:]]}, lambda r: f"{col(2)}{r['1-8-2.2']}", "month 2 is blank after planned values"),
    ("percent-over-100", {"2-3-1.1": [*range(51, 61), 80, 120]}, lambda r: f"{col(12)}{r['2-3-1.1']}", "120 is over 100"),
    # 1-8-2.2 is 80 vehicles: 8000 (digits typed twice over) reached the plan silently before
    ("beyond-target", {"1-8-2.2": [*BACK_LOADED[:11], 8000]}, lambda r: f"{col(12)}{r['1-8-2.2']}", "8,000 is 100 times the annual target 80辆"),
    ("count-not-whole", {"1-8-2.2": [3.5, *BACK_LOADED[1:]]}, lambda r: f"{col(1)}{r['1-8-2.2']}", "3.5 is not a whole number"),
    ("qualitative", {"1-10-3.1": [1] * 12}, lambda r: f"{col(1)}{r['1-10-3.1']}", "no monthly values"),
]
# fmt: on


@pytest.mark.parametrize(("plans", "cell", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_rules_name_the_cell(sample_conn, template, tmp_path, plans, cell, reason):
    bad = fill(template, tmp_path / template.name, plans)
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, bad, archive_dir=tmp_path / "x")
    where = f"{bad} [{SHEET}] {cell(rows_of(template))}: "
    assert any(line.startswith(where) and reason in line for line in str(exc.value).splitlines()), str(
        exc.value
    )
    assert dump(sample_conn) == before and not (tmp_path / "x").exists()


def test_month_fields_are_twelve():
    assert len(MONTH_FIELDS) == 12
