"""Rolling-origin backtest of full-year growth: every past year × as-of month × method, each as if live, its
summary against the naive methods, and the real reference series the quality figures in docs/growth.md use."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .config import REFERENCE_DIR
from .growth_engine import (
    BASELINES,
    CANDIDATES,
    PERIODS_PER_YEAR,
    REPETITIONS,
    SEED,
    _Engine,
    _prepare,
    _widen,
)

# ----------------------------------------------------------------------------------------- backtest

BACKTEST_COLUMNS = [
    "year",
    "as_of",
    "month",
    "method",
    "model",
    "projected_growth_pct",
    "actual_growth_pct",
    "error_pp",
    "interval_80_low",
    "interval_80_high",
    "interval_95_low",
    "interval_95_high",
    "in_80",
    "in_95",
]


def _backtest_rows(engine: _Engine, before_year: int | None, as_of_months) -> list[dict]:
    """Every complete year with two complete years before it × as-of month × method."""
    rows = []
    years = sorted(
        y
        for y in engine.complete
        if (before_year is None or y < before_year)
        and engine.history_years(y) >= 2
        and y - 1 in engine.complete
    )
    for y in years:
        actual = engine.actual_growth(y)
        for month in as_of_months:
            k = max(int(month) - 1, 0)
            if k >= PERIODS_PER_YEAR:
                continue
            chosen, record, _ = engine.select(y, k)
            methods = [("selected", chosen or "naive_ytd")] + [(m, m) for m in engine.models + BASELINES]
            for method, model in methods:
                fc = engine.forecast(model, y, k)
                if fc is None:
                    continue
                g, draws = engine.growth(fc, y, k)
                if method == "selected" and draws is not None:
                    draws = _widen(1 + g, 1 + draws, engine.scale(record.get(model, {}), draws)) - 1
                rec = {
                    "year": y,
                    "as_of": f"{y}-{int(month):02d}",
                    "month": int(month),
                    "method": method,
                    "model": model,
                    "projected_growth_pct": g * 100,
                    "actual_growth_pct": actual * 100,
                    "error_pp": (g - actual) * 100,
                }
                if draws is not None:
                    lo80, hi80, lo95, hi95 = np.quantile(draws, [0.10, 0.90, 0.025, 0.975]) * 100
                    rec.update(
                        interval_80_low=lo80,
                        interval_80_high=hi80,
                        interval_95_low=lo95,
                        interval_95_high=hi95,
                        in_80=float(lo80 <= actual * 100 <= hi80),
                        in_95=float(lo95 <= actual * 100 <= hi95),
                    )
                rows.append(rec)
    return rows


def backtest(
    series: pd.Series,
    *,
    spans: pd.Series | None = None,
    as_of_months=range(2, 12),
    models: tuple[str, ...] = CANDIDATES,
    holiday: bool | None = None,
    repetitions: int = REPETITIONS,
    seed: int = SEED,
) -> pd.DataFrame:
    """Rolling-origin backtest of full-year growth: one row per past year × as-of month × method.

    Methods: `selected` (the whole procedure, model chosen on the years before, as in live use), each
    candidate model, `naive_ytd` (YTD growth carried to the full year) and `seasonal_naive`.
    """
    _as_of, _values, _span, periods = _prepare(series, "2262-01", spans)
    engine = _Engine(periods, tuple(models), holiday, repetitions, seed, last_year=int(periods["year"].max()))
    return pd.DataFrame(_backtest_rows(engine, None, as_of_months), columns=BACKTEST_COLUMNS)


def backtest_summary(bt: pd.DataFrame, months=range(3, 10), by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per method: n, MAE / RMSE / bias of full-year growth (pp), 80% and 95% coverage, MAE relative to naive."""
    sel = bt[bt["month"].isin(list(months))]
    keys = list(by) + ["method"]
    g = sel.groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "mae_pp": g["error_pp"].apply(lambda e: e.abs().mean()),
            "rmse_pp": g["error_pp"].apply(lambda e: float(np.sqrt((e**2).mean()))),
            "bias_pp": g["error_pp"].mean(),
            "coverage_80": g["in_80"].mean(),
            "coverage_95": g["in_95"].mean(),
        }
    ).reset_index()
    naive = out[out["method"] == "naive_ytd"].set_index(list(by))["mae_pp"] if by else None
    if by:
        out["mae_vs_naive"] = out["mae_pp"] / out.set_index(list(by)).index.map(naive).to_numpy()
    else:
        ref = out.loc[out["method"] == "naive_ytd", "mae_pp"]
        out["mae_vs_naive"] = out["mae_pp"] / float(ref.iloc[0]) if len(ref) else math.nan
    order = {m: i for i, m in enumerate(("selected",) + CANDIDATES + BASELINES)}
    return out.sort_values(
        keys[:-1] + ["method"], key=lambda c: c.map(order) if c.name == "method" else c
    ).reset_index(drop=True)


REFERENCE_FILE = REFERENCE_DIR / "growth_eval_series.csv"
NOMINAL_START = "1901-01"  # the reference series have no dates: a nominal calendar outside the festival table


def reference_series(names: list[str] | None = None, path=REFERENCE_FILE) -> dict[str, pd.Series]:
    """Real monthly series for evaluation (data/reference/growth_eval_series.csv, or another file of the
    same form at `path`; tourism and M3 competitions), on a nominal calendar starting 1901-01 since the
    sources give no dates."""
    df = pd.read_csv(path, comment="#")
    idx = pd.period_range(NOMINAL_START, periods=len(df), freq="M")
    cols = [c for c in df.columns if c != "t"]
    return {c: pd.Series(df[c].to_numpy(dtype=float), index=idx, name=c) for c in (names or cols)}


def evaluate(series_by_name: dict[str, pd.Series], as_of_months=range(3, 10), **kw) -> pd.DataFrame:
    """Backtest of many series, stacked with a `series` column (for the quality figures in docs/growth.md)."""
    frames = [
        backtest(s, as_of_months=as_of_months, **kw).assign(series=name) for name, s in series_by_name.items()
    ]
    return pd.concat(frames, ignore_index=True)
