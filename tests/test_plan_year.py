"""Any year's plan: a store made with `perfkit init --plan DIR` works from that plan in every command.

tests/fixtures/plan2020 is a made-up plan that differs from 2019 in ids, weights, sections (a 3-x section),
the formula split (80/20) and the growth measures; it runs catalogue → template → ingest → score → risks
→ brief with no code change."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from perfkit.cli import main
from perfkit.config import SAMPLE_DIR

PLAN = Path(__file__).resolve().parent / "fixtures" / "plan2020"
VALUES = {"investment": 10000.0, "count": 30.0, "length": 20.0}


def _json(capsys, *argv) -> object:
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def _turnover_2020(path: Path) -> Path:
    """The sample's turnover table a year later, up to 2020-03 (synthetic, as the sample is)."""
    table = pd.read_csv(SAMPLE_DIR / "turnover.csv", dtype=str, keep_default_na=False)
    year = table["月份"].str.slice(0, 4).astype(int) + 1
    table["月份"] = year.astype(str) + table["月份"].str.slice(4)
    month = table["月份"].str.extract(r"年(\d+)")[0].astype(int)
    table[(year < 2020) | (month <= 3)].to_csv(path, index=False, encoding="utf-8-sig")
    return path


def _fill(template: Path, out: Path) -> Path:
    """Fill a 工作台账 as a unit would: numbers for measured rows, status and note for every row."""
    from perfkit.labels import t

    wb = load_workbook(template)
    ws = wb.worksheets[0]
    kinds = {t(f"kind.{k}"): k for k in VALUES}
    for r in range(3, ws.max_row + 1):
        if not ws[f"A{r}"].value:
            continue
        kind = kinds.get(ws[f"D{r}"].value)
        if kind:
            ws[f"J{r}"] = VALUES[kind]
        ws[f"K{r}"] = "推进中"
        ws[f"L{r}"] = "按计划推进"
    wb.save(out)
    return out


@pytest.fixture(scope="module")
def store_2020(tmp_path_factory):
    """A store made for the 2020 plan, with March's ledgers and the turnover table ingested."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("plan2020")
    db = root / "p.sqlite"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["--db", str(db), "init", "--plan", str(PLAN)]) == 0
        assert "2020" in out.getvalue() and "13 indicators" in out.getvalue()
        assert main(["--db", str(db), "template", "--month", "2020-03", "--out", str(root / "outbox")]) == 0
    templates = sorted((root / "outbox").glob("*.xlsx"))
    assert templates
    inbox = root / "inbox"
    inbox.mkdir()
    files = [_fill(p, inbox / p.name) for p in templates] + [_turnover_2020(inbox / "周转量.csv")]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["--db", str(db), "ingest", *map(str, files), "--archive", str(root / "archive")])
    assert code == 0
    return db


def test_catalogue_is_the_stores_plan(store_2020, capsys):
    cat = _json(capsys, "--db", store_2020, "catalog", "show", "--format", "json")
    ids = [c["id"] for c in cat]
    assert "3-1-1" in ids and "1-14-1" not in ids and len(ids) == 13
    assert sum(c["weight"] for c in cat) == pytest.approx(100)
    assert {c["section"] for c in cat} >= {"重点工作目标", "常规工作目标", "创新工作目标"}


def test_score_risks_and_growth_use_the_plan(store_2020, capsys):
    score = _json(capsys, "--db", store_2020, "score", "--format", "json")
    assert score["as_of"] == "2020-03"  # the latest month with data
    t = score["totals"]
    assert t["total"] == pytest.approx(
        t["target_score"] * 0.8 + t["public"] * 0.2 + t["bonus"] - t["deduction"]
    )
    assert {i["id"] for i in score["indicators"]} >= {"3-1-1", "8-1"}
    flags = _json(capsys, "--db", store_2020, "risks", "--format", "json")
    assert {f["measure_id"] for f in flags} >= {"1-1-1.1", "3-1-1.1", "1-2-1.1"}
    growth = _json(capsys, "--db", store_2020, "growth", "--format", "json")
    assert {g["measure_id"] for g in growth} == {"1-2-1.1", "1-2-2.1"}
    assert {(g["band_low"], g["band_high"]) for g in growth} == {(8.0, 9.0), (10.0, 12.0)}
    # a month of another year is refused, whichever plan the store has
    assert main(["--db", str(store_2020), "score", "--as-of", "2019-09"]) == 2
    assert capsys.readouterr().err.strip() == "--as-of: 2019-09 is outside the plan's year 2020"


def test_init_refuses_to_overwrite_or_a_folder_without_a_plan(store_2020, tmp_path, capsys):
    before = store_2020.read_bytes()
    assert main(["--db", str(store_2020), "init", "--plan", str(PLAN)]) == 2
    assert "a store already exists here" in capsys.readouterr().err
    assert store_2020.read_bytes() == before
    assert main(["--db", str(tmp_path / "x.sqlite"), "init", "--plan", str(tmp_path)]) == 2
    assert "no plan.toml" in capsys.readouterr().err
    assert not (tmp_path / "x.sqlite").exists()


@pytest.mark.slow
def test_brief_for_the_2020_plan(store_2020, tmp_path):
    from perfkit.brief import run_brief

    run = run_brief(out=tmp_path / "brief", db=store_2020, echo=lambda line: None)
    page = (run.out / "brief.html").read_text(encoding="utf-8")
    assert run.as_of == "2020-03"
    assert "示例市交通运输局2020年度绩效评估" in page and "3-1-1" in page
    assert "泉州" not in page
