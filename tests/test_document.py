"""The Word 季度通报 and 年度绩效自评报告 (perfkit.document) on the sample store: built with python-docx, read
back by real LibreOffice (converted to text in a private profile) and by python-docx for the layout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from docx import Document
from english import known_names, untranslated
from nbformat.v4 import new_code_cell, new_notebook
from openpyxl import load_workbook

from perfkit import brief, document, docx_layout, markup, report
from perfkit.store import read_catalogue

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
UNIT = "局办公室"  # reports the qualitative 行政能力 items 4-2, 8-1 … (tests/test_selfeval.py)


def as_text(path: Path, tmp_path: Path) -> str:
    """The document as LibreOffice Writer reads it, saved as plain text."""
    if not SOFFICE:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-writer to run this")
    out = tmp_path / "txt"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",  # parallel runs do not collide
            "--headless",
            "--convert-to",
            "txt:Text",
            "--outdir",
            out,
            path,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return (out / path.with_suffix(".txt").name).read_text(encoding="utf-8-sig")


def top_problems(conn, as_of: str, n: int = 3) -> list[str]:
    """The brief's own top problems (highest points at risk first), as '措施编号 考核内容'."""
    data = report.gather(conn, as_of, "quarterly")
    flags = data.flags[data.flags["status"].isin(report._problem_statuses(data))]
    flags = flags.sort_values("points_at_risk", ascending=False, kind="stable").head(n)
    return [f"{m} {name}" for m, name in zip(flags["measure_id"], flags["name"], strict=True)]


@pytest.fixture()
def quarterly(sample_conn, tmp_path) -> Path:
    return document.write_document(sample_conn, "2019-09", "quarterly", "zh", tmp_path / "quarterly.docx")


def test_quarterly_reads_back_in_libreoffice_with_sections_problems_and_number(
    quarterly, sample_conn, tmp_path
):
    text = as_text(quarterly, tmp_path)
    assert text.startswith("泉州市交通运输局\n泉交〔2019〕　　号")  # 发文机关标志, then the 文号 to fill
    assert "泉州市交通运输局关于2019年第三季度绩效评估工作情况的通报" in text
    assert "局机关各科室、局属各单位：" in text
    for heading in (
        "一、总体情况",
        "（一）得分情况",
        "（二）措施进展",
        "二、与上季度比较",
        "三、运输总周转量增长",
        "四、投资完成情况",
        "五、存在的主要问题",
        "（一）风险分值最高的10项问题",
        "六、工作要求",
        "七、数据说明",
    ):
        assert f"\n{heading}\n" in text, heading
    for problem in top_problems(sample_conn, "2019-09"):
        assert problem in text, problem
    for header in (
        "序号",
        "风险状态",
        "风险分值（分）",
        "责任单位（责任人）",
        "原因",
        "第2季度（截至2019年6月）",
        "变化",
    ):
        assert f"\n{header}\n" in text, header
    # the headline figures are the snapshot's, and the assumed part is said so
    data = report.gather(sample_conn, "2019-09", "quarterly")
    assert f"目标考评得分{data.score.totals['target_score']:.2f}分" in text
    assert report.formula_line(data.projected.totals, data.projected.assumed) in text
    assert "合成示例数据：本数据为程序生成的合成示例数据" in text  # the sample is labelled
    assert text.rstrip().endswith("泉州市交通运输局\n2019年  月  日")  # 落款 with the date to fill


@pytest.fixture()
def with_self_evaluation(sample_db, sample_conn, tmp_path, cli):
    """局办公室's 自评, filled and ingested as a unit would: 4-2 良 (computed 优: a difference), 8-1 优."""
    code, out, _ = cli("--db", sample_db, "template", "--self-eval", "--unit", UNIT, "--out", tmp_path / "t")
    assert code == 0
    path = Path(out.split("wrote ", 1)[1].strip())
    wb = load_workbook(path)
    ws = wb["自评"]
    rows = {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value}
    for ind, grade in {"4-2": "良", "8-1": "优"}.items():
        ws[f"E{rows[ind]}"] = "全年任务完成，台账规范"
        ws[f"F{rows[ind]}"] = grade
    filled = tmp_path / "in" / path.name
    filled.parent.mkdir()
    wb.save(filled)
    code, out, err = cli("--db", sample_db, "ingest", filled, "--archive", tmp_path / "archive")
    assert (code, err) == (0, ""), out
    return sample_conn


