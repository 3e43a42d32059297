"""Year-end projection of investment and other cumulative measures (项目投资 and 累计类指标).

For each measure, from its monthly cumulative reports: where it will stand at its deadline (with an 80%
interval), the chance of reaching the target, the shortfall, the monthly amount still needed, and the gap
to the pro-rata schedule (序时进度 = months elapsed ÷ months to deadline).

Method (docs/investment.md has the derivation and the backtest figures):
- Profile time. Construction spending is back-loaded, so time is measured on a completion profile: τ(m)
  is the share of the year's amount normally done by the end of month m, rescaled so τ(deadline) = 1.
  Investment follows a profile learned from past years when enough exist, else plan.toml's
  [investment.default_profile] (national 2019 figures); other kinds follow time linearly.
- Scale. The deadline total is estimated twice: from the year to date, (A + p·T) / (τ + p), and from the
  last few months, (ΔA + p·T) / (Δτ + p); p is a small prior weight on the plan (T, the target) so a
  measure with nothing reported yet is not projected at zero. The two are averaged with a weight from the
  plan: the year-to-date figure is steadier; the recent one notices a stall or a catch-up.
- Projection: A + scale × (1 − τ). Uncertainty: if reports scatter around the profile like a random walk
  in profile time, the estimate's error has standard deviation σ·scale·√((1−τ)/(τ+p)). σ is measured, not
  assumed: from backtests on past years (leave-one-out) or, without them, on real public series (plan.toml
  [[investment.public_series]]), and from this year's own backtests per measure; the larger is used, widened
  for few cases (Student's t). The remaining amount is lognormal around the projection (its median), so the
  interval never goes below what is done; whole-item counts use a negative binomial instead.
- Edges: no reports yet; already complete (fixed-scope items stop at the target, spending goes on); the
  deadline passed (the value at the deadline is final); a correction that lowered an earlier figure
  (earlier months are restated down to the corrected value before any pace is measured).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy.special import ndtr
from scipy.stats import nbinom, poisson
from scipy.stats import t as student_t

from .catalogue import Catalogue
from .errors import InputError, Problem
from .months import parse_month

Z80 = NormalDist().inv_cdf(0.9)  # an 80% central interval leaves 10% on each side
MONTHS = 12
DISCRETE_KINDS = ("count",)  # whole items: vehicles, bridges, routes, enforcement actions
EDGES = ("", "no_data", "complete", "deadline_passed", "corrected")
METHODS = ("blend", "profile", "run_rate", "pro_rata")
PROJECTION_KEYS = {
    "kinds": list,
    "schedules": list,
    "back_loaded_kinds": list,
    "recent_months": int,
    "recent_weight": float,
    "prior_weight": float,
    "min_history_series": int,
    "correction_words": list,
    "continue_after_target": list,
}
COLUMNS = [
    "measure_id",
    "indicator_id",
    "name",
    "kind",
    "unit",
    "schedule",
    "reporting_unit",
    "leaders",
    "units",
    "persons",
    "target",
    "actual",
    "projected",
    "interval_80_low",
    "interval_80_high",
    "p_reach",
    "shortfall",
    "expected_shortfall",
    "required_monthly",
    "actual_pct",
    "projected_pct",
    "schedule_pct",
    "schedule_gap_pp",
    "profile_pct",
    "profile_gap_pp",
    "deadline_month",
    "months_elapsed",
    "data_month",
    "months_since_report",
    "edge",
    "method",
    "profile_source",
    "schedule_source",
]


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    """plan.toml [investment.projection], checked."""

    kinds: tuple[str, ...]
    schedules: tuple[str, ...]
    back_loaded_kinds: tuple[str, ...]
    recent_months: int
    recent_weight: float
    prior_weight: float
    min_history_series: int
    correction_words: tuple[str, ...]
    continue_after_target: tuple[str, ...]


def settings(catalogue: Catalogue) -> Settings:
    """The projection's parameters from plan.toml; a missing or mistyped key names the file and key."""
    plan_file = str(Path(catalogue.plan_dir) / "plan.toml")
    section = catalogue.plan.get("investment", {}).get("projection", {})
    problems, values = [], {}
    for key, typ in PROJECTION_KEYS.items():
        v = section.get(key)
        if v is None:
            problems.append(Problem(plan_file, f"[investment.projection] {key} is missing", cell=key))
        elif typ is float and isinstance(v, int | float) and not isinstance(v, bool):
            values[key] = float(v)
        elif not isinstance(v, typ) or isinstance(v, bool):
            problems.append(
                Problem(
                    plan_file, f"[investment.projection] {key} must be {typ.__name__}, got {v!r}", cell=key
                )
            )
        else:
            values[key] = tuple(v) if typ is list else v
    if not problems:
        if not 0 <= values["recent_weight"] <= 1:
            problems.append(Problem(plan_file, "[investment.projection] recent_weight must be in 0..1"))
        if values["prior_weight"] <= 0:
            problems.append(Problem(plan_file, "[investment.projection] prior_weight must be above 0"))
        if values["recent_months"] < 1:
            problems.append(Problem(plan_file, "[investment.projection] recent_months must be at least 1"))
    if problems:
        raise InputError(problems)
    return Settings(**values)


