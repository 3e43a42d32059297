"""Intake speed against plain calamine reads of the same files, as ratios measured in the same rounds.

Scale: one city is the bureau's whole plan (63 indicators, 87 measures) reported by its 18 units, i.e. 18
filled 工作台账 workbooks for one month. N cities are N × 18 workbooks, made deterministically from the
same templates (each city's files differ in one note, so every file is new to the store); they are
ingested one after another into one store, so later files supersede earlier ones as resubmissions do.

Like with like: every figure is taken twice, and each against a baseline run the same way:
- one core: each phase in a fresh process pinned to the same single CPU (sched_setaffinity), so ingest
  sees one core and parses in its own process, as calamine does;
- all cores: calamine reads the files in as many forked processes as there are cores (the pool started
  inside the timing, as ingest's parser processes are), against the whole ingest with its parsers.
Phases (each in a fresh process, so its peak memory, max RSS, is its own):
- calamine: `pandas.read_excel(engine="calamine")` of every file's 填报 sheet (the baseline);
- read+check (one core only): perfkit's safe read and file-level checks (zip and DTD limits, template info,
  cells), no store;
- ingest: the whole `ingest_files` (checks against the store, fsynced archive copies, one transaction per
  group of files and a savepoint per file).
Where the files go: ingest creates one archive file per workbook, and on a Linux ext4 without a journal (this
machine's) creating a file costs CPU in proportion to the files deleted nearby in the last minutes (the
kernel steps over recently freed inodes one by one): measured here, 16 µs in a quiet folder and 0.5–0.9 ms
in /tmp, which every engineer's tests churn, or after a phase's archive was deleted. So the benchmark works
under `--work` (default: benchmarks/results/, beside the product's own data/ and as an archive would be), gives
every ingest phase its own folder, deletes nothing until the run ends, and prints what creating a file costs
there at the start (a probe of 200 files), so a reader sees the filesystem the figures were taken on.

`--rounds` paired rounds (benchmarks/measure.py), the order reversed every other round; reported per size:
median (range) seconds, the median and range of each ratio, the same for CPU seconds (user + system, the
process and its worker processes: steadier than elapsed time on a busy shared machine, where a process
waits for a core), and the verdict of the target (ingest ≤ 1.5× the calamine read from 10 cities up) from
the median elapsed ratio, for each way of running.

Run: `python -m benchmarks.bench_intake [--scales 1,10,100] [--rounds 3] [--work DIR]`. Results also go to
benchmarks/results/intake.json.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import resource
import shutil
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from .measure import Paired, cores, describe_machine, machine, rounds, spread, verdict

MONTH = "2019-10"  # the synthetic sample store holds 2019-01..2019-09
PLACEHOLDER = b"CITY-000000"
RESULTS = Path(__file__).resolve().parent / "results"


def build_files(n_cities: int, out_dir: Path) -> tuple[Path, list[Path]]:
    """A store built from the synthetic sample, and n_cities × 18 filled workbooks (deterministic)."""
    from openpyxl import load_workbook

    from perfkit.config import PLAN_DIR, SAMPLE_DIR
    from perfkit.store import create_store, open_store, read_catalogue, read_progress
    from perfkit.template import write_templates

    out_dir.mkdir(parents=True, exist_ok=True)
    db = create_store(out_dir / "base.sqlite", plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
    conn = open_store(db)
    templates = write_templates(read_catalogue(conn), read_progress(conn), MONTH, out_dir / "templates")
    conn.close()
    filled = []
    for path in templates:  # fill as a unit would: last month + 1, a status, a note
        wb = load_workbook(path)
        ws = wb["填报"]
        for r in range(3, ws.max_row + 1):
            if ws[f"D{r}"].value != "定性评价":
                value = (ws[f"H{r}"].value or 0) + 1
                ws[f"J{r}"] = min(value, 100) if ws[f"E{r}"].value == "%" else value
            ws[f"K{r}"] = "推进中"
            ws[f"L{r}"] = "按计划推进"
        ws["L3"] = PLACEHOLDER.decode()
        buf = io.BytesIO()
        wb.save(buf)
        filled.append((path.name, buf.getvalue()))
    files = []
    for city in range(n_cities):
        city_dir = out_dir / "files" / f"city{city:04d}"
        city_dir.mkdir(parents=True, exist_ok=True)
        tag = f"CITY-{city:06d}".encode()
        for name, data in filled:
            files.append(_retag(data, tag, city_dir / name))
    return db, files


def _retag(data: bytes, tag: bytes, out: Path) -> Path:
    """The workbook with its placeholder note replaced (same length, so every part stays valid)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info).replace(PLACEHOLDER, tag))
    return out


