"""The brief's speed against a floor run the same way in the same rounds, as ratios.

Floor: what any notebook-to-HTML brief costs at least: papermill runs a one-cell notebook that imports
pandas, statsmodels and altair in a fresh kernel, then nbconvert exports it to HTML once.

Like with like: the floor for a brief on K kernels starts K kernels at once (one thread each, as the brief's
runner does) with the same one-BLAS-thread environment the brief's kernels get (config.SINGLE_THREAD_ENV)
launched the same way (startup.KERNEL_LAUNCH: the deferred iri grammar, no debugger
loaded), then exports one HTML. Two briefs, each on a fresh copy
of the sample store:
- after new data: the store's monthly snapshots January..August are current (as after August's brief) and
  September's data is in: the brief computes September's snapshot (perfkit.monthly) while its kernels
  start, then runs the notebooks, which read it. Target: at or below the floor (1×).
- no new data: the same brief again into the folder the first one built: nothing changed, so no model is
  fitted and no notebook runs (the folder's stamp matches the snapshot). Target: at most half the floor.
- with unit pages (issue 14): the brief after new data as `perfkit brief` now builds it, with a page per
  reporting unit (notebooks/unit.ipynb once per unit in the same warm kernels), against the same brief
  without them (today's brief, the "after new data" figure above) in the same rounds. Target: ≤ 1.5×.
`--rounds` paired rounds (benchmarks/measure.py), each running floor and briefs for every worker count in
`--workers` (1: every notebook in one warm kernel; 2: two kernels taking notebooks from one queue in
plan.toml [brief] order), in reverse order every other round. Reported per worker count: median (range)
seconds, the median and range of the rounds' brief ÷ floor, the verdict from the median, and per notebook
seconds from the last round.

Run: `python -m benchmarks.bench_brief [--workers 1,2] [--rounds 3]`. Results also go to
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

from perfkit import brief, monthly
from perfkit.config import PLAN_DIR, SAMPLE_DIR, single_thread_env
from perfkit.lab import DISPLAY_NAME, KERNEL_NAME, ensure_kernel
from perfkit.startup import KERNEL_LAUNCH
from perfkit.store import create_store, open_store

from .measure import Paired, describe_machine, machine, rounds, spread, verdict

NOTEBOOKS: dict[int, dict[str, float]] = {}  # per notebook seconds of each worker count's latest brief
UNIT_PAGES: dict[int, dict] = {}  # unit pages of each worker count's latest brief with units: count, seconds
RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = "2019-09"
PREVIOUS = "2019-08"  # the month whose brief ran before September's data came in
KERNEL_META = {
    "kernelspec": {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"},
    "language_info": {"name": "python"},
}


def _floor_kernel(work: Path, stock: bool = False) -> Path:
    import papermill as pm
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    work.mkdir(parents=True, exist_ok=True)
    src, dst = work / "floor.ipynb", work / "floor.out.ipynb"
    cell = new_code_cell("import pandas, statsmodels.api, altair")
    nb = new_notebook(cells=[cell], metadata=KERNEL_META)
    nbformat.write(nb, src)
    # launched as the brief's kernels are (brief._Kernel: perfkit.startup defers the iri grammar, ~1.7 s of
    # CPU the floor would otherwise pay and the brief does not, and loads no debugger); `stock`: as the kernel
    # spec starts them (JupyterLab, plain papermill), for bench_budget's comparison only
    km = AsyncKernelManager(kernel_name=KERNEL_NAME)
    if not stock:
        km.kernel_spec.argv = [km.kernel_spec.argv[0], *KERNEL_LAUNCH]
    try:
        pm.execute_notebook(str(src), str(dst), kernel_name=KERNEL_NAME, km=km, progress_bar=False)
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    return dst


def floor_seconds(work: Path, kernels: int, stock: bool = False) -> float:
    """papermill on `kernels` fresh kernels at once (heavy imports) + one nbconvert HTML export; `stock`:
    kernels started as the kernel spec starts them (see _floor_kernel)."""
    from concurrent.futures import ThreadPoolExecutor

    from nbconvert import HTMLExporter

    ensure_kernel()  # the kernel the brief's notebooks run on
    # the kernels inherit the environment, as the brief's kernels get SINGLE_THREAD_ENV (restored after)
    with single_thread_env():
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=kernels) as pool:
            folders = [work / f"floor{kernels}{'-stock' if stock else ''}-{i}" for i in range(kernels)]
            outs = list(pool.map(lambda folder: _floor_kernel(folder, stock), folders))
        html, _ = HTMLExporter(exclude_input=True).from_notebook_node(nbformat.read(outs[0], as_version=4))
        (work / "floor.html").write_text(html, encoding="utf-8")
        return time.perf_counter() - t0


def august_store(work: Path) -> Path:
    """A fresh sample store in `work` as after August's brief: January..August's snapshots current."""
    master = work / "master.sqlite"
    create_store(master, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
    conn = open_store(master)
    try:
        monthly.ensure(conn, PREVIOUS)
    finally:
        conn.close()
    return master


def _remove_store(db: Path) -> None:
    """The store and its WAL files: a -wal left beside the next round's fresh copy of the same name would be
    read as that copy's (SQLite: "database disk image is malformed")."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