def test_annual_sets_self_evaluation_beside_the_score_and_marks_the_difference(
    with_self_evaluation, tmp_path
):
    path = document.write_document(with_self_evaluation, "2019-09", "annual", "zh", tmp_path / "annual.docx")
    text = as_text(path, tmp_path)
    assert "泉州市交通运输局2019年度绩效自评报告（预评估）" in text  # before December: preliminary
    assert "（数据截至2019年9月，全年数据尚未齐全，本报告为预评估）" in text
    assert "\n二、各单位自评与测算对比\n" in text and "\n五、存在的主要问题\n" in text  # keeps the problems
    for header in ("指标", "测算等次", "自评等次", "差异", "自评完成情况"):
        assert f"\n{header}\n" in text, header
    assert "其中1个自评等次与测算等次不一致（表中底色标出）：4-2（自评良，测算优）" in text
    assert "全年任务完成，台账规范" in text
    # the differing row is shaded and in red; the agreeing one (8-1) is not
    table = next(t for t in Document(str(path)).tables if t.rows[0].cells[5].text == "差异")
    rows = {r.cells[0].text.split(" ")[0]: r for r in table.rows[1:]}
    marked = rows["4-2"].cells[5]
    assert marked.text == "自评良，测算优"
    assert marked._tc.tcPr.find(_w("shd")).get(_w("fill")) == docx_layout.MARK_FILL
    assert str(marked.paragraphs[0].runs[0].font.color.rgb) == docx_layout.RED
    assert rows["8-1"].cells[5].text == "" and rows["8-1"].cells[5]._tc.tcPr.find(_w("shd")) is None


def test_english_annual_gives_the_grades_in_english(with_self_evaluation, tmp_path):
    """annual.en.docx kept the plan's grades as 优/良/中/差 (63 cells) and said 'self 良, computed 优' with
    Chinese brackets, where the English brief says Excellent and Good."""
    conn = with_self_evaluation
    path = document.write_document(conn, "2019-09", "annual", "en", tmp_path / "annual.en.docx")
    doc = Document(str(path))
    table = next(t for t in doc.tables if t.rows[0].cells[5].text == "Difference")
    rows = {r.cells[0].text.split(" ")[0]: r for r in table.rows[1:]}
    assert [c.text for c in rows["4-2"].cells[3:6]] == ["Excellent", "Good", "self Good, computed Excellent"]
    assert {r.cells[3].text for r in table.rows[1:]} <= {"Excellent", "Good", "Fair", "Poor", "—", ""}
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "4-2 (self Good, computed Excellent)" in text
    # nothing Chinese left in the table but the plan's names and texts and what the unit wrote
    whole = "\n".join(c.text for r in table.rows for c in r.cells)
    names = known_names(read_catalogue(conn), ["全年任务完成，台账规范"])
    assert untranslated(whole, names) == []


def test_english_document_beside_the_chinese_one(sample_conn, tmp_path):
    assert document.file_name("quarterly", "en") == "quarterly.en.docx"
    assert document.file_name("annual") == "annual.docx"
    path = document.write_document(sample_conn, "2019-09", "quarterly", "en", tmp_path / "quarterly.en.docx")
    doc = Document(str(path))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Quanzhou Municipal Transport Bureau: performance evaluation report, Q3 2019" in text
    assert "1. Headline" in text and "(1) Scores" in text and "Synthetic sample data: These figures" in text
    assert "Complete 7, On track 62" in text  # words and numbers apart, no Chinese punctuation glued on
    assert doc.tables[0].rows[0].cells[0].text == "Category"
    # no Chinese left but the plan's names (measures without an English name, units, people) and the 文号 line,
    # a Chinese filing number that stays as it is filed
    whole = text + "\n".join(c.text for tb in doc.tables for r in tb.rows for c in r.cells)
    number = next(p.text for p in doc.paragraphs if p.text.startswith("泉交〔"))
    assert untranslated(whole, known_names(read_catalogue(sample_conn), [number])) == []


def test_real_data_carries_no_synthetic_label(sample_conn):
    data = report.gather(sample_conn, "2019-09", "quarterly")
    data.sample = False  # as a store of the bureau's own ledgers reads
    doc = document.build(data, "zh")
    text = "\n".join(p.text for p in doc.paragraphs) + "".join(c.text for t in doc.tables for c in t._cells)
    assert "合成示例数据" not in text and doc.sections[0].header.paragraphs[0].text == ""
    assert "泉交〔2019〕　　号" in text


def test_annual_in_december_is_not_preliminary(sample_conn):
    data = report.gather(sample_conn, "2019-09", "annual")
    data.as_of = "2019-12"  # the year complete: the same figures, read as December's
    text = "\n".join(p.text for p in document.build(data, "zh").paragraphs)
    assert "泉州市交通运输局2019年度绩效自评报告\n" in text and "预评估" not in text
    assert "2020年  月  日" in text  # signed in the new year