def _rss_kb() -> int:
    """This process's peak RSS so far, kB. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so
    a spawned phase would start from the benchmark's own peak (the generated workbooks)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its finished children (worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _measured(start: float, cpu0: float, base_kb: int, rows: int) -> dict:
    """Seconds and CPU seconds since `start`, `cpu0`; the process's peak RSS and how far the work raised it above the imports, and
    the largest peak RSS of its worker processes (ingest's parsers; 0 when none ran)."""
    peak = _rss_kb()
    return {
        "seconds": time.perf_counter() - start,
        "cpu_s": _cpu() - cpu0,
        "peak_mb": peak / 1024,
        "added_mb": (peak - base_kb) / 1024,
        "workers_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rows": rows,
    }


def _pin(one_core: bool) -> None:
    """Run this process (and any it forks) on one CPU, the same one for every phase."""
    if one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


SIGN_OFF = ("填报人", "审核人", "填报日期")  # the rows below the table: the workbook's sign-off, not data


def _calamine_rows(files: list[str]) -> int:
    import pandas as pd

    frames = (pd.read_excel(f, sheet_name="填报", engine="calamine", header=1) for f in files)
    return sum(int((~df.iloc[:, 0].isin(SIGN_OFF)).sum()) for df in frames)


def phase_calamine(files: list[str], one_core: bool) -> dict:
    import pandas as pd  # noqa: F401 (imported before the timing, as perfkit's imports are for ingest)

    _pin(one_core)
    base = _rss_kb()
    start, cpu0 = time.perf_counter(), _cpu()
    if one_core:
        rows = _calamine_rows(files)
    else:
        n = cores()
        chunks = [files[k::n] for k in range(n)]
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("fork")) as pool:
            rows = sum(pool.map(_calamine_rows, chunks))
    return _measured(start, cpu0, base, rows)


def phase_read_check(files: list[str], one_core: bool) -> dict:
    from perfkit.catalogue import load_catalogue
    from perfkit.intake import IntakeRules, parse_file

    _pin(one_core)
    rules = IntakeRules.from_plan(load_catalogue().plan)
    base = _rss_kb()
    start, cpu0 = time.perf_counter(), _cpu()
    rows = 0
    for f in files:
        path = Path(f)
        _, sheet = parse_file(path, path.read_bytes(), rules)
        rows += len(sheet.rows)
    return _measured(start, cpu0, base, rows)


def phase_ingest(files: list[str], base_db: str, work: str, one_core: bool) -> dict:
    """The whole ingest into a copy of the base store, its archive in `work` (a new folder, kept until the
    benchmark ends: see the module's docstring)."""
    from perfkit.intake import ingest_files
    from perfkit.store import open_store

    _pin(one_core)
    Path(work).mkdir(parents=True)
    db = Path(work) / "bench.sqlite"
    shutil.copy(base_db, db)
    conn = open_store(db)
    base = _rss_kb()
    start, cpu0 = time.perf_counter(), _cpu()
    report = ingest_files(conn, files, archive_dir=Path(work) / "archive", today=date(2019, 12, 31))
    seconds = time.perf_counter() - start
    assert report.ok, report.problems[:3]
    rows = sum(r.rows for r in report.results)
    conn.close()
    return {**_measured(start, cpu0, base, rows), "seconds": seconds}


