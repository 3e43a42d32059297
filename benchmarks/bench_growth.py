"""Growth model speed: time per series for model selection and for the whole backtest, as ratios to one plain
ETS fit of the same series measured in the same run, in paired rounds (median and range over the rounds).

Series: the sample store's road and waterway 换算周转量 (synthetic, 2014–2019) and real monthly series from
data/reference/growth_eval_series.csv (tourism and M3 competitions, 10 years each). Per series:
- baseline: one statsmodels ETSModel fit on the log publication periods (what a single model costs);
- project: `project_annual_growth` at the last year's June (fits of every candidate for up to four years,
  the rolling-origin selection and simulated intervals);
- backtest: `backtest` over every past year × as-of months 2–11 with nested selection (the notebook's table).
Each round times the three back to back on the same series; the ratios are per round, reported as the median
and range of `--rounds` rounds (default 3), so a busy moment hits baseline and projection alike.

Scale (`--cities N`, default 50; the issue's full size is `--cities 300`): 2 × N monthly series (N cities ×
road/waterway), synthetic, from a deterministic generator (`city_series`: the sample store's seasonal shape
per mode, with a seeded level, growth, seasonal amplitude, January/February split and noise per city). All
are projected as of 2019-06 (the whole procedure: fits, rolling-origin selection, calibrated intervals)
serially and then with `growth.project_many` on all cores, against the median plain ETS fit (log publication
periods) of the first 20 series, measured in the same run. Like with like: the serial pass runs in one spawned
worker process with one BLAS/OpenMP thread, exactly as each of the parallel pass's workers does (a serial
pass in this process with multi-threaded BLAS made the "speedup" compare unlike setups). When the reference
venv exists (`.venv-ref`, docs/growth.md; statsforecast cannot share perfkit's lock) statsforecast's
AutoETS(season_length=12) is timed on the same series (fit on the data to 2019-06, forecast and 1,000
simulated paths of the rest of the year, one thread) as a reference point; otherwise that part is skipped
with a message.

Run: `python -m benchmarks.bench_growth [--series N] [--rounds N] [--cities N] [--workers N]`. Results go to
benchmarks/results/growth.json (per series) and growth_scale.json (scale run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from . import measure

RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 3


def sample_series() -> dict:
    """Road and waterway converted turnover from a sample store built in a temporary folder."""
    import tempfile

    from perfkit import growth
    from perfkit.catalogue import load_plan
    from perfkit.config import PLAN_DIR, SAMPLE_DIR
    from perfkit.store import create_store, open_store, read_turnover

    with tempfile.TemporaryDirectory() as tmp:
        conn = open_store(create_store(Path(tmp) / "bench.sqlite", plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR))
        turnover = read_turnover(conn)
        conn.close()
    coef = load_plan()["turnover"]["coefficient"]
    out = {}
    for mode in ("road", "waterway"):
        df = growth.mode_series(turnover, mode, coef)
        values = df.set_index("month")["value"]
        out[f"sample:{mode}"] = (values, df.set_index("month")["span_months"])
    return out


def baseline_fit(values, spans) -> float:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    from perfkit import growth

    periods = growth.to_publication_periods(values, spans)
    y = np.log(periods["value"].to_numpy())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ETSModel(y, error="add", trend="add", damped_trend=True, seasonal="add", seasonal_periods=11).fit(
            disp=False
        )
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ scale run

DEFAULT_CITIES = 50
MODES = ("road", "waterway")
SCALE_SEED = 600
SCALE_START, SCALE_END, SCALE_AS_OF = "2012-01", "2019-12", "2019-06"
GROWTH_MEAN = {"road": 0.08, "waterway": 0.12}  # yearly log growth around which cities are drawn


def seasonal_shape(values, spans) -> np.ndarray:
    """Log monthly shape (12 values, mean 0) of a sample series: its complete years' publication periods
    relative to the year's mean, 1—2月 split evenly into January and February."""
    from perfkit import growth

    p = growth.to_publication_periods(values, spans)
    counts = p.groupby("year")["value"].transform("size")
    p = p[counts == growth.PERIODS_PER_YEAR]
    logs = np.log(p["value"].to_numpy()).reshape(-1, growth.PERIODS_PER_YEAR)
    monthly = np.concatenate([logs[:, :1] - np.log(2), logs[:, :1] - np.log(2), logs[:, 1:]], axis=1)
    shape = (monthly - monthly.mean(axis=1, keepdims=True)).mean(axis=0)
    return shape - shape.mean()