def test_first_quarter_has_nothing_to_compare_with(sample_conn, tmp_path):
    path = document.write_document(sample_conn, "2019-03", "quarterly", "zh", tmp_path / "q1.docx")
    text = "\n".join(p.text for p in Document(str(path)).paragraphs)
    assert "2019年第一季度" in text and "本季度为年度第一季度，无上季度可比。" in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_document_prints_the_briefs_comparison_and_sentences(sample_conn, lang):
    """One path: the Word 通报 reads the brief's quarter comparison (trends.quarter_on_quarter, formatted by
    report.quarter_rows) and prints the brief's turnover and investment sentences, word for word."""
    data = report.gather(sample_conn, "2019-09", "quarterly", lang)
    doc = document.build(data, lang)
    paragraphs = [p.text for p in doc.paragraphs]
    table = next(t for t in doc.tables if t.rows[0].cells[0].text == report.t("brief.quarter.figure", lang))
    cmp, rows = report.quarter_rows(data, lang)
    assert [[c.text for c in r.cells] for r in table.rows[1:]] == rows[
        ["figure", "previous", "current", "change"]
    ].values.tolist()
    assert table.rows[0].cells[1].text == report.quarter_column(2, cmp.previous_end, lang)
    page = report.quarterly_section(data, lang)
    assert all(f">{v}<" in page for v in rows["change"])  # the brief prints the same changes
    words = [*report.yoy_sentences(data, lang), *report.projection_sentences(data, lang)]
    assert len(words) == 4 and all(w in paragraphs for w in words)
    assert all(markup.esc(w) in report.turnover_section(data, lang) for w in words)
    assert report.investment_summary(data, lang) in paragraphs


def test_save_is_atomic(tmp_path):
    """A save that dies half way leaves the earlier document as it was and no temporary file."""
    path = tmp_path / "quarterly.docx"
    path.write_bytes(b"the earlier document")

    class Dies:
        def save(self, fh):
            fh.write(b"PK half a zip")
            raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        document.save(Dies(), path)
    assert path.read_bytes() == b"the earlier document"
    assert [p.name for p in tmp_path.iterdir()] == ["quarterly.docx"]


@pytest.mark.slow
def test_brief_runner_writes_the_quarterly_document_and_stays_up_to_date(sample_db, tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")], metadata=meta), folder / "c.ipynb")
    kwargs = dict(
        kind="quarterly",
        out=tmp_path / "out",
        db=sample_db,
        notebooks=[brief.NotebookJob("c.ipynb")],
        notebooks_dir=folder,
        workers=1,
        echo=lambda line: None,
    )
    run = brief.run_brief("2019-09", **kwargs)
    assert run.files == ["notebooks/c.ipynb", "quarterly.docx"]
    doc = Document(str(run.out / "quarterly.docx"))
    assert any("第三季度" in p.text for p in doc.paragraphs)
    again = brief.run_brief("2019-09", **kwargs)
    assert again.up_to_date
    # the monthly kind writes one only when asked (--docx)
    monthly = brief.run_brief("2019-09", **{**kwargs, "kind": "monthly", "out": tmp_path / "m"})
    assert "monthly.docx" not in monthly.files
    monthly = brief.run_brief("2019-09", **{**kwargs, "kind": "monthly", "out": tmp_path / "m"}, docx=True)
    assert not monthly.up_to_date and "monthly.docx" in monthly.files


def _w(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(f"w:{tag}")


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        (
            'isuer = "泉州市交通运输局"',
            "[document] isuer is not a setting (the settings are issuer, number_prefix",
        ),
        ("issuer = 5", "[document] issuer must be text, got 5"),
        ('issuer = ["泉州市交通运输局"]', "[document] issuer must be text"),
    ],
)
def test_a_broken_document_section_is_one_line_naming_the_line(tmp_path, broken, says):
    """plan.toml [document] misspelt or of the wrong type: `perfkit init` in a real process names the file,
    the line and the key, exit 2, and makes no store (a misspelt key used to fall back to the default)."""
    from test_cli import one_line, perfkit

    from perfkit.config import PLAN_DIR

    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan)
    toml = plan / "plan.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'issuer = "泉州市交通运输局"' in text
    toml.write_text(text.replace('issuer = "泉州市交通运输局"', broken, 1), encoding="utf-8")
    line_no = toml.read_text(encoding="utf-8").splitlines().index(broken) + 1
    run = perfkit("init", "--plan", str(plan), "--db", str(tmp_path / "s.sqlite"))
    assert run.returncode == 2 and one_line(run.stderr).startswith(f"{toml} line {line_no}: {says}")
    assert not (tmp_path / "s.sqlite").exists()


def test_a_document_section_without_its_keys_uses_the_plans_own_names(catalogue):
    plan = {**catalogue.plan, "document": {}}
    head = document.letterhead(plan)
    assert (head.issuer, head.number_prefix, head.recipients) == ("泉州市交通运输局", "泉交办", "")
    assert document.letterhead({k: v for k, v in plan.items() if k != "document"}) == head
