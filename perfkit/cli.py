"""The `perfkit` command line. Each subcommand calls the package and prints a table, JSON or CSV.

Handlers are thin: parse, call perfkit, format. Every failure ends in one line on stderr and an exit code
(`main`): 0 done, 1 a failure perfkit did not foresee (PERFKIT_DEBUG=1 shows its traceback), 2 bad input
(one line per problem), 3 an unusable store (foreign, newer, read-only for a write, disk full), 130
interrupted (Ctrl-C), 141 stdout closed early by the reader (`perfkit score | head -1`), as a command
killed by SIGPIPE reports.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import sys
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem, StoreError, problem_lines

# ------------------------------------------------------------------------------------------ output


def _jsonable(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, pd.Period):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    return str(obj)


def json_visible(text: str) -> str:
    """JSON text with every unprintable character inside strings \\u-escaped (JSON only escapes C0
    controls): the same data, and nothing in it can drive a terminal. Layout newlines and spaces stay."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch in "\n " or unicodedata.category(ch) == "Zs":
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))
    return "".join(out)


def emit(data, fmt: str, out=None) -> None:
    """Print `data` (DataFrame, list of dicts or dict) as a table, JSON or CSV."""
    out = out or sys.stdout
    if fmt == "json":
        if isinstance(data, pd.DataFrame):
            data = json.loads(data.to_json(orient="records", force_ascii=False, date_format="iso"))
        text = json.dumps(data, ensure_ascii=False, indent=2, default=_jsonable)
        out.write(json_visible(text) + "\n")
        return
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if fmt == "csv":
        from .exports import safe_frame

        safe_frame(frame).to_csv(out, index=False)
        return
    with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200):
        out.write(frame.to_string(index=False) + "\n")


def _conn(args, *, write: bool | None = None):
    """The store for a command; `write=True` for commands that store submissions, so a read-only store is
    refused (exit 3) rather than read into a private copy whose changes would be lost."""
    from .store import open_store

    return open_store(args.db, write=write)


def _snapshot(conn, as_of: str):
    """The month's snapshot (perfkit.monthly): computed once, then read by every command."""
    from .monthly import snapshot

    return snapshot(conn, as_of)


def _as_of(conn, args) -> str:
    """The command's --as-of checked against the store (plan year, latest data), or the latest month."""
    from .months import resolve_as_of

    return str(resolve_as_of(conn, args.as_of))


# ----------------------------------------------------------------------------------------- commands


def cmd_catalog_show(args) -> int:
    from .catalogue import load_catalogue
    from .store import read_catalogue

    cat = (
        load_catalogue(attachment=_attachment(args.attachment))
        if args.attachment
        else read_catalogue(_conn(args))
    )
    if args.format == "json":
        sys.stdout.write(cat.to_json() + "\n")
    else:
        view = cat.indicators.assign(
            leaders=cat.indicators["leaders"].str.join("、"),
            units=cat.indicators["units"].str.join("、"),
            measures=cat.indicators["id"].map(cat.measures.groupby("indicator_id").size()),
        )[["id", "section", "weight", "deadline_month", "leaders", "units", "measures"]]
        emit(view, args.format)
    return 0


def _attachment(path: str) -> str:
    """An attachment from outside: an .xlsx passes perfkit.safe_xlsx's checks before openpyxl builds its
    cells (one value at XFD1048576 made the reader walk 17 billion cells; 1.2 million packed cells took
    55 s and 1.4 GB)."""
    from .errors import input_file

    if input_file(path).suffix.lower() == ".xlsx":
        from .safe_xlsx import check_file

        check_file(path)
    return path


def cmd_catalog_import(args) -> int:
    from .catalogue import load_catalogue

    cat = load_catalogue(attachment=_attachment(args.file))
    ind = cat.indicators
    print(
        f"{args.file}: {len(ind)} indicators, {len(cat.measures)} measures, weights "
        + ", ".join(f"{k} {v:g}" for k, v in ind.groupby("section", sort=False)["weight"].sum().items())
        + f"; total {ind['weight'].sum():g}"
    )
    if args.out:
        from .exports import write_whole

        text = cat.to_json() + "\n"
        write_whole(args.out, lambda fh: fh.write(text.encode("utf-8")))
        print(f"wrote {args.out}")
    return 0


