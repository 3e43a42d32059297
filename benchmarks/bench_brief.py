"""The brief's speed against a floor measured in the same run, as ratios.

Floor: what any notebook-to-HTML brief costs at least: papermill runs a one-cell notebook that imports
pandas, statsmodels and altair in a fresh kernel, then nbconvert exports it to HTML once. The later issue's
target is a brief in at most 2× the floor.

Timed in `--repeat` rounds (default 3), each round a floor run then a brief per worker count, so a slow
spell of the machine hits both; reported: best of each and the median of the rounds' ratios. Every brief
runs on a fresh copy of the sample store with no cache beside it, so earlier months' flags and the growth
fits are computed as on a first run:
- brief with each worker count in `--workers` (1: every notebook in one warm kernel, one after another;
  2: two kernels taking notebooks from one queue in plan.toml [brief] order), the plan's notebooks and the
  HTML export;
- per notebook seconds (from the runner) for the fastest run of each worker count.

Run: `python -m benchmarks.bench_brief [--workers 1,2] [--repeat 3]`. Results also go to
benchmarks/results/brief.json. Synthetic sample data only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from perfkit import brief
from perfkit.config import PLAN_DIR, SAMPLE_DIR
from perfkit.lab import DISPLAY_NAME, KERNEL_NAME, ensure_kernel
from perfkit.store import create_store

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-09"
KERNEL_META = {
    "kernelspec": {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"},
    "language_info": {"name": "python"},
}


def floor_seconds(work: Path) -> float:
    """papermill (fresh kernel, heavy imports) + one nbconvert HTML export."""
    import papermill as pm
    from nbconvert import HTMLExporter

    src, dst = work / "floor.ipynb", work / "floor.out.ipynb"
    nb = new_notebook(cells=[new_code_cell("import pandas, statsmodels.api, altair")], metadata=KERNEL_META)
    nbformat.write(nb, src)
    ensure_kernel()  # the kernel the brief's notebooks run on
    t0 = time.perf_counter()
    pm.execute_notebook(str(src), str(dst), kernel_name=KERNEL_NAME, progress_bar=False)
    html, _ = HTMLExporter(exclude_input=True).from_notebook_node(nbformat.read(dst, as_version=4))
    (work / "floor.html").write_text(html, encoding="utf-8")
    return time.perf_counter() - t0


def brief_seconds(work: Path, master: Path, workers: int) -> tuple[float, dict[str, float]]:
    db = work / f"brief-{workers}.sqlite"
    shutil.copy(master, db)
    out = work / f"out-{workers}" / AS_OF
    t0 = time.perf_counter()
    run = brief.run_brief(AS_OF, out=out, db=db, workers=workers, echo=lambda line: None)
    seconds = time.perf_counter() - t0
    shutil.rmtree(out.parent)
    db.unlink()
    # the store's cache of computed results (growth fits) goes too: every repeat is a first run
    shutil.rmtree(db.with_name(db.name + ".cache"), ignore_errors=True)
    return seconds, {k: round(v, 2) for k, v in run.seconds.items() if k != "total"}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench_brief")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x]
    floors: list[float] = []
    briefs: dict[int, list[tuple[float, dict]]] = {w: [] for w in counts}
    with tempfile.TemporaryDirectory(prefix="bench-brief-") as tmp:
        work = Path(tmp)
        master = work / "master.sqlite"
        create_store(master, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
        # Floor and brief alternate, so a slow spell of this shared machine hits both alike.
        for r in range(args.repeat):
            floors.append(floor_seconds(work))
            line = [f"round {r + 1}: floor {floors[-1]:.1f} s"]
            for workers in counts:
                briefs[workers].append(brief_seconds(work, master, workers))
                line.append(f"brief ({workers} kernel(s)) {briefs[workers][-1][0]:.1f} s")
            print("; ".join(line), flush=True)
    floor = min(floors)
    print(f"floor (papermill one cell + nbconvert), best of {len(floors)}: {floor:.1f} s", flush=True)
    rows = []
    for workers in counts:
        seconds, notebooks = min(briefs[workers], key=lambda r: r[0])
        paired = statistics.median(b[0] / f for f, b in zip(floors, briefs[workers], strict=True))
        rows.append(
            {
                "workers": workers,
                "brief_s": round(seconds, 2),
                "floor_s": round(floor, 2),
                "ratio_to_floor": round(seconds / floor, 2),
                "median_paired_ratio": round(paired, 2),
                "notebooks_s": notebooks,
            }
        )
        print(
            f"brief, {workers} kernel(s): best {seconds:.1f} s = {seconds / floor:.2f}× floor "
            f"(median of the rounds' ratios {paired:.2f}×); "
            + ", ".join(f"{k} {v:.1f} s" for k, v in notebooks.items()),
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    result = {
        "as_of": AS_OF,
        "floor_s": round(floor, 2),
        "floors_s": [round(f, 2) for f in floors],
        "runs": rows,
    }
    (RESULTS / "brief.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
