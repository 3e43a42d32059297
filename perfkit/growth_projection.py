"""A full-year growth projection from the engine's chosen model: figures, intervals, odds, required growth and
the growth path (`project_annual_growth`), for one series or many in worker processes (`project_many`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import single_thread_env
from .growth_engine import (
    CANDIDATES,
    MIN_HISTORY_MONTHS,
    PERIOD_LABELS,
    PERIODS_PER_YEAR,
    REPETITIONS,
    SEED,
    _Engine,
    _Forecast,
    _prepare,
    _widen,
)

# ----------------------------------------------------------------------------------------- results


@dataclass
class GrowthProjection:
    """A full-year projection at one as-of month. Growth in percent; intervals are (low, high)."""

    as_of: str
    data_through: str
    ytd_total: float
    ytd_growth_pct: float
    previous_total: float
    projected_total: float
    projected_growth_pct: float
    interval_80: tuple[float, float]
    interval_95: tuple[float, float]
    band: tuple[float, float]
    p_reach_low: float
    p_reach_high: float
    required_growth_low_pct: float
    required_growth_high_pct: float
    model: str
    fallback_reason: str = ""
    basis: str = "levels"  # or "official": growth on the statistics office's comparable basis
    recomputed_ytd_growth_pct: float = math.nan
    periods_observed: int = 0
    interval_scale: float = 1.0
    backtest: dict = field(default_factory=dict)  # model → {mae_pp, n, mse_log, n_cal} on the past years
    notes: dict = field(default_factory=dict)  # model → why it was dropped this year
    path: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def to_dict(self) -> dict:
        """Plain JSON-ready values: tuples as lists, NaN as None, the path as records."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "path"}
        out["path"] = [{**r, "month": str(r["month"])} for r in self.path.to_dict("records")]
        return _plain(out)


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _pct(x: float) -> float:
    return float(x * 100) if x is not None and not math.isnan(x) else math.nan


def _prob_at_least(draws: np.ndarray | None, bound: float) -> float:
    if draws is None:
        return math.nan
    return float(np.mean(draws >= bound - 1e-12))


def project_annual_growth(
    series: pd.Series,
    as_of: str | pd.Period,
    band: tuple[float, float],
    *,
    spans: pd.Series | None = None,
    official_ytd_growth_pct: float | None = None,
    models: tuple[str, ...] = CANDIDATES,
    holiday: bool | None = None,
    repetitions: int = REPETITIONS,
    seed: int = SEED,
) -> GrowthProjection:
    """Project the full-year growth of `series` from the data up to `as_of`, against `band` (low, high) %.

    `series`: positive monthly values indexed by month (Period or month-start timestamps); data after
    `as_of` is ignored, so a backtest can pass the whole series. `spans`: months per value (2 for a 1—2月
    value at February). `official_ytd_growth_pct`: the office's comparable-basis YTD growth at `as_of`;
    when given, every growth figure is put on that basis (the previous year is re-based by the ratio of
    recomputed to official YTD growth). `holiday`: use the Spring Festival regressor (None: when covered).
    """
    as_of, values, _span, periods = _prepare(series, as_of, spans)
    year = as_of.year
    engine = _Engine(periods, tuple(models), holiday, repetitions, seed, last_year=year)
    return _project(engine, values, as_of, band, official_ytd_growth_pct)


