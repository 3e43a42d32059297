"""Risk-flag speed against the number of progress rows, as ratios measured in the same run.

Scale: one copy is the plan's 87 measures (85 reported by units, 2 growth bands from statistics) with
synthetic monthly reports for 2019-01..2019-12 (a random pace per measure; every 7th measure's unit stops
reporting in the autumn; synthetic, not real), i.e. 1,020 progress rows. N copies are N × 87 measures under
renamed indicators: 1, 10, 100 and 1000 copies give about 10^3 … 10^6 rows.

Inputs besides the reports, built once per size and not timed: an investment projection in the contract's
shape (run-rate point, ±15% interval, a p_reach from it), a growth projection per growth-band measure, and
the eleven earlier months' flags (a mix of statuses) for the persistence rules.

Timed per size in `--rounds` paired rounds (benchmarks/measure.py; all in this process, same BLAS threads,
same rows):
- latest: the latest report per measure (sort + groupby tail), the least any flagging must do: the baseline;
- flag: `perfkit.risks.flag_measures` for 2019-12, with the inputs above;
- problems: `perfkit.risks.problems_from_flags` over twelve months of flags.
Reported: median (range) seconds, the median and range of flag ÷ latest, and µs per row from the medians
(flat when the cost is linear). Targets for flagging: 10^6 rows in 5 s or less, and linear; verdicts from
the medians.

Run: `python -m benchmarks.bench_risks [--copies 1,10,100,1000] [--rounds 3]`. Results also go to
benchmarks/results/risks.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd

from perfkit import risks
from perfkit.catalogue import Catalogue, load_catalogue

from .measure import Paired, describe_machine, machine, rounds, spread
from .scale import latest_report, row_verdicts, scaled_catalogue, synthetic_progress

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-12"


def synthetic_inputs(catalogue: Catalogue, progress: pd.DataFrame, seed: int = 12):
    """Investment and growth projections in the contract's shape, and eleven months of earlier flags."""
    rng = np.random.default_rng(seed)
    latest = progress.groupby("measure_id", sort=False).tail(1).set_index("measure_id")
    m = catalogue.measures.set_index("measure_id")
    cum = m[(m["schedule"].isin(["cumulative", "recurring"])) & (m["kind"] != "milestone")]
    actual = latest["cumulative"].reindex(cum.index).to_numpy(dtype=float)
    target = cum["target"].to_numpy(dtype=float)
    projected = actual * rng.uniform(0.95, 1.1, len(cum))
    z = (projected - target) / np.maximum(0.15 * projected / 1.2816, 1e-9)
    investment = pd.DataFrame(
        {
            "measure_id": cum.index,
            "projected": projected,
            "interval_80_low": projected * 0.85,
            "interval_80_high": projected * 1.15,
            "p_reach": 1 / (1 + np.exp(-1.7 * z)),
            "shortfall": np.maximum(target - projected, 0),
            "required_monthly": np.nan,
            "schedule_gap_pp": np.nan,
            "edge": "",
        }
    )
    bands = m[m["kind"] == "growth_band"]
    g = rng.normal(13.0, 1.0, len(bands))
    growth = pd.DataFrame(
        {
            "measure_id": bands.index,
            "ytd_growth_pct": g,
            "projected_growth_pct": g,
            "interval_80_low": g - 1,
            "interval_80_high": g + 1,
            "band_low": bands["target"].to_numpy(),
            "band_high": bands["target_high"].to_numpy(),
            "p_reach_low": rng.uniform(0, 1, len(bands)),
        }
    )
    statuses = np.array(["正常", "正常", "正常", "关注", "预警", "缺报"])
    ids = m.index.to_numpy()
    earlier = pd.period_range("2019-01", "2019-11", freq="M")
    previous = pd.DataFrame(
        {
            "as_of": np.repeat(earlier, len(ids)),
            "measure_id": np.tile(ids, len(earlier)),
            "status": statuses[rng.integers(0, len(statuses), len(ids) * len(earlier))],
        }
    )
    return investment, growth, previous


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench_risks", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,10,100,1000", help="copies of the plan's 87 measures")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    args = parser.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    copies = sorted(int(s) for s in args.copies.split(","))
    base = load_catalogue()
    rules = risks.rules_from(base)
    print(f"synthetic reports for {AS_OF}; {args.rounds} paired rounds per size; median (range)")
    print(
        f"{'copies':>6} {'measures':>8} {'rows':>9} {'latest s':>22} {'flag s':>20} {'flag ÷ latest':>24}"
        f" {'µs/row':>7} {'problems s':>20}"
    )
    out: list[dict] = []
    for n in copies:
        cat = scaled_catalogue(base, n)
        prog = synthetic_progress(cat)
        inv, gro, prev = synthetic_inputs(cat, prog)
        secs, res = rounds(
            {
                "latest": lambda prog=prog: latest_report(prog),
                "flag": lambda cat=cat, prog=prog, inv=inv, gro=gro, prev=prev: risks.flag_measures(
                    cat, prog, AS_OF, inv, gro, prev, rules
                ),
            },
            args.rounds,
        )
        flags = res["flag"]
        history = pd.concat(
            [
                prev.assign(points_at_risk=0.1, reasons=[[]] * len(prev)),
                flags.assign(as_of=pd.Period(AS_OF, "M")),
            ],
            ignore_index=True,
        )[["as_of", "measure_id", "status", "points_at_risk", "reasons"]]
        problems, _ = rounds(
            {
                "problems": lambda history=history: risks.problems_from_flags(
                    history, AS_OF, None, rules["problem_statuses"]
                )
            },
            args.rounds,
        )
        paired = Paired(secs["latest"], secs["flag"])
        flag_s = statistics.median(secs["flag"])
        row = {
            "copies": n,
            "measures": len(cat.measures),
            "rows": len(prog),
            "latest_s": statistics.median(secs["latest"]),
            "flag_s": flag_s,
            "flag_vs_latest": paired.as_dict(),
            "us_per_row": flag_s / len(prog) * 1e6,
            "problems_s": statistics.median(problems["problems"]),
            "flagged": int((flags["status"] != "正常").sum()),
        }
        out.append(row)
        print(
            f"{n:>6} {row['measures']:>8} {row['rows']:>9} {spread(secs['latest'], '.4f'):>22}"
            f" {spread(secs['flag'], '.3f'):>20} {paired!s:>24} {row['us_per_row']:>7.2f}"
            f" {spread(problems['problems'], '.3f'):>20}"
        )
    result = {"machine": host, "sizes": out, "verdicts": row_verdicts(out, "flag")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "risks.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return result


if __name__ == "__main__":
    main()