def cmd_catalog_export(args) -> int:
    from .catalogue import read_attachment_csv
    from .store import plan_dir, read_plan
    from .workbooks import write_attachment_xlsx

    conn = _conn(args)
    plan = read_plan(conn)
    raw = read_attachment_csv(plan_dir(conn) / plan["plan"]["attachment"])
    write_attachment_xlsx(raw, args.out, f"{plan['plan']['title']}：绩效目标考评表")
    print(f"wrote {args.out}")
    return 0


def cmd_init(args) -> int:
    from .config import DEFAULT_PLAN_DIR, SAMPLE_DIR, db_path
    from .errors import Problem
    from .store import create_store, creating, not_a_store

    path = db_path(args.db)
    plan = Path(args.plan) if args.plan else DEFAULT_PLAN_DIR
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a store file (nothing changed)")
    if path.exists() and (why := not_a_store(path)) is not None:  # exit 3, as for any command's --db
        raise StoreError(f"{path}: {why}; refusing to replace it, give another --db (nothing changed)")
    if path.exists():
        raise InputError(
            Problem(str(path), "a store already exists here; give another --db (nothing changed)")
        )
    if not (plan / "plan.toml").is_file():
        raise InputError(Problem(str(plan), "not a plan folder: no plan.toml in it"))
    if args.sample and plan.resolve() != DEFAULT_PLAN_DIR.resolve():
        raise InputError(
            Problem("--sample", f"the synthetic sample belongs to the bundled plan {DEFAULT_PLAN_DIR}")
        )
    with creating(path):
        create_store(path, plan_dir=plan, sample_dir=SAMPLE_DIR if args.sample else None)
    from .store import open_store, read_catalogue

    cat = read_catalogue(open_store(path))
    print(
        f"{path}: a store for {cat.plan['plan']['title']} ({cat.year}, catalogue {cat.version}): "
        f"{len(cat.indicators)} indicators, {len(cat.measures)} measures"
        + ("; synthetic sample loaded" if args.sample else "")
    )
    return 0


def cmd_sample(args) -> int:
    from .sample import generate

    files = generate(args.out) if args.out else generate()
    for name, path in files.items():
        print(f"{name}: {path}")
    return 0


def cmd_score(args) -> int:
    conn = _conn(args)
    as_of = _as_of(conn, args)
    if any(v is not None for v in (args.public, args.bonus, args.deduction)):
        from .scoring import score_store  # a what-if on the outside parts: computed, not kept

        _check_what_if(conn, args)
        result = score_store(conn, as_of, public=args.public, bonus=args.bonus, deduction=args.deduction)
    else:
        result = _snapshot(conn, as_of).score
    if args.format == "json":
        emit(result.to_dict(), "json")
        return 0
    from .labels import headers

    ind = result.indicators[["id", "section", "weight", "score", "lost"]].round(3)
    if args.format == "csv":
        emit(ind, "csv")
        return 0
    print(f"as of {result.as_of}")
    emit(ind.rename(columns=headers(ind.columns)), "table")
    t = result.totals
    print(
        f"\n职能工作目标 {t['functional']:.2f} + 行政能力目标 {t['admin']:.2f} = 目标考评 {t['target_score']:.2f}\n"
        f"考评总得分 = {t['target_score']:.2f}×70% + 公众评议 {t['public']:.2f}×30% + 加分 {t['bonus']:.2f}"
        f" − 扣分 {t['deduction']:.2f} = {t['total']:.2f}"
    )
    if result.assumed:
        print("assumed (no stored assessment): " + ", ".join(result.assumed))
    print(_assessment_coverage(args))
    return 0


def _check_what_if(conn, args) -> None:
    """--public, --bonus and --deduction within what the 考评结果 record itself accepts (plan.toml
    [assessments]: 公众评议 in its range, the totals within their caps), finite: InputError otherwise (a
    `nan` or `inf` printed a score of nan, and JSON's invalid Infinity)."""
    from .assessments import settings
    from .store import read_catalogue

    cfg = settings(read_catalogue(conn))
    low, high = cfg["public_range"]
    bounds = {
        "public": (low, high, "public_range"),
        "bonus": (0.0, cfg["bonus_cap"], "bonus_cap"),
        "deduction": (0.0, cfg["deduction_cap"], "deduction_cap"),
    }
    problems = []
    for name, (lo, hi, key) in bounds.items():
        value = getattr(args, name)
        if value is None or (math.isfinite(value) and lo <= value <= (math.inf if hi is None else hi)):
            continue
        within = f"from {lo:g} to {hi:g} (plan.toml [assessments] {key})" if hi is not None else f"≥ {lo:g}"
        problems.append(Problem(f"--{name}", f"need a number {within}, got {value:g}"))
    if problems:
        raise InputError(problems)


