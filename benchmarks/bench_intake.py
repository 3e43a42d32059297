"""Intake speed against plain calamine reads of the same files, as ratios measured in the same run.

Scale: one city is the bureau's whole plan (63 indicators, 87 measures) reported by its 18 units, i.e. 18
filled 工作台账 workbooks for one month. N cities are N × 18 workbooks, made deterministically from the
same templates (each city's files differ in one note, so every file is new to the store); they are
ingested one after another into one store, so later files supersede earlier ones as resubmissions do.

Each phase runs in a fresh process, so its peak memory (max RSS, minus the RSS after imports) is its own:
- calamine: `pandas.read_excel(engine="calamine")` of every file's 填报 sheet (the baseline);
- read+check: perfkit's safe read and file-level checks (zip and DTD limits, template info, cells);
- ingest: the whole `ingest_files` (checks against the store, archive copy, one transaction per file), with
  its parser processes from 16 files on (their peak RSS reported apart: forked, they share most pages).

Run: `python -m benchmarks.bench_intake [--scales 1,10,300]`. Results also go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path

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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak so far, kB on Linux


def _measured(start: float, base_kb: int, rows: int) -> dict:
    """Seconds since `start`; the process's peak RSS and how far the work raised it above the imports, and
    the largest peak RSS of its worker processes (ingest's parsers; 0 when none ran)."""
    peak = _rss_kb()
    return {
        "seconds": time.perf_counter() - start,
        "peak_mb": peak / 1024,
        "added_mb": (peak - base_kb) / 1024,
        "workers_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rows": rows,
    }


def phase_calamine(files: list[str]) -> dict:
    import pandas as pd

    base = _rss_kb()
    start = time.perf_counter()
    rows = sum(len(pd.read_excel(f, sheet_name="填报", engine="calamine", header=1)) for f in files)
    return _measured(start, base, rows)


def phase_read_check(files: list[str]) -> dict:
    from perfkit.catalogue import load_catalogue
    from perfkit.intake import IntakeRules, parse_file

    rules = IntakeRules.from_plan(load_catalogue().plan)
    base = _rss_kb()
    start = time.perf_counter()
    rows = 0
    for f in files:
        path = Path(f)
        _, sheet = parse_file(path, path.read_bytes(), rules)
        rows += len(sheet.rows)
    return _measured(start, base, rows)


def phase_ingest(files: list[str], base_db: str, work: str) -> dict:
    from perfkit.intake import ingest_files
    from perfkit.store import open_store

    db = Path(work) / "bench.sqlite"
    shutil.copy(base_db, db)
    conn = open_store(db)
    base = _rss_kb()
    start = time.perf_counter()
    report = ingest_files(conn, files, archive_dir=Path(work) / "archive", today=date(2019, 12, 31))
    seconds = time.perf_counter() - start
    assert report.ok, report.problems[:3]
    rows = sum(r.rows for r in report.results)
    conn.close()
    return {**_measured(start, base, rows), "seconds": seconds}


def _in_fresh_process(fn, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="bench_intake", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10,300", help="numbers of cities (18 workbooks each)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)
    scales = sorted(int(s) for s in args.scales.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench_intake."))
    out = []
    try:
        t0 = time.perf_counter()
        base_db, files = build_files(max(scales), tmp)
        print(f"generated {len(files)} workbooks in {time.perf_counter() - t0:.1f}s (synthetic sample data)")
        header = f"{'cities':>6} {'files':>6} {'calamine s':>10} {'read+check s':>12} {'ingest s':>9}"
        header += (
            f" {'check/cal':>9} {'ingest/cal':>10}  peak RSS MB (+work) cal/check/ingest, ingest's parsers"
        )
        print(header)
        for n in scales:
            batch = [str(f) for f in files[: n * 18]]
            work = tmp / f"work{n}"
            work.mkdir()
            cal = _in_fresh_process(phase_calamine, batch)
            chk = _in_fresh_process(phase_read_check, batch)
            ing = _in_fresh_process(phase_ingest, batch, str(base_db), str(work))
            assert chk["rows"] == ing["rows"], (chk["rows"], ing["rows"])
            phases = {"calamine": cal, "read_check": chk, "ingest": ing}
            row = {
                "cities": n,
                "files": len(batch),
                "rows": ing["rows"],
                "calamine_s": cal["seconds"],
                "read_check_s": chk["seconds"],
                "ingest_s": ing["seconds"],
                "read_check_ratio": chk["seconds"] / cal["seconds"],
                "ingest_ratio": ing["seconds"] / cal["seconds"],
                "peak_mb": {k: v["peak_mb"] for k, v in phases.items()},
                "added_mb": {k: v["added_mb"] for k, v in phases.items()},
                "ingest_workers_peak_mb": ing["workers_peak_mb"],
            }
            out.append(row)
            peaks = "/".join(
                f"{row['peak_mb'][k]:.0f}(+{row['added_mb'][k]:.0f})"
                for k in ("calamine", "read_check", "ingest")
            )
            peaks += f", parser processes {ing['workers_peak_mb']:.0f}"
            print(
                f"{n:>6} {len(batch):>6} {cal['seconds']:>10.2f} {chk['seconds']:>12.2f} {ing['seconds']:>9.2f}"
                f" {row['read_check_ratio']:>9.2f} {row['ingest_ratio']:>10.2f}  {peaks}"
            )
            shutil.rmtree(work)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "intake.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
