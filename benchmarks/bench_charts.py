"""Chart drawing with and without the measuring font (perfkit.chart_fonts), as ratios in the same rounds.

- Per chart: the brief's four charts (investment bullet, turnover fan, risk status, trend), zh and en, drawn
  as the brief's kernels draw them (static: SVG + PNG) on the sample store as of September, without the
  font (PERFKIT_CHART_FONT=off) and with it, in this process; every drawing checked identical both ways.
- The brief after new data (as benchmarks/bench_brief.py times it) with the font and without it (the runner
  handing its kernels "off"), beside bench_brief's floor in the same rounds.
The font is built once into a temporary cache first (its build time printed: paid once per plan and
machine). Run: `python -m benchmarks.bench_charts [--rounds 3]`; results in benchmarks/results/charts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from perfkit import brief, chart_fonts, charts, monthly, report
from perfkit.config import PLAN_DIR
from perfkit.store import open_store

from .bench_brief import AS_OF, august_store, brief_seconds, floor_seconds
from .measure import Paired, describe_machine, machine, rounds, spread, verdict

RESULTS = Path(__file__).resolve().parent / "results"


def _specs(db: Path) -> dict[str, dict]:
    conn = open_store(db)
    try:
        monthly.ensure(conn, AS_OF)
        specs = {}
        for lang in ("zh", "en"):
            data = report.gather(conn, AS_OF, "monthly", lang)
            flags = monthly.snapshot(conn, AS_OF, lang).flags
            specs[f"investment bullet {lang}"] = report.investment_chart(data, lang).to_dict()
            specs[f"turnover fan {lang}"] = report.turnover_chart(data, lang).to_dict()
            specs[f"risk status {lang}"] = charts.status_chart(flags, lang).to_dict()
            specs[f"trend {lang}"] = report.trend_chart(data, lang).to_dict()
        return specs
    finally:
        conn.close()


def _draw(spec: dict, font: str) -> tuple[float, dict]:
    os.environ[chart_fonts.FONT_ENV] = font
    t0 = time.perf_counter()
    bundle, _ = charts._draw(spec, "static")
    return time.perf_counter() - t0, bundle


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench_charts")
    ap.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    args = ap.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    before = os.environ.get(chart_fonts.FONT_ENV)
    with tempfile.TemporaryDirectory(prefix="bench-charts-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        font = chart_fonts.build(chart_fonts.plan_texts(PLAN_DIR), cache=work / "fonts")
        if font is None:
            print("no measuring font here (no CJK font of charts.FONT, or no fontTools): nothing to compare")
            return {}
        print(f"measuring font {font.family} built in {time.perf_counter() - t0:.1f} s (once per plan)")
        master = august_store(work)
        specs = _specs(master)
        charts.setup("static")
        _draw(specs["trend zh"], "off")  # vl-convert's engine started, and the font registered, before timing
        _draw(specs["trend zh"], str(font.folder))
        fns = {}
        for name, spec in specs.items():
            fns[f"{name} without"] = lambda spec=spec: _draw(spec, "off")[0]
            fns[f"{name} with"] = lambda spec=spec: _draw(spec, str(font.folder))[0]
        per_chart, _ = rounds(fns, args.rounds, self_timed=True)
        for name, spec in specs.items():
            assert _draw(spec, "off")[1] == _draw(spec, str(font.folder))[1], f"{name}: drawings differ"
        os.environ.pop(chart_fonts.FONT_ENV, None)

        real = brief.chart_fonts.kernel_env
        off = {chart_fonts.FONT_ENV: "off"}

        def brief_without() -> float:
            brief.chart_fonts.kernel_env = lambda *a: off  # the runner hands its kernels no font
            try:
                return brief_seconds(work, master, 2)
            finally:
                brief.chart_fonts.kernel_env = real

        os.environ[chart_fonts.CACHE_ENV] = str(work / "fonts")  # the runner finds the font built above
        fns = {
            "floor": lambda: floor_seconds(work, 2),
            "without": brief_without,
            "with": lambda: brief_seconds(work, master, 2),
        }
        briefs, _ = rounds(fns, args.rounds, self_timed=True)
        os.environ.pop(chart_fonts.CACHE_ENV, None)
    if before is not None:
        os.environ[chart_fonts.FONT_ENV] = before
    rows = []
    print("chart (static: SVG + PNG)  without s  with s  with ÷ without")
    for name in specs:
        paired = Paired(per_chart[f"{name} without"], per_chart[f"{name} with"])
        print(f"  {name:<22} {spread(paired.baseline, '.3f')}  {spread(paired.subject, '.3f')}  {paired}")
        rows.append({"chart": name, **paired.as_dict()})
    all_without = [sum(x) for x in zip(*(per_chart[f"{n} without"] for n in specs), strict=True)]
    all_with = [sum(x) for x in zip(*(per_chart[f"{n} with"] for n in specs), strict=True)]
    total = Paired(all_without, all_with)
    print(f"  {'all eight':<22} {spread(all_without, '.3f')}  {spread(all_with, '.3f')}  {total}")
    with_font, without = Paired(briefs["floor"], briefs["with"]), Paired(briefs["floor"], briefs["without"])
    print(
        f"2 kernels: floor {spread(briefs['floor'], '.1f')} s; brief after new data without the font "
        f"{spread(briefs['without'], '.1f')} s (÷ floor {without}), with it {spread(briefs['with'], '.1f')} s "
        f"(÷ floor {with_font}; ÷ without {Paired(briefs['without'], briefs['with'])})",
        flush=True,
    )
    result = {
        "machine": host,
        "font": font.family,
        "charts": rows,
        "charts_total": total.as_dict(),
        "brief_with_vs_floor": with_font.as_dict(),
        "brief_without_vs_floor": without.as_dict(),
        "verdict": verdict(
            "brief after new data on 2 kernels ≤ its floor", with_font.median, 1, f"; {with_font}"
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "charts.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
