"""Can a brief after new data reach its floor on this machine? Two bounds, in CPU seconds.

bench_brief times the brief after new data against a floor: K kernels importing pandas, statsmodels and
altair side by side, then one HTML export. Whatever the brief's schedule, two things must hold for it to
end within the floor's time, and this benchmark measures both, in the same paired rounds:

1. **Critical path.** The floor's is one kernel's start and imports, then its export (its kernels import
   side by side). The brief's is one kernel's start (however many kernels might share it), then its longest
   notebook (a notebook runs in one kernel, cell after cell), then that page's export. Each part in CPU
   seconds so other processes' load does not blur it: one floor kernel alone (bench_brief's); one brief
   kernel started as the runner starts it and set up for its first notebook (the preloaded modules, the
   chart engine's warm-up), then shut down; each notebook's cells alone in a warm IPython shell with the
   brief's parameters (what a kernel does, less its messaging); the brief page's export with its templates
   compiled. Verdict: is the brief's critical path at most the floor's?
2. **Least work.** September's snapshot (perfkit.monthly on top of August's, imports warm) + the kernel's
   CPU of a brief on one kernel (one start, then every notebook in turn) + the page's export: the work any
   schedule has to do even if all kernels shared one start (a fork server) and the runner's papermill,
   bookkeeping and executed copies cost nothing. Verdict: does it fit into cores × the floor's critical
   path (what the floor's time offers on every core)?

Also printed: the floor and the brief on 2 kernels as bench_brief runs them, elapsed and CPU seconds (this
process and its reaped children, the kernels); and the brief against a "stock" floor whose kernels start as
the kernel spec starts them (JupyterLab, plain papermill: debugger loaded, the iri grammar compiled), the
floor's definition before bench_brief gave it the brief kernels' start-up (like with like). If either verdict fails, no reordering of the brief's work
reaches the floor here; only doing less work (or a cheaper kernel start than the floor's) does.

Run: `python -m benchmarks.bench_budget [--rounds 3]`. Results also go to benchmarks/results/budget.json.
Synthetic sample data only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from perfkit import brief, chart_fonts, monthly
from perfkit.config import NOTEBOOKS_DIR, PLAN_DIR, SINGLE_THREAD_ENV, single_thread_env
from perfkit.store import open_store

from .bench_brief import AS_OF, _floor_kernel, _remove_store, august_store, brief_seconds, floor_seconds
from .measure import Paired, cores, describe_machine, machine, rounds, spread, verdict

RESULTS = Path(__file__).resolve().parent / "results"
# The notebooks' shell first does what a brief kernel does before its first notebook (launched through
# perfkit.startup: the grammar deferred; then KERNEL_SETUP).
KERNEL_IMPORTS = "from perfkit.startup import defer_iri_grammar\ndefer_iri_grammar()\n" + brief.KERNEL_SETUP


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its children waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


class Timed:
    """Runs `fn` (which returns its own elapsed seconds) and keeps the CPU seconds it took, per round."""

    def __init__(self, fn):
        self.fn = fn
        self.own: list[float] = []
        self.children: list[float] = []

    def __call__(self) -> float:
        own0, kids0 = _cpu()
        seconds = self.fn()
        own1, kids1 = _cpu()
        self.own.append(own1 - own0)
        self.children.append(kids1 - kids0)
        return seconds

    @property
    def total(self) -> list[float]:
        return [a + b for a, b in zip(self.own, self.children, strict=True)]


def snapshot_cpu(work: Path, master: Path) -> float:
    """CPU seconds of September's snapshot computed on top of August's (imports already warm)."""
    db = work / "snapshot.sqlite"
    _remove_store(db)
    shutil.copy(master, db)
    conn = open_store(db)
    try:
        t0 = time.process_time()
        done = monthly.ensure(conn, AS_OF)
        seconds = time.process_time() - t0
    finally:
        conn.close()
        _remove_store(db)
    if AS_OF not in done.computed:
        raise RuntimeError(f"the snapshot for {AS_OF} was not computed")
    return seconds


def kernel_start_cpu() -> float:
    """CPU seconds of one brief kernel started as the runner starts it (perfkit.brief._Kernel, the brief's
    kernel environment), set up for its first notebook (KERNEL_SETUP), then shut down."""
    kids0 = _cpu()[1]
    kernel = brief._Kernel(NOTEBOOKS_DIR, brief.KERNEL_ENV)
    try:
        kernel.start()
        kernel.run_code(brief.KERNEL_SETUP)
    finally:
        kernel.shutdown()
    return _cpu()[1] - kids0


def floor_kernel_cpu(work: Path) -> float:
    """CPU seconds of one floor kernel alone (bench_brief's: papermill runs the one-cell import notebook)."""
    kids0 = _cpu()[1]
    with single_thread_env():
        _floor_kernel(work / "floor-alone")
    return _cpu()[1] - kids0


# Each notebook run as the brief runs it (parameters injected by papermill) in one warm IPython shell, with
# the kernel's imports and warm-up done first; prints {notebook: CPU seconds} as JSON.
NOTEBOOKS_CPU = """
import json, os, sys, time
os.environ.update(json.loads(sys.argv[1]))
params = json.loads(sys.argv[2])
exec(sys.argv[3])  # KERNEL_IMPORTS
import papermill.parameterize as pz
from papermill.iorw import load_notebook_node
from IPython.core.interactiveshell import InteractiveShell
from perfkit.brief import NOTEBOOKS_DIR, notebook_jobs, settings
shell = InteractiveShell.instance()
out = {}
for job in notebook_jobs(settings()):
    nb = pz.parameterize_notebook(load_notebook_node(str(NOTEBOOKS_DIR / job.file)), params)
    shell.reset(new_session=True)
    t0 = time.process_time()
    for cell in nb.cells:
        if cell.cell_type == "code" and not shell.run_cell(cell.source, silent=False).success:
            raise SystemExit(f"{job.file} failed")
    out[job.file] = time.process_time() - t0
print(json.dumps(out))
"""


def notebooks_cpu(work: Path, master: Path, fingerprint: str) -> dict[str, float]:
    """CPU seconds of each brief notebook alone, in a warm shell (see NOTEBOOKS_CPU)."""
    out = work / "nb-out"
    out.mkdir(exist_ok=True)
    params = {"as_of": AS_OF, "db": str(master), "out_dir": str(out), "lang": "zh", "kind": "monthly"}
    params["fingerprint"] = fingerprint
    env = {**SINGLE_THREAD_ENV, **brief.KERNEL_ENV, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env |= chart_fonts.kernel_env(PLAN_DIR, tempfile.mkdtemp(dir=work))
    run = subprocess.run(
        [sys.executable, "-c", NOTEBOOKS_CPU, json.dumps(env), json.dumps(params), KERNEL_IMPORTS],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **SINGLE_THREAD_ENV},
        cwd=NOTEBOOKS_DIR,  # as the brief's kernels
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def export_cpu(executed: Path, html: Path) -> float:
    """CPU seconds of exporting the brief page from its executed notebook (this thread's exporter warm)."""
    t0 = time.process_time()
    brief.export_html(executed, html, as_of=AS_OF, sample=True)
    return time.process_time() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench_budget")
    ap.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    args = ap.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    n_cores = cores()
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        work = Path(tmp)
        master = august_store(work)
        # one brief kept, for its executed brief notebook (the page export below), on its own store copy
        kept = work / "kept.sqlite"
        shutil.copy(master, kept)
        brief.run_brief(
            AS_OF, out=work / "kept" / AS_OF, db=kept, workers=2, echo=lambda line: None, units=False
        )
        executed = work / "kept" / AS_OF / "notebooks" / "brief.ipynb"
        export_cpu(executed, work / "warm.html")  # compiles the templates once, as a run does
        floor = Timed(lambda: floor_seconds(work, 2))
        stock = Timed(lambda: floor_seconds(work, 2, stock=True))
        brief2 = Timed(lambda: brief_seconds(work, master, 2))
        brief1 = Timed(lambda: brief_seconds(work, master, 1))
        snap: list[float] = []
        start: list[float] = []

        def snapshot_round() -> float:
            snap.append(snapshot_cpu(work, master))
            return snap[-1]

        def start_round() -> float:
            start.append(kernel_start_cpu())
            return start[-1]

        def export_round() -> float:
            export.append(export_cpu(executed, work / "page.html"))
            return export[-1]

        def floor_kernel_round() -> float:
            floor_kernel.append(floor_kernel_cpu(work))
            return floor_kernel[-1]

        def notebooks_round() -> float:
            notebooks.append(notebooks_cpu(work, snapshot_store, fingerprint))
            return sum(notebooks[-1].values())

        export: list[float] = []
        floor_kernel: list[float] = []
        notebooks: list[dict[str, float]] = []
        # a store with September's snapshot current, for the notebooks run alone
        snapshot_store = work / "september.sqlite"
        shutil.copy(master, snapshot_store)
        with closing(open_store(snapshot_store)) as conn:
            fingerprint = monthly.ensure(conn, AS_OF).fingerprint
        fns = {
            "floor": floor,
            "stock": stock,
            "brief2": brief2,
            "brief1": brief1,
            "snapshot": snapshot_round,
            "start": start_round,
            "export": export_round,
            "floor_kernel": floor_kernel_round,
            "notebooks": notebooks_round,
        }
        times, _ = rounds(fns, args.rounds, self_timed=True)
    med = statistics.median
    longest = [max(nb.values()) for nb in notebooks]
    longest_name = max(notebooks[-1], key=notebooks[-1].get)
    # the floor's critical path: one kernel's imports (its kernels import side by side), then its export
    # (taken as the brief page's: the floor's one-cell page is no bigger)
    floor_path = [k + e for k, e in zip(floor_kernel, export, strict=True)]
    brief_path = [k + n + e for k, n, e in zip(start, longest, export, strict=True)]
    path_ratio = [b / f for b, f in zip(brief_path, floor_path, strict=True)]
    # What the floor's time offers on every core, from CPU seconds, so other processes' load does not
    # inflate it (cores × the floor's elapsed seconds, also printed, is the same on an idle machine).
    capacity = [n_cores * f for f in floor_path]
    bound = [s + k + e for s, k, e in zip(snap, brief1.children, export, strict=True)]
    shares = [b / c for b, c in zip(bound, capacity, strict=True)]
    print(
        f"floor on 2 kernels: {spread(times['floor'], '.2f')} s elapsed ({n_cores} cores × that = "
        f"{spread([n_cores * s for s in times['floor']], '.2f')} CPU s), {spread(floor.total, '.2f')} CPU s used",
        flush=True,
    )
    print(
        f"brief after new data on 2 kernels: {spread(times['brief2'], '.2f')} s elapsed, "
        f"{spread(brief2.total, '.2f')} CPU s (runner {spread(brief2.own, '.2f')}, kernels "
        f"{spread(brief2.children, '.2f')})",
        flush=True,
    )
    print(
        f"its parts: September's snapshot {spread(snap, '.2f')} CPU s; one kernel's start "
        f"{spread(start, '.2f')} CPU s; on 1 kernel the kernel's CPU (one start + every notebook) "
        f"{spread(brief1.children, '.2f')} s, so the notebooks ≈ {med(brief1.children) - med(start):.2f} CPU s; "
        f"the brief page's export {spread(export, '.2f')} CPU s",
        flush=True,
    )
    print(
        f"the same brief against a floor whose kernels start as the kernel spec starts them (JupyterLab, plain "
        f"papermill: the debugger loaded, the iri grammar compiled at import; the floor's definition before it "
        f"was made like with like): stock floor {spread(times['stock'], '.2f')} s, brief ÷ it "
        f"{Paired(times['stock'], times['brief2'])}; ÷ the like-with-like floor {Paired(times['floor'], times['brief2'])}",
        flush=True,
    )
    print(
        "each notebook alone in a warm shell (CPU s, last round): "
        + ", ".join(f"{k} {v:.2f}" for k, v in notebooks[-1].items()),
        flush=True,
    )
    print(
        f"critical path in CPU s: floor = one floor kernel's start and imports {spread(floor_kernel, '.2f')} "
        f"+ an export = {spread(floor_path, '.2f')}; brief = one kernel's start {spread(start, '.2f')} + its "
        f"longest notebook ({longest_name}) {spread(longest, '.2f')} + the page's export = "
        f"{spread(brief_path, '.2f')}: {spread(path_ratio, '.2f')}×",
        flush=True,
    )
    print(
        f"least work (snapshot + one kernel's start and notebooks + the page's export): {spread(bound, '.2f')} "
        f"CPU s against {n_cores} cores × the floor's critical path = {spread(capacity, '.2f')}: "
        f"{spread(shares, '.2f')}×",
        flush=True,
    )
    result = {
        "machine": host,
        "as_of": AS_OF,
        "cores": n_cores,
        "floor2": {"elapsed_s": times["floor"], "cpu_s": floor.total},
        "stock_floor2": {"elapsed_s": times["stock"], "cpu_s": stock.total},
        "brief2": {
            "elapsed_s": times["brief2"],
            "cpu_runner_s": brief2.own,
            "cpu_kernels_s": brief2.children,
        },
        "brief1": {"elapsed_s": times["brief1"], "cpu_runner_s": brief1.own, "cpu_kernel_s": brief1.children},
        "snapshot_cpu_s": snap,
        "kernel_start_cpu_s": start,
        "export_cpu_s": export,
        "lower_bound_cpu_s": bound,
        "floor_kernel_cpu_s": floor_kernel,
        "notebooks_cpu_s": notebooks,
        "critical_path_cpu_s": {"floor": floor_path, "brief": brief_path},
        "capacity_cpu_s": capacity,
        "verdict": verdict(
            "the brief's least work fits in the floor's time on every core",
            med(shares),
            1,
            f"; {spread(shares, '.2f')}",
        ),
        "verdict_path": verdict(
            "the brief's critical path is at most the floor's",
            statistics.median(path_ratio),
            1,
            f"; {spread(path_ratio, '.2f')}",
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "budget.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