def city_series(cities: int, shapes: dict[str, np.ndarray], seed: int = SCALE_SEED) -> dict:
    """2 × `cities` synthetic monthly series (name "city{i:03d}:{mode}"), deterministic: city i is the same
    whatever `cities` is. Per city and mode, from a generator seeded with (seed, i, mode): level, yearly
    growth (drifting from year to year), seasonal amplitude, the January/February split of 1—2月 (the
    Spring Festival moves it) and log-normal noise."""
    import pandas as pd

    months = pd.period_range(SCALE_START, SCALE_END, freq="M")
    n_years = months.year.max() - months.year.min() + 1
    year_ix = (months.year - months.year.min()).to_numpy()
    month_ix = (months.month - 1).to_numpy()
    out = {}
    for i in range(cities):
        for m, mode in enumerate(MODES):
            rng = np.random.default_rng([seed, i, m])
            level = 1e4 * np.exp(rng.normal(0, 1.0))
            g = np.clip(GROWTH_MEAN[mode] + rng.normal(0, 0.05) + rng.normal(0, 0.03, n_years), -0.15, 0.4)
            trend = np.concatenate([[0.0], np.cumsum(g)[:-1]])[year_ix] + g[year_ix] * month_ix / 12
            amplitude = rng.uniform(0.6, 1.4)
            share = np.clip(rng.normal(0.55, 0.05, n_years), 0.35, 0.7)  # January's part of 1—2月
            jan_feb = np.where(month_ix == 0, np.log(2 * share[year_ix]), 0.0) + np.where(
                month_ix == 1, np.log(2 * (1 - share[year_ix])), 0.0
            )
            noise = rng.normal(0, rng.uniform(0.01, 0.05), len(months))
            log_v = np.log(level) + trend + amplitude * shapes[mode][month_ix] + jan_feb + noise
            out[f"city{i:03d}:{mode}"] = pd.Series(np.exp(log_v), index=months)
    return out


def autoets_reference(series: dict, as_of) -> dict | None:
    """statsforecast AutoETS(season_length=12) fit on the data to `as_of`, with its forecast and 1,000 simulated
    paths of the rest of the year, per series, in the reference venv (benchmarks/sf_reference.py, one
    thread); None (with a message) when that venv is missing."""
    from .eval_growth import REF_PYTHON, run_reference

    ys = {name: s[s.index <= as_of] for name, s in series.items()}
    tasks = [[name, len(y), 12 - as_of.month] for name, y in ys.items()]
    ref = run_reference(REF_PYTHON, {k: v.to_numpy() for k, v in ys.items()}, tasks, ["AutoETS"])
    if ref is None:
        return None
    rest = {name: mean for name, _cutoff, _model, mean, _qs in ref["results"]}
    return {"version": ref["version"], "seconds": ref["seconds"]["AutoETS"], "rest_of_year": rest}


def _project_serially(job: tuple) -> tuple[float, dict]:
    """In a worker process: every series projected one after another (the serial pass), timed there."""
    from perfkit import growth

    series, as_of, band = job
    t0 = time.perf_counter()
    out = growth.project_many(series, as_of, band, holiday=False, workers=1)
    return time.perf_counter() - t0, out


