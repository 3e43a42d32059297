"""Profile time: the plan's projection settings, and the completion profile a measure's year follows.

Construction spending is back-loaded, so time is measured on a completion profile: τ(m) is the share of
the year's amount normally done by the end of month m, rescaled so τ(deadline) = 1. Investment follows a
profile learned from past years when enough exist (`learn_profiles`), else plan.toml's
[investment.default_profile] (national 2019 figures); other kinds follow time linearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import Catalogue
from ..errors import InputError, Problem

MONTHS = 12


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


def _elapsed(catalogue: Catalogue, period: pd.Period) -> int:
    """Months of the plan year elapsed by the end of `period` (0 before the year; over 12 after it)."""
    return max((period.year - catalogue.year) * MONTHS + period.month, 0)


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


def _tau(profile: np.ndarray, deadline: np.ndarray) -> np.ndarray:
    """Profile time, one row per measure, columns month 0..12: share done by month end ÷ share by the
    deadline, capped at 1 (month 0 is 0)."""
    prof = np.concatenate([[0.0], profile])
    tau = prof[None, :] / prof[deadline][:, None]
    return np.minimum(tau, 1.0)