def default_profile(catalogue: Catalogue) -> np.ndarray:
    """plan.toml's default cumulative profile (12 shares, non-decreasing, ending at 1)."""
    plan_file = str(Path(catalogue.plan_dir) / "plan.toml")
    try:
        shares = np.asarray(catalogue.plan["investment"]["default_profile"]["shares"], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            Problem(plan_file, "[investment.default_profile] shares: 12 numbers needed", cell="shares")
        ) from exc
    if shares.shape != (MONTHS,) or np.any(np.diff(shares) < 0) or shares[0] <= 0 or shares[-1] != 1:
        raise InputError(
            Problem(
                plan_file,
                "[investment.default_profile] shares must be 12 non-decreasing numbers above 0 ending at 1",
                cell="shares",
            )
        )
    return shares


def linear_profile() -> np.ndarray:
    return np.arange(1, MONTHS + 1) / MONTHS


def _tidy(progress: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check and normalise a tidy progress frame: measure_id, month (Period[M]), cumulative, note."""
    missing = [c for c in ("measure_id", "month", "cumulative") if c not in progress.columns]
    if missing:
        raise InputError(Problem(source, f"missing columns: {', '.join(missing)}"))
    df = progress.copy()
    if not isinstance(df["month"].dtype, pd.PeriodDtype):
        months = []
        for i, v in enumerate(df["month"].tolist()):
            try:
                months.append(pd.Period(v, freq="M"))
            except (ValueError, TypeError) as exc:
                raise InputError(
                    Problem(source, f"month {v!r} is not YYYY-MM", cell=f"row {i + 2}, month")
                ) from exc
        df["month"] = pd.PeriodIndex(months, freq="M") if months else pd.PeriodIndex([], freq="M")
    df["cumulative"] = pd.to_numeric(df["cumulative"], errors="coerce").astype(float)
    if "note" not in df.columns:
        df["note"] = ""
    df["note"] = df["note"].fillna("").astype(str)
    return df


# ------------------------------------------------------------------------------------------ profiles


def _series_shares(history: pd.DataFrame) -> pd.DataFrame:
    """Past-year series with a December value above 0, as shares of December (one row per measure × year,
    columns 1..12; months not reported are interpolated linearly from the months around them)."""
    h = history.dropna(subset=["cumulative"])
    if h.empty:
        return pd.DataFrame(columns=["measure_id", "year", "kind", *range(1, MONTHS + 1)])
    h = h.assign(year=h["month"].dt.year, m=h["month"].dt.month)
    wide = h.pivot_table(
        index=["measure_id", "year", "kind"], columns="m", values="cumulative", aggfunc="last"
    )
    wide = wide.reindex(columns=range(1, MONTHS + 1))
    wide = wide[wide[MONTHS] > 0]
    shares = wide.div(wide[MONTHS], axis=0)
    shares.insert(0, 0, 0.0)
    shares = shares.T.interpolate(method="index", limit_area="inside").T.drop(columns=0)
    # A later correction restates earlier months down; shares then never decrease.
    vals = np.fmin.accumulate(shares.to_numpy()[:, ::-1], axis=1)[:, ::-1]
    shares.loc[:, :] = np.clip(vals, 0, 1)
    return shares.reset_index()


def _profile_from(shares: pd.DataFrame) -> np.ndarray:
    prof = np.nanmedian(shares[list(range(1, MONTHS + 1))].to_numpy(dtype=float), axis=0)
    prof = np.maximum.accumulate(np.clip(prof, 1e-6, 1))
    prof[-1] = 1.0
    return prof


# Partial pooling: a measure's own backtest errors count against this many cases at its kind's typical σ.
POOL_CASES = 10


@lru_cache(maxsize=512)
def small_sample_factor(n: int) -> float:
    """Widening for a σ estimated from n cases: Student's t with n degrees of freedom instead of the
    normal (a predictive interval from a handful of cases must be wider)."""
    return float(student_t.ppf(0.9, n) / Z80) if n >= 1 else 1.0


@dataclass
class Calibration:
    """What the projection learned before projecting: profiles by kind and the interval width σ.

    σ is the spread of backtest errors in units of the model's own standard deviation (1 would mean the
    random-walk model is exactly right). `sigma_reference` comes from past years (or the public series);
    this year's reports give each measure its own σ, pooled toward its kind's typical value."""

    profiles: dict[str, np.ndarray]
    profile_source: dict[str, str]
    sigma_reference: float
    reference: str  # 'history' or 'public'
    n_reference: int
    kind_sigma: dict[str, float] = field(default_factory=dict)
    kind_cases: dict[str, int] = field(default_factory=dict)
    measure_sigma: dict[str, float] = field(default_factory=dict)
    measure_cases: dict[str, int] = field(default_factory=dict)
    history_series: int = 0
    notes: list[str] = field(default_factory=list)

    def sigma(self, measure_id: str, kind: str) -> float:
        """The wider of the two, each widened for its number of cases: real series say how far a year
        departs from the profile; this year's reports say how erratic this measure is (the synthetic
        sample, built on the profile, hardly departs from it)."""
        ref = self.sigma_reference * small_sample_factor(self.n_reference)
        own = self.measure_sigma.get(measure_id, self.kind_sigma.get(kind, 0.0))
        cur = own * small_sample_factor(self.measure_cases.get(measure_id, 0) + POOL_CASES)
        return max(ref, cur)

    def sigmas(self, measures: pd.DataFrame) -> np.ndarray:
        return np.array(
            [self.sigma(m, k) for m, k in zip(measures["measure_id"], measures["kind"], strict=True)],
            dtype=float,
        )

    def summary(self) -> pd.DataFrame:
        """One row per kind: profile used, reference σ, this year's typical σ."""
        rows = []
        for k in sorted(self.profile_source):
            rows.append(
                {
                    "kind": k,
                    "profile": self.profile_source[k],
                    "reference": self.reference,
                    "sigma_reference": round(self.sigma_reference, 4),
                    "reference_cases": self.n_reference,
                    "sigma_this_year": round(self.kind_sigma.get(k, 0.0), 4),
                    "cases_this_year": self.kind_cases.get(k, 0),
                }
            )
        return pd.DataFrame(rows)


