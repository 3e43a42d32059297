"""The brief's speed against a floor measured in the same run, as ratios.

Floor: what any notebook-to-HTML brief costs at least: papermill runs a one-cell notebook that imports
pandas, statsmodels and altair in a fresh kernel, then nbconvert exports it to HTML once.

Timed in `--repeat` rounds (default 3), each round a floor run then the briefs, so a slow spell of the
machine hits both; reported: best of each and the median of the rounds' ratios. The briefs, per worker
count in `--workers`, each on a fresh copy of the sample store:
- after new data: the store's monthly snapshots January..August are current (as after August's brief) and
  September's data has arrived: the brief computes September's snapshot (perfkit.monthly) and runs the
  notebooks, which read it. Target: at or below the floor.
- no new data: the same brief again into the same folder: nothing changed, so no model is fitted and no
  notebook runs (the folder's stamp matches). Target: at most half the floor.
- first run (`--first`): a store with no snapshot yet (the January..September backfill, once per store).

Run: `python -m benchmarks.bench_brief [--workers 1,2] [--repeat 3] [--first]`. Results also go to
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

from perfkit import brief, monthly
from perfkit.config import PLAN_DIR, SAMPLE_DIR
from perfkit.store import create_store, open_store

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-09"
PREVIOUS = "2019-08"
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


def brief_seconds(work: Path, master: Path, workers: int) -> tuple[float, float, dict[str, float]]:
    """(after new data, no new data, per-notebook seconds of the first) on a copy of `master`."""
    db = work / f"brief-{workers}.sqlite"
    shutil.copy(master, db)
    out = work / f"out-{workers}" / AS_OF
    t0 = time.perf_counter()
    run = brief.run_brief(AS_OF, out=out, db=db, workers=workers, echo=lambda line: None)
    after_new_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = brief.run_brief(AS_OF, out=out, db=db, workers=workers, echo=lambda line: None)
    no_new_data = time.perf_counter() - t0
    assert again.up_to_date, "the second brief with no new data ran the notebooks"
    shutil.rmtree(out.parent)
    db.unlink()
    return after_new_data, no_new_data, {k: round(v, 2) for k, v in run.seconds.items() if k != "total"}


def first_seconds(work: Path, fresh: Path, workers: int) -> float:
    """A brief on a store with no snapshot yet (the year's backfill included)."""
    db = work / f"first-{workers}.sqlite"
    shutil.copy(fresh, db)
    t0 = time.perf_counter()
    brief.run_brief(AS_OF, out=work / "first" / AS_OF, db=db, workers=workers, echo=lambda line: None)
    seconds = time.perf_counter() - t0
    shutil.rmtree(work / "first")
    db.unlink()
    return seconds


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench_brief")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first", action="store_true", help="also time a first brief (backfill of the year)")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x]
    floors: list[float] = []
    briefs: dict[int, list[tuple[float, float, dict]]] = {w: [] for w in counts}
    with tempfile.TemporaryDirectory(prefix="bench-brief-") as tmp:
        work = Path(tmp)
        fresh = work / "fresh.sqlite"
        create_store(fresh, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
        master = work / "master.sqlite"
        shutil.copy(fresh, master)
        conn = open_store(master)
        monthly.ensure(conn, PREVIOUS)  # August's brief ran: January..August are current
        conn.close()
        first = first_seconds(work, fresh, max(counts)) if args.first else None
        # Floor and brief alternate, so a slow spell of this shared machine hits both alike.
        for r in range(args.repeat):
            floors.append(floor_seconds(work))
            line = [f"round {r + 1}: floor {floors[-1]:.1f} s"]
            for workers in counts:
                briefs[workers].append(brief_seconds(work, master, workers))
                new, same, _ = briefs[workers][-1]
                line.append(
                    f"brief ({workers} kernel(s)) after new data {new:.1f} s, no new data {same:.2f} s"
                )
            print("; ".join(line), flush=True)
    floor = min(floors)
    print(f"floor (papermill one cell + nbconvert), best of {len(floors)}: {floor:.1f} s", flush=True)
    rows = []
    for workers in counts:
        new, same, notebooks = min(briefs[workers], key=lambda r: r[0])
        paired = statistics.median(b[0] / f for f, b in zip(floors, briefs[workers], strict=True))
        paired_same = statistics.median(b[1] / f for f, b in zip(floors, briefs[workers], strict=True))
        rows.append(
            {
                "workers": workers,
                "after_new_data_s": round(new, 2),
                "no_new_data_s": round(min(b[1] for b in briefs[workers]), 3),
                "floor_s": round(floor, 2),
                "after_new_data_ratio": round(new / floor, 2),
                "median_paired_ratio": round(paired, 2),
                "no_new_data_median_paired_ratio": round(paired_same, 3),
                "notebooks_s": notebooks,
            }
        )
        print(
            f"brief, {workers} kernel(s): after new data best {new:.1f} s = {new / floor:.2f}× floor "
            f"(median of the rounds' ratios {paired:.2f}×); no new data {paired_same:.3f}× floor; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in notebooks.items()),
            flush=True,
        )
    if first is not None:
        print(f"first brief on a store with no snapshot ({max(counts)} kernels): {first:.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    result = {
        "as_of": AS_OF,
        "floor_s": round(floor, 2),
        "floors_s": [round(f, 2) for f in floors],
        "runs": rows,
        "first_run_s": None if first is None else round(first, 2),
    }
    (RESULTS / "brief.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
