"""perfkit.growth: publication periods, projection, basis, fallbacks, backtest, store, CLI and notebook."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from perfkit import growth, growth_engine
from perfkit.cli import main
from perfkit.errors import InputError
from perfkit.store import open_store, read_turnover

FAST = {"models": ("profile",), "repetitions": 400}


def steady(years: int = 6, growth_pct: float = 10.0, noise: float = 0.01, start: int = 2013, seed: int = 1):
    """Monthly series with a seasonal shape and steady growth (synthetic, for tests)."""
    rng = np.random.default_rng(seed)
    months = pd.period_range(f"{start}-01", f"{start + years - 1}-12", freq="M")
    season = np.array([0.9, 0.8, 1.0, 1.0, 1.05, 1.0, 1.0, 1.02, 1.03, 1.05, 1.05, 1.1])
    t = np.arange(len(months)) / 12
    values = 100 * (1 + growth_pct / 100) ** t * season[months.month - 1] * rng.normal(1, noise, len(months))
    return pd.Series(values, index=months)


# ------------------------------------------------------------------------------ publication periods


def test_january_and_february_become_one_period():
    s = steady(years=2)
    p = growth.to_publication_periods(s)
    assert len(p) == 22
    first = p.iloc[0]
    assert first["season"] == 0 and first["month"] == pd.Period("2013-02", "M")
    assert first["value"] == pytest.approx(s.iloc[0] + s.iloc[1])


def test_combined_release_is_taken_as_published():
    s = steady(years=2)
    combined = pd.concat([s[s.index.month != 1]])
    combined[pd.Period("2013-02", "M")] = s.iloc[0] + s.iloc[1]
    combined[pd.Period("2014-02", "M")] = s.iloc[12] + s.iloc[13]
    spans = pd.Series(np.where(combined.index.month == 2, 2, 1), index=combined.index)
    p = growth.to_publication_periods(combined, spans)
    pd.testing.assert_frame_equal(p, growth.to_publication_periods(s))


def test_timestamps_work_like_periods():
    s = steady(years=3)
    ts = pd.Series(s.to_numpy(), index=s.index.to_timestamp())
    assert growth.to_publication_periods(ts).equals(growth.to_publication_periods(s))


def test_gap_duplicate_and_bad_values_are_named():
    s = steady(years=3)
    with pytest.raises(ValueError, match="missing between 2014-05 and 2014-07"):
        growth.to_publication_periods(s.drop(pd.Period("2014-06", "M")))
    bad = s.copy()
    bad.iloc[5] = -1
    with pytest.raises(ValueError, match="2013-06"):
        growth.to_publication_periods(bad)
    spans = pd.Series(1, index=s.index)
    spans[pd.Period("2014-02", "M")] = 2
    with pytest.raises(ValueError, match="January given both"):
        growth.to_publication_periods(s, spans)
    spans = pd.Series(1, index=s.index)
    spans[pd.Period("2014-05", "M")] = 2
    with pytest.raises(ValueError, match="only 1—2月"):
        growth.to_publication_periods(s, spans)


def test_leading_february_without_january_is_dropped():
    s = steady(years=3).iloc[1:]
    p = growth.to_publication_periods(s)
    assert p["month"].iloc[0] == pd.Period("2013-03", "M")


# ------------------------------------------------------------------------------------- projection


def test_steady_growth_is_found_with_honest_figures():
    # 2% noise: a likelihood with a clear optimum (on a near-noise-free series whether an optimizer reports
    # convergence depends on the CPU's BLAS kernels; the figures asserted here do not depend on it)
    s = steady(years=7, growth_pct=10.0, noise=0.02)
    proj = growth.project_annual_growth(s, "2019-06", (13.0, 14.0), repetitions=500)
    assert proj.model in growth.CANDIDATES
    assert proj.periods_observed == 5  # 1—2月, 3, 4, 5, 6
    assert abs(proj.projected_growth_pct - 10.0) < 2.5
    low, high = proj.interval_80
    assert low < proj.projected_growth_pct < high
    assert proj.interval_95[0] <= low and proj.interval_95[1] >= high
    assert proj.p_reach_low < 0.3 and proj.p_reach_high <= proj.p_reach_low
    # the YTD figures are the data's own
    ytd = s["2019-01":"2019-06"].sum()
    assert proj.ytd_total == pytest.approx(ytd)
    assert proj.ytd_growth_pct == pytest.approx((ytd / s["2018-01":"2018-06"].sum() - 1) * 100)
    # the required growth of the rest of the year lands the year exactly on each bound
    prev = s[s.index.year == 2018].sum()
    prev_rest = s[(s.index.year == 2018) & (s.index.month > 6)].sum()
    for bound, req in ((13.0, proj.required_growth_low_pct), (14.0, proj.required_growth_high_pct)):
        assert (ytd + prev_rest * (1 + req / 100)) / prev - 1 == pytest.approx(bound / 100)
    # every candidate is backtested: none is dropped for want of convergence
    assert set(proj.backtest) == set(growth.CANDIDATES)
    assert all(rec["n"] > 0 for rec in proj.backtest.values())
    path = proj.path
    assert list(path["label"]) == growth.PERIOD_LABELS and path["observed"].sum() == 5
    assert path["growth_pct"].iloc[-1] == pytest.approx(proj.projected_growth_pct)
    assert path["growth_pct"].iloc[4] == pytest.approx(proj.ytd_growth_pct)


def test_unconverged_fits_are_kept_with_a_note(monkeypatch):
    """An optimizer stopped before convergence (here: one iteration allowed) is retried, then its best
    parameters are kept and the note says so: the candidate is never silently dropped."""
    monkeypatch.setattr(growth_engine, "FIT_MAXITER", 1)
    monkeypatch.setattr(growth_engine, "RETRY_MAXITER", 1)
    s = steady(years=5, growth_pct=8.0, noise=0.03)
    proj = growth.project_annual_growth(s, "2017-06", (8.0, 9.0), models=("ets", "sarimax"), repetitions=200)
    assert set(proj.backtest) == {"ets", "sarimax"}
    assert all(rec["n"] > 0 for rec in proj.backtest.values())
    for model in ("ets", "sarimax"):
        assert "did not converge" in proj.notes[model] and "best parameters kept" in proj.notes[model]
        assert f"{model}: optimizer did not converge" in proj.fallback_reason
    assert math.isfinite(proj.projected_growth_pct)


def test_airline_likelihood_is_the_one_statsmodels_maximises():
    """The `sarimax` candidate's own exact likelihood (banded Cholesky of the differenced series' MA(12)
    covariance, β and σ² concentrated out) equals statsmodels' SARIMAX log-likelihood at the same
    parameters, with and without a regressor: same estimator, a fraction of the cost. No optimizer runs."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = np.log(growth.to_publication_periods(steady(years=6, noise=0.03))["value"].to_numpy())
    x = np.random.default_rng(3).uniform(0, 1, (len(y), 1))
    for exog in (None, x):
        for theta in ((0.3, -0.6), (-0.5, 0.2)):
            w = np.diff(y[11:] - y[:-11])
            X = None if exog is None else np.diff(exog[11:] - exog[:-11], axis=0)
            nll, beta, sigma2 = growth_engine._airline_nll(np.array(theta), w, X)
            model = SARIMAX(y, exog=exog, order=(0, 1, 1), seasonal_order=(0, 1, 1, 11))
            assert model.loglike(np.r_[beta, theta, sigma2]) == pytest.approx(-nll, abs=1e-6)