def _assessment_coverage(args) -> str:
    """Which outside parts come from the 考评结果 record and which are still assumed (and overrides)."""
    from .assessments import coverage
    from .store import latest_month, read_assessments, read_catalogue

    conn = _conn(args)
    catalogue = read_catalogue(conn)
    year = int((args.as_of or latest_month(conn) or str(catalogue.year))[:4])
    got = coverage(catalogue, read_assessments(conn, year))
    given = [k for k in ("public", "bonus", "deduction") if getattr(args, k) is not None]
    lines = [
        "recorded: " + (", ".join(p for p in got["recorded"] if p not in given) or "none"),
        "still assumed: " + (", ".join(p for p in got["assumed"] if p not in given) or "none"),
    ]
    if given:
        lines.append("given on the command line (what-if): " + ", ".join(given))
    return "\n".join(lines)


def cmd_template(args) -> int:
    from .store import read_catalogue, read_progress
    from .template import write_templates

    conn = _conn(args)
    if args.self_eval:
        from .selfeval import read_self_evaluations, write_self_eval_templates

        catalogue = read_catalogue(conn)
        current = read_self_evaluations(conn, catalogue.year)
        paths = write_self_eval_templates(catalogue, current, args.out, args.unit)
    elif args.assessments or args.workplan:
        from .workplan import write_form_templates

        paths = write_form_templates(conn, args.out, args.month, args.unit, assessments=args.assessments)
    elif not args.month:
        raise InputError(
            Problem(
                "--month", "give the ledger's month (YYYY-MM), or --workplan / --assessments / --self-eval"
            )
        )
    else:
        paths = write_templates(read_catalogue(conn), read_progress(conn), args.month, args.out, args.unit)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_ingest(args) -> int:
    """Each file's line as its group is committed (or the file refused); a summary after a batch and on any
    stop. Exit 0 all stored, 2 a file refused, 3 the store or archive cannot be written, 130/143 stopped by
    SIGINT/SIGTERM (after the file in hand: the files read so far are stored, each whole)."""
    import sqlite3

    from .archive import default_archive
    from .exports import visible
    from .intake import IntakeRules, ingest_files
    from .store import read_plan

    try:
        conn = _conn(args, write=True)
    except sqlite3.Error as exc:  # e.g. a read-only store that cannot be switched to WAL
        raise StoreError(f"{args.db or 'the store'}: cannot open it for writing ({exc})") from exc

    limit = IntakeRules.from_plan(read_plan(conn)).max_problems_per_file

    def committed(result) -> None:
        print(visible(result.describe()), flush=True)

    def refused(_file: str, problems) -> None:
        for line in problem_lines(problems, limit):
            print(visible(line), file=sys.stderr, flush=True)

    with _stop_on_signals() as stop:
        report = ingest_files(
            conn,
            args.files,
            archive_dir=args.archive or default_archive(args.db),
            on_result=committed,
            on_rejected=refused,
            stop=stop,
        )
    if report.failed:
        print(visible(str(report.failed)), file=sys.stderr)
    if len(args.files) > 1 or report.not_stored:
        print(visible(report.summary()), flush=True)
    if report.failed:
        return 3
    if report.stopped:
        return 128 + getattr(signal, report.stopped)
    return 0 if report.ok else 2


@contextmanager
def _stop_on_signals():
    """SIGINT and SIGTERM ask a batch to stop after the file in hand (no traceback, nothing half-done);
    yields the question ingest asks before each file: the signal's name, or ''."""
    got: list[str] = []

    def note(signum, _frame) -> None:
        got.append(signal.Signals(signum).name)

    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: ""
        return
    before = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: got[0] if got else ""
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def cmd_history(args) -> int:
    from .exports import visible
    from .intake import history
    from .labels import t

    df = history(_conn(args), args.measure_id)
    if df.empty and args.format == "table":
        print(f"{args.measure_id}: no submissions yet")
        return 0
    df = df.assign(month=df["month"].astype(str))
    if args.format == "json":  # lossless: every unprintable character in a string is \u-escaped
        emit(df, "json")
        return 0
    # stored text (notes, file names) from before intake refused control characters must not drive
    # the terminal: everything unprintable is shown escaped
    df = df.assign(
        **{
            c: df[c].map(visible)
            for c in ("note", "status", "file_name", "reporting_unit", "preparer", "reviewer")
        }
    )
    if args.format != "table":
        emit(df, args.format)
        return 0
    view = df.assign(sha256=df["sha256"].str[:12])
    view = view.drop(columns=["measure_id"])
    emit(
        view.rename(columns={c: t(c if c in ("reporting_unit",) else f"intake.{c}") for c in view.columns}),
        "table",
    )
    return 0