def brief_seconds(work: Path, master: Path, workers: int, units: bool = False) -> float:
    """A brief after new data: September's snapshot computed, the notebooks run (and with `units`, the
    unit pages)."""
    db = work / f"brief-{workers}{'-units' if units else ''}.sqlite"
    _remove_store(db)
    shutil.copy(master, db)
    out = work / f"out-{workers}{'-units' if units else ''}" / AS_OF
    t0 = time.perf_counter()
    run = brief.run_brief(AS_OF, out=out, db=db, workers=workers, echo=lambda line: None, units=units)
    seconds = time.perf_counter() - t0
    if units:
        pages = [v for k, v in run.seconds.items() if k.startswith("unit.ipynb [")]
        UNIT_PAGES[workers] = {"pages": len(pages), "seconds_sum": round(sum(pages), 2)}
    else:
        NOTEBOOKS[workers] = {k: round(v, 2) for k, v in run.seconds.items() if k != "total"}
    shutil.rmtree(out.parent)
    _remove_store(db)
    return seconds


def again_seconds(work: Path, master: Path, workers: int) -> float:
    """The same brief a second time with no new data (timed: the second run only)."""
    db = work / f"again-{workers}.sqlite"
    _remove_store(db)
    shutil.copy(master, db)
    out = work / f"again-{workers}" / AS_OF
    brief.run_brief(AS_OF, out=out, db=db, workers=workers, echo=lambda line: None, units=False)
    t0 = time.perf_counter()
    run = brief.run_brief(AS_OF, out=out, db=db, workers=workers, echo=lambda line: None, units=False)
    seconds = time.perf_counter() - t0
    if not run.up_to_date:
        raise RuntimeError("a second brief with no new data ran the notebooks")
    shutil.rmtree(out.parent)
    _remove_store(db)
    return seconds


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench_brief")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    args = ap.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    counts = [int(x) for x in args.workers.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="bench-brief-") as tmp:
        work = Path(tmp)
        master = august_store(work)
        fns = {}
        for w in counts:
            fns[f"floor{w}"] = lambda w=w: floor_seconds(work, w)
            fns[f"brief{w}"] = lambda w=w: brief_seconds(work, master, w)
            fns[f"units{w}"] = lambda w=w: brief_seconds(work, master, w, units=True)
            fns[f"again{w}"] = lambda w=w: again_seconds(work, master, w)
        times, _ = rounds(fns, args.rounds, self_timed=True)  # their timings leave out setup and cleanup
    runs = []
    for w in counts:
        floors, briefs, again = times[f"floor{w}"], times[f"brief{w}"], times[f"again{w}"]
        paired, paired_again = Paired(floors, briefs), Paired(floors, again)
        paired_units = Paired(briefs, times[f"units{w}"])
        print(
            f"{w} kernel(s): floor {spread(floors, '.1f')} s, brief after new data {spread(briefs, '.1f')} s "
            f"(÷ floor {paired}), again with no new data {spread(again, '.2f')} s (÷ floor {paired_again}); "
            "last round: " + ", ".join(f"{k} {v:.1f} s" for k, v in NOTEBOOKS[w].items()),
            flush=True,
        )
        print(
            f"{w} kernel(s): brief with unit pages {spread(times[f'units{w}'], '.1f')} s "
            f"(÷ brief without them {paired_units}); last round: {UNIT_PAGES[w]['pages']} pages, "
            f"{UNIT_PAGES[w]['seconds_sum']:.1f} s of notebook time in all",
            flush=True,
        )
        runs.append(
            {
                "workers": w,
                "brief_vs_floor": paired.as_dict(),
                "again_vs_floor": paired_again.as_dict(),
                "units_vs_brief": paired_units.as_dict(),
                "unit_pages": UNIT_PAGES[w],
                "notebooks_s": NOTEBOOKS[w],
                "verdict": verdict(
                    f"brief after new data on {w} kernel(s) ≤ its floor", paired.median, 1, f"; {paired}"
                ),
                "verdict_units": verdict(
                    f"brief with unit pages on {w} kernel(s) ≤ 1.5× the brief without them",
                    paired_units.median,
                    1.5,
                    f"; {paired_units}",
                ),
                "verdict_again": verdict(
                    f"second brief with no new data on {w} kernel(s) ≤ ½ its floor",
                    paired_again.median,
                    0.5,
                    f"; {paired_again}",
                ),
            }
        )
    RESULTS.mkdir(exist_ok=True)
    result = {"machine": host, "as_of": AS_OF, "runs": runs}
    (RESULTS / "brief.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