def serial_one_thread(series: dict, as_of, band) -> tuple[float, float, dict]:
    """The serial pass in one spawned process with one BLAS thread, set up as project_many's workers are.
    Returns (wall seconds including the worker's start, seconds inside the worker, projections)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from perfkit.config import single_thread_env

    t0 = time.perf_counter()
    with single_thread_env(), ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        inside, out = pool.submit(_project_serially, (series, as_of, band)).result()
    return time.perf_counter() - t0, inside, out


def growth_mae(series: dict, as_of, projected: dict, autoets: dict | None) -> dict:
    """Mean absolute error (pp) of full-year growth at `as_of` on the synthetic series: perfkit, AutoETS
    (its forecast of the rest of the year), naive YTD. Synthetic data: mechanics, not model quality."""
    year, k = as_of.year, as_of.month
    errs = {"perfkit": [], "naive_ytd": [], "autoets": []}
    for name, s in series.items():
        this, last = s[s.index.year == year].to_numpy(), s[s.index.year == year - 1].to_numpy()
        actual = this.sum() / last.sum() - 1
        errs["perfkit"].append(projected[name].projected_growth_pct - 100 * actual)
        errs["naive_ytd"].append(100 * (this[:k].sum() / last[:k].sum() - 1 - actual))
        if autoets is not None:
            rest = autoets["rest_of_year"][name]
            errs["autoets"].append(100 * ((this[:k].sum() + rest) / last.sum() - 1 - actual))
    return {m: float(np.mean(np.abs(e))) for m, e in errs.items() if e}


def scale_run(sample: dict, cities: int, workers: int | None) -> dict:
    import pandas as pd

    from perfkit import growth

    workers = workers or os.cpu_count() or 1
    shapes = {mode: seasonal_shape(*sample[f"sample:{mode}"]) for mode in MODES}
    series = city_series(cities, shapes)
    n = len(series)
    as_of = pd.Period(SCALE_AS_OF, freq="M")
    print(
        f"scale: {n} synthetic series ({cities} cities × {len(MODES)} modes, {SCALE_START}..{SCALE_END}),"
        f" projected as of {as_of}; {os.cpu_count()} cores, {workers} workers",
        flush=True,
    )
    first = list(series.values())[: min(20, n)]
    base = float(np.median([baseline_fit(s[s.index <= as_of], None) for s in first]))
    band = (10.0, 11.0)
    t_serial, t_inside, serial = serial_one_thread(series, as_of, band)
    print(
        f"  serial (one process, one BLAS thread, like each worker): {t_serial:8.1f} s wall incl. start"
        f" ({t_inside:.1f} s projecting; {t_inside / n:.3f} s per series, {t_inside / n / base:.1f}× one ETS fit)"
    )
    t0 = time.perf_counter()
    parallel = growth.project_many(series, as_of, band, holiday=False, workers=workers)
    t_par = time.perf_counter() - t0
    same = all(serial[k].to_dict() == parallel[k].to_dict() for k in series)
    print(
        f"  parallel: {t_par:8.1f} s  ({t_par / n:.3f} s per series wall, speedup {t_serial / t_par:.2f}× on"
        f" {workers} workers; same results as serial: {same})",
        flush=True,
    )
    ref = autoets_reference(series, as_of)
    if ref is not None:
        print(
            f"  AutoETS (statsforecast {ref['version']}, fit + forecast + 1,000 paths, one thread):"
            f" {ref['seconds']:8.1f} s ({ref['seconds'] / n:.3f} s per series; perfkit projection"
            f" {t_inside / ref['seconds']:.1f}× AutoETS)"
        )
    mae = growth_mae(series, as_of, serial, ref)
    print(
        "  full-year growth MAE on these synthetic series, pp: "
        + ", ".join(f"{m} {v:.2f}" for m, v in mae.items())
    )
    models = pd.Series([p.model for p in serial.values()]).value_counts().to_dict()
    result = {
        "series": n,
        "cities": cities,
        "cores": os.cpu_count(),
        "workers": workers,
        "as_of": str(as_of),
        "ets_fit_s_median": base,
        "serial_s": t_serial,
        "serial_projecting_s": t_inside,
        "serial_per_series_s": t_inside / n,
        "serial_per_series_per_fit": t_inside / n / base,
        "parallel_s": t_par,
        "parallel_per_series_s": t_par / n,
        "speedup": t_serial / t_par,
        "parallel_same_as_serial": same,
        "autoets": None
        if ref is None
        else {
            "statsforecast": ref["version"],
            "seconds": ref["seconds"],
            "per_series_s": ref["seconds"] / n,
            "perfkit_per_autoets": t_inside / ref["seconds"],
        },
        "growth_mae_pp_synthetic": mae,
        "models": models,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "growth_scale.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    from perfkit import growth

    parser = argparse.ArgumentParser(prog="bench_growth", description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=4, help="how many real reference series (default 4)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"paired rounds (default {ROUNDS})")
    parser.add_argument(
        "--cities",
        type=int,
        default=DEFAULT_CITIES,
        help=f"cities in the scale run (default {DEFAULT_CITIES}; 0 skips)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes for the scale run (default: all cores)"
    )
    args = parser.parse_args(argv)
    info = measure.machine()
    print(measure.describe_machine(info), flush=True)
    series = sample_series()
    sample = dict(series)
    for name, values in list(growth.reference_series().items())[: args.series]:
        series[name] = (values, None)
    print(
        f"per series, {args.rounds} paired rounds (median, range): {'series':<16} {'periods':>7}"
        f" {'ETS fit s':>9} {'project s':>9} {'backtest s':>10} {'project/fit':>18} {'backtest/fit':>18}"
    )
    rows = []
    for name, (values, spans) in series.items():
        holiday = None if name.startswith("sample") else False
        last = values.index.max()
        as_of = f"{last.year if last.month == 12 else last.year - 1}-06"
        rounds = []
        for _ in range(max(args.rounds, 1)):
            base = baseline_fit(values, spans)
            t0 = time.perf_counter()
            proj = growth.project_annual_growth(values, as_of, (10.0, 11.0), spans=spans, holiday=holiday)
            t_proj = time.perf_counter() - t0
            t0 = time.perf_counter()
            bt = growth.backtest(values, spans=spans, holiday=holiday)
            t_bt = time.perf_counter() - t0
            rounds.append((base, t_proj, t_bt))
        base_s, proj_s, bt_s = (np.array(x) for x in zip(*rounds, strict=True))
        n = len(growth.to_publication_periods(values, spans))
        row = {
            "series": name,
            "periods": n,
            "rounds": len(rounds),
            "ets_fit_s": base_s.tolist(),
            "project_s": proj_s.tolist(),
            "backtest_s": bt_s.tolist(),
            "backtest_rows": len(bt),
            "project_per_fit": (proj_s / base_s).tolist(),
            "backtest_per_fit": (bt_s / base_s).tolist(),
            "model": proj.model,
        }
        rows.append(row)
        print(
            f"{name:<16} {n:>7} {np.median(base_s):>9.3f} {np.median(proj_s):>9.2f} {np.median(bt_s):>10.2f}"
            f" {measure.spread(row['project_per_fit'], '.1f'):>18} {measure.spread(row['backtest_per_fit'], '.1f'):>18}  {proj.model}",
            flush=True,
        )
    med = {
        k: float(np.median([np.median(r[k]) for r in rows])) for k in ("project_per_fit", "backtest_per_fit")
    }
    print(
        f"median over series of the per-series medians: project {med['project_per_fit']:.1f}× one ETS fit,"
        f" backtest {med['backtest_per_fit']:.1f}×"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "growth.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    if args.cities > 0:
        scale_run(sample, args.cities, args.workers)
    return rows


if __name__ == "__main__":
    main()