def _history_kinds(catalogue: Catalogue, history: pd.DataFrame | None) -> pd.DataFrame | None:
    if history is None or len(history) == 0:
        return None
    h = _tidy(history, "history")
    if "kind" not in h.columns:
        h["kind"] = h["measure_id"].map(catalogue.measures.set_index("measure_id")["kind"])
    h = h[h["kind"].notna() & (h["month"].dt.year < catalogue.year)]
    return h if len(h) else None


def learn_profiles(
    catalogue: Catalogue, history: pd.DataFrame | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str], pd.DataFrame]:
    """Profile per projected kind: learned (median share by month over past-year series of that kind) when
    at least min_history_series exist, else the default (back-loaded kinds) or linear. Also returns the
    past-year share table used."""
    cfg = settings(catalogue)
    profiles: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    for kind in cfg.kinds:
        back = kind in cfg.back_loaded_kinds
        profiles[kind] = default_profile(catalogue) if back else linear_profile()
        source[kind] = "default" if back else "linear"
    h = _history_kinds(catalogue, history)
    empty = pd.DataFrame(columns=["measure_id", "month", "cumulative", "kind"])
    shares = _series_shares(h if h is not None else empty)
    for kind, g in shares.groupby("kind") if len(shares) else []:
        if kind in profiles and len(g) >= cfg.min_history_series:
            profiles[kind] = _profile_from(g)
            source[kind] = "history"
    return profiles, source, shares


# -------------------------------------------------------------------------------------- the estimate


def _tau(profile: np.ndarray, deadline: np.ndarray) -> np.ndarray:
    """Profile time, one row per measure, columns month 0..12: share done by month end ÷ share by the
    deadline, capped at 1 (month 0 is 0)."""
    prof = np.concatenate([[0.0], profile])
    tau = prof[None, :] / prof[deadline][:, None]
    return np.minimum(tau, 1.0)


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


# ----------------------------------------------------------------------------------------- the panel


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
        from .workplan import planned_shape

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


# ----------------------------------------------------------------------------------- calibration


def public_series(catalogue: Catalogue) -> pd.DataFrame:
    """plan.toml [[investment.public_series]] as a tidy table: one row per series × month (亿元)."""
    rows = []
    for s in catalogue.plan.get("investment", {}).get("public_series", []):
        for i, (m, v) in enumerate(zip(s["months"], s["cumulative"], strict=True)):
            rows.append(
                {
                    "series": s["name"],
                    "label": s["label"],
                    "year": int(s["year"]),
                    "month": int(m),
                    "cumulative": float(v),
                    "plan": float(s["plan"]),
                    "final": bool(s["final"]) and i == len(s["months"]) - 1,
                    "in_profile": bool(s["in_profile"]),
                    "source": s["source"],
                }
            )
    return pd.DataFrame(rows)