def test_band_probabilities_follow_the_band():
    s = steady(years=6, growth_pct=10.0, noise=0.01)
    below = growth.project_annual_growth(s, "2018-05", (4.0, 5.0), **FAST)
    above = growth.project_annual_growth(s, "2018-05", (20.0, 21.0), **FAST)
    assert below.p_reach_low > 0.95 and above.p_reach_low < 0.05
    assert below.projected_growth_pct == pytest.approx(above.projected_growth_pct)


def test_data_after_as_of_is_ignored():
    s = steady(years=6)
    full = growth.project_annual_growth(s, "2017-04", (9.0, 10.0), **FAST)
    cut = growth.project_annual_growth(s[:"2017-04"], "2017-04", (9.0, 10.0), **FAST)
    assert full.to_dict() == cut.to_dict()


def test_official_basis_rebases_the_previous_year():
    s = steady(years=6)
    levels = growth.project_annual_growth(s, "2018-07", (9.0, 10.0), **FAST)
    official = levels.recomputed_ytd_growth_pct + 1.0
    proj = growth.project_annual_growth(s, "2018-07", (9.0, 10.0), official_ytd_growth_pct=official, **FAST)
    assert proj.basis == "official" and levels.basis == "levels"
    assert proj.ytd_growth_pct == official
    factor = (1 + levels.recomputed_ytd_growth_pct / 100) / (1 + official / 100)
    assert proj.projected_total == pytest.approx(levels.projected_total)
    expected = ((1 + levels.projected_growth_pct / 100) / factor - 1) * 100
    assert proj.projected_growth_pct == pytest.approx(expected)
    assert proj.projected_growth_pct > levels.projected_growth_pct + 0.8
    assert proj.path["growth_pct"].iloc[5] == pytest.approx(official)


