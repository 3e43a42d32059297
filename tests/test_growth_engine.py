"""perfkit.growth_engine: publication periods (1—2月 as one), the candidate fits (kept with a note when
unconverged, the airline likelihood against statsmodels') and the interval widening."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from growth_cases import steady

from perfkit import growth, growth_engine


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


def test_interval_widening_stretches_draws_on_the_log_scale():
    # around a point of 1.1 (10% growth), a draw of 1.21 is one log-step of ln 1.1 above it: stretched by 2
    # it is two steps above (1.1³ = 1.331); 1.0 becomes 1.1⁻¹; a scale of 1 leaves the draws as they are
    draws = np.array([1.0, 1.1, 1.21])
    assert growth_engine._widen(1.1, draws, 2.0) == pytest.approx([1 / 1.1, 1.1, 1.331])
    assert growth_engine._widen(1.1, draws, 0.5) == pytest.approx([1.1**0.5, 1.1, 1.1**1.5])
    assert growth_engine._widen(1.1, draws, 1.0) is draws
