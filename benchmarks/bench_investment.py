"""Year-end projection speed against the number of measures and months, as ratios measured in the same run.

Scale: one copy is the plan's 39 projected measures (13 investment, the rest counts, kilometres, shares,
amounts); N copies are N × 39 measures under renamed indicators, with synthetic monthly reports for months
1..M (back-loaded for investment, linear for the rest, a random pace per measure; synthetic, not real).

Timed per size (best of `--repeat` runs):
- naive: the run-rate alone (latest value ÷ months elapsed × months to deadline) with pandas: the baseline;
- project: `perfkit.investment.project_measures` (calibration, this year's backtest for σ, projection).
Reported: seconds, project ÷ naive at the same size, and project ÷ project at 1 copy × the same months
(how it grows with measures).

Run: `python -m benchmarks.bench_investment [--copies 1,10,100] [--months 3,6,9,12]`. Results also go to
benchmarks/results/investment.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perfkit import investment
from perfkit.catalogue import Catalogue, load_catalogue

RESULTS = Path(__file__).resolve().parent / "results"


def scaled_catalogue(base: Catalogue, copies: int) -> Catalogue:
    """The plan's projected measures `copies` times, each copy under its own indicator ids."""
    cfg = investment.settings(base)
    m = base.measures[base.measures["kind"].isin(cfg.kinds) & base.measures["schedule"].isin(cfg.schedules)]
    ind = base.indicators[base.indicators["id"].isin(m["indicator_id"])]
    ms, inds = [], []
    for k in range(copies):
        ms.append(m.assign(measure_id=m["measure_id"] + f"#{k}", indicator_id=m["indicator_id"] + f"#{k}"))
        inds.append(ind.assign(id=ind["id"] + f"#{k}"))
    return Catalogue(
        plan=base.plan,
        indicators=pd.concat(inds, ignore_index=True),
        measures=pd.concat(ms, ignore_index=True),
        plan_dir=base.plan_dir,
    )


def synthetic_progress(catalogue: Catalogue, months: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    profile = investment.default_profile(catalogue)
    linear = investment.linear_profile()
    rows = []
    for rec in catalogue.measures.itertuples():
        shape = profile if rec.kind == "investment" else linear
        pace = rng.uniform(0.5, 1.2)
        d = int(rec.deadline_month)
        for mo in range(1, months + 1):
            value = rec.target * min(shape[mo - 1] / shape[d - 1] * pace, 1.0)
            rows.append((rec.measure_id, f"2019-{mo:02d}", round(value, 1), ""))
    df = pd.DataFrame(rows, columns=["measure_id", "month", "cumulative", "note"])
    df["month"] = pd.PeriodIndex(df["month"], freq="M")
    return df


def naive_run_rate(catalogue: Catalogue, progress: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """The baseline: the latest value per measure scaled by months to deadline ÷ months elapsed."""
    latest = progress.sort_values(["measure_id", "month"]).groupby("measure_id").tail(1)
    m = catalogue.measures.set_index("measure_id")
    elapsed = pd.Period(as_of, freq="M").month
    d = latest["measure_id"].map(m["deadline_month"])
    return latest.assign(projected=latest["cumulative"] / elapsed * d)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="bench_investment", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,10,100", help="copies of the plan's projected measures")
    parser.add_argument("--months", default="3,6,9,12", help="months of reports")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    copies = sorted(int(s) for s in args.copies.split(","))
    months = sorted(int(s) for s in args.months.split(","))
    base = load_catalogue()
    print("synthetic reports; best of", args.repeat, "runs")
    print(
        f"{'copies':>6} {'measures':>8} {'months':>6} {'naive s':>9} {'project s':>10} {'÷naive':>8} {'÷1 copy':>8}"
    )
    out: list[dict] = []
    first: dict[int, float] = {}
    for n in copies:
        cat = scaled_catalogue(base, n)
        for mo in months:
            as_of = f"2019-{mo:02d}"
            prog = synthetic_progress(cat, mo)
            naive = _best(
                lambda cat=cat, prog=prog, as_of=as_of: naive_run_rate(cat, prog, as_of), args.repeat
            )
            proj = _best(
                lambda cat=cat, prog=prog, as_of=as_of: investment.project_measures(cat, prog, as_of),
                args.repeat,
            )
            first.setdefault(mo, proj)
            row = {
                "copies": n,
                "measures": len(cat.measures),
                "months": mo,
                "rows": len(prog),
                "naive_s": naive,
                "project_s": proj,
                "ratio_to_naive": proj / naive,
                "ratio_to_one_copy": proj / first[mo],
            }
            out.append(row)
            print(
                f"{n:>6} {row['measures']:>8} {mo:>6} {naive:>9.4f} {proj:>10.3f}"
                f" {row['ratio_to_naive']:>8.1f} {row['ratio_to_one_copy']:>8.2f}"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "investment.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