def _project(engine: _Engine, values: pd.Series, as_of: pd.Period, band, official) -> GrowthProjection:
    year = as_of.year
    p = engine.p
    if year - 1 not in engine.complete:
        raise ValueError(f"the previous year ({year - 1}) must be complete to project {year}'s growth")
    k = int((p["year"] == year).sum())
    ytd_months = values[(values.index.year == year)]
    ytd_total = float(ytd_months.sum())
    prev_total = float(engine.totals[year - 1])
    prev_vals = engine.year_values(year - 1)
    lone_jan = k == 0 and len(ytd_months) == 1  # a January alone: kept in YTD, not yet a period
    prev_ytd = float(prev_vals[:k].sum()) if k else math.nan
    if lone_jan:
        prev_jan = values.get(pd.Period(year=year - 1, month=1, freq="M"))
        prev_ytd = float(prev_jan) if prev_jan is not None else math.nan
    recomputed = ytd_total / prev_ytd - 1 if prev_ytd and not math.isnan(prev_ytd) else math.nan
    history_months = int((p["year"] < year).sum()) + int(((p["year"] < year) & (p["season"] == 0)).sum())

    basis, factor = "levels", 1.0
    if official is not None and not (isinstance(official, float) and math.isnan(official)):
        if not math.isnan(recomputed):
            basis = "official"
            factor = (1 + recomputed) / (1 + official / 100)

    fallback, scale, record, chosen = "", 1.0, {}, None
    if k == PERIODS_PER_YEAR:
        chosen = "complete"
        fc = _Forecast(point=np.zeros(0), draws=np.zeros((engine.repetitions, 0)))
    elif history_months < MIN_HISTORY_MONTHS:
        chosen, fallback = "naive_ytd", f"short history: {history_months} months before {year}"
        fc = engine.forecast("naive_ytd", year, k)
        if fc is None:
            raise ValueError(f"cannot project {year}: no year-to-date periods and under 24 months of history")
    else:
        chosen, record, fallback = engine.select(year, k)
        if chosen is None:
            chosen = "naive_ytd"
            fc = engine.forecast("naive_ytd", year, k) or engine.forecast("seasonal_naive", year, k)
        else:
            fc = engine.forecast(chosen, year, k)
    notes = {m: why for (m, y), why in engine.notes.items() if y == year}
    fallback = "; ".join([fallback] * bool(fallback) + [f"{m}: {why}" for m, why in notes.items()])

    # growth on levels, then on the reporting basis
    g_point, g_draws = (
        engine.growth(fc, year, k) if k < PERIODS_PER_YEAR else (ytd_total / prev_total - 1, None)
    )
    if k == PERIODS_PER_YEAR:
        g_draws = np.full(engine.repetitions, g_point)
    if g_draws is not None:
        scale = engine.scale(record.get(chosen, {}), g_draws)
        g_draws = _widen(1 + g_point, 1 + g_draws, scale) - 1
    to_basis = lambda g: (1 + g) / factor - 1  # noqa: E731 - one formula used on points and draws
    gp = to_basis(g_point)
    gd = None if g_draws is None else to_basis(g_draws)
    q = (lambda a: float(np.quantile(gd, a) * 100)) if gd is not None else (lambda a: math.nan)
    low, high = float(band[0]), float(band[1])
    prev_rest = prev_total - (prev_vals[:k].sum() if k else 0.0)

    def required(bound: float) -> float:
        need = (1 + bound / 100) * factor * prev_total - ytd_total
        return _pct(need / (factor * prev_rest) - 1) if prev_rest > 0 else math.nan

    ytd_growth = official if basis == "official" else _pct(recomputed)
    path = _path(engine, fc, year, k, factor, scale, g_point)
    return GrowthProjection(
        as_of=str(as_of),
        data_through=str(values.index[-1]),
        ytd_total=ytd_total,
        ytd_growth_pct=float(ytd_growth) if ytd_growth is not None else math.nan,
        previous_total=prev_total,
        projected_total=float((1 + g_point) * prev_total),
        projected_growth_pct=_pct(gp),
        interval_80=(q(0.10), q(0.90)),
        interval_95=(q(0.025), q(0.975)),
        band=(low, high),
        p_reach_low=_prob_at_least(gd, low / 100),
        p_reach_high=_prob_at_least(gd, high / 100),
        required_growth_low_pct=required(low),
        required_growth_high_pct=required(high),
        model=chosen,
        fallback_reason=fallback,
        basis=basis,
        recomputed_ytd_growth_pct=_pct(recomputed),
        periods_observed=k,
        interval_scale=scale,
        backtest=record,
        notes=notes,
        path=path,
    )


