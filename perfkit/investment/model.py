"""The projection model: the scale estimate, the final value's distribution, and the panel of reports.

From what is done (A) at profile time a, the deadline total is estimated from the year to date and from
the last few months, pulled a little toward the plan (`_estimate`); the remaining amount is lognormal
around the point (whole-item counts: negative binomial), which gives the 80% interval, P(reach target)
and E[shortfall] (`_final_distribution`). `_panel` lays the reports out as a measure × month matrix and
`_state` reads what is known at a month (corrections restate earlier figures down first).
Used by calibration (backtests) and projection alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from ..catalogue import Catalogue
from ..workplan import planned_shape
from .profile import MONTHS, Settings, _tau

Z80 = NormalDist().inv_cdf(0.9)  # an 80% central interval leaves 10% on each side


DISCRETE_KINDS = ("count",)  # whole items: vehicles, bridges, routes, enforcement actions


def _estimate(A, a, A_back, a_back, T, b, w, p):
    """Scale, point forecast at profile time b, and unit standard deviation (σ = 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        whole = (A + p * T) / (a + p)
        recent = (np.maximum(A - A_back, 0.0) + p * T) / (a - a_back + p)
        scale = (1 - w) * whole + w * recent
        point = A + scale * np.maximum(b - a, 0.0)
        unit_sd = scale * np.sqrt(np.maximum(b * (b - a), 0.0) / (a + p))
    return scale, point, unit_sd


def _lognormal_remaining(median: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """μ, s of a lognormal with this median and (about) this sd; s = 0 where nothing is left or no spread.
    The point forecast is the median, so 'projected above target' and 'p_reach above ½' agree."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.log1p(np.where(median > 0, (sd / median) ** 2, 0.0))
        mu = np.where(median > 0, np.log(np.where(median > 0, median, 1.0)), -np.inf)
    return mu, np.sqrt(s2)


def _distribution(A, remaining, sd, T):
    """80% interval, P(reach T), E[shortfall] for final = A + R, R lognormal (median `remaining`)."""
    # scipy imported where used: the notebooks import this package to read a snapshot, never to project
    from scipy.special import ndtr

    mu, s = _lognormal_remaining(remaining, sd)
    spread = s > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean_r = np.exp(mu + s**2 / 2)
        low = np.where(spread, A + np.exp(mu - Z80 * s), A + remaining)
        high = np.where(spread, A + np.exp(mu + Z80 * s), A + remaining)
        need = T - A
        safe_s = np.where(spread, s, 1.0)
        safe_need = np.where(need > 0, need, 1.0)
        p_spread = ndtr((mu - np.log(safe_need)) / safe_s)
        p = np.where(need <= 0, 1.0, np.where(spread, p_spread, (A + remaining >= T - 1e-9).astype(float)))
        d1 = (mu + s**2 - np.log(safe_need)) / safe_s
        es_spread = need * ndtr(-(d1 - safe_s)) - mean_r * ndtr(-d1)
        es = np.where(need <= 0, 0.0, np.where(spread, es_spread, np.maximum(need - remaining, 0.0)))
    return low, high, p, np.maximum(es, 0.0)


def _count_distribution(A, remaining, var, T, tail: bool = True):
    """Whole items: the remaining count is negative binomial with mean `remaining` and variance `var`
    (Poisson where var ≤ mean). Returns the 80% interval, P(reach T), E[shortfall] and the median final
    count (a whole number of items)."""
    from scipy.stats import nbinom, poisson  # see _distribution

    need = np.maximum(np.ceil(T - A - 1e-9), 0.0)
    m = np.where(remaining > 0, remaining, 0.0)
    over = var > m * (1 + 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_nb = np.where(over, m * m / np.where(over, var - m, 1.0), 1.0)
        p_nb = np.where(over, m / np.where(over, var, 1.0), 0.5)

    def ppf(q):
        return np.where(over, nbinom.ppf(q, n_nb, p_nb), poisson.ppf(q, m))

    def cdf(k, col=lambda v: v):
        return np.where(col(over), nbinom.cdf(k, col(n_nb), col(p_nb)), poisson.cdf(k, col(m)))

    nothing = m <= 0  # nothing more expected: the final is what is done
    low = np.where(nothing, A, A + ppf(0.1))
    high = np.where(nothing, A, A + ppf(0.9))
    median = np.where(nothing, A, A + ppf(0.5))
    p = np.where(need <= 0, 1.0, np.where(nothing, 0.0, 1.0 - cdf(need - 1)))
    # E[(need − N)+] = Σ_{j < need} P(N ≤ j); skipped (tail=False) where only the interval is wanted
    top = int(np.nanmax(np.where(np.isnan(A), 0.0, need), initial=0)) if tail else 0
    j = np.arange(top)[None, :]
    below = np.where(j < need[:, None], cdf(j, lambda v: v[:, None]), 0.0)
    es = np.where(nothing, need, below.sum(axis=1))
    bad = np.isnan(A) | np.isnan(remaining)
    return tuple(np.where(bad, np.nan, v) for v in (low, high, p, es, median))


def _final_distribution(A, remaining, sd, T, discrete, shape, tail: bool = True):
    """Continuous measures: lognormal remaining amount. Whole-item counts: negative binomial with the
    larger of two variances, the Gamma–Poisson one implied by the estimate itself (items seen so far, the
    plan as prior) and the calibrated one (sd²), so a handful of items is never projected too sharply.

    Returns the 80% interval, P(reach T), E[shortfall] and the median final value: A + `remaining` for
    amounts (the lognormal's median), a whole number for counts (the negative binomial's median), so the
    point lies inside its interval and is at or above T exactly when P(reach T) is at least one half."""
    low, high, p, es = _distribution(A, remaining, sd, T)
    median = A + remaining
    discrete = np.asarray(discrete, dtype=bool) & ~np.isnan(A)
    if discrete.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            gp_var = remaining + np.where(shape > 0, remaining**2 / shape, 0.0)
        var = np.maximum(gp_var, sd**2)
        idx = np.flatnonzero(discrete)
        c = _count_distribution(A[idx], remaining[idx], var[idx], T[idx], tail)
        for arr, new in zip((low, high, p, es, median), c, strict=True):
            arr[idx] = new
    return low, high, p, es, median


@dataclass
class _Panel:
    """Measures in scope and their reports as a matrix: one row per measure, columns month 0..12."""

    measures: pd.DataFrame
    values: np.ndarray  # reported cumulative (NaN where none); column 0 is 0
    noted: np.ndarray  # (n, 13) a correction word in the month's note
    tau: np.ndarray  # (n, 13)
    target: np.ndarray
    deadline: np.ndarray


def _scope(catalogue: Catalogue, cfg: Settings) -> pd.DataFrame:
    m = catalogue.measures
    m = m[m["kind"].isin(cfg.kinds) & m["schedule"].isin(cfg.schedules) & m["target"].notna()]
    m = m[m["target"].astype(float) > 0]
    ind = catalogue.indicators.set_index("id")
    out = m[
        ["measure_id", "indicator_id", "name", "kind", "unit", "schedule", "reporting_unit", "target"]
    ].copy()
    for col in ("leaders", "units", "persons"):
        out[col] = out["indicator_id"].map(ind[col]).map(lambda v: list(v) if isinstance(v, list) else [])
    out["deadline_month"] = m["deadline_month"].astype(int).clip(1, MONTHS).to_numpy()
    out["target"] = out["target"].astype(float)
    return out.reset_index(drop=True)


def _panel(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    profiles: dict[str, np.ndarray],
    cfg: Settings,
    plan: pd.DataFrame | None = None,
) -> _Panel:
    ms = _scope(catalogue, cfg)
    n = len(ms)
    values = np.full((n, MONTHS + 1), np.nan)
    values[:, 0] = 0.0
    noted = np.zeros((n, MONTHS + 1), dtype=bool)
    p = progress[progress["month"].dt.year == catalogue.year]
    pos = pd.Series(np.arange(n), index=ms["measure_id"])
    p = p[p["measure_id"].isin(pos.index)]
    if len(p):
        rows = pos[p["measure_id"]].to_numpy()
        cols = p["month"].dt.month.to_numpy()
        values[rows, cols] = p["cumulative"].to_numpy(dtype=float)
        words = "|".join(re.escape(w) for w in cfg.correction_words)
        noted[rows, cols] = p["note"].str.contains(words, regex=True).to_numpy() if words else False
    deadline = ms["deadline_month"].to_numpy()
    tau = np.zeros((n, MONTHS + 1))
    for kind, idx in ms.groupby("kind").indices.items():
        tau[idx] = _tau(profiles[kind], deadline[idx])
    if plan is not None and len(plan):  # a unit's own 分月计划 is its measures' profile (perfkit.workplan)
        shape = planned_shape(plan, pd.Index(ms["measure_id"]), catalogue.year)
        own = ~np.isnan(shape[:, MONTHS])
        tau[own] = shape[own]
    return _Panel(ms, values, noted, tau, ms["target"].to_numpy(dtype=float), deadline)


def _restated(values: np.ndarray, upto: np.ndarray) -> np.ndarray:
    """Reports up to each row's month `upto` (later ones masked), earlier figures lowered to any later,
    smaller figure: a correction says the earlier ones were too high."""
    cols = np.arange(values.shape[1])
    v = np.where(cols[None, :] <= upto[:, None], values, np.nan)
    low = np.fmin.accumulate(v[:, ::-1], axis=1)[:, ::-1]
    return np.where(np.isnan(v), np.nan, low)


def _last_observed(v: np.ndarray) -> np.ndarray:
    """For each row and month, the latest month at or before it with a report (0: none)."""
    cols = np.arange(v.shape[1])
    idx = np.where(~np.isnan(v), cols[None, :], 0)
    return np.maximum.accumulate(idx, axis=1)


@dataclass
class _State:
    """What is known as of month t (per measure): the estimate's inputs."""

    last: np.ndarray  # month of the latest report (0: none)
    actual: np.ndarray
    a: np.ndarray
    back: np.ndarray
    actual_back: np.ndarray
    a_back: np.ndarray
    corrected: np.ndarray


def _state(panel: _Panel, t: np.ndarray, recent_months: int) -> _State:
    n = len(t)
    r = np.arange(n)
    v = _restated(panel.values, t)
    lastobs = _last_observed(v)
    last = lastobs[r, t]
    actual = v[r, last]
    back = lastobs[r, np.maximum(last - recent_months, 0)]
    cols = np.arange(v.shape[1])[None, :]
    raw = np.where(cols <= t[:, None], panel.values, np.nan)
    dropped = np.nansum((raw - v) > 1e-9, axis=1) > 0
    noted = np.any(panel.noted & (cols <= t[:, None]), axis=1)
    return _State(
        last=last,
        actual=actual,
        a=panel.tau[r, last],
        back=back,
        actual_back=v[r, back],
        a_back=panel.tau[r, back],
        corrected=dropped | noted,
    )
