"""Calibration: how wide the intervals must be, measured by backtests rather than assumed.

σ is the spread of backtest errors in units of the model's own standard deviation. It comes from past
years in the store (leave-one-out) or, without them, from real public series (plan.toml
[[investment.public_series]], `backtest_public`), and from this year's own reports per measure, pooled
toward its kind's typical value; the larger is used, widened for few cases (Student's t). `backtest` and
`backtest_summary` are the figures docs/investment.md and the investment notebook show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..catalogue import Catalogue
from ..months import parse_month
from .model import (
    DISCRETE_KINDS,
    Z80,
    _estimate,
    _final_distribution,
    _Panel,
    _panel,
    _restated,
    _state,
)
from .profile import (
    MONTHS,
    Settings,
    _elapsed,
    _profile_from,
    _tau,
    _tidy,
    default_profile,
    learn_profiles,
    linear_profile,
    settings,
)

METHODS = ("blend", "profile", "run_rate", "pro_rata")


# Partial pooling: a measure's own backtest errors count against this many cases at its kind's typical σ.
POOL_CASES = 10


@lru_cache(maxsize=512)
def small_sample_factor(n: int) -> float:
    """Widening for a σ estimated from n cases: Student's t with n degrees of freedom instead of the
    normal (a predictive interval from a handful of cases must be wider)."""
    # imported here: scipy.stats costs ~0.4 s to import, and the notebooks that only read a snapshot (and
    # import this package for its tables) never call this
    from scipy.stats import t as student_t

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


def backtest(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str | pd.Period | None = None,
    history: pd.DataFrame | None = None,
    calibrated: dict[pd.Period, Calibration] | None = None,
) -> pd.DataFrame:
    """Backtest on this year's reports: from every month before the latest one (≤ as_of), forecast each
    measure's value at min(deadline, latest month) with each method. One row per measure × month × method:
    actual, forecast, error_pct (forecast ÷ actual − 1, %), within_80 (blend's 80% interval held).

    `calibrated`: calibrations the caller made already from the same catalogue, history and reports, by the
    month they are as of (the monthly snapshot's own): reused for those months instead of made again (a
    calibration as of a month reads no report after it, so it is the same one)."""
    calibrated = calibrated or {}
    cfg = settings(catalogue)
    prog = _tidy(progress, "progress")
    prog = prog[prog["month"].dt.year == catalogue.year]
    if as_of is not None:
        prog = prog[prog["month"] <= parse_month(as_of)]
    if prog.empty:
        return _backtest_panel(_panel(catalogue, prog, learn_profiles(catalogue)[0], cfg), 0, cfg, 0.0)
    last = prog["month"].max()
    cal = calibrated.get(last) or calibrate(catalogue, prog, last, history)
    panel = _panel(catalogue, prog, cal.profiles, cfg)
    # σ for month t is calibrated on what was known at t, so the interval coverage is out of sample.
    sigmas = {}
    for t in range(1, int(last.month)):
        month_t = pd.Period(year=catalogue.year, month=t, freq="M")
        cal_t = calibrated.get(month_t) or calibrate(catalogue, prog, month_t, history, prior=cal)
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