def test_required_growth_on_the_official_basis_is_pinned_by_hand():
    # Last year: 100 a month to June, 120 after (1320); this year 110 a month to June: +10% on levels, while
    # the office publishes +8% on its comparable basis, so last year is re-based by 1.10 / 1.08. On that
    # basis the rest of the year must grow by r with 1.13 × B = 1.08 × H1 + (1 + r) × H2, B = H1 + H2 the
    # re-based year (H1 = 600, H2 = 720 re-based alike, so the factor cancels out of r):
    # 1.13 × 1320 = 1.08 × 600 + (1 + r) × 720 → r = 17.1667% for the low bound; 1.14 → r = 19%.
    months = pd.period_range("2018-01", "2019-06", freq="M")
    s = pd.Series([100.0] * 6 + [120.0] * 6 + [110.0] * 6, index=months)
    proj = growth.project_annual_growth(s, "2019-06", (13.0, 14.0), official_ytd_growth_pct=8.0, **FAST)
    assert proj.basis == "official" and proj.model == "naive_ytd"  # short history; the formula is model-free
    assert proj.recomputed_ytd_growth_pct == pytest.approx(10.0)
    assert proj.required_growth_low_pct == pytest.approx((1.13 * 1320 - 1.08 * 600) / 720 * 100 - 100)
    assert proj.required_growth_low_pct == pytest.approx(17.1666667)
    assert proj.required_growth_high_pct == pytest.approx(19.0)
    # the naive projection carries the year-to-date pace: 1452 on levels, +10%, which is +8% officially
    assert proj.projected_total == pytest.approx(660 + 1.1 * 720)
    assert proj.projected_growth_pct == pytest.approx(8.0)
    # on levels (no official figure) the same data need less: 1.13 × 1320 = 660 + (1 + r) × 720 → 15.5%
    levels = growth.project_annual_growth(s, "2019-06", (13.0, 14.0), **FAST)
    assert levels.basis == "levels"
    assert levels.required_growth_low_pct == pytest.approx(15.5)
    assert levels.required_growth_high_pct == pytest.approx((1.14 * 1320 - 660) / 720 * 100 - 100)


