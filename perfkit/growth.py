"""Full-year growth of a monthly series: where will the year land, how sure are we, what must the rest deliver?

Built for 1-14-1 / 1-14-2 (road 总周转量 +13–14%, waterway +18–19%), but works on any positive monthly series.
This module is the public face: the turnover modes from the store, reports for the notebook, CSV input, and
the names of the three parts it is built from (method and figures in docs/growth.md):

- `growth_engine`: publication periods (1—2月 as one period), the candidate models (`ets`, `sarimax`,
  `profile`, `combined`) on log values, their fits (once per projected year) and forecasts from any origin,
  the backtest record that chooses a model (`combined` unless a single model has under half its error) and
  the interval calibration;
- `growth_projection`: `project_annual_growth` (figures, intervals, odds, required growth, path) and
  `project_many` (many series in worker processes);
- `growth_backtest`: `backtest`, `backtest_summary`, `reference_series`, `evaluate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import SINGLE_THREAD_ENV  # noqa: F401 - re-exported: project_many's worker environment
from .errors import InputError, Problem, input_file
from .growth_backtest import (  # noqa: F401 - the public names, re-exported
    BACKTEST_COLUMNS,
    REFERENCE_FILE,
    _backtest_rows,
    backtest,
    backtest_summary,
    evaluate,
    reference_series,
)
from .growth_engine import (  # noqa: F401 - the public names, re-exported
    BACKTEST_MONTHS,
    BASELINES,
    CANDIDATES,
    PERIOD_LABELS,
    PERIODS_PER_YEAR,
    REPETITIONS,
    SEED,
    _Engine,
    _prepare,
    monthly,
    to_publication_periods,
)
from .growth_projection import (  # noqa: F401 - the public names, re-exported
    GrowthProjection,
    _project,
    project_annual_growth,
    project_many,
)

# ------------------------------------------------------------------------------- turnover and store

PROJECTION_COLUMNS = [
    "mode",
    "measure_id",
    "as_of",
    "ytd_total",
    "ytd_growth_pct",
    "projected_total",
    "projected_growth_pct",
    "interval_80_low",
    "interval_80_high",
    "interval_95_low",
    "interval_95_high",
    "band_low",
    "band_high",
    "p_reach_low",
    "p_reach_high",
    "required_growth_low_pct",
    "required_growth_high_pct",
    "model",
    # extra context (not part of the contract other modules rely on)
    "data_through",
    "basis",
    "fallback_reason",
]


def mode_series(turnover: pd.DataFrame, mode: str, coefficients: dict[str, float]) -> pd.DataFrame:
    """One mode's 换算周转量 by publication: month (Period), span_months, value, official_yoy_pct."""
    from .turnover import monthly_series

    s = monthly_series(turnover, mode, coefficients).sort_values("month").reset_index(drop=True)
    s["month"] = pd.PeriodIndex(s["month"], freq="M")
    return s


def _mode_projection(series_df: pd.DataFrame, as_of: pd.Period, band, **kw):
    """Projection (and its engine, for a backtest on the same fits) of one mode's series."""
    values = pd.Series(series_df["value"].to_numpy(), index=pd.PeriodIndex(series_df["month"], freq="M"))
    spans = pd.Series(series_df["span_months"].to_numpy(), index=values.index)
    as_of, values, _span, periods = _prepare(values, as_of, spans)
    data_through = values.index[-1]
    official = None
    if data_through.year == as_of.year:
        row = series_df[series_df["month"] == data_through]
        if len(row) and not pd.isna(row["official_yoy_pct"].iloc[0]):
            official = float(row["official_yoy_pct"].iloc[0])
    engine = _Engine(
        periods,
        kw.get("models", CANDIDATES),
        kw.get("holiday"),
        kw.get("repetitions", REPETITIONS),
        kw.get("seed", SEED),
        last_year=as_of.year,
    )
    return _project(engine, values, as_of, band, official), engine


def projection_row(mode: str, measure_id: str, proj: GrowthProjection) -> dict:
    """A projection as one row of `project_modes` (PROJECTION_COLUMNS)."""
    return {
        "mode": mode,
        "measure_id": measure_id,
        "as_of": proj.as_of,
        "ytd_total": proj.ytd_total,
        "ytd_growth_pct": proj.ytd_growth_pct,
        "projected_total": proj.projected_total,
        "projected_growth_pct": proj.projected_growth_pct,
        "interval_80_low": proj.interval_80[0],
        "interval_80_high": proj.interval_80[1],
        "interval_95_low": proj.interval_95[0],
        "interval_95_high": proj.interval_95[1],
        "band_low": proj.band[0],
        "band_high": proj.band[1],
        "p_reach_low": proj.p_reach_low,
        "p_reach_high": proj.p_reach_high,
        "required_growth_low_pct": proj.required_growth_low_pct,
        "required_growth_high_pct": proj.required_growth_high_pct,
        "model": proj.model,
        "data_through": proj.data_through,
        "basis": proj.basis,
        "fallback_reason": proj.fallback_reason,
    }