def _path(engine: _Engine, fc: _Forecast, year: int, k: int, factor: float, scale: float, g_point: float):
    """Cumulative growth by period through the year: observed, then projected median and fan."""
    prev = np.cumsum(engine.year_values(year - 1)) * factor
    observed = np.cumsum(engine.year_values(year)[:k])
    rows = []
    for s in range(PERIODS_PER_YEAR):
        month = pd.Period(year=year, month=s + 2, freq="M")
        rec = {"month": month, "label": PERIOD_LABELS[s], "observed": s < k}
        if s < k:
            g = observed[s] / prev[s] - 1
            rec.update(growth_pct=g * 100, p2_5=g * 100, p10=g * 100, p90=g * 100, p97_5=g * 100)
        else:
            base = observed[-1] if k else 0.0
            point = (base + fc.point[: s - k + 1].sum()) / prev[s] - 1
            rec["growth_pct"] = point * 100
            if fc.draws is not None:
                cum = (base + fc.draws[:, : s - k + 1].sum(axis=1)) / prev[s]
                cum = _widen(1 + point, cum, scale) - 1
                for name, a in (("p2_5", 0.025), ("p10", 0.10), ("p90", 0.90), ("p97_5", 0.975)):
                    rec[name] = float(np.quantile(cum, a) * 100)
            else:
                rec.update(p2_5=math.nan, p10=math.nan, p90=math.nan, p97_5=math.nan)
        rows.append(rec)
    return pd.DataFrame(
        rows, columns=["month", "label", "observed", "growth_pct", "p2_5", "p10", "p90", "p97_5"]
    )


# ------------------------------------------------------------------------------------ many series


def _project_one(item: tuple) -> GrowthProjection:
    values, as_of, band, spans, kw = item
    return project_annual_growth(values, as_of, band, spans=spans, **kw)


def project_many(
    series_by_name: dict[str, pd.Series],
    as_of: str | pd.Period,
    band: tuple[float, float],
    *,
    spans_by_name: dict[str, pd.Series] | None = None,
    bands_by_name: dict[str, tuple[float, float]] | None = None,
    workers: int | None = None,
    executor=None,
    **kw,
) -> dict[str, GrowthProjection]:
    """`project_annual_growth` for many series at one as-of month, in worker processes; same results as serial.

    `workers`: processes (None: `os.cpu_count()`; 1: in this process, no pool). `spans_by_name`: spans per
    series where needed; `kw` goes to `project_annual_growth` (models, holiday, repetitions, seed). Workers
    are started with `spawn` and one BLAS/OpenMP thread each: the variables are set in this process's
    environment while the pool starts its workers (a worker reads them when numpy is first imported, which
    is before any initializer could run) and restored afterwards. An error in one series is raised here.

    `bands_by_name`: a band per series where it differs from `band`. `executor`: run on this instead of a
    new pool (`workers` is then ignored): any
    `concurrent.futures.Executor`, or a `dask.distributed.Client` (anything with `map` and `gather`), whose
    workers must have this perfkit installed (docs/scale.md). Each series is one task with its own inputs and
    the seed, so the results are the same wherever it runs.
    """
    import os
    from concurrent.futures import Executor, ProcessPoolExecutor
    from multiprocessing import get_context

    spans_by_name = spans_by_name or {}
    bands_by_name = bands_by_name or {}
    items = [
        (s, as_of, bands_by_name.get(name, band), spans_by_name.get(name), kw)
        for name, s in series_by_name.items()
    ]
    if executor is not None:
        if isinstance(executor, Executor) or not hasattr(executor, "gather"):
            results = list(executor.map(_project_one, items))
        else:  # a Dask client: submit every task at once, gather in order (raises the first error)
            results = executor.gather(executor.map(_project_one, items, pure=False))
        return dict(zip(series_by_name, results, strict=True))
    workers = min(workers or os.cpu_count() or 1, len(items))
    if workers <= 1:
        return {name: _project_one(item) for name, item in zip(series_by_name, items, strict=True)}
    with (
        single_thread_env(),
        ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool,
    ):
        results = list(pool.map(_project_one, items))
    return dict(zip(series_by_name, results, strict=True))