def test_interval_and_probabilities_mean_what_they_say():
    """The 80% interval is the 10th to 90th percentile of the simulated growth: with the band set to it,
    P(growth ≥ low) is 0.9 and P(growth ≥ high) is 0.1 (the same draws: same seed)."""
    s = steady(years=6)
    proj = growth.project_annual_growth(s, "2018-05", (9.0, 10.0), **FAST)
    low, high = proj.interval_80
    at = growth.project_annual_growth(s, "2018-05", (low, high), **FAST)
    assert at.interval_80 == (low, high)
    assert at.p_reach_low == pytest.approx(0.9, abs=2 / FAST["repetitions"])
    assert at.p_reach_high == pytest.approx(0.1, abs=2 / FAST["repetitions"])
    assert at.interval_95[0] < low and at.interval_95[1] > high


def test_a_complete_year_exactly_at_the_band_reaches_it():
    # the whole year published: growth is known (1356 / 1200 − 1 = 13%), so reaching a band that starts at
    # exactly 13% is certain, and one that starts above it impossible
    months = pd.period_range("2018-01", "2019-12", freq="M")
    s = pd.Series([100.0] * 12 + [113.0] * 12, index=months)
    proj = growth.project_annual_growth(s, "2019-12", (13.0, 13.5), **FAST)
    assert proj.model == "complete" and proj.projected_growth_pct == pytest.approx(13.0)
    assert proj.p_reach_low == 1.0 and proj.p_reach_high == 0.0
    assert proj.interval_80 == pytest.approx((13.0, 13.0))


def test_interval_widening_stretches_draws_on_the_log_scale():
    # around a point of 1.1 (10% growth), a draw of 1.21 is one log-step of ln 1.1 above it: stretched by 2
    # it is two steps above (1.1³ = 1.331); 1.0 becomes 1.1⁻¹; a scale of 1 leaves the draws as they are
    draws = np.array([1.0, 1.1, 1.21])
    assert growth_engine._widen(1.1, draws, 2.0) == pytest.approx([1 / 1.1, 1.1, 1.331])
    assert growth_engine._widen(1.1, draws, 0.5) == pytest.approx([1.1**0.5, 1.1, 1.1**1.5])
    assert growth_engine._widen(1.1, draws, 1.0) is draws


def test_short_history_falls_back_to_naive_ytd():
    s = steady(years=2, start=2018)[:"2019-05"]
    proj = growth.project_annual_growth(s, "2019-05", (9.0, 10.0))
    assert proj.model == "naive_ytd"
    assert "short history" in proj.fallback_reason
    json.dumps(proj.to_dict(), allow_nan=False)  # strict JSON: NaN becomes null
    assert proj.projected_growth_pct == pytest.approx(proj.ytd_growth_pct)


def test_two_full_years_are_enough():
    s = steady(years=3, start=2017)[:"2019-08"]
    proj = growth.project_annual_growth(s, "2019-08", (9.0, 10.0), repetitions=300)
    assert proj.model in growth.CANDIDATES
    assert math.isfinite(proj.projected_growth_pct) and math.isfinite(proj.interval_80[0])
    assert "default" in proj.fallback_reason  # no past year to backtest on


def test_previous_year_must_be_complete():
    s = steady(years=3)
    with pytest.raises(ValueError, match="previous year"):
        growth.project_annual_growth(s.drop(pd.Period("2014-07", "M"))[:"2014-03"], "2015-03", (1, 2))
    with pytest.raises(ValueError, match="positive"):
        growth.project_annual_growth(-s, "2015-03", (1, 2))


def test_complete_year_has_no_uncertainty():
    s = steady(years=5)
    proj = growth.project_annual_growth(s, "2016-12", (5.0, 6.0), **FAST)
    actual = (s[s.index.year == 2016].sum() / s[s.index.year == 2015].sum() - 1) * 100
    assert proj.model == "complete"
    assert proj.projected_growth_pct == pytest.approx(actual)
    assert proj.interval_95[0] == pytest.approx(actual) and proj.interval_95[1] == pytest.approx(actual)


# --------------------------------------------------------------------------------------- backtest


