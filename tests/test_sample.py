"""The sample is synthetic, deterministic, and tells the intended story."""

from __future__ import annotations

import filecmp

import pandas as pd

from perfkit import sample
from perfkit.config import PLAN_DIR, SAMPLE_DIR


def test_generation_is_deterministic_and_matches_bundled_files(tmp_path):
    files = sample.generate(tmp_path, PLAN_DIR)
    for name, path in files.items():
        assert filecmp.cmp(path, SAMPLE_DIR / path.name, shallow=False), f"{name} differs from data/sample"


def test_turnover_covers_2014_to_2019_09_published_as_ytd():
    t = pd.read_csv(SAMPLE_DIR / "turnover.csv")
    assert t["月份"].iloc[0] == "2014年1—2月"
    assert t["月份"].iloc[-1] == "2019年9月"
    assert set(t["口径"]) == {"累计"}
    assert set(t["运输方式"]) == {"公路", "水路"}
    # official comparable-basis YoY only in the year being judged
    assert t.loc[t["月份"].str.startswith("2019"), "总周转量累计同比（%）"].notna().all()
    assert t.loc[~t["月份"].str.startswith("2019"), "总周转量累计同比（%）"].isna().all()


def test_progress_story(catalogue):
    p = pd.read_csv(SAMPLE_DIR / "progress.csv")
    assert p["month"].min() == "2019-01" and p["month"].max() == "2019-09"
    reported = set(p["measure_id"])
    unit_measures = set(catalogue.measures.loc[catalogue.measures["schedule"] != "statistic", "measure_id"])
    assert reported == unit_measures  # every unit-reported measure appears
    last = p[p["month"] == "2019-09"].set_index("measure_id")
    assert last.loc["1-4-1.2", "cumulative"] == 19000  # the station hub met its September deadline
    assert last.loc["1-3-2.2", "cumulative"] < 0.5 * 30000  # well behind
    # one stale unit: nothing from 局综规科 after June
    assert p.loc[p["unit"] == "局综规科", "month"].max() == "2019-06"
    # one correction that lowered a cumulative value, explained with 更正
    fix = p[p["note"].str.startswith("更正", na=False)]
    assert len(fix) == 1
    m = fix["measure_id"].iloc[0]
    series = p[p["measure_id"] == m].set_index("month")["cumulative"]
    assert series[fix["month"].iloc[0]] < series.shift(1)[fix["month"].iloc[0]]
