"""perfkit's chart renderer: interactive bundles for JupyterLab, static ones for the brief, both valid
nbformat (papermill validates every notebook it writes); the drill-down charts' tooltips and selections."""

from __future__ import annotations

import altair as alt
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbformat.validator import validate

from perfkit import brief, charts

CHART = (
    alt.Chart(pd.DataFrame({"月份": ["2019-01", "2019-02"], "值": [1.0, 2.0]}))
    .mark_line()
    .encode(x="月份:O", y="值:Q", tooltip=["月份", "值"])
)


def _valid(data: dict, meta: dict) -> None:
    validate(
        new_notebook(cells=[new_code_cell(outputs=[new_output("display_data", data=data, metadata=meta)])])
    )


def test_interactive_bundle_is_vega5_with_inline_locale_and_static_fallback(monkeypatch):
    monkeypatch.delenv("PERFKIT_CHARTS", raising=False)
    assert charts.setup() == "interactive"
    data, meta = CHART._repr_mimebundle_()
    vega = data[charts.VEGA_MIME]
    assert vega["$schema"].endswith("/vega/v5.json")  # what JupyterLab 4's bundled Vega 5 draws
    assert "<svg" in data["image/svg+xml"] and "image/png" not in data
    embed = meta[charts.VEGA_MIME]["embed_options"]
    assert isinstance(embed["formatLocale"], dict)  # by name, vega-embed would fetch it from a CDN
    _valid(data, meta)


def test_static_bundle_for_the_brief_has_svg_and_png_only(monkeypatch):
    monkeypatch.setenv("PERFKIT_CHARTS", "static")
    assert charts.setup() == "static"
    data, meta = CHART._repr_mimebundle_()
    assert set(data) == {"image/svg+xml", "image/png", "text/plain"} and meta == {}
    assert "月份" in data["image/svg+xml"]  # text stays text: the reader's fonts draw it
    _valid(data, meta)


def test_a_chart_drawn_once_is_read_by_the_next_kernel_from_the_cache(monkeypatch, tmp_path):
    assert brief.CHART_CACHE_ENV == charts.CACHE_ENV  # the folder the runner gives its kernels
    monkeypatch.setenv("PERFKIT_CHARTS", "static")
    monkeypatch.setenv(charts.CACHE_ENV, str(tmp_path))
    charts.setup()
    first = CHART._repr_mimebundle_()
    kept = list(tmp_path.iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".json"
    kept[0].write_text(kept[0].read_text(encoding="utf-8").replace("月份", "cached"), encoding="utf-8")
    assert "cached" in CHART._repr_mimebundle_()[0]["image/svg+xml"]  # read, not drawn again
    # another chart (or the same in the other mode) is another drawing
    CHART.properties(title="另一个")._repr_mimebundle_()
    assert len(list(tmp_path.iterdir())) == 2
    # an unreadable entry is drawn again and replaced; a folder that cannot be written keeps nothing
    kept[0].write_text("{", encoding="utf-8")
    assert CHART._repr_mimebundle_() == first
    monkeypatch.setenv(charts.CACHE_ENV, str(tmp_path / "missing"))
    assert CHART._repr_mimebundle_() == first


def test_altair_mimetype_output_is_what_papermill_refuses():
    """Why perfkit has its own renderer: Altair 6's mimetype output fails nbformat validation."""
    with alt.renderers.enable("mimetype"):
        data, meta = CHART._repr_mimebundle_()
    with pytest.raises(Exception, match="is not valid|is not of type"):
        _valid(data, meta)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="interactive"):
        charts.setup("fancy")


def test_drill_down_charts_carry_tooltips_and_selections():
    view = pd.DataFrame(
        {
            "measure_id": ["1-1", "1-1", "1-2"],
            "name": ["甲", "甲", "乙"],
            "month": ["2019-01", "2019-02", "2019-01"],
            "value": [1.0, 2.0, 3.0],
            "completion_pct": [10.0, 20.0, 30.0],
            "status": ["正常", "关注", "预警"],
            "points_at_risk": [0.0, 0.1, 0.2],
            "reporting_unit": ["局工程科"] * 3,
        }
    )
    spec = charts.unit_chart(view, "局工程科").to_dict()
    assert spec["params"][0]["bind"] == "legend" and spec["params"][0]["select"]["fields"] == ["measure"]
    assert all("tooltip" in layer["encoding"] for layer in spec["layer"])
    series = pd.DataFrame(
        {
            "month": ["2019-01", "2019-02", "2019-03"],
            "actual": [1.0, 2.0, None],
            "schedule": [1.0, 2.0, 3.0],
            "projected": [None, 2.0, 3.0],
            "low_80": [None, 2.0, 2.5],
            "high_80": [None, 2.0, 3.5],
            "status": ["正常", "正常", None],
            "points_at_risk": [0.0, 0.0, None],
            "observed": [True, True, False],
        }
    )
    subs = pd.DataFrame(
        {
            "month": ["2019-01", "2019-01", "2019-02"],
            "cumulative": [0.5, 1.0, 2.0],
            "superseded": [True, False, False],
            "submission_id": [1, 2, 3],
            "received_at": ["a", "b", "c"],
        }
    )
    spec = charts.measure_chart(series, subs, "1-1").to_dict()
    params = spec.get("params", []) + [p for layer in spec["layer"] for p in layer.get("params", [])]
    assert [p["select"]["on"] for p in params] == ["pointerover"]  # the month under the pointer
    kinds = [d for d in spec["datasets"].values() if d and "kind" in d[0]][0]
    assert [r["kind"] for r in kinds] == ["已被更正的报送", "报送值", "报送值"]


