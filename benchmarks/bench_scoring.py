"""Scoring speed against the number of progress rows, as ratios measured in the same run.

Rows come from the shared deterministic scale generator (benchmarks/scale.py): 1, 10, 100 and 1000 copies of
the plan's measures with twelve months of synthetic reports, about 10^3 … 10^6 rows. Timed per size (best of
`--repeat`): `latest` (each measure's latest report: the least any scoring must do, the baseline) and
`score` (perfkit.scoring.score: latest values, measure completion, indicator and section scores, totals).
Reported: seconds, score ÷ latest, µs per row (flat when linear). Target: linear, 10^6 rows ≤ 5 s.

Run: `python -m benchmarks.bench_scoring [--copies 1,10,100,1000] [--repeat 3]`; results also go to
benchmarks/results/scoring.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from perfkit import scoring
from perfkit.catalogue import load_catalogue

from .scale import best_of, latest_report, million_row_verdict, scaled_catalogue, synthetic_progress

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-12"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="bench_scoring", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    base = load_catalogue()
    print(f"synthetic reports for {AS_OF}; best of {args.repeat} runs")
    print(f"{'copies':>6} {'rows':>9} {'latest s':>9} {'score s':>8} {'÷latest':>8} {'µs/row':>7}")
    out = []
    for n in sorted(int(s) for s in args.copies.split(",")):
        cat = scaled_catalogue(base, n)
        prog = synthetic_progress(cat)
        growth = {m: 12.5 for m in cat.measures.loc[cat.measures["kind"] == "growth_band", "measure_id"]}
        latest_s, _ = best_of(lambda prog=prog: latest_report(prog), args.repeat)
        score_s, res = best_of(
            lambda cat=cat, prog=prog, growth=growth: scoring.score(cat, prog, AS_OF, None, growth),
            args.repeat,
        )
        row = {
            "copies": n,
            "rows": len(prog),
            "latest_s": latest_s,
            "score_s": score_s,
            "ratio_to_latest": score_s / latest_s,
            "us_per_row": score_s / len(prog) * 1e6,
            "target_score_per_copy": res.totals["target_score"] / n,
        }
        out.append(row)
        print(
            f"{n:>6} {row['rows']:>9} {latest_s:>9.4f} {score_s:>8.3f} {row['ratio_to_latest']:>8.1f}"
            f" {row['us_per_row']:>7.2f}"
        )
    million_row_verdict(out, "score_s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
