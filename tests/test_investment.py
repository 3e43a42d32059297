"""perfkit.investment end to end: through the CLI, the CSV export, the chart renderer and the notebook
(papermill, real kernel). The package's modules have their own files: test_investment_<module>.py."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pandas as pd
import pytest

from perfkit import charts, investment, tables
from perfkit.cli import main
from perfkit.exports import write_csv


def test_cli_json_csv_and_table(sample_db):
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(sample_db), "invest", "--as-of", "2019-09", "--format", "json"]) == 0
    records = json.loads(out.getvalue())
    keys = {"measure_id", "indicator_id", "unit", "target", "actual", "projected", "interval_80", "p_reach"}
    keys |= {"shortfall", "required_monthly", "schedule_gap_pp", "deadline_month"}
    assert keys <= set(records[0])
    hub = next(r for r in records if r["measure_id"] == "1-4-1.2")
    assert hub["interval_80"] == [19000.0, 19000.0] and hub["p_reach"] == 1.0

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(sample_db), "invest", "--as-of", "2019-09", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(out.getvalue()))
    assert len(frame) == len(records) and frame.loc[0, "leaders"] == "黄俊杰"

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(sample_db), "invest", "--as-of", "2019-09"]) == 0
    assert "达标概率" in out.getvalue() and "已完成" in out.getvalue()
    assert main(["--db", str(sample_db), "invest", "--as-of", "2019-9x"]) == 2


def test_csv_written_and_read_back(sample_projection, tmp_path):
    path = write_csv(tables.investment_csv(sample_projection), tmp_path / "investment.csv")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert list(back.columns) == investment.COLUMNS
    assert back.set_index("measure_id").loc["1-1-1.6", "units"] == "市高指、中交泉州高速公路有限责任公司"


def test_bullet_chart_renders_svg(sample_projection):
    import vl_convert as vlc

    chart = charts.bullet_chart(sample_projection)
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert svg.startswith("<svg") and "各项措施预计完成情况" in svg
    assert len(chart.to_dict()["layer"]) == 6


@pytest.mark.slow
def test_notebook_runs_on_the_sample(sample_db, tmp_path, run_notebook):
    out_dir = tmp_path / "out"
    nb = run_notebook("investment.ipynb", as_of="2019-09", db=str(sample_db), out_dir=str(out_dir))
    csv = pd.read_csv(out_dir / "investment.csv", encoding="utf-8-sig")
    assert len(csv) == 39 and csv["measure_id"].is_unique
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)