def test_trend_chart_draws_the_score_and_the_statuses_in_their_colours():
    from perfkit import risks

    months = pd.DataFrame(
        {"month": pd.PeriodIndex(["2019-01", "2019-02"], freq="M"), "projected_target_score": [85.4, 86.7]}
    )
    statuses = pd.DataFrame(
        {
            "month": pd.PeriodIndex(["2019-01"] * 6 + ["2019-02"] * 6, freq="M"),
            "status": list(risks.STATUSES) * 2,
            "measures": [0, 71, 16, 0, 0, 0, 0, 70, 15, 2, 0, 0],
        }
    )
    spec = charts.trend_chart(months, statuses).to_dict()
    line, bars = spec["hconcat"]
    scale = bars["encoding"]["color"]["scale"]
    assert scale["range"] == [charts.STATUS_COLOURS[s] for s in risks.STATUSES]
    rows = spec["datasets"][bars["data"]["name"]]
    assert sum(r["measures"] for r in rows if r["label"] == "2月") == 87
    assert [r["projected"] for r in spec["datasets"][line["data"]["name"]]] == [85.4, 86.7]
    en = charts.trend_chart(months, statuses, lang="en").to_dict()
    assert en["hconcat"][1]["encoding"]["color"]["scale"]["domain"][0] == "Complete"
    assert {r["label"] for r in en["datasets"][en["hconcat"][1]["data"]["name"]]} == {"Jan", "Feb"}
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec)
    assert svg.count("<path") > 10  # drew: bars and the line


# ------------------------------------------------------------------------------ the measuring font
# perfkit.chart_fonts: charts drawn with a small private copy of their CJK font must be the very drawings
# made without it. The reference is drawn in a fresh process that never registers one (PERFKIT_CHART_FONT
# off), the measured one here.
DRAW_PLAIN = """
import base64, json, sys
from perfkit import charts
specs = json.load(open(sys.argv[1], encoding="utf-8"))
out = [charts._draw(spec, "static")[0] for spec in specs]
json.dump([[b["image/svg+xml"], b["image/png"]] for b in out], open(sys.argv[2], "w", encoding="utf-8"))
"""


def _drawn_without_the_font(specs: list[dict], tmp_path) -> list[list[str]]:
    import json
    import os
    import subprocess
    import sys

    from perfkit import chart_fonts

    (tmp_path / "specs.json").write_text(json.dumps(specs, ensure_ascii=False), encoding="utf-8")
    env = os.environ | {chart_fonts.FONT_ENV: "off"}
    cmd = [sys.executable, "-c", DRAW_PLAIN, str(tmp_path / "specs.json"), str(tmp_path / "out.json")]
    subprocess.run(cmd, env=env, check=True)
    return json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))


def test_charts_drawn_with_the_measuring_font_are_byte_for_byte_those_drawn_without(
    sample_projection, tmp_path_factory, tmp_path, monkeypatch
):
    from perfkit import chart_fonts
    from perfkit.config import PLAN_DIR

    cache = tmp_path_factory.getbasetemp() / "chart-fonts"  # shared with tests/test_chart_fonts.py
    if chart_fonts.find_source(charts.FONT, cache) is None:
        pytest.skip(f"no font of {charts.FONT!r} installed here (e.g. fonts-noto-cjk): no measuring font")
    font = chart_fonts.build(chart_fonts.plan_texts(PLAN_DIR), charts.FONT, cache)
    assert font is not None
    money = sample_projection[sample_projection["kind"] == "investment"].reset_index(drop=True)
    assert len(money) > 10
    specs = [charts.bullet_chart(money, lang=lang).to_dict() for lang in ("zh", "en")]
    specs.append(charts.theme_config(CHART.properties(title="月度值 Monthly")).to_dict())
    plain = _drawn_without_the_font(specs, tmp_path)
    monkeypatch.setenv(chart_fonts.FONT_ENV, str(font.folder))
    monkeypatch.setattr(charts, "_MEASURING", {})
    assert charts.measuring_font() == font
    for spec, (svg, png) in zip(specs, plain, strict=True):
        assert charts._measured(spec, font) is not None  # every character in the font: drawn with it
        bundle, _ = charts._draw(spec, "static")
        assert bundle["image/svg+xml"] == svg  # the SVG kept: the same bytes
        assert bundle["image/png"] == png  # and the PNG drawn from the SVG with the font: the same bytes
        assert font.family not in svg
    # a character the font lacks: drawn without it, as before
    rare = CHART.properties(title="龘").to_dict()
    assert charts._measured(rare, font) is None
    assert charts._draw(rare, "static")[0]["image/svg+xml"] == _drawn_without_the_font([rare], tmp_path)[0][0]
