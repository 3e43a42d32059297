"""The brief's speed against a floor measured in the same run, as ratios.

Floor: what any notebook-to-HTML brief costs at least: papermill runs a one-cell notebook that imports
pandas, statsmodels and altair in a fresh kernel, then nbconvert exports it to HTML once. The later issue's
target is a brief in at most 2× the floor.

Timed (best of `--repeat`, each on a fresh copy of the sample store, so earlier months' flags are
computed as on a first run):
- brief with each worker count in `--workers` (1: every notebook in one warm kernel, one after another;
  2: two kernels taking notebooks from one queue, longest first), the plan's notebooks and the HTML export;
- per notebook seconds (from the runner) for the fastest run of each worker count.

Run: `python -m benchmarks.bench_brief [--workers 1,2] [--repeat 1]`. Results also go to
benchmarks/results/brief.json. Synthetic sample data only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from perfkit import brief
from perfkit.config import PLAN_DIR, SAMPLE_DIR
from perfkit.store import create_store

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-09"
KERNEL_META = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}


def floor_seconds(work: Path) -> float:
    """papermill (fresh kernel, heavy imports) + one nbconvert HTML export."""
    import papermill as pm
    from nbconvert import HTMLExporter

    src, dst = work / "floor.ipynb", work / "floor.out.ipynb"
    nb = new_notebook(cells=[new_code_cell("import pandas, statsmodels.api, altair")], metadata=KERNEL_META)
    nbformat.write(nb, src)
    t0 = time.perf_counter()
    pm.execute_notebook(str(src), str(dst), kernel_name="python3", progress_bar=False)
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
    return seconds, {k: round(v, 2) for k, v in run.seconds.items() if k != "total"}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench_brief")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv or [])
    counts = [int(x) for x in args.workers.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="bench-brief-") as tmp:
        work = Path(tmp)
        master = work / "master.sqlite"
        create_store(master, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
        floor = min(floor_seconds(work) for _ in range(args.repeat))
        print(f"floor (papermill one cell + nbconvert): {floor:.1f} s", flush=True)
        rows = []
        for workers in counts:
            runs = [brief_seconds(work, master, workers) for _ in range(args.repeat)]
            seconds, notebooks = min(runs, key=lambda r: r[0])
            rows.append(
                {
                    "workers": workers,
                    "brief_s": round(seconds, 2),
                    "floor_s": round(floor, 2),
                    "ratio_to_floor": round(seconds / floor, 2),
                    "notebooks_s": notebooks,
                }
            )
            print(
                f"brief, {workers} worker(s): {seconds:.1f} s = {seconds / floor:.1f}× floor; "
                + ", ".join(f"{k} {v:.1f} s" for k, v in notebooks.items()),
                flush=True,
            )
    RESULTS.mkdir(exist_ok=True)
    result = {"as_of": AS_OF, "floor_s": round(floor, 2), "runs": rows}
    (RESULTS / "brief.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
