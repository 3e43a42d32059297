"""Year-end projection speed against the number of measures and months, as ratios measured in the same run.

Scale: one copy is the plan's 39 projected measures (13 investment, the rest counts, kilometres, shares,
amounts); N copies are N × 39 measures under renamed indicators, with synthetic monthly reports for months
1..M (back-loaded for investment, linear for the rest, a random pace per measure; synthetic, not real).

Timed per size in `--rounds` paired rounds (benchmarks/measure.py; both in this process, same BLAS threads,
same reports):
- naive: the run-rate alone (latest value ÷ months elapsed × months to deadline) with pandas: the baseline;
- project: `perfkit.investment.project_measures` (calibration, this year's backtest for σ, projection).
Reported: median (range) seconds, the median and range of project ÷ naive at the same size, and the median
project seconds ÷ those at 1 copy × the same months (how it grows with measures). No target: measured.

Run: `python -m benchmarks.bench_investment [--copies 1,10,100] [--months 3,6,9,12] [--rounds 3]`. Results also go to
benchmarks/results/investment.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd

from perfkit import investment
from perfkit.catalogue import Catalogue, load_catalogue

from .measure import Paired, describe_machine, machine, rounds, spread

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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench_investment", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,10,100", help="copies of the plan's projected measures")
    parser.add_argument("--months", default="3,6,9,12", help="months of reports")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    args = parser.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    copies = sorted(int(s) for s in args.copies.split(","))
    months = sorted(int(s) for s in args.months.split(","))
    base = load_catalogue()
    print(f"synthetic reports; {args.rounds} paired rounds per size; median (range)")
    print(
        f"{'copies':>6} {'measures':>8} {'months':>6} {'naive s':>22} {'project s':>20}"
        f" {'project ÷ naive':>26} {'÷1 copy':>8}"
    )
    out: list[dict] = []
    first: dict[int, float] = {}
    for n in copies:
        cat = scaled_catalogue(base, n)
        for mo in months:
            as_of = f"2019-{mo:02d}"
            prog = synthetic_progress(cat, mo)
            secs, _ = rounds(
                {
                    "naive": lambda cat=cat, prog=prog, as_of=as_of: naive_run_rate(cat, prog, as_of),
                    "project": lambda cat=cat, prog=prog, as_of=as_of: investment.project_measures(
                        cat, prog, as_of
                    ),
                },
                args.rounds,
            )
            paired = Paired(secs["naive"], secs["project"])
            proj = statistics.median(secs["project"])
            first.setdefault(mo, proj)
            row = {
                "copies": n,
                "measures": len(cat.measures),
                "months": mo,
                "rows": len(prog),
                "naive_s": statistics.median(secs["naive"]),
                "project_s": proj,
                "project_vs_naive": paired.as_dict(),
                "ratio_to_one_copy": proj / first[mo],
            }
            out.append(row)
            print(
                f"{n:>6} {row['measures']:>8} {mo:>6} {spread(secs['naive'], '.4f'):>22}"
                f" {spread(secs['project'], '.3f'):>20} {paired!s:>26} {row['ratio_to_one_copy']:>8.2f}"
            )
    result = {"machine": host, "sizes": out}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "investment.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return result


if __name__ == "__main__":
    main()