def file_creation_us(folder: Path, n: int = 200) -> float:
    """CPU µs (this thread) to create and write one 8 KB file in `folder`, a new folder kept until the run
    ends: what an archive copy costs on this filesystem before any fsync."""
    folder.mkdir(parents=True)
    data = os.urandom(8192)
    cpu0 = time.thread_time()
    for k in range(n):
        fd = os.open(folder / f"probe{k}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        os.write(fd, data)
        os.close(fd)
    return (time.thread_time() - cpu0) / n * 1e6


def _in_fresh_process(fn, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _timed(details: dict, name: str, fn, *fn_args):
    """A round's function: `fn` in a fresh process; its own seconds, its details kept under `name`."""

    def run() -> float:
        got = _in_fresh_process(fn, *fn_args)
        details.setdefault(name, []).append(got)
        return got["seconds"]

    return run


def _timed_ingest(details: dict, name: str, batch: list[str], base_db: str, works, one_core: bool):
    """`_timed` for the ingest phase, each run in the next new folder of `works`."""

    def run() -> float:
        got = _in_fresh_process(phase_ingest, batch, base_db, str(next(works)), one_core)
        details.setdefault(name, []).append(got)
        return got["seconds"]

    return run


MODES = {"one core": True, "all cores": False}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench_intake", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10,100", help="numbers of cities (18 workbooks each)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (at least 3)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--work", default=str(RESULTS), help="folder for the files, stores and archives")
    args = parser.parse_args(argv)
    host = machine()
    print(describe_machine(host), flush=True)
    scales = sorted(int(s) for s in args.scales.split(","))
    Path(args.work).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_intake.", dir=args.work))
    works = (tmp / f"ingest{k:04d}" for k in itertools.count())  # one new folder per ingest phase
    out, verdicts = [], []
    try:
        t0 = time.perf_counter()
        base_db, files = build_files(max(scales), tmp)
        print(f"generated {len(files)} workbooks in {time.perf_counter() - t0:.1f}s (synthetic sample data)")
        host["file_creation_us"] = round(file_creation_us(tmp / "probe"), 1)
        print(f"creating an 8 KB file in {tmp} costs {host['file_creation_us']:.0f} µs of CPU (200 files)")
        print(f"{args.rounds} paired rounds per size; median (range); phases in fresh processes")
        for n in scales:
            batch = [str(f) for f in files[: n * 18]]
            details: dict[str, list[dict]] = {}

            timed = partial(_timed, details)

            fns = {}
            for mode, one in MODES.items():
                fns[f"calamine, {mode}"] = timed(f"calamine, {mode}", phase_calamine, batch, one)
                fns[f"ingest, {mode}"] = _timed_ingest(
                    details, f"ingest, {mode}", batch, str(base_db), works, one
                )
            fns["read+check, one core"] = timed("read+check, one core", phase_read_check, batch, True)
            secs, _ = rounds(fns, args.rounds, self_timed=True)
            rows = {d["rows"] for name, runs in details.items() for d in runs}
            assert len(rows) == 1, rows  # every phase read the same rows
            row = {"cities": n, "files": len(batch), "rows": rows.pop(), "seconds": secs, "paired": {}}
            print(f"{n} cities ({len(batch)} files, {row['rows']:,} rows):")
            for mode in MODES:
                cal = secs[f"calamine, {mode}"]
                for what in ("ingest", "read+check"):
                    key = f"{what}, {mode}"
                    if key not in secs:
                        continue
                    paired = Paired(cal, secs[key])
                    cpu = Paired(
                        [d["cpu_s"] for d in details[f"calamine, {mode}"]], [d["cpu_s"] for d in details[key]]
                    )
                    row["paired"][key] = paired.as_dict()
                    row["paired"][key + " (CPU seconds)"] = cpu.as_dict()
                    print(
                        f"  {mode:>9}: calamine {spread(cal)} s, {what} {spread(secs[key])} s,"
                        f" {what} ÷ calamine {paired}; CPU seconds {spread(cpu.baseline)} vs"
                        f" {spread(cpu.subject)}, ratio {cpu}"
                    )
                    if what == "ingest" and n >= 10:
                        for figure, pr in (("elapsed", paired), ("CPU seconds", cpu)):
                            v = verdict(
                                f"ingest ≤ 1.5× calamine, {n} cities, {mode}, {figure}",
                                pr.median,
                                1.5,
                                f"; {pr}",
                            )
                            verdicts.append({**v, "cities": n, "mode": mode, "figure": figure})
            last = {k: v[-1] for k, v in details.items()}
            row["peak_mb"] = {k: round(v["peak_mb"], 1) for k, v in last.items()}
            row["added_mb"] = {k: round(v["added_mb"], 1) for k, v in last.items()}
            row["ingest_parsers_peak_mb"] = round(last["ingest, all cores"]["workers_peak_mb"], 1)
            print(
                "  peak RSS MB (+ over imports), last round: "
                + ", ".join(f"{k} {row['peak_mb'][k]:.0f} (+{row['added_mb'][k]:.0f})" for k in last)
                + f"; ingest's parser processes {row['ingest_parsers_peak_mb']:.0f}",
                flush=True,
            )
            out.append(row)
        result = {"machine": host, "sizes": out, "verdicts": verdicts}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "intake.json").write_text(
            json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