def test_backtest_compares_with_the_naive_methods():
    s = steady(years=6)
    bt = growth.backtest(s, as_of_months=[3, 6], models=("profile",), repetitions=300)
    assert set(bt["method"]) == {"selected", "profile", "naive_ytd", "seasonal_naive"}
    assert sorted(bt["year"].unique()) == [2015, 2016, 2017, 2018]
    row = bt[(bt["method"] == "naive_ytd") & (bt["as_of"] == "2016-06")].iloc[0]
    ytd = s["2016-01":"2016-06"].sum() / s["2015-01":"2015-06"].sum() - 1
    assert row["projected_growth_pct"] == pytest.approx(ytd * 100)
    actual = s[s.index.year == 2016].sum() / s[s.index.year == 2015].sum() - 1
    assert row["actual_growth_pct"] == pytest.approx(actual * 100)
    sn = bt[(bt["method"] == "seasonal_naive") & (bt["as_of"] == "2016-06")].iloc[0]
    rest = s["2015-07":"2015-12"].sum()
    assert sn["projected_growth_pct"] == pytest.approx(
        (s["2016-01":"2016-06"].sum() + rest) / s[s.index.year == 2015].sum() * 100 - 100
    )
    summary = growth.backtest_summary(bt, months=[3, 6])
    assert list(summary["method"]) == ["selected", "profile", "naive_ytd", "seasonal_naive"]
    assert summary.loc[summary["method"] == "naive_ytd", "mae_vs_naive"].iloc[0] == pytest.approx(1.0)
    assert summary["coverage_80"].dropna().between(0, 1).all()
    # a series growing steadily: anything with a growth rate beats "the rest of the year repeats last year"
    mae = summary.set_index("method")["mae_pp"]
    assert mae["profile"] < mae["seasonal_naive"] / 2


def test_real_series_beat_the_naive_method():
    """Two real series (data/reference: tourism and M3), as-of March to September: the selected model's mean
    absolute error of full-year growth is below the naive YTD method's (the full figures: docs/growth.md)."""
    ref = growth.reference_series(["tourism:M41", "m3:N2190"])
    assert all(len(s) == 120 and (s > 0).all() for s in ref.values())
    bt = growth.evaluate(ref, holiday=False, models=("combined", "ets", "profile"), repetitions=300)
    summary = growth.backtest_summary(bt).set_index("method")
    assert summary.loc["selected", "mae_pp"] < summary.loc["naive_ytd", "mae_pp"]
    assert 0.5 < summary.loc["selected", "coverage_80"] <= 1.0


# ------------------------------------------------------------------------------- store and turnover


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


# ------------------------------------------------------------------------------------ CSV and CLI


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


# --------------------------------------------------------------------------------------- notebook


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


# --------------------------------------------------------------------------------------- many series


def test_project_many_in_worker_processes_equals_serial():
    import os

    env_before = {k: os.environ.get(k) for k in growth.SINGLE_THREAD_ENV}
    series = {f"s{i}": steady(years=4, growth_pct=5.0 + 3 * i, seed=i) for i in range(3)}
    # `profile` only: the workers run one BLAS thread and this process may run several, and an optimizer on
    # these near-noise-free series can reach another optimum under some OpenBLAS kernels (Prescott); what is
    # tested here is the pool (order, seeds, environment), which needs no optimizer
    kw = {"models": ("profile",), "repetitions": 200}
    serial = growth.project_many(series, "2016-06", (8.0, 9.0), workers=1, **kw)  # in this process, no pool
    parallel = growth.project_many(series, "2016-06", (8.0, 9.0), workers=2, **kw)
    assert list(serial) == list(parallel) == list(series)
    assert (
        serial["s0"].to_dict()
        == growth.project_annual_growth(series["s0"], "2016-06", (8.0, 9.0), **kw).to_dict()
    )
    for name in series:
        assert parallel[name].to_dict() == serial[name].to_dict()
    assert {k: os.environ.get(k) for k in growth.SINGLE_THREAD_ENV} == env_before  # restored after the pool