def _forecast_rows(panel: _Panel, t: int, horizon: np.ndarray, actual_h: np.ndarray, cfg: Settings, sigma):
    """Forecasts of the value at month `horizon` from data up to month t, by every method (one backtest
    step). Rows only where the horizon is later than t and a report exists by t."""
    n = len(horizon)
    tt = np.full(n, t)
    st = _state(panel, tt, cfg.recent_months)
    ok = (horizon > t) & (st.last > 0) & ~np.isnan(actual_h)
    r = np.arange(n)
    b = panel.tau[r, horizon]
    T = panel.target
    stop = (st.actual >= T - 1e-9) & ~panel.measures["kind"].isin(cfg.continue_after_target).to_numpy()
    out = {}
    for method, w in (("blend", cfg.recent_weight), ("profile", 0.0)):
        scale, point, unit_sd = _estimate(
            st.actual, st.a, st.actual_back, st.a_back, T, b, w, cfg.prior_weight
        )
        point = np.where(stop, st.actual, point)
        unit_sd = np.where(stop, 0.0, unit_sd)
        out[method] = (point, unit_sd, np.where(stop, 0.0, scale * (st.a + cfg.prior_weight)))
    out["run_rate"] = (st.actual / t * horizon, np.zeros(n), np.zeros(n))
    out["pro_rata"] = (T * horizon / panel.deadline, np.zeros(n), np.zeros(n))
    discrete = panel.measures["kind"].isin(DISCRETE_KINDS).to_numpy()
    rows = []
    for method, (point, unit_sd, shape) in out.items():
        remaining = point - st.actual
        if method == "blend":  # only the method in use is checked for coverage
            low, high, _, _, _ = _final_distribution(
                st.actual, remaining, sigma * unit_sd, T, discrete, shape, tail=False
            )
        else:
            low = high = point
        with np.errstate(divide="ignore", invalid="ignore"):
            err = point / actual_h - 1
            z = (actual_h - point) / unit_sd
        frame = pd.DataFrame(
            {
                "measure_id": panel.measures["measure_id"].to_numpy(),
                "kind": panel.measures["kind"].to_numpy(),
                "as_of_month": t,
                "horizon_month": horizon,
                "actual": actual_h,
                "method": method,
                "forecast": point,
                "error_pct": err * 100,
                "within_80": (actual_h >= low - 1e-9) & (actual_h <= high + 1e-9),
                "z": np.where(unit_sd > 0, z, np.nan) if method == "blend" else np.nan,
            }
        )
        rows.append(frame[ok & (actual_h != 0)])
    return pd.concat(rows, ignore_index=True)