@dataclass
class GrowthReport:
    """Everything the growth notebook shows: projections, growth paths, backtest and its summary."""

    projections: pd.DataFrame
    paths: pd.DataFrame
    backtest: pd.DataFrame
    summary: pd.DataFrame

    def path(self, mode: str) -> pd.DataFrame:
        """One mode's cumulative growth path (for `charts.fan_chart`)."""
        return self.paths[self.paths["mode"] == mode].reset_index(drop=True)

    def mae_by_month(self) -> pd.DataFrame:
        """Backtest MAE of full-year growth (pp) by mode and as-of month, one column per method."""
        if self.backtest.empty:
            return pd.DataFrame()
        bt = self.backtest.assign(abs_error=self.backtest["error_pp"].abs())
        table = bt.pivot_table(index=["mode", "month"], columns="method", values="abs_error", aggfunc="mean")
        order = [m for m in ("selected",) + CANDIDATES + BASELINES if m in table.columns]
        return table[order].reset_index()


PATH_COLUMNS = [
    "month", "label", "observed", "growth_pct", "p2_5", "p10", "p90", "p97_5", "mode", "measure_id", "band_low",
    "band_high",
]  # fmt: skip


def empty_report() -> GrowthReport:
    """What the growth notebook shows before the statistics office's first table: nothing, with the
    columns (the brief says so in words; the notebook failed and no brief could be built at all)."""
    return GrowthReport(
        pd.DataFrame(columns=PROJECTION_COLUMNS),
        pd.DataFrame(columns=PATH_COLUMNS),
        pd.DataFrame(columns=BACKTEST_COLUMNS + ["mode"]),
        pd.DataFrame(),
    )


def check_bands(bands: dict, modes) -> None:
    """A what-if `bands` (the growth notebook's parameter): each key a mode of the plan, each value two
    finite numbers LOW ≤ HIGH, as `perfkit growth --band` requires. {"road": [14, 13]} gave chances of
    reaching an upside-down band, and {"roads": …} quietly showed the plan's band. InputError otherwise."""
    problems = []
    for mode, band in bands.items():
        if mode not in modes:
            problems.append(
                Problem("bands", f"unknown mode {mode!r}; the plan's modes are {', '.join(modes)}")
            )
            continue
        try:
            low, high = (float(x) for x in band)
        except (TypeError, ValueError):
            problems.append(Problem("bands", f"{mode}: need [LOW, HIGH], two numbers; got {band!r}"))
            continue
        if why := band_problem(low, high):
            problems.append(Problem("bands", f"{mode}: {why}"))
    if problems:
        raise InputError(problems)


def band_problem(low: float, high: float) -> str | None:
    """Why (LOW, HIGH) is not a growth band (`perfkit growth --band`, the notebook's `bands`): a bound not
    finite, or LOW above HIGH; None for a band."""
    if math.isfinite(low) and math.isfinite(high) and low <= high:
        return None
    return f"need LOW ≤ HIGH, finite numbers; got {low:g} {high:g}"


def growth_report(
    catalogue,
    turnover: pd.DataFrame,
    as_of: str | pd.Period,
    *,
    modes=None,
    bands: dict | None = None,
    backtest_months=BACKTEST_MONTHS,
    **kw,
) -> GrowthReport:
    """Projections per mode plus the backtest over every past year × as-of month, sharing the fits.

    `bands` overrides the plan's [turnover] bands per mode, e.g. {"road": [13, 14]}.
    """
    as_of = pd.Period(as_of, freq="M")
    cfg = catalogue.plan["turnover"]
    check_bands(bands or {}, list(cfg["bands"]))
    plan_bands = {**cfg["bands"], **(bands or {})}
    present = [m for m in ("road", "waterway") if m in set(turnover["mode"])]
    chosen = [m for m in (modes or present) if m in present]
    if not chosen:
        raise ValueError("no turnover data for " + ", ".join(modes or ["any mode"]))
    months = tuple(backtest_months)
    jobs = []
    for mode in chosen:
        series = mode_series(turnover, mode, cfg["coefficient"])
        band = tuple(float(x) for x in plan_bands[mode])
        jobs.append((mode, series, band, cfg["measure"][mode]))
    parts = [_mode_report(*job, as_of, months, kw) for job in jobs]
    projections = pd.DataFrame([row for row, _, _ in parts], columns=PROJECTION_COLUMNS)
    bts = [bt for _, _, bt in parts if len(bt)]
    backtests = (
        pd.concat(bts, ignore_index=True) if bts else pd.DataFrame(columns=BACKTEST_COLUMNS + ["mode"])
    )
    summary = backtest_summary(backtests, by=("mode",)) if len(backtests) else pd.DataFrame()
    return GrowthReport(
        projections, pd.concat([p for _, p, _ in parts], ignore_index=True), backtests, summary
    )


