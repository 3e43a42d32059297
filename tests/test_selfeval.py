"""Each unit's year-end 自评 with real files: written by `perfkit template --self-eval`, filled as a unit
would, ingested into the real store, and shown in the annual brief beside the computed score."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from perfkit import report
from perfkit.errors import InputError
from perfkit.intake import ingest_file
from perfkit.selfeval import computed_grade, read_self_evaluations
from perfkit.store import dump

UNIT = "局办公室"  # 4-2, 4-4, 5-1, 5-2, 8-x …: qualitative 行政能力 items
SHEET = "自评"


@pytest.fixture()
def template(sample_db, tmp_path, cli) -> Path:
    code, out, _ = cli("--db", sample_db, "template", "--self-eval", "--unit", UNIT, "--out", tmp_path / "t")
    assert code == 0
    return Path(out.split("wrote ", 1)[1].strip())


def fill(
    template: Path, out: Path, grades: dict[str, str | None], statement="全年任务完成，台账规范"
) -> Path:
    wb = load_workbook(template)
    ws = wb[SHEET]
    rows = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value}
    for ind, grade in grades.items():
        ws[f"E{rows[ind]}"] = statement
        ws[f"F{rows[ind]}"] = grade
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def test_computed_grade_follows_the_plan_fractions():
    fractions = {"优": 1.0, "良": 0.9, "中": 0.75, "差": 0.5}
    assert [computed_grade(c, fractions) for c in (1.0, 0.95, 0.9, 0.8, 0.6, 0.1)] == [
        "优",
        "良",
        "良",
        "中",
        "差",
        "差",
    ]


def test_self_evaluation_shown_beside_the_score_with_differences(
    sample_db, sample_conn, template, tmp_path, cli
):
    ws = load_workbook(template)[SHEET]
    listed = [ws[f"A{r}"].value for r in range(3, ws.max_row + 1)]
    assert "4-2" in listed and "1-1-1" not in listed and ws.protection.sheet
    first = fill(template, tmp_path / "a" / template.name, {"4-2": "良", "8-1": "优"})
    code, out, err = cli("--db", sample_db, "ingest", first, "--archive", tmp_path / "x")
    assert (code, err) == (0, "") and f"(selfeval: {UNIT} 2019, 2 rows)" in out
    second = fill(template, tmp_path / "b" / template.name, {"4-2": "良", "8-1": "优", "4-4": "优"})
    code, out, _ = cli("--db", sample_db, "ingest", second, "--archive", tmp_path / "x")
    assert code == 0 and "supersedes submission" in out
    ev = read_self_evaluations(sample_conn, 2019)
    assert sorted(ev["indicator_id"]) == ["4-2", "4-4", "8-1"]  # the later file stands

    data = report.gather(sample_conn, "2019-09", "annual", analyses=())
    rows = report.self_assessment(
        data.catalogue, data.score, data.progress, data.assessments, data.self_evaluations
    )
    rows = rows.set_index("id")
    # 4-2 has no grade recorded: computed 优 (the default), the unit says 良 → marked; 8-1 agrees
    assert (rows.loc["4-2", "computed_grade"], rows.loc["4-2", "self_grade"]) == ("优", "良")
    assert rows.loc["4-2", "differs"] and rows.loc["4-2", "differs_text"] == "自评良，测算优"
    assert not rows.loc["8-1", "differs"] and rows.loc["8-1", "differs_text"] == ""
    assert rows.loc["5-3", "computed_grade"] == "良"  # the sample's recorded grade
    page = report.annual_section(data, "zh")
    assert "自评等次" in page and '<span class="pk-mark">自评良，测算优</span>' in page
    assert "全年任务完成，台账规范" in page
    assert "尚未登记考评等次或得分" in page and "4-2、" in page and "5-3、" not in page  # 5-3 has a grade


# fmt: off
CASES = [
    ("bad-grade", {"4-2": "甲"}, "F", "自评等次 '甲' is not one of 优/良/中/差"),
    ("no-grade", {"4-2": None}, "F", "4-2 needs its 自评等次"),
]
# fmt: on


@pytest.mark.parametrize(("grades", "col", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_self_evaluation_names_the_cell(sample_conn, template, tmp_path, grades, col, reason):
    bad = fill(template, tmp_path / template.name, grades)
    ws = load_workbook(bad)[SHEET]
    row = next(r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == "4-2")
    before = dump(sample_conn)
    with pytest.raises(InputError) as exc:
        ingest_file(sample_conn, bad, archive_dir=tmp_path / "x")
    assert f"{bad} [{SHEET}] {col}{row}: {reason}" in str(exc.value), str(exc.value)
    assert dump(sample_conn) == before


def test_another_units_indicator_is_refused(sample_conn, template, tmp_path):
    def edit(path):
        wb = load_workbook(path)
        ws = wb[SHEET]
        r = next(r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value == "4-2")
        ws[f"A{r}"] = "1-1-1"
        wb.save(path)
        return path, r

    bad, r = edit(fill(template, tmp_path / template.name, {"4-2": "优"}))
    with pytest.raises(InputError, match=rf"A{r}: 1-1-1 is not an indicator {UNIT} reports on"):
        ingest_file(sample_conn, bad, archive_dir=tmp_path / "x")