def _backtest_panel(panel: _Panel, last_month: int, cfg: Settings, sigma) -> pd.DataFrame:
    """Forecast each measure's value at min(deadline, last_month) from every earlier month."""
    n = len(panel.target)
    horizon_month = np.minimum(panel.deadline, last_month)
    final = _restated(panel.values, horizon_month)
    actual_h = final[np.arange(n), horizon_month]
    parts = [
        _forecast_rows(panel, t, horizon_month, actual_h, cfg, sigma[t] if isinstance(sigma, dict) else sigma)
        for t in range(1, last_month)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(
            columns=["measure_id", "kind", "as_of_month", "horizon_month", "actual", "method", "forecast"]
            + ["error_pct", "within_80", "z"]
        )
    return pd.concat(parts, ignore_index=True)


def _public_panel(catalogue: Catalogue, cfg: Settings) -> tuple[_Panel, pd.DataFrame]:
    series = public_series(catalogue)
    if series.empty:
        return None, series
    names = list(dict.fromkeys(series["series"]))
    n = len(names)
    values = np.full((n, MONTHS + 1), np.nan)
    values[:, 0] = 0.0
    info = series.groupby("series", sort=False).first().reindex(names)
    info["final"] = series.groupby("series", sort=False)["final"].any().reindex(names)
    for i, name in enumerate(names):
        g = series[series["series"] == name]
        values[i, g["month"].to_numpy()] = g["cumulative"].to_numpy()
    deadline = np.full(n, MONTHS)
    ms = pd.DataFrame({"measure_id": names, "kind": "investment", "target": info["plan"].to_numpy()})
    tau = _tau(default_profile(catalogue), deadline)
    panel = _Panel(ms, values, np.zeros_like(values, dtype=bool), tau, ms["target"].to_numpy(), deadline)
    return panel, info.reset_index()


def backtest_public(catalogue: Catalogue, sigma: float | None = None) -> pd.DataFrame:
    """Backtest on the real public series: from each published month, forecast the series' last published
    value (the full year where `final`) with each method, using the default profile.

    Methods: blend (this module), profile (year-to-date only), run_rate (actual ÷ months elapsed × months
    to the horizon), pro_rata (the plan reached on schedule: plan × horizon ÷ 12). `within_80` uses the σ
    a projection would use without past years (estimated from these same cases, so it is in-sample);
    `z` is the error in units of the model's standard deviation.
    """
    cfg = settings(catalogue)
    panel, info = _public_panel(catalogue, cfg)
    if panel is None:
        return pd.DataFrame()
    if sigma is None:
        sigma_ref, n_ref = _public_sigma_cases(catalogue, cfg)
        sigma = sigma_ref * small_sample_factor(n_ref)
    last = np.array([int(np.nanmax(np.where(~np.isnan(r), np.arange(MONTHS + 1), 0))) for r in panel.values])
    parts = []
    for i, row in info.iterrows():
        one = _Panel(
            panel.measures.iloc[[i]].reset_index(drop=True),
            panel.values[[i]],
            panel.noted[[i]],
            panel.tau[[i]],
            panel.target[[i]],
            panel.deadline[[i]],
        )
        months = [m for m in range(1, last[i]) if not np.isnan(panel.values[i, m])]
        h = np.array([last[i]])
        for t in months:
            part = _forecast_rows(one, t, h, panel.values[i, h], cfg, sigma)
            part = part.assign(
                series=row["series"],
                label=row["label"],
                year=row["year"],
                plan=row["plan"],
                horizon_is_final=bool(row["final"]),
                in_profile=row["in_profile"],
            )
            parts.append(part)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(out):
        out = out.drop(columns=["measure_id", "kind"])
        front = ["series", "label", "year", "in_profile", "as_of_month", "horizon_month", "horizon_is_final"]
        out = out[front + [c for c in out.columns if c not in front]]
    return out


def _rms(z: pd.Series) -> tuple[float, int]:
    z = z.dropna()
    return (float(np.sqrt(np.mean(np.square(z)))) if len(z) else 0.0), int(len(z))


def _robust(z: pd.Series) -> tuple[float, int]:
    """σ from the median absolute z (1.4826 × median |z| is σ for normal errors): a few items that jump
    from 0 to done do not set the width for every measure of their kind."""
    z = z.dropna()
    return (float(1.4826 * np.median(np.abs(z))) if len(z) else 0.0), int(len(z))


def _current_sigma(bt: pd.DataFrame, kinds: tuple[str, ...]):
    """This year's σ: typical per kind (robust; all kinds pooled where a kind has few cases) and per
    measure (its own RMS z pooled toward its kind's, POOL_CASES pseudo-cases)."""
    z = bt.loc[bt["method"] == "blend", ["measure_id", "kind", "z"]].dropna() if len(bt) else None
    if z is None or z.empty:
        return {}, {}, {}, {}
    pooled = _robust(z["z"])
    kind_sigma, kind_cases = {}, {}
    for kind in kinds:
        own = _robust(z.loc[z["kind"] == kind, "z"])
        kind_sigma[kind], kind_cases[kind] = own if own[1] >= POOL_CASES else (pooled[0], own[1])
    g = z.assign(z2=z["z"] ** 2).groupby(["measure_id", "kind"])
    per = pd.DataFrame({"ss": g["z2"].sum(), "n": g["z2"].size()}).reset_index()
    prior = per["kind"].map(kind_sigma).fillna(pooled[0]).to_numpy(dtype=float)
    sigma = np.sqrt((per["ss"].to_numpy() + POOL_CASES * prior**2) / (per["n"].to_numpy() + POOL_CASES))
    measure_sigma = dict(zip(per["measure_id"], sigma.tolist(), strict=True))
    measure_cases = dict(zip(per["measure_id"], per["n"].astype(int).tolist(), strict=True))
    return kind_sigma, kind_cases, measure_sigma, measure_cases


def _public_sigma_cases(catalogue: Catalogue, cfg: Settings) -> tuple[float, int]:
    """σ from the public series the default profile was not built from (out of sample)."""
    bt = backtest_public(catalogue, sigma=1.0)
    if bt.empty:
        return 0.0, 0
    use = bt[(bt["method"] == "blend") & ~bt["in_profile"]]
    return _rms(use["z"])


def _history_sigma(
    catalogue: Catalogue, shares: pd.DataFrame, cfg: Settings, profile_source: dict[str, str]
) -> tuple[float, int]:
    """σ from past years, leave-one-out: each past series is forecast from every month with the profile
    learned from the other series (the default or linear one where its kind has too few)."""
    zs = []
    cols = list(range(1, MONTHS + 1))
    for kind, g in shares.groupby("kind"):
        if kind not in profile_source:
            continue
        grid = g[cols].to_numpy(dtype=float)
        for i in range(len(g)):
            if profile_source[kind] == "history" and len(g) - 1 >= cfg.min_history_series:
                others = g.drop(index=g.index[i])
                prof = _profile_from(others)
            elif kind in cfg.back_loaded_kinds:
                prof = default_profile(catalogue)
            else:
                prof = linear_profile()
            tau = _tau(prof, np.array([MONTHS]))[0]
            series = np.concatenate([[0.0], grid[i]])
            for t in range(1, MONTHS):
                A = series[t]
                if not A > 0:
                    continue
                back = max(t - cfg.recent_months, 0)
                # Past targets are not known: no pull toward a plan here (p → 0 in the estimate).
                _, point, unit_sd = _estimate(
                    A, tau[t], series[back], tau[back], 0.0, 1.0, cfg.recent_weight, 1e-9
                )
                if unit_sd > 0:
                    zs.append((1.0 - point) / unit_sd)
    return _rms(pd.Series(zs, dtype=float))


def calibrate(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str | pd.Period,
    history: pd.DataFrame | None = None,
    *,
    prior: Calibration | None = None,
) -> Calibration:
    """Profiles and the interval width σ for a projection as of `as_of` (uses no data after it).

    `prior`: a calibration of another month from the same catalogue and `history`; its profiles and
    reference σ (which depend on those alone) are reused, so calibrating month after month (the risk
    backfill) pays for them once.
    """
    cfg = settings(catalogue)
    period = parse_month(as_of)
    if prior is not None:
        profiles, source, n_history = prior.profiles, prior.profile_source, prior.history_series
        sigma_ref, n_ref, reference = prior.sigma_reference, prior.n_reference, prior.reference
        notes = list(prior.notes)
    else:
        profiles, source, shares = learn_profiles(catalogue, history)
        n_history = len(shares)
        notes = []
        if len(shares) >= cfg.min_history_series:
            sigma_ref, n_ref = _history_sigma(catalogue, shares, cfg, source)
            reference = "history"
        else:
            sigma_ref, n_ref = _public_sigma_cases(catalogue, cfg)
            reference = "public"
            if len(shares):
                notes.append(f"{len(shares)} past-year series: fewer than {cfg.min_history_series}, not used")
    prog = _tidy(progress, "progress")
    prog = prog[prog["month"] <= period]
    panel = _panel(catalogue, prog, profiles, cfg)
    last_month = _elapsed(catalogue, period)
    bt = _backtest_panel(panel, min(last_month, MONTHS), cfg, sigma=1.0)
    kind_sigma, kind_cases, measure_sigma, measure_cases = _current_sigma(bt, cfg.kinds)
    return Calibration(
        profiles=profiles,
        profile_source=source,
        sigma_reference=sigma_ref,
        reference=reference,
        n_reference=n_ref,
        kind_sigma=kind_sigma,
        kind_cases=kind_cases,
        measure_sigma=measure_sigma,
        measure_cases=measure_cases,
        history_series=n_history,
        notes=notes,
    )


def _elapsed(catalogue: Catalogue, period: pd.Period) -> int:
    """Months of the plan year elapsed by the end of `period` (0 before the year; over 12 after it)."""
    return max((period.year - catalogue.year) * MONTHS + period.month, 0)


# ----------------------------------------------------------------------------------- projection


def project_measures(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str | pd.Period,
    history: pd.DataFrame | None = None,
    calibration: Calibration | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per projected measure (investment and every other cumulative/recurring measure).

    `progress`: tidy reports (measure_id, month Period[M], cumulative, note); rows after `as_of` and
    outside the plan year are ignored. `history`: previous years' reports in the same shape (a `kind`
    column is optional), used to learn the completion profile and the interval width.
    `plan`: the units' plans in force (perfkit.workplan.in_force): a measure with planned values is
    projected along its plan's shape and its schedule is the plan, not the straight line.
    Columns: see COLUMNS; amounts are in each measure's unit (万元 for investment).
    """
    cfg = settings(catalogue)
    period = parse_month(as_of)
    prog = _tidy(progress, "progress")
    prog = prog[prog["month"] <= period]
    cal = calibration or calibrate(catalogue, prog, period, history)
    panel = _panel(catalogue, prog, cal.profiles, cfg, plan)
    n = len(panel.target)
    r = np.arange(n)
    T, d = panel.target, panel.deadline
    elapsed = _elapsed(catalogue, period)
    t = np.minimum(np.full(n, min(elapsed, MONTHS)), d)  # data after the deadline do not count
    st = _state(panel, t, cfg.recent_months)
    A = np.where(st.last > 0, st.actual, np.nan)

    scale, point, unit_sd = _estimate(
        A, st.a, st.actual_back, st.a_back, T, 1.0, cfg.recent_weight, cfg.prior_weight
    )
    remaining = point - A
    sigma = cal.sigmas(panel.measures)
    discrete = panel.measures["kind"].isin(DISCRETE_KINDS).to_numpy()
    shape = scale * (st.a + cfg.prior_weight)
    low, high, p_reach, exp_short, median = _final_distribution(
        A, remaining, sigma * unit_sd, T, discrete, shape
    )

    no_data = st.last == 0
    complete = ~no_data & (A >= T - 1e-9)
    passed = ~no_data & ~complete & (elapsed > d)
    corrected = ~no_data & ~complete & ~passed & st.corrected
    edge = np.select([no_data, complete, passed, corrected], list(EDGES[1:]), default="")
    # The reported value is final at the deadline; a fixed-scope item (a station, 30 vehicles) stops at its
    # target, while spending goes on past the plan (national 2019: 120% of plan by November).
    keeps_going = panel.measures["kind"].isin(cfg.continue_after_target).to_numpy()
    fixed = (complete & ~keeps_going) | passed
    # the median of the final value's distribution: whole items for counts
    projected = np.where(no_data, np.nan, np.where(fixed, A, np.where(discrete, median, point)))
    low = np.where(no_data, np.nan, np.where(fixed, A, low))
    high = np.where(no_data, np.nan, np.where(fixed, A, high))
    # A share of a whole (梁片完成比例 …) cannot pass 100%.
    share = (panel.measures["unit"] == "%").to_numpy()
    projected, low, high = (np.where(share, np.minimum(v, 100.0), v) for v in (projected, low, high))
    p_reach = np.where(no_data, np.nan, np.where(complete, 1.0, np.where(passed, 0.0, p_reach)))
    exp_short = np.where(no_data, np.nan, np.where(complete, 0.0, np.where(passed, T - A, exp_short)))
    method = np.select(
        [no_data, fixed & complete, passed], ["none", "complete", "at_deadline"], default="blend"
    )

    months_left = d - elapsed
    todo = np.where(no_data, T, np.maximum(T - np.nan_to_num(A), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        required = np.where(complete, 0.0, np.where(months_left > 0, todo / months_left, np.nan))
    schedule = np.minimum(elapsed / d, 1.0)
    own_plan = np.zeros(n, bool)
    if plan is not None and len(plan):
        from .workplan import planned_at

        planned = planned_at(plan, pd.Index(panel.measures["measure_id"]), period)
        own_plan = ~np.isnan(planned)
        with np.errstate(divide="ignore", invalid="ignore"):
            schedule = np.where(own_plan, planned / T, schedule)
    prof_share = panel.tau[r, np.minimum(np.minimum(elapsed, MONTHS), d)]

    out = panel.measures.copy()
    out["actual"] = A
    out["projected"] = projected
    out["interval_80_low"] = low
    out["interval_80_high"] = high
    out["p_reach"] = p_reach
    out["shortfall"] = np.where(no_data, np.nan, np.maximum(T - projected, 0.0))
    out["expected_shortfall"] = exp_short
    out["required_monthly"] = required
    out["actual_pct"] = A / T * 100
    out["projected_pct"] = projected / T * 100
    out["schedule_pct"] = schedule * 100
    out["schedule_gap_pp"] = out["actual_pct"] - out["schedule_pct"]
    out["profile_pct"] = prof_share * 100
    out["profile_gap_pp"] = out["actual_pct"] - out["profile_pct"]
    out["months_elapsed"] = elapsed
    out["data_month"] = np.where(no_data, np.nan, st.last).astype(float)
    out["months_since_report"] = np.where(no_data, np.nan, np.minimum(elapsed, d) - st.last).astype(float)
    out["edge"] = edge
    out["method"] = method
    out["profile_source"] = np.where(own_plan, "unit_plan", out["kind"].map(cal.profile_source))
    out["schedule_source"] = np.where(own_plan, "unit_plan", "pro_rata")
    return out[COLUMNS]


def store_inputs(
    conn: sqlite3.Connection, as_of: str | pd.Period
) -> tuple[Catalogue, pd.DataFrame, pd.DataFrame | None]:
    """From the store: the catalogue, this plan year's reports up to `as_of`, and earlier years' reports
    (the history that teaches the profile; None when the store holds only this year)."""
    from .store import read_catalogue, read_progress

    period = parse_month(as_of)
    catalogue = read_catalogue(conn)
    progress = read_progress(conn, str(period))
    year = progress["month"].dt.year
    history = progress[year < catalogue.year]
    return catalogue, progress[year == catalogue.year], (history if len(history) else None)


def project_store(conn: sqlite3.Connection, as_of: str | pd.Period) -> pd.DataFrame:
    """The projection from the store (see store_inputs), along the units' plans in force where they have one."""
    from .workplan import in_force, read_workplans

    catalogue, progress, history = store_inputs(conn, as_of)
    plans = read_workplans(conn, catalogue.year)
    plan = in_force(plans, parse_month(as_of)) if len(plans) else None
    return project_measures(catalogue, progress, as_of, history, plan=plan)


def backtest(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str | pd.Period | None = None,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Backtest on this year's reports: from every month before the latest one (≤ as_of), forecast each
    measure's value at min(deadline, latest month) with each method. One row per measure × month × method:
    actual, forecast, error_pct (forecast ÷ actual − 1, %), within_80 (blend's 80% interval held)."""
    cfg = settings(catalogue)
    prog = _tidy(progress, "progress")
    prog = prog[prog["month"].dt.year == catalogue.year]
    if as_of is not None:
        prog = prog[prog["month"] <= parse_month(as_of)]
    if prog.empty:
        return _backtest_panel(_panel(catalogue, prog, learn_profiles(catalogue)[0], cfg), 0, cfg, 0.0)
    last = prog["month"].max()
    cal = calibrate(catalogue, prog, last, history)
    panel = _panel(catalogue, prog, cal.profiles, cfg)
    # σ for month t is calibrated on what was known at t, so the interval coverage is out of sample.
    sigmas = {}
    for t in range(1, int(last.month)):
        month_t = pd.Period(year=catalogue.year, month=t, freq="M")
        cal_t = calibrate(catalogue, prog, month_t, history, prior=cal)
        sigmas[t] = cal_t.sigmas(panel.measures)
    return _backtest_panel(panel, int(last.month), cfg, sigmas)


def backtest_summary(
    detail: pd.DataFrame, by: tuple[str, ...] = ("as_of_month",), kinds: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Error by as-of month and method: n, mean absolute error (%), median absolute error (%), bias (mean
    signed error, %), and for the blend the share of actual values inside the 80% interval. `kinds`
    keeps only those measure kinds (e.g. ('investment',))."""
    if kinds is not None and len(detail):
        detail = detail[detail["kind"].isin(kinds)]
    if detail.empty:
        return pd.DataFrame(
            columns=[*by, "method", "n", "mae_pct", "median_ae_pct", "bias_pct", "coverage_80"]
        )
    d = detail.assign(abs_err=detail["error_pct"].abs())
    g = d.groupby([*by, "method"], sort=True)
    out = g.agg(
        n=("error_pct", "size"),
        mae_pct=("abs_err", "mean"),
        median_ae_pct=("abs_err", "median"),
        bias_pct=("error_pct", "mean"),
        coverage_80=("within_80", "mean"),
    ).reset_index()
    out.loc[out["method"] != "blend", "coverage_80"] = np.nan
    out["method"] = pd.Categorical(out["method"], categories=list(METHODS), ordered=True)
    return out.sort_values([*by, "method"]).reset_index(drop=True)


# ----------------------------------------------------------------------------------- aggregates


def _aggregate(df: pd.DataFrame, key: str, money_kinds: tuple[str, ...]) -> pd.DataFrame:
    money = df["kind"].isin(money_kinds)
    d = df.assign(
        _money=money,
        _target=df["target"].where(money),
        _actual=df["actual"].where(money),
        _projected=df["projected"].where(money),
        _shortfall=df["shortfall"].where(money),
        _short=df["p_reach"] < 0.5,
        _complete=df["edge"] == "complete",
        _no_data=df["edge"] == "no_data",
    )
    g = d.groupby(key, sort=False)
    out = pd.DataFrame(
        {
            "n_measures": g.size(),
            "n_money": g["_money"].sum(),
            "target": g["_target"].sum(min_count=1),
            "actual": g["_actual"].sum(min_count=1),
            "projected": g["_projected"].sum(min_count=1),
            "shortfall": g["_shortfall"].sum(min_count=1),
            "n_unlikely": g["_short"].sum(),
            "n_complete": g["_complete"].sum(),
            "n_no_data": g["_no_data"].sum(),
        }
    )
    out["projected_pct"] = out["projected"] / out["target"] * 100
    return out.reset_index().sort_values(["shortfall", "n_unlikely"], ascending=False, ignore_index=True)


def by_unit(df: pd.DataFrame, money_kinds: tuple[str, ...] = ("investment",)) -> pd.DataFrame:
    """Totals by reporting unit. Sums (target, actual, projected, shortfall) cover `money_kinds` only
    (万元 for investment; kilometres and vehicles do not add up with money); counts cover every measure:
    n_unlikely has p_reach below 0.5."""
    return _aggregate(df, "reporting_unit", money_kinds)


def by_leader(df: pd.DataFrame, money_kinds: tuple[str, ...] = ("investment",)) -> pd.DataFrame:
    """Totals by lead leader (分管领导), as by_unit. A measure under two leaders counts for each."""
    ex = df.explode("leaders").rename(columns={"leaders": "leader"})
    ex["leader"] = ex["leader"].fillna("")
    return _aggregate(ex, "leader", money_kinds)
