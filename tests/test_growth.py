"""perfkit.growth: the turnover modes from the store, the report, display table, chart, CSV input, CLI and
notebook (the engine, projection and backtest have their own files: test_growth_<module>.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from growth_cases import FAST, steady

from perfkit import growth
from perfkit.cli import main
from perfkit.errors import InputError
from perfkit.store import open_store, read_turnover


def test_project_modes_on_the_sample_store(sample_conn, catalogue):
    turnover = read_turnover(sample_conn)
    df = growth.project_modes(catalogue, turnover, "2019-09", models=("profile",), repetitions=300)
    assert list(df.columns) == growth.PROJECTION_COLUMNS
    assert list(df["mode"]) == ["road", "waterway"]
    assert list(df["measure_id"]) == ["1-14-1.1", "1-14-2.1"]
    assert list(df["band_low"]) == [13.0, 18.0] and list(df["band_high"]) == [14.0, 19.0]
    official = turnover[turnover["month"] == pd.Period("2019-09", "M")].set_index("mode")["official_yoy_pct"]
    assert list(df["ytd_growth_pct"]) == [official["road"], official["waterway"]]
    assert (df["basis"] == "official").all()
    assert (df["interval_95_low"] <= df["interval_80_low"]).all()
    assert (df["interval_80_low"] <= df["projected_growth_pct"]).all()
    assert (df["projected_growth_pct"] <= df["interval_80_high"]).all()
    assert df[["p_reach_low", "p_reach_high"]].stack().between(0, 1).all()


def test_as_of_before_the_first_release_projects_from_history(sample_conn, catalogue):
    df = growth.project_modes(catalogue, read_turnover(sample_conn), "2019-01", models=("profile",))
    assert (df["ytd_total"] == 0).all() and df["ytd_growth_pct"].isna().all()
    assert df["projected_growth_pct"].notna().all()
    assert (df["data_through"] == "2018-12").all()


def test_growth_report_backtests_every_past_year(sample_conn, catalogue):
    rep = growth.growth_report(
        catalogue,
        read_turnover(sample_conn),
        "2019-09",
        modes=["waterway"],
        bands={"waterway": [10, 11]},
        **FAST,
    )
    assert rep.projections["band_low"].iloc[0] == 10
    assert sorted(rep.backtest["year"].unique()) == [2016, 2017, 2018]
    assert set(rep.backtest["month"]) == set(range(2, 12))
    assert set(rep.summary["method"]) == {"selected", "profile", "naive_ytd", "seasonal_naive"}
    assert len(rep.path("waterway")) == 11
    assert list(rep.mae_by_month()["month"]) == list(range(2, 12))


def test_project_store_needs_turnover(empty_db):
    conn = open_store(empty_db)
    with pytest.raises(ValueError, match="no turnover"):
        growth.project_store(conn)


def test_display_table_labels_in_chinese(sample_conn, catalogue):
    df = growth.project_modes(catalogue, read_turnover(sample_conn), "2019-09", **FAST)
    view = growth.display_table(df, transpose=True)
    assert list(view.columns) == ["", "公路运输总周转量", "水路运输总周转量"]
    assert "预计全年增速（%）" in set(view[""])


def test_fan_chart_renders_svg(sample_conn, catalogue):
    import vl_convert as vlc

    from perfkit import charts

    rep = growth.growth_report(catalogue, read_turnover(sample_conn), "2019-06", backtest_months=(), **FAST)
    svg = vlc.vegalite_to_svg(charts.fan_chart(rep.paths).to_json())
    assert svg.lstrip().startswith("<svg") and "累计增速" in svg
    single = charts.fan_chart(rep.path("road")).to_dict()
    assert len(single["layer"]) == 5 and "公路运输总周转量" in json.dumps(single, ensure_ascii=False)


def test_series_csv_and_its_errors(tmp_path):
    s = steady(years=4)
    path = tmp_path / "series.csv"
    pd.DataFrame({"month": [str(p) for p in s.index], "value": s.to_numpy()}).to_csv(path, index=False)
    values, spans = growth.read_series_csv(path)
    assert len(values) == 48 and (spans == 1).all()
    path.write_text("month,value\n2019年1—2月,10\n2019-03,x\nabc,3\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        growth.read_series_csv(path)
    text = str(exc.value)
    assert "series.csv B3" in text and "series.csv A4" in text


def test_cli_growth_series_json_and_errors(tmp_path, capsys):
    s = steady(years=3, start=2017)[:"2019-05"]  # two full years: the default model, few fits
    path = tmp_path / "s.csv"
    pd.DataFrame({"month": [str(p) for p in s.index], "value": s.to_numpy()}).to_csv(path, index=False)
    assert (
        main(["growth", "--as-of", "2019-05", "--series", str(path), "--band", "9", "10", "--format", "json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["band"] == [9.0, 10.0] and len(out["path"]) == 11 and out["as_of"] == "2019-05"
    assert main(["growth", "--as-of", "2019-05", "--series", str(path)]) == 2
    assert "--band" in capsys.readouterr().err
    path.write_text("month,value\n2017-01,-5\n", encoding="utf-8")
    assert main(["growth", "--as-of", "2019-05", "--series", str(path), "--band", "1", "2"]) == 2
    assert "s.csv B2" in capsys.readouterr().err


def test_cli_growth_table_from_the_store(sample_db, capsys):
    assert main(["--db", str(sample_db), "growth", "--as-of", "2019-09", "--mode", "waterway"]) == 0
    out = capsys.readouterr().out
    assert "水路运输总周转量" in out and "达到下限概率" in out and "1-14-2.1" in out
    assert "公路运输总周转量" not in out


@pytest.mark.slow
def test_notebook_runs_on_the_sample_store(sample_db, tmp_path, run_notebook):
    out_dir = tmp_path / "out"
    nb = run_notebook("growth.ipynb", as_of="2019-08", db=str(sample_db), out_dir=str(out_dir))
    df = pd.read_csv(out_dir / "growth.csv", encoding="utf-8-sig")
    assert list(df["mode"]) == ["road", "waterway"]
    assert set(growth.PROJECTION_COLUMNS) <= set(df.columns)
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)
    assert "image/svg+xml" in outputs
    assert "合成示例数据" in outputs  # the sample store is labelled synthetic
