"""Growth model speed: time per series for model selection and for the whole backtest, as ratios to one plain
ETS fit of the same series measured in the same run.

Series: the sample store's road and waterway 换算周转量 (synthetic, 2014–2019) and real monthly series from
data/reference/growth_eval_series.csv (tourism and M3 competitions, 10 years each). Per series:
- baseline: one statsmodels ETSModel fit on the log publication periods (what a single model costs);
- project: `project_annual_growth` at the last year's June (fits of every candidate for up to four years,
  the rolling-origin selection and simulated intervals);
- backtest: `backtest` over every past year × as-of months 2–11 with nested selection (the notebook's table).

Run: `python -m benchmarks.bench_growth [--series N]`. Results also go to benchmarks/results/growth.json.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


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


def main(argv: list[str] | None = None) -> list[dict]:
    from perfkit import growth

    parser = argparse.ArgumentParser(prog="bench_growth", description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=4, help="how many real reference series (default 4)")
    args = parser.parse_args(argv)
    series = sample_series()
    for name, values in list(growth.reference_series().items())[: args.series]:
        series[name] = (values, None)
    print(
        f"{'series':<16} {'periods':>7} {'ETS fit s':>9} {'project s':>9} {'backtest s':>10} {'rows':>5}"
        f" {'project/fit':>11} {'backtest/fit':>12}  model"
    )
    rows = []
    for name, (values, spans) in series.items():
        holiday = None if name.startswith("sample") else False
        last = values.index.max()
        as_of = f"{last.year if last.month == 12 else last.year - 1}-06"
        base = baseline_fit(values, spans)
        t0 = time.perf_counter()
        proj = growth.project_annual_growth(values, as_of, (10.0, 11.0), spans=spans, holiday=holiday)
        t_proj = time.perf_counter() - t0
        t0 = time.perf_counter()
        bt = growth.backtest(values, spans=spans, holiday=holiday)
        t_bt = time.perf_counter() - t0
        n = len(growth.to_publication_periods(values, spans))
        row = {
            "series": name,
            "periods": n,
            "ets_fit_s": base,
            "project_s": t_proj,
            "backtest_s": t_bt,
            "backtest_rows": len(bt),
            "project_per_fit": t_proj / base,
            "backtest_per_fit": t_bt / base,
            "model": proj.model,
        }
        rows.append(row)
        print(
            f"{name:<16} {n:>7} {base:>9.3f} {t_proj:>9.2f} {t_bt:>10.2f} {len(bt):>5}"
            f" {t_proj / base:>11.1f} {t_bt / base:>12.1f}  {proj.model}",
            flush=True,
        )
    med = {k: float(np.median([r[k] for r in rows])) for k in ("project_per_fit", "backtest_per_fit")}
    print(
        f"median ratios: project {med['project_per_fit']:.1f}× one ETS fit, backtest {med['backtest_per_fit']:.1f}×"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "growth.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