def _mode_report(mode: str, series: pd.DataFrame, band, measure_id: str, as_of: pd.Period, months, kw):
    """One mode's projection row, growth path and backtest (empty without `months`), sharing the fits."""
    proj, engine = _mode_projection(series, as_of, band, **kw)
    row = projection_row(mode, measure_id, proj)
    path = proj.path.assign(mode=mode, measure_id=measure_id, band_low=band[0], band_high=band[1])
    bt = pd.DataFrame(_backtest_rows(engine, as_of.year, months) if months else [], columns=BACKTEST_COLUMNS)
    return row, path, bt.assign(mode=mode)


def project_modes(
    catalogue, turnover: pd.DataFrame, as_of: str | pd.Period, *, modes=None, **kw
) -> pd.DataFrame:
    """One row per mode (road 1-14-1, waterway 1-14-2): YTD, projection, intervals, odds, required growth.

    Bands, coefficients and measure ids come from the plan's [turnover] section. When the office's
    comparable-basis YTD growth is stored for the latest month, every growth figure is on that basis.
    """
    return growth_report(catalogue, turnover, as_of, modes=modes, backtest_months=(), **kw).projections


def project_store(conn, as_of: str | None = None, *, modes=None, **kw) -> pd.DataFrame:
    """`project_modes` on the store's catalogue and turnover (as-of: the latest turnover month)."""
    from .store import read_catalogue, read_turnover

    turnover = read_turnover(conn)
    if turnover.empty:
        raise ValueError("the store has no turnover data")
    as_of = as_of or str(turnover["month"].max())
    return project_modes(read_catalogue(conn), turnover, as_of, modes=modes, **kw)


def report_store(conn, as_of: str | None = None, **kw) -> GrowthReport:
    """`growth_report` on the store (as-of: the latest turnover month)."""
    from .store import read_catalogue, read_turnover

    turnover = read_turnover(conn)
    if turnover.empty:
        raise ValueError("the store has no turnover data")
    as_of = as_of or str(turnover["month"].max())
    return growth_report(read_catalogue(conn), turnover, as_of, **kw)


def display_table(
    df: pd.DataFrame, lang: str = "zh", transpose: bool = False, digits: int = 2
) -> pd.DataFrame:
    """Projections or a backtest summary for people: rounded, values and headers labelled (labels.py)."""
    from .labels import t

    out = df.copy()
    for col, prefix in (("mode", "growth.mode."), ("method", "growth.method."), ("basis", "growth.basis.")):
        if col in out:
            out[col] = out[col].map(lambda v, p=prefix: t(p + str(v), lang) if str(v) else v)
    if "model" in out:
        out["model"] = out["model"].map(lambda v: t(f"growth.method.{v}", lang))
    num = out.select_dtypes("number").columns
    out[num] = out[num].round(digits)
    out = out.rename(columns={c: t(f"growth.col.{c}", lang) for c in out.columns})
    if transpose:
        first = out.columns[0]
        out = out.set_index(first).T.reset_index().rename(columns={"index": ""})
    return out


# ------------------------------------------------------------------------------------ other inputs


def read_series_csv(path: str | Path) -> tuple[pd.Series, pd.Series]:
    """A CSV of month,value (header row; months like 2019-03 or 2019年1—2月) → values and spans."""
    from .turnover import parse_period

    path = input_file(path)
    try:
        df = pd.read_csv(path, dtype=str, comment="#")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(Problem(str(path), f"not a readable CSV ({exc})")) from exc
    cols = {c.strip().lower(): c for c in df.columns}
    month_col = next((cols[c] for c in ("month", "月份") if c in cols), None)
    value_col = next((cols[c] for c in ("value", "数值", "值") if c in cols), None)
    if month_col is None or value_col is None:
        raise InputError(Problem(str(path), "need the columns month and value", cell="row 1"))
    letter = {c: chr(65 + i) for i, c in enumerate(df.columns)}
    problems, months, spans, values = [], [], [], []
    for i, (m, v) in enumerate(zip(df[month_col], df[value_col], strict=True)):
        row = i + 2
        try:
            p, span = parse_period(m)
        except ValueError as exc:
            problems.append(Problem(str(path), str(exc), cell=f"{letter[month_col]}{row}"))
            continue
        try:
            x = float(str(v).replace(",", ""))
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or x <= 0:
            problems.append(
                Problem(
                    str(path), f"value must be a positive number, got {v!r}", cell=f"{letter[value_col]}{row}"
                )
            )
            continue
        months.append(p)
        spans.append(span)
        values.append(x)
    if problems:
        raise InputError(problems)
    if not values:
        raise InputError(Problem(str(path), "no data rows"))
    idx = pd.PeriodIndex(months, freq="M")
    if idx.has_duplicates:
        raise InputError(
            Problem(
                str(path), f"month repeated: {', '.join(sorted({str(p) for p in idx[idx.duplicated()]}))}"
            )
        )
    return pd.Series(values, index=idx, name="value"), pd.Series(spans, index=idx, name="span_months")
