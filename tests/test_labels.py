"""Labels in both languages, the words around them, and the English brief: no Chinese left but the names
the plan gives (measures, units, people)."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from english import CJK, known_names, untranslated

from perfkit import labels, report
from perfkit.catalogue import load_catalogue
from perfkit.config import PLAN_DIR
from perfkit.labels import TEXT, t


def test_every_label_has_chinese_and_english():
    for key, pair in TEXT.items():
        assert isinstance(pair, tuple) and len(pair) == 2 and pair[0].strip(), key
        # a Chinese measure word (项, 个) has no English word beside a number: only those may be empty
        assert pair[1].strip() or key.startswith("unit.") or ".unit." in key, key
        zh, en = pair
        # the English text may quote 更正, the word a unit types to mark a correction (plan.toml [intake])
        assert not CJK.search(en.replace("更正", "")), f"{key}: {en}"


def test_placeholders_match_between_languages():
    field = re.compile(r"{(\w*)")
    for key, (zh, en) in TEXT.items():
        if key != "period.month":  # given both the month's number and its English name
            assert set(field.findall(zh)) >= set(field.findall(en)), key


def test_every_plan_unit_category_and_section_has_an_english_name(catalogue):
    units = {u for u in catalogue.measures["unit"] if u}
    assert units and all(f"unit.{u}" in TEXT for u in units), units
    terms = set(catalogue.indicators["category"]) | set(catalogue.indicators["section"])
    assert all(f"plan.{x}" in TEXT for x in terms), terms
    assert all(f"grade.{g}" in TEXT for g in catalogue.plan["scoring"]["grade_fraction"])


def test_words_around_labels():
    assert labels.sentences(["甲。", "乙。"], "zh") == "甲。乙。"
    # the glued English of before: ").At the current pace", "2019-06.0 个 done"
    reasons = ["No report for month 9; the last report was 2019-06.", "0 items done.", "At the current pace."]
    assert (
        labels.sentences(reasons, "en")
        == "No report for month 9; the last report was 2019-06. 0 items done. At the current pace."
    )
    assert labels.sep("zh") == "、" and labels.sep("en") == ", "
    assert labels.paren("假设", "zh") == "（假设）" and labels.paren("assumed", "en") == " (assumed)"
    assert labels.span("1.0", "2.0", "en") == "1.0–2.0" and labels.span("1.0", "2.0", "zh") == "1.0～2.0"
    assert [labels.number_unit(u, "en") for u in ("个", "%", "", None, "万元")] == [
        " items",
        "%",
        "",
        "",
        " 10k yuan",
    ]
    assert [labels.number_unit(u, "zh") for u in ("个", "%", "")] == ["个", "%", ""]
    assert labels.unit_label("吨", "en") == "吨"  # a unit without a label stays as the plan writes it
    assert (
        labels.plan_term("重点工作目标", "en") == "Key work"
        and labels.plan_term("重点工作目标", "zh") == "重点工作目标"
    )
    assert [labels.period_label(p, "en") for p in ("1—2月", "3月", "12月")] == ["Jan–Feb", "Mar", "Dec"]
    assert labels.period_label("1—2月", "zh") == "1—2月"
    assert labels.status_text("关注", "en") == "Watch" and labels.status_text("关注", "zh") == "关注"
    assert labels.grade_label("良", "en") == "Good"
    assert labels.grade_label("局办公室：良；局财审科：中", "en") == "局办公室: Good; 局财审科: Fair"


def test_reasons_in_english_are_sentences_with_spaced_units():
    from perfkit.risks import render_reason

    args = {"actual": 33.0, "unit": "辆", "target": 80.0, "completion": 41.2, "time": 75.0, "gap": 33.8}
    assert render_reason("behind_schedule", args, "en").startswith(
        "33 vehicles done, 41.2% of the 80 vehicles target"
    )
    assert render_reason("behind_schedule", args, "zh").startswith("累计完成33辆，为年度目标80辆")
    pct = render_reason("behind_schedule", {**args, "unit": "%"}, "en")
    assert pct.startswith("33% done, 41.2% of the 80% target")


# ------------------------------------------------------------------------------- the English brief


def _english_page(conn, kind: str) -> tuple[str, str, object]:
    data = report.gather(conn, "2019-09", kind, "en")
    parts = [report.cover(data.catalogue, data.as_of, kind, "en", data.sample)]
    for name in (
        "headline_section",
        "annual_section",
        "turnover_section",
        "investment_section",
        "investment_details",
        "risks_section",
        "quarterly_section",
        "notes_section",
    ):
        parts.append(getattr(report, name)(data, "en"))
    specs = [
        chart.to_dict()
        for chart in (report.turnover_chart(data, "en"), report.investment_chart(data, "en"))
        if hasattr(chart, "to_dict")
    ]
    assert len(specs) == 2  # both charts drawn: the check below reads their specs
    return "".join(str(p) for p in parts), json.dumps(specs, ensure_ascii=False), data


@pytest.mark.parametrize("kind", ["monthly", "quarterly", "annual"])
def test_english_brief_has_no_chinese_but_names(sample_conn, kind):
    """Every section and both charts' Vega-Lite specs: CJK only in measure names, unit names and people
    (the annual kind also quotes what units wrote: their notes, 自评 statements and recorded items)."""
    page, specs, data = _english_page(sample_conn, kind)
    extra: set[str] = set()
    if kind == "annual":
        notes = data.progress["note"].dropna()
        extra = set(notes) | {p for n in notes for p in n.split("；")} | set(data.assessments["description"])
        if data.self_evaluations is not None:
            extra |= set(data.self_evaluations["statement"])
    names = known_names(data.catalogue, extra)
    assert untranslated(page, names) == []
    assert untranslated(specs, names) == []
    # the checker is not blind: the Chinese brief fails it
    assert untranslated(
        str(report.headline_section(report.gather(sample_conn, "2019-09", kind, "zh"), "zh")), names
    )


def test_english_brief_reads_as_sentences(sample_conn):
    page, specs, _ = _english_page(sample_conn, "monthly")
    assert not re.search(
        r"[.)][A-Z]", re.sub(r"<[^>]+>", " ", page).replace("e.g.", "")
    )  # no glued sentences
    assert not re.search(r"\d\.\d*\s*[个条辆]", page)
    assert "Jan–Feb" in specs and "Key work" in page and "Functional work targets" in page


def test_english_measure_names_from_the_plan_else_chinese(tmp_path, sample_conn):
    """measures.csv may carry `name_en`: the English brief shows it; a measure without one keeps its
    Chinese name, and the Chinese brief never changes."""
    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan)
    m = pd.read_csv(plan / "measures.csv", dtype=str, keep_default_na=False)
    m["name_en"] = ""
    m.loc[m["measure_id"] == "1-3-2.2", "name_en"] = "Trunk road construction investment"
    m.to_csv(plan / "measures.csv", index=False)
    with_en = load_catalogue(plan)
    assert with_en.names_en == {"1-3-2.2": "Trunk road construction investment"}
    assert list(with_en.measures.columns) == list(load_catalogue(PLAN_DIR).measures.columns)
    frame = with_en.measures[with_en.measures["measure_id"].isin(["1-3-2.2", "1-3-1.2"])]
    assert list(report.measure_labels(with_en, frame, "en")) == [
        "1-3-1.2 签约落地公路项目",
        "1-3-2.2 Trunk road construction investment",
    ]
    assert list(report.measure_labels(with_en, frame, "zh")) == [
        "1-3-1.2 签约落地公路项目",
        "1-3-2.2 普通国省干线项目建设投资",
    ]
    m.drop(columns=["name_en"]).to_csv(plan / "measures.csv", index=False)
    assert load_catalogue(plan).names_en == {}  # no column: every name stays Chinese
    bundled = load_catalogue(PLAN_DIR)  # the 2019 plan names every measure of measures.csv in English
    assert len(bundled.names_en) == 67 and bundled.names_en["1-8-2.2"] == "New trailers"
    # through the brief: the section reads the catalogue's English names
    data = report.gather(sample_conn, "2019-09", "monthly", "en")
    data.catalogue = with_en
    assert "1-3-2.2 Trunk road construction investment" in report.investment_section(data, "en")
    assert "1-3-2.2 普通国省干线项目建设投资" in report.investment_section(data, "zh")
    assert t("brief.plan_year", "en").format(year=2019) == "2019 performance evaluation"


def test_english_count_nouns_agree_with_their_number():
    """'the 1 items target' was printed in the English brief, Word document and unit pages."""
    assert (
        labels.agree("0 items done, 0% of the 1 items target", "en")
        == "0 items done, 0% of the 1 item target"
    )
    assert (
        labels.agree("over the 1 months left; 1 open problems", "en")
        == "over the 1 month left; 1 open problem"
    )
    for kept in ("11 items", "21 points", "1.5 items", "1.0 km", "0 routes", "10 measures", "1 a month"):
        assert labels.agree(kept, "en") == kept
    assert labels.agree("1 items", "zh") == "1 items"  # Chinese has no plural to fix
    assert labels.say("unit.summary", "en", unit="U", n=1, points="0.50", open=1) == (
        "U reports 1 measure, with 0.50 points at risk in all and 1 open problem."
    )
    assert labels.say("unit.summary", "en", unit="U", n=2, points="1", open=0).endswith("0 open problems.")
    assert labels.say("unit.summary", "zh", unit="U", n=1, points="0.50", open=1) == t("unit.summary").format(
        unit="U", n=1, points="0.50", open=1
    )


def test_english_reasons_and_sentences_agree_in_number():
    from perfkit.risks import render_reason

    args = {"actual": 0.0, "unit": "个", "target": 1.0, "completion": 0.0, "time": 75.0, "gap": 75.0}
    assert "0% of the 1 item target" in render_reason("behind_schedule", args, "en")
    assert "年度目标1个" in render_reason("behind_schedule", args, "zh")


def test_code_version_counts_the_stored_words_only(monkeypatch):
    """Editing a display label recomputes no month; changing a word stored as data (a risk status) does."""
    from perfkit import monthly

    before = monthly.code_version()
    monkeypatch.setitem(TEXT, "brief.title.monthly", ("另一个标题", "Another title"))
    assert monthly.code_version() == before
    monkeypatch.setitem(TEXT, "risk.status.watch", ("注意", "Watch"))
    assert monthly.code_version() != before


GARBLED = """
import sqlite3, sys
from perfkit import labels
for key, (zh, en) in list(labels.TEXT.items()):  # before any module reads a label at import
    if key not in labels.STORED:
        labels.TEXT[key] = (f"改{key}{zh}", f"X{key}{en}")  # placeholders kept: reasons still render