def cmd_growth(args) -> int:
    from . import growth
    from .labels import t

    try:
        if args.series:
            values, spans = growth.read_series_csv(args.series)
            band = args.band
            if band is not None and (why := growth.band_problem(*band)):
                raise InputError(Problem("--band", why))
            if band is None and args.mode:
                from .store import read_plan

                band = read_plan(_conn(args))["turnover"]["bands"][args.mode]
            if band is None:
                print("give --band LOW HIGH (or --mode for the plan's band)", file=sys.stderr)
                return 2
            from .months import parse_month

            as_of = parse_month(args.as_of) if args.as_of else values.index.max()
            proj = growth.project_annual_growth(values, as_of, tuple(band), spans=spans)
            if args.format == "json":
                emit(proj.to_dict(), "json")
            else:
                row = pd.DataFrame([growth.projection_row("series", "", proj)]).drop(columns=["measure_id"])
                emit(growth.display_table(row, transpose=True), "table")
            return 0
        conn = _conn(args)
        report = _snapshot(conn, _as_of(conn, args)).growth
        if report is None:
            raise ValueError("the store has no turnover data")
        df = report.projections
        if args.mode:
            df = df[df["mode"] == args.mode].reset_index(drop=True)
            if df.empty:
                raise ValueError(f"no turnover data for {args.mode}")
    except InputError:
        raise  # bad months and the like: one line, exit 2, worded once (main)
    except ValueError as exc:
        print(f"growth: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        emit(df, "json")
        return 0
    print(t("growth.heading.projection"))
    emit(growth.display_table(df, transpose=True), "table")
    return 0


def cmd_batch(args) -> int:
    from .batch import BatchError, run_batch

    try:
        run = run_batch(
            args.file,
            args.as_of,
            args.out,
            band=tuple(args.band) if args.band else None,
            bands_path=args.bands,
            scheduler=args.scheduler,
            workers=args.workers,
        )
    except InputError:  # bad input (a month, a cell): main prints its lines, exit 2
        raise
    except (BatchError, ValueError) as exc:
        print(f"batch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the output is only written at the end: nothing half-done
        print(f"batch: stopped; {args.out} not written", file=sys.stderr)
        return 130
    models = ", ".join(f"{m} {n}" for m, n in run.models.items())
    print(f"wrote {run.out}: {run.series} series in {run.seconds:.1f} s ({models})")
    return 0


def cmd_invest(args) -> int:
    from .tables import investment_csv, investment_records, investment_table

    conn = _conn(args)
    as_of = _as_of(conn, args)
    df = _snapshot(conn, as_of).investment
    if args.format == "json":
        emit(investment_records(df), "json")
    elif args.format == "csv":
        emit(investment_csv(df), "csv")
    else:
        print(f"as of {as_of}")
        emit(investment_table(df), "table")
    return 0


def cmd_risks(args) -> int:
    from . import risks
    from .labels import t
    from .store import is_sample
    from .tables import TABLE_COLUMNS, flags_records, people_table

    conn = _conn(args)
    try:
        flags = _snapshot(conn, _as_of(conn, args)).flags
    except InputError:
        raise  # bad months and the like: one line, exit 2, worded once (main)
    except ValueError as exc:
        print(f"risks: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        emit(flags_records(flags), "json")
        return 0
    if args.format == "csv":
        emit(people_table(flags, TABLE_COLUMNS, labels=False, reason_sep="；"), "csv")
        return 0
    if is_sample(conn):
        print(t("synthetic_note"))
    shown = ["status", "points_at_risk", "measure_id", "name", "units", "opened", "months_open", "reasons"]
    emit(people_table(flags, shown, reason_sep=" "), "table")
    for column in ("units", "leaders"):
        totals = risks.totals_by(flags, column)
        print()
        emit(people_table(totals[totals["flagged"] > 0]), "table")
    return 0


def cmd_brief(args) -> int:
    from .brief import BriefError, run_brief

    try:
        run = run_brief(
            args.as_of,
            kind=args.kind,
            lang=args.lang,
            out=args.out,
            db=args.db,
            force=args.force,
            unit=args.unit,
            pdf=args.pdf,
            docx=args.docx,
        )
    except BriefError as exc:
        print(f"brief failed: {exc}", file=sys.stderr)
        return 1
    for line in run.warnings:  # e.g. no browser for --pdf: the HTML is written all the same
        print(f"perfkit brief: {line}", file=sys.stderr)
    if args.unit:
        print(run.out / run.pages[args.unit])
    else:
        print(run.html)
    return 0


def cmd_index(args) -> int:
    from .config import outputs_dir
    from .index import write_index

    if not args.outputs:  # the default folder may not exist yet on a fresh machine
        from .exports import make_folder

        make_folder(outputs_dir())  # $PERFKIT_OUTPUTS under a file, read-only: one line, exit 2
    print(write_index(args.outputs or outputs_dir(), lang=args.lang))
    return 0


# ------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perfkit", description="绩效评估 analytics for the transport bureau")
    db_help = "store path (default $PERFKIT_DB or data/perfkit.sqlite)"
    p.add_argument("--db", help=db_help)
    # --db is accepted after the subcommand too (`perfkit brief --db x`); SUPPRESS keeps a --db given before
    # the subcommand when none follows it
    db_after = argparse.ArgumentParser(add_help=False)
    db_after.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
    sub = _WithDb(p.add_subparsers(dest="command", required=True), db_after)
    formats = ["table", "json", "csv"]

    cat = _WithDb(
        sub.add_parser("catalog", help="the indicator catalogue").add_subparsers(
            dest="action", required=True
        ),
        db_after,
    )
    s = cat.add_parser("show", help="print the catalogue")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.add_argument("--attachment", help="read this .xlsx/.csv attachment instead of the store")
    s.set_defaults(func=cmd_catalog_show)
    s = cat.add_parser("import", help="read the plan's attachment from Excel and check it")
    s.add_argument("file")
    s.add_argument("--out", help="write the catalogue as JSON here")
    s.set_defaults(func=cmd_catalog_import)
    s = cat.add_parser("export", help="write the store's plan attachment as Excel in the bureau's layout")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_catalog_export)

    s = sub.add_parser(
        "init", help="create a store bound to a plan folder (every command then uses that plan)"
    )
    s.add_argument(
        "--plan", help="plan folder with plan.toml, attachment and measures (default data/plan/2019)"
    )
    s.add_argument("--sample", action="store_true", help="load the synthetic sample (bundled 2019 plan only)")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("sample", help="generate the synthetic sample data")
    s.add_argument("--out", default=None, help="folder (default data/sample)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("score", help="score the plan")
    s.add_argument("--as-of", help="YYYY-MM (default: the latest month with data)")
    s.add_argument("--public", type=float)
    s.add_argument("--bonus", type=float)
    s.add_argument("--deduction", type=float)
    s.add_argument("--format", choices=formats, default="table")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("template", help="write the monthly 工作台账 (or 分月计划 / 考评结果) workbooks")
    s.add_argument(
        "--month", help="the ledger's month; for --workplan the month it is made (default January)"
    )
    s.add_argument("--workplan", action="store_true", help="each unit's 分月计划 workbook")
    s.add_argument("--assessments", action="store_true", help="the year's 考评结果 workbook")
    s.add_argument("--self-eval", action="store_true", help="each unit's year-end 自评 workbook")
    s.add_argument("--out", required=True)
    s.add_argument("--unit", action="append", help="only these units (repeatable)")
    s.set_defaults(func=cmd_template)

    s = sub.add_parser("ingest", help="validate and store unit workbooks or turnover tables")
    s.add_argument("files", nargs="+")
    s.add_argument("--archive", help="archive folder for raw files (default data/archive)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("history", help="every submission of a measure, superseded ones included")
    s.add_argument("measure_id")
    s.add_argument("--format", choices=formats, default="table")
    s.set_defaults(func=cmd_history)

    s = sub.add_parser("growth", help="turnover growth projection for 1-14-1 / 1-14-2")
    s.add_argument("--as-of", help="YYYY-MM (default: the latest month with data)")
    s.add_argument("--mode", choices=["road", "waterway"])
    s.add_argument("--series", help="CSV of month,value instead of the store")
    s.add_argument("--band", nargs=2, type=float, metavar=("LOW", "HIGH"), help="band in %% (--series)")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_growth)

    s = sub.add_parser("batch", help="growth projections for many series from one long CSV or Parquet file")
    s.add_argument("file", help="long file: series_id, month, value (CSV or Parquet)")
    s.add_argument("--as-of", required=True)
    s.add_argument("--band", nargs=2, type=float, metavar=("LOW", "HIGH"), help="band in %% for every series")
    s.add_argument("--bands", help="per-series bands: series_id, band_low, band_high (CSV or Parquet)")
    s.add_argument("--out", required=True, help="projections, .parquet or .csv")
    s.add_argument(
        "--scheduler",
        help="'local' (a Dask LocalCluster here) or a Dask scheduler address (default: local pool)",
    )
    s.add_argument("--workers", type=int, help="processes (pool or LocalCluster; default: all cores)")
    s.set_defaults(func=cmd_batch)

    s = sub.add_parser("invest", help="year-end projection of investment and cumulative measures")
    s.add_argument("--as-of", help="YYYY-MM (default: the latest month with data)")
    s.add_argument("--format", choices=formats, default="table")
    s.set_defaults(func=cmd_invest)

    s = sub.add_parser("risks", help="risk flags and the problem list")
    s.add_argument("--as-of", help="YYYY-MM (default: the latest month with data)")
    s.add_argument("--format", choices=formats, default="table")
    s.set_defaults(func=cmd_risks)

    s = sub.add_parser("brief", help="run the notebooks and export the leaders' HTML brief")
    s.add_argument("--as-of", help="YYYY-MM (default: the latest month with data)")
    s.add_argument("--kind", choices=["monthly", "quarterly", "annual"], default="monthly")
    s.add_argument("--lang", choices=["zh", "en"], default="zh")
    s.add_argument("--out")
    s.add_argument("--force", action="store_true", help="rebuild even if the folder is up to date")
    s.add_argument("--unit", help="build this reporting unit's page only (units/<unit>.html)")
    s.add_argument("--pdf", action="store_true", help="also print the brief and unit pages to A4 PDF")
    s.add_argument(
        "--docx", action="store_true", help="also the monthly Word 通报 (quarterly, annual: always)"
    )
    s.set_defaults(func=cmd_brief)

    s = sub.add_parser("index", help="rebuild outputs/index.html: every brief built, with its files")
    s.add_argument("--outputs", help="the outputs folder (default $PERFKIT_OUTPUTS or outputs/)")
    s.add_argument("--lang", choices=["zh", "en"], default="zh")
    s.set_defaults(func=cmd_index)
    return p


class _WithDb:
    """Subparsers that all take the shared --db option as a parent."""

    def __init__(self, subparsers, parent: argparse.ArgumentParser):
        self.subparsers, self.parent = subparsers, parent

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return self.subparsers.add_parser(name, parents=[self.parent], **kwargs)


def main(argv: list[str] | None = None) -> int:
    from .startup import defer_iri_grammar

    defer_iri_grammar()  # before altair or nbformat pull in jsonschema (see perfkit.startup)
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that closed the pipe shows here, not as an error at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except InputError as exc:
        from .exports import visible

        for line in problem_lines(exc.problems):
            print(visible(line), file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"perfkit {_command(args)}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        failure = _store_failure(exc, args)
        if failure is not None:
            print(f"store error: {failure}", file=sys.stderr)
            return 3
        if os.environ.get("PERFKIT_DEBUG") == "1":
            raise
        print(_last_resort_line(exc, args), file=sys.stderr)
        return 1


def _command(args) -> str:
    return " ".join(str(part) for part in (args.command, getattr(args, "action", None)) if part)


def _store_failure(exc: BaseException, args) -> StoreError | None:
    """An SQLite error that means the store cannot be used (read-only, disk full), possibly wrapped by
    pandas' read_sql: the StoreError naming the store, else None."""
    from .config import db_path
    from .store import store_failure

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sqlite3.Error):
            return store_failure(exc, db_path(args.db))
        exc = exc.__cause__ or exc.__context__
    return None


def _last_resort_line(exc: Exception, args) -> str:
    """One line for a failure nothing else caught: the command, what failed (OSError names its file)."""
    text = " ".join(str(exc).split()) or "(no message)"
    if len(text) > 300:
        text = text[:300] + "…"
    return (
        f"perfkit {_command(args)} failed: {type(exc).__name__}: {text}"
        " (run with PERFKIT_DEBUG=1 for the traceback)"
    )


def _stdout_closed() -> int:
    """The reader closed stdout early (`perfkit score | head -1`): stop quietly, as `cat` or `seq` do.
    stdout is pointed at devnull so Python's flush at exit does not report the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE: what a command killed by the closed pipe reports


if __name__ == "__main__":
    sys.exit(main())
