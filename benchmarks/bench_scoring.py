"""Scoring speed against the number of progress rows, as ratios measured in the same run.

Rows come from the shared deterministic scale generator (benchmarks/scale.py): 1, 10, 100 and 1000 copies of
the plan's measures with twelve months of synthetic reports, about 10^3 … 10^6 rows. Timed per size in
`--rounds` paired rounds (benchmarks/measure.py; both in this process, same BLAS threads, same rows):
`latest` (each measure's latest report: the least any scoring must do, the baseline) and `score`
(perfkit.scoring.score: latest values, measure completion, indicator and section scores, totals).
Reported: median (range) seconds, the median and range of score ÷ latest, µs per row from the medians (flat
when linear). Targets: 10^6 rows ≤ 5 s and linear, verdicts from the medians.

Run: `python -m benchmarks.bench_scoring [--copies 1,10,100,1000] [--rounds 3]`; results also go to
benchmarks/results/scoring.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from perfkit import scoring
from perfkit.catalogue import load_catalogue

from .measure import Paired, describe_machine, machine, rounds, spread
from .scale import latest_report, row_verdicts, scaled_catalogue, synthetic_progress

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-12"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench_scoring", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,10,100,1000")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    args = parser.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    base = load_catalogue()
    print(f"synthetic reports for {AS_OF}; {args.rounds} paired rounds per size; median (range)")
    print(f"{'copies':>6} {'rows':>9} {'latest s':>22} {'score s':>22} {'score ÷ latest':>24} {'µs/row':>7}")
    out = []
    for n in sorted(int(s) for s in args.copies.split(",")):
        cat = scaled_catalogue(base, n)
        prog = synthetic_progress(cat)
        growth = {m: 12.5 for m in cat.measures.loc[cat.measures["kind"] == "growth_band", "measure_id"]}
        secs, res = rounds(
            {
                "latest": lambda prog=prog: latest_report(prog),
                "score": lambda cat=cat, prog=prog, growth=growth: scoring.score(
                    cat, prog, AS_OF, None, growth
                ),
            },
            args.rounds,
        )
        paired = Paired(secs["latest"], secs["score"])
        score_s = statistics.median(secs["score"])
        row = {
            "copies": n,
            "rows": len(prog),
            "latest_s": statistics.median(secs["latest"]),
            "score_s": score_s,
            "score_vs_latest": paired.as_dict(),
            "us_per_row": score_s / len(prog) * 1e6,
            "target_score_per_copy": res["score"].totals["target_score"] / n,
        }
        out.append(row)
        print(
            f"{n:>6} {row['rows']:>9} {spread(secs['latest'], '.4f'):>22} {spread(secs['score'], '.3f'):>22}"
            f" {paired!s:>24} {row['us_per_row']:>7.2f}"
        )
    result = {"machine": host, "sizes": out, "verdicts": row_verdicts(out, "score")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scoring.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return result


if __name__ == "__main__":
    main()