from perfkit import monthly
from perfkit.store import open_store
conn = open_store(sys.argv[1])
with conn:
    conn.execute("DELETE FROM snapshot_parts")
    conn.execute("DELETE FROM snapshots")
monthly.ensure(conn, sys.argv[2])
print(monthly.code_version())
"""


def test_snapshots_do_not_depend_on_display_labels(sample_db, tmp_path):
    """Honest coverage of labels in the code version: January..March recomputed in a process where every
    label but the STORED ones reads differently give the same snapshots, byte for byte, and the same code
    version (a real subprocess: module-level labels, rules.DONE …, are read at import)."""
    import sqlite3
    import subprocess
    import sys

    from perfkit import monthly

    garbled = tmp_path / "garbled.sqlite"
    garbled.write_bytes(sample_db.read_bytes())
    run = subprocess.run(
        [sys.executable, "-c", GARBLED, str(garbled), "2019-03"], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == monthly.code_version()

    def parts(path):
        with sqlite3.connect(path) as conn:
            rows = conn.execute(
                "SELECT p.month, p.part, p.payload, s.fingerprint FROM snapshot_parts p JOIN snapshots s"
                " USING (month) WHERE p.month <= '2019-03' ORDER BY p.month, p.part"
            ).fetchall()
        return rows

    expected, got = parts(sample_db), parts(garbled)
    assert len(expected) >= 3 * len(monthly.PARTS) - 3 and got == expected
