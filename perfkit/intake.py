"""Monthly intake: validate the units' 工作台账 workbooks and the turnover tables, store them, keep the raw files.

A file is accepted whole or not at all: every problem is reported (file, sheet, cell, reason) and a rejected
file leaves the store untouched. Each accepted file is one transaction, keeps its provenance (file name,
sha256, unit, month, time received) and is copied into a content-addressed archive. The same file twice
changes nothing; a later file for the same unit and month supersedes the earlier one in calculations.

Reading is defensive: the file is read once into memory (size-capped) and opened by perfkit.safe_xlsx (zip
and XML limits, CRC checks, DTD refusal, the sheet-extent check before calamine reads any values); a ledger
is checked by perfkit.template, a form by its own module (perfkit.forms), a turnover table by
perfkit.turnover_table; accepted raw files go to perfkit.archive. This module checks files against the store
and stores them: group commit (a transaction a group of files, a savepoint a file), parser processes for
large batches, stops and kills that lose nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from errno import EEXIST, ENOTDIR
from pathlib import Path

import pandas as pd

from .archive import archive_raw, discard, fsync_dir, shown, write_unsynced
from .catalogue import Catalogue
from .errors import MAX_PROBLEMS_PER_FILE, InputError, Problem, StoreError, input_file, listed
from .exports import folder_problem
from .forms import META_SHEET, IntakeRules, col_letter
from .labels import t
from .safe_xlsx import CFB_MAGIC, XLSX_MAGIC, open_book
from .template import ProgressSheet, check_progress_records, measure_index, read_progress_book
from .turnover_table import check_turnover, read_turnover_csv, turnover_frame


@dataclass
class IngestResult:
    file: str
    status: str  # 'added' or 'duplicate'
    kind: str
    submission_id: int
    sha256: str
    unit: str = ""
    month: str = ""
    rows: int = 0
    blank: list[str] = field(default_factory=list)  # the unit's measures left out
    supersedes: int | None = None
    archive_path: str = ""

    def describe(self) -> str:
        if self.status == "duplicate":
            return f"{self.file}: already ingested as submission {self.submission_id}; nothing changed"
        what = f"turnover up to {self.month}, " if self.kind == "turnover" else f"{self.unit} {self.month}, "
        what = what.lstrip()
        text = f"{self.file}: added submission {self.submission_id} ({self.kind}: {what}{self.rows} rows"
        if self.blank:
            text += f"; not reported: {', '.join(self.blank)}"
        if self.supersedes:
            text += f"; supersedes submission {self.supersedes}"
        return text + ")"


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # files refused whole
    max_problems_per_file: int = MAX_PROBLEMS_PER_FILE  # lines printed per file ([intake])
    stopped: str = ""  # the signal that stopped the batch early ('SIGINT', 'SIGTERM')
    failed: Problem | None = None  # the file the store or the archive could not take, and why
    not_stored: list[str] = field(default_factory=list)  # that file and the ones after it, not tried

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed and not self.stopped

    def summary(self) -> str:
        added = sum(r.status == "added" for r in self.results)
        total = len(self.results) + len(self.rejected) + len(self.not_stored)
        text = f"{total} files: {added} added, {len(self.results) - added} already ingested, {len(self.rejected)} rejected"
        if self.not_stored:
            why = f"stopped by {self.stopped}" if self.stopped else "the store or archive failed"
            text += f", {len(self.not_stored)} not stored ({why}): {listed(self.not_stored)}"
        return text


def parse_file(path: Path, data: bytes, rules: IntakeRules) -> tuple[str, object]:
    """('progress', ProgressSheet) or ('turnover', (frame, letters, sheet)); file-only checks."""
    file = str(path)
    if path.suffix.lower() == ".csv" and not data.startswith((XLSX_MAGIC, CFB_MAGIC)):
        frame, letters = read_turnover_csv(data, file, rules.max_table_rows)
        return "turnover", (frame, letters, "")
    book = open_book(path, data, rules)
    from .form_kinds import form_kind, parse_form

    if form_kind(book):  # a 分月计划 or 考评结果 workbook (perfkit.forms)
        return "form", parse_form(book, path.name)
    if t("intake.sheet") in book.sheets or META_SHEET in book.sheets:
        return "progress", read_progress_book(book, path.name)
    for sheet in book.sheets:
        if book.states.get(sheet, "visible") != "visible":
            continue
        frame = turnover_frame(book.values(sheet), file, sheet, book.cell_flags(sheet), rules.max_table_rows)
        if frame is not None:
            return "turnover", (frame, {c: col_letter(i + 1) for i, c in enumerate(frame.columns)}, sheet)
    raise InputError(
        Problem(
            file,
            f"missing sheet {t('intake.sheet')} (sheets: {', '.join(book.sheets)}), and no sheet has a turnover"
            " table's headers in row 1 (月份, 运输方式, 旅客周转量, 货物周转量)",
        )
    )


@dataclass
class _Loaded:
    """A file read and checked on its own (no store involved): its bytes, sha256 and parsed content."""

    path: Path
    data: bytes
    sha: str
    kind: str
    parsed: object


def _read(path: str | os.PathLike, rules: IntakeRules) -> tuple[Path, bytes, str]:
    """A file's bytes (after the size checks) and their sha256."""
    path = input_file(path)  # missing, a folder, a device or a pipe (whose size says 0): named as such
    file = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(Problem(file, f"cannot read the file ({exc.strerror or exc})")) from exc
    if size == 0:
        raise InputError(Problem(file, "empty file (0 bytes)"))
    if size > rules.max_file_bytes:
        raise InputError(
            Problem(
                file,
                f"file is {size:,} bytes, over the limit of {rules.max_file_bytes:,} ([intake] max_file_mb)",
            )
        )
    try:  # read once: what is checked, hashed and archived are the same bytes (and no more than the limit,
        # should the file grow after its size was checked)
        with open(path, "rb") as fh:
            data = fh.read(rules.max_file_bytes + 1)
    except OSError as exc:
        raise InputError(Problem(file, f"cannot read the file ({exc.strerror or exc})")) from exc
    if len(data) > rules.max_file_bytes:
        raise InputError(Problem(file, f"file grew past the limit of {rules.max_file_bytes:,} while read"))
    return path, data, hashlib.sha256(data).hexdigest()


def _load(path: str | os.PathLike, rules: IntakeRules) -> _Loaded:
    path, data, sha = _read(path, rules)
    kind, parsed = parse_file(path, data, rules)
    return _Loaded(path, data, sha, kind, parsed)


@dataclass
class _Context:
    """What every file of one call shares: the catalogue and what is derived from it once, the archive."""

    catalogue: Catalogue
    rules: IntakeRules
    archive_dir: Path
    measures: dict[str, dict]
    unit_measures: dict[str, list[str]]  # reporting unit → its monthly measures, catalogue order
    pool: ThreadPoolExecutor | None = None  # archive copies are written (and fsynced) here when set
    # the group's new archive copies, written, being fsynced, not yet in place (see _archive)
    pending: list[_Copy] = field(default_factory=list)
    shown_dir: str = ""  # the archive folder as recorded (resolved once, not once per file)
    staging: Iterator[int] = field(default_factory=itertools.count)
    # What this call knows of the store, valid while MAX(submissions.id) is what it last saw (see _sync):
    latest_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # see _latest_submissions
    accepted: dict[str, dict[str, list[tuple[str, str, float]]]] = field(
        default_factory=dict
    )  # _last_accepted_map
    seen_max_id: int | None = None
    catalogue_version: str | None = None  # the store's, recorded with each submission

    @classmethod
    def make(cls, catalogue: Catalogue, rules: IntakeRules, archive_dir: str | os.PathLike) -> _Context:
        measures = measure_index(catalogue)
        by_unit: dict[str, list[str]] = {}
        for mid, m in measures.items():
            if m["schedule"] != "statistic":
                by_unit.setdefault(m["reporting_unit"], []).append(mid)
        return cls(catalogue, rules, Path(archive_dir), measures, by_unit)


def ingest_file(
    conn: sqlite3.Connection,
    path: str | os.PathLike,
    *,
    archive_dir: str | os.PathLike,
    today: date | None = None,
    catalogue: Catalogue | None = None,
    rules: IntakeRules | None = None,
    before_commit: Callable[[], None] | None = None,
) -> IngestResult:
    """Validate one file and store it in one transaction, or raise InputError and change nothing.

    `today` decides what a future month is (the current calendar month is the latest allowed).
    `before_commit` runs inside the transaction just before COMMIT (crash-safety tests use it).
    """
    from .store import read_catalogue

    catalogue = catalogue or read_catalogue(conn)
    rules = rules or IntakeRules.from_plan(catalogue.plan)
    ctx = _Context.make(catalogue, rules, archive_dir)
    try:
        [outcome] = _store_group(conn, [_load(path, rules)], ctx, today or date.today(), before_commit)
    except _WriteFailed as exc:
        raise exc.error from exc
    if isinstance(outcome, InputError):
        raise outcome
    return outcome


class _WriteFailed(Exception):
    """The store or the archive could not take a write (disk full, a file-size limit, an I/O error): the
    group's transaction was rolled back. `at`: the group's file in hand, or None (the commit itself)."""

    def __init__(self, at: int | None, error: BaseException):
        super().__init__(str(error))
        self.at, self.error = at, error


_WRITE_ERRORS = (sqlite3.Error, OSError, StoreError)


def _store_group(
    conn: sqlite3.Connection,
    group: list[_Loaded],
    ctx: _Context,
    today: date,
    before_commit: Callable[[], None] | None = None,
) -> list[IngestResult | InputError]:
    """Store files in one transaction, each under its own savepoint: a file refused against the store
    (InputError) is rolled back to its savepoint alone and the others go on; its outcome is the error.

    Every accepted file's archive copy is in place and fsynced, and the archive folder fsynced once,
    before the COMMIT: a committed submission always has its raw file. When the store or the archive
    cannot take a write, the whole transaction is rolled back and _WriteFailed raised (nothing of the
    group stored; the caller tries its files one at a time to name the one that does not fit). A kill at
    any point leaves the store as it was before the group (SQLite's journal), at worst an archive copy
    with no submission (content-addressed: reused when the file comes again).
    """
    outcomes: list[IngestResult | InputError] = []
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
            _sync(conn, ctx)
        except _WRITE_ERRORS as exc:
            raise _WriteFailed(0, exc) from exc
        for k, loaded in enumerate(group):
            try:
                outcomes.append(_store_one(conn, loaded, ctx, today))
            except InputError as exc:
                outcomes.append(exc)
            except _WRITE_ERRORS as exc:
                raise _WriteFailed(k, exc) from exc
        try:
            _settle_archive(ctx)  # the raw files are durable, in place, before the rows that point to them
            if before_commit is not None:
                before_commit()
            conn.execute("COMMIT")
        except _WRITE_ERRORS as exc:
            raise _WriteFailed(None, exc) from exc
    except BaseException:
        _abandon(conn, ctx)
        raise
    return outcomes


def _abandon(conn: sqlite3.Connection, ctx: _Context) -> None:
    """Roll the group back (unless SQLite already did, on a full disk or an I/O error: then the ROLLBACK
    is skipped, so the error reported is the real one) and forget what it taught this call's caches."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the journal undoes whatever was written when the store is next opened
    _drop_pending(ctx.pending)
    ctx.pending.clear()
    ctx.latest_ids.clear()
    ctx.accepted.clear()
    ctx.seen_max_id = None


def _store_one(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """One file inside the group's transaction, under its own savepoint."""
    conn.execute("SAVEPOINT perfkit_file")
    archived = len(ctx.pending)
    try:
        result = _store_loaded(conn, loaded, ctx, today)
    except BaseException:
        _drop_pending(ctx.pending[archived:])  # this file's archive copy, if it got one
        del ctx.pending[archived:]
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK TO perfkit_file")
                conn.execute("RELEASE perfkit_file")
            except sqlite3.Error:
                pass  # SQLite rolled the whole transaction back itself; the group is abandoned
        raise
    conn.execute("RELEASE perfkit_file")
    if result.status == "added":  # our own submission: the caches stay valid (see _sync)
        ctx.seen_max_id = result.submission_id
    return result


def _sync(conn: sqlite3.Connection, ctx: _Context) -> None:
    """At the start of a group's transaction: drop the caches when anyone else added a submission since
    this call last looked (submissions are append-only, so MAX(id) tells), and read the catalogue version
    once. Inside the transaction nobody else can write, so this is checked once per group, not per file."""
    top = conn.execute("SELECT MAX(id) FROM submissions").fetchone()[0]
    if top != ctx.seen_max_id:
        ctx.latest_ids.clear()
        ctx.accepted.clear()
        ctx.seen_max_id = top
    if ctx.catalogue_version is None:
        ctx.catalogue_version = conn.execute(
            "SELECT value FROM meta WHERE key = 'catalogue_version'"
        ).fetchone()[0]


def _store_loaded(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """The store part of an ingest, inside the caller's transaction: the checks against the store, the
    archive copy (see `_archive`), the submission and its rows; InputError before anything is written."""
    from .store import insert_turnover, read_turnover
    from .turnover import out_of_proportion, overlaps_stored

    path, sha, kind, parsed = loaded.path, loaded.sha, loaded.kind, loaded.parsed
    file = str(path)
    catalogue, rules = ctx.catalogue, ctx.rules

    dup = conn.execute(
        "SELECT id, kind FROM submissions WHERE sha256 = ? ORDER BY id LIMIT 1", (sha,)
    ).fetchone()
    if dup:
        return IngestResult(file, "duplicate", dup[1], int(dup[0]), sha)
    if kind == "progress":
        sheet: ProgressSheet = parsed
        month = sheet.meta.get("month", "")
        unit = sheet.meta.get("unit", "")
        latest = _latest_submissions(conn, ctx, unit)
        last = _last_accepted_map(conn, ctx, unit, latest, month)
        rows, problems = check_progress_records(
            sheet, catalogue, last, rules, file, today, measures=ctx.measures
        )
        prior = latest.get(month)  # the latest earlier submission for this unit and month
        if prior is not None and rows is not None and (dropped := _dropped_by(conn, prior, rows)):
            problems.append(
                Problem(
                    file,
                    f"{listed(dropped)}: reported for {month} in submission {prior} and blank here; a resubmission"
                    " replaces the month's whole ledger, so these would count as not reported: fill them in"
                    " again (perfkit history <措施编号> shows what was sent)",
                    sheet.sheet,
                )
            )
        if problems:
            raise InputError(problems)
        sid, shown = _submit(
            conn,
            ctx,
            loaded,
            "progress",
            ".xlsx",
            unit=unit,
            month=month,
            rows=len(rows),
            sign_off=sheet.sign_off,
        )
        stored = _insert_progress(conn, sid, rows)
        # this call's view of the unit follows its own submission (rolled back with the group, if it is)
        latest[month] = sid
        if unit in ctx.accepted:
            ctx.accepted[unit][month] = [(r[1], r[2], r[3]) for r in stored if r[3] is not None]
        given = {r["measure_id"] for r in rows}
        blank = [mid for mid in ctx.unit_measures.get(unit, []) if mid not in given]
        return IngestResult(file, "added", "progress", sid, sha, unit, month, len(rows), blank, prior, shown)
    if kind == "form":
        return _ingest_form(conn, loaded, ctx, today)
    frame, letters, sheet_name = parsed
    rows = check_turnover(frame, file, sheet_name, letters, today)
    stored = read_turnover(conn)
    if problems := overlaps_stored(rows, stored, file) or out_of_proportion(
        rows, stored, file, rules.max_turnover_ratio
    ):
        raise InputError(problems)
    month = str(rows["month"].max())
    sid, shown = _submit(conn, ctx, loaded, "turnover", ".csv", month=month, rows=len(rows))
    insert_turnover(conn, sid, rows)
    return IngestResult(file, "added", "turnover", sid, sha, "", month, len(rows), [], None, shown)


def _dropped_by(conn: sqlite3.Connection, prior: int, rows: list[dict]) -> list[str]:
    """The measures submission `prior` reported that `rows`, the unit's resubmission for the month, leaves
    blank (stored, they silently fell back to not reported: 缺报 and last month's number)."""
    given = {r["measure_id"] for r in rows}
    reported = conn.execute(
        "SELECT measure_id FROM progress WHERE submission_id = ? ORDER BY rowid", (prior,)
    ).fetchall()
    return [mid for (mid,) in reported if mid not in given]


def _ingest_form(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """A form workbook (perfkit.forms) inside the file's transaction: checked against the catalogue and the
    store, archived, recorded with its provenance and stored, or InputError and nothing changed."""
    from .form_kinds import check_form, store_form

    sheet, file = loaded.parsed, str(loaded.path)
    checked = check_form(conn, sheet, ctx.catalogue, file, today)
    sid, shown = _submit(
        conn,
        ctx,
        loaded,
        sheet.kind,
        ".xlsx",
        unit=checked.unit,
        month=checked.month,
        rows=len(checked.rows),
        sign_off=sheet.sign_off,
    )
    store_form(conn, sid, sheet.kind, checked)
    return IngestResult(
        file, "added", sheet.kind, sid, loaded.sha, checked.unit, checked.month, len(checked.rows),
        [], checked.supersedes, shown,
    )  # fmt: skip


def _submit(
    conn: sqlite3.Connection,
    ctx: _Context,
    loaded: _Loaded,
    kind: str,
    default_suffix: str,
    *,
    rows: int,
    unit: str = "",
    month: str = "",
    sign_off: dict | None = None,
) -> tuple[int, str]:
    """An accepted file's archive copy and its submission row (its provenance, the workbook's 填报人/审核人/
    填报日期 `sign_off` included): (submission id, the archive path recorded)."""
    from .store import add_submission

    shown = _archive(ctx, loaded, loaded.path.suffix or default_suffix)
    sid = add_submission(
        conn,
        kind=kind,
        file_name=loaded.path.name,
        sha256=loaded.sha,
        unit=unit,
        month=month,
        archive_path=shown,
        rows=rows,
        catalogue_version=ctx.catalogue_version,
        **(sign_off or {}),
    )
    return sid, shown


def _latest_submissions(conn: sqlite3.Connection, ctx: _Context, unit: str) -> dict[str, int]:
    """month → id of the unit's latest progress submission for it (call inside a group's transaction,
    after `_sync`). Read once per unit per call, not per file (a scan of all submissions each time made
    intake slower as the store grew), and kept up to date with this call's own submissions."""
    got = ctx.latest_ids.get(unit)
    if got is None:
        got = dict(
            conn.execute(
                "SELECT month, MAX(id) FROM submissions WHERE kind = 'progress' AND unit = ? GROUP BY month",
                (unit,),
            ).fetchall()
        )
        ctx.latest_ids[unit] = got
    return got


def _archive(ctx: _Context, loaded: _Loaded, suffix: str) -> str:
    """Archive an accepted file (inside its transaction) and return the path recorded for it.

    Alone (`ingest_file`), the copy is written, fsynced and renamed into place at once. In a group
    (`ingest_files`) it is written under a temporary name now and its fsync started on a helper thread
    (the waits overlap each other and the next files' work); `_settle_archive` waits for them, renames
    the copies into place and fsyncs the folder once, before the group's COMMIT."""
    data, sha = loaded.data, loaded.sha
    if ctx.pool is None:
        return shown(archive_raw(data, sha, suffix, ctx.archive_dir))
    if not ctx.shown_dir:
        ctx.shown_dir = shown(ctx.archive_dir)
    dest = ctx.archive_dir / f"{sha}{suffix.lower()}"
    if os.path.exists(dest):
        archive_raw(data, sha, suffix, ctx.archive_dir, sync_dir=False)  # kept as is, or refused
    else:
        tmp = ctx.archive_dir / f".{dest.name}.{os.getpid()}.{next(ctx.staging)}.tmp"
        fd = write_unsynced(tmp, data, ctx.archive_dir)
        ctx.pending.append(_Copy(fd, tmp, dest, ctx.pool.submit(os.fsync, fd)))
    return os.path.join(ctx.shown_dir, dest.name)


@dataclass
class _Copy:
    """An archive copy on its way: written under `tmp`, being fsynced (`synced`), to be renamed to `dest`."""

    fd: int
    tmp: Path
    dest: Path
    synced: Future


def _settle_archive(ctx: _Context) -> None:
    """The group's new archive copies made durable and put in place: each one's fsync done, then renamed
    to its content address; then the folder fsynced once."""
    if not ctx.pending:
        return
    pending, ctx.pending = ctx.pending, []
    try:
        for copy in pending:
            copy.synced.result()  # a failed fsync (an I/O error) fails the group
    except BaseException:
        _drop_pending(pending)
        raise
    for copy in pending:
        os.close(copy.fd)
        if os.path.exists(copy.dest):  # another process archived the same bytes meanwhile: keep theirs
            discard(copy.tmp)
        else:
            os.replace(copy.tmp, copy.dest)  # appears whole or not at all
    fsync_dir(ctx.archive_dir)


def _drop_pending(pending: list[_Copy]) -> None:
    """Close and delete archive copies that will not be renamed into place (their file was rolled back)."""
    for copy in pending:
        try:
            copy.synced.result()  # not closed under a running fsync
        except Exception:
            pass
        try:
            os.close(copy.fd)
        except OSError:
            pass
        discard(copy.tmp)


def _insert_progress(conn: sqlite3.Connection, submission_id: int, rows: list[dict]) -> list[tuple]:
    """store.insert_progress for check_progress_records' plain records (no DataFrame round trip); returns
    the rows as stored (submission_id, measure_id, month, cumulative, status, note)."""
    from .store import _num

    stored = [
        (
            submission_id,
            r["measure_id"],
            str(r["month"]),
            _num(r["cumulative"]),
            r["status"] or "",
            r["note"] or "",
        )
        for r in rows
    ]
    conn.executemany(
        "INSERT INTO progress (submission_id, measure_id, month, cumulative, status, note) VALUES (?,?,?,?,?,?)",
        stored,
    )
    return stored


_LAST_ACCEPTED_SQL = """
    WITH latest AS (
        SELECT month, MAX(id) AS id FROM submissions
        WHERE kind = 'progress' AND unit = ? AND month <= ? GROUP BY month
    ), values_ AS (
        SELECT p.measure_id, p.month, p.cumulative,
               ROW_NUMBER() OVER (PARTITION BY p.measure_id ORDER BY p.month DESC) AS k
        FROM progress p JOIN latest l ON p.submission_id = l.id
        WHERE p.cumulative IS NOT NULL
    )
    SELECT measure_id, month, cumulative FROM values_ WHERE k = 1
"""


def last_accepted(conn: sqlite3.Connection, unit: str, month: str) -> pd.DataFrame:
    """The last accepted number for each of `unit`'s measures up to `month` (latest submission per unit
    and month, as in `store.read_progress`; status-only rows skipped), read for this unit only so intake
    stays fast as the store grows. Columns: measure_id, month, cumulative."""
    rows = conn.execute(_LAST_ACCEPTED_SQL, (unit, month)).fetchall()
    return pd.DataFrame(rows, columns=["measure_id", "month", "cumulative"])


def _last_accepted_map(
    conn: sqlite3.Connection, ctx: _Context, unit: str, latest: dict[str, int], month: str
) -> dict[str, tuple[str, float]]:
    """`last_accepted` as measure_id → (month, cumulative): the same rows, from the unit's latest
    submission per month (`_latest_submissions`) up to `month`. Their numbers are read once per unit per
    call and kept up to date with this call's own submissions (see `_store_loaded`), not queried per file."""
    by_month = ctx.accepted.get(unit)
    if by_month is None:
        by_month = {}
        ids = list(latest.values())
        if ids:
            sql = f"""
                SELECT s.month, p.measure_id, p.month, p.cumulative
                FROM progress p JOIN submissions s ON s.id = p.submission_id
                WHERE p.submission_id IN ({",".join("?" * len(ids))}) AND p.cumulative IS NOT NULL
            """
            for sub_month, mid, m, v in conn.execute(sql, ids):
                by_month.setdefault(sub_month, []).append((mid, m, v))
        ctx.accepted[unit] = by_month
    out: dict[str, tuple[str, float]] = {}
    for sub_month in sorted(by_month):
        if sub_month > month:
            break
        for mid, m, v in by_month[sub_month]:
            seen = out.get(mid)
            if seen is None or m >= seen[0]:  # the latest month's number (the query's ROW_NUMBER)
                out[mid] = (m, v)
    return out


READ_AHEAD = 8  # files read (and handed to the parser processes) ahead of the one being stored
SYNC_THREADS = 8  # a group's archive copies are fsynced on this many threads (the waits overlap)
GROUP_FILES = 64  # files stored in one transaction at most (one savepoint each)
GROUP_BYTES = 32 * 2**20  # raw bytes a group holds at most (kept in memory until its COMMIT)
GROUP_SECONDS = 0.5  # a group closes after this long: lines appear, other writers wait, no longer
PARALLEL_MIN_FILES = 16  # fewer files are parsed in the main process: forking costs more than it saves
MAX_PARSERS = 8
# With one parser (2 cores) the main process parses every MAIN_SHARE-th file itself: its store part is about
# half a parse, so with a quarter of the parsing the two processes finish together, and the main one does
# not sit waiting for the parser's answers. With more parsers they keep up and the main one only stores.
MAIN_SHARE = 4


def _parse_job(path: Path, data: bytes, rules: IntakeRules):
    """parse_file in a parser process: (kind, parsed), or the InputError to report at the file's turn."""
    try:
        return parse_file(path, data, rules)
    except InputError as exc:
        return exc


def _parser_init(parent: int, watch: int, keep_open: int) -> None:
    """A parser process's first act: die with the process that started it, whatever kills that one.

    Ctrl-C reaches the whole process group: the parent decides what it means, so parsers ignore it.
    On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); everywhere, a thread waits
    for EOF on a pipe only the parent holds open. The caller's stdin/stdout/stderr and the store's files
    are closed here: a parser writes nothing, and holding `$(perfkit ingest …)`'s pipe open would keep
    the shell waiting after the parent is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.close(keep_open)  # the write end of the parent's pipe: only the parent may hold it
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the pipe watch below still works
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    _close_inherited_files(keep={watch})

    def watch_parent() -> None:
        while True:
            try:
                if not os.read(watch, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os._exit(1)  # EOF: the parent is gone

    threading.Thread(target=watch_parent, name="perfkit-parent-watch", daemon=True).start()


def _close_inherited_files(keep: set[int]) -> None:
    """Close regular files the fork copied (the store, its WAL and shared memory): a parser reads only
    what it is sent, and must not keep the store open after the parent is gone."""
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        return
    for name in os.listdir(fd_dir):
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            pass


class _Parsers:
    """Forked parser processes, each on its own pipe: file j goes to parser j % n, which reads it (size checks,
    sha256: the bytes it checks are the bytes it sends back to be archived), parses it and answers in the
    order it was asked. The main thread talks to the pipes itself, with no helper threads and one small
    message a file each way (a pool's task queue cost more CPU a file than parsing did); a request is only a
    path, so neither side can block the other. A parser that dies (killed, out of memory) is dropped: the
    files it held, and the ones it would have had, are read and parsed in the main process instead."""

    def __init__(self, procs: list, conns: list, watch: int):
        self.procs, self.conns, self._watch = procs, conns, watch

    def start(self, rules: IntakeRules) -> None:
        """Send each parser the limits it checks files against (its first message)."""
        for k, conn in enumerate(self.conns):
            try:
                conn.send(rules)
            except OSError:
                self._drop(k)

    def submit(self, j: int, path: str | os.PathLike) -> bool:
        """Ask a parser for file j; False when the caller is to read and parse it itself: its parser is gone,
        or it is the main process's share (see MAIN_SHARE)."""
        if len(self.conns) == 1 and j % MAIN_SHARE == MAIN_SHARE - 1:
            return False
        conn = self.conns[j % len(self.conns)]
        if conn is None:
            return False
        try:
            conn.send(os.fspath(path))
        except OSError:
            self._drop(j)
            return False
        return True

    def result(self, j: int):
        """(bytes, sha256, parse_file's result or its InputError), the InputError of reading the file, or
        None when the parser died or could not answer (the caller does the file itself)."""
        conn = self.conns[j % len(self.conns)]
        if conn is None:
            return None
        try:
            return conn.recv()
        except (EOFError, OSError):  # the parser died: the files it held are done here
            self._drop(j)
            return None

    def _drop(self, j: int) -> None:
        k = j % len(self.conns)
        if self.conns[k] is not None:
            self.conns[k].close()
            self.conns[k] = None

    def shutdown(self) -> None:
        """Close the pipes (a parser exits at EOF) and wait for the processes; kill one that is still
        busy after a few seconds (a huge file): nothing it does is needed any more."""
        for conn in self.conns:
            if conn is not None:
                conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        os.close(self._watch)


_NOT_PARSED = "not parsed"  # a parser's answer when something other than an InputError went wrong


def _parser_main(conn, parent: int, watch: int, keep_open: int, others: list[int]) -> None:
    """A parser process: the limits first, then read, hash and parse each path the pipe brings and answer
    on the same pipe, until EOF (the ingest is done or gone)."""
    for fd in others:  # the parent's ends of the pipes: held by the parent alone, so its close reads as EOF
        try:
            os.close(fd)
        except OSError:
            pass
    _parser_init(parent, watch, keep_open)
    try:
        rules = conn.recv()
    except (EOFError, OSError):
        return
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        try:
            try:
                _, data, sha = _read(path, rules)
            except InputError as exc:
                reply = exc
            else:
                reply = (data, sha, _parse_job(Path(path), data, rules))
            conn.send(reply)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception:  # not an input problem: the main process does this file and reports it
            try:
                conn.send(_NOT_PARSED)
            except OSError:
                return


def _parser_pool(n_files: int) -> _Parsers | None:
    """Processes that read and parse the next files while the main process checks earlier ones against
    the store and writes them (all cores but one), or None when it does not pay or is not safe.

    Forked, so they start in milliseconds with everything imported; only from a process with no other
    threads (a CLI run, not a Jupyter kernel), as forking a threaded process can deadlock the child.
    """
    import multiprocessing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if (
        n_files < PARALLEL_MIN_FILES
        or cores < 2
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return None
    context = multiprocessing.get_context("fork")
    watch, keep_open = os.pipe()  # the parsers see EOF on `watch` once this process is gone
    procs, conns = [], []
    try:
        for _ in range(min(cores - 1, MAX_PARSERS)):
            mine, theirs = context.Pipe(duplex=True)
            others = [c.fileno() for c in [*conns, mine]]  # the parent's ends, its own pipe's too: EOF
            proc = context.Process(
                target=_parser_main,
                args=(theirs, os.getpid(), watch, keep_open, others),
                name="perfkit-parser",
                daemon=True,
            )
            proc.start()  # forks now, before any thread of this call starts
            theirs.close()  # the parser's end: held by the parser alone, so its death reads as EOF here
            procs.append(proc)
            conns.append(mine)
    except BaseException:
        _Parsers(procs, conns, keep_open).shutdown()
        raise
    finally:
        os.close(watch)
    return _Parsers(procs, conns, keep_open)


def ingest_files(
    conn: sqlite3.Connection,
    paths: Iterable[str | os.PathLike],
    *,
    archive_dir: str | os.PathLike,
    today: date | None = None,
    on_result: Callable[[IngestResult], None] | None = None,
    on_rejected: Callable[[str, list[Problem]], None] | None = None,
    stop: Callable[[], str] | None = None,
) -> IngestReport:
    """Each file on its own: a rejected file adds its problems and does not stop the others.

    `on_result` hears of each file as it is committed (or found already stored), `on_rejected` of each
    file refused, with its problems. `stop()` is asked before each file: a non-empty answer (the signal's
    name) ends the batch there, the files read so far being stored and the rest not tried. When the store
    or the archive cannot be written (disk full, a file-size limit, an I/O error) the file in hand is
    rolled back and the batch ends: `report.failed` says which file and why. A store or archive folder
    that cannot be written at all is a StoreError before any file is read.

    Group commit: files are stored in groups (up to GROUP_FILES files, GROUP_BYTES of them, or as many as
    are read in GROUP_SECONDS), one transaction a group and a savepoint a file (`_store_group`), so each
    file is still all or nothing and a refused file costs only itself; the callbacks hear of a group's
    files once it is committed. Should the store or the archive fail on a group, it is rolled back and
    its files stored again one transaction each: those before the failing file are kept, that file is
    named. Each accepted file is archived (written, fsynced, renamed) before its group's COMMIT, and the
    archive folder fsynced once a group. Only an accepted file gets a copy, written under a temporary name at
    its turn; its fsync runs on a helper thread meanwhile and is waited for at the group's end, before the
    renames. From PARALLEL_MIN_FILES files on, forked parser processes read and parse the next files (see
    `_Parsers`) while this process checks earlier ones against the store and writes them, in order.
    """
    from .store import read_catalogue, read_plan

    plan = read_plan(conn)
    rules = IntakeRules.from_plan(plan)
    today = today or date.today()
    report = IngestReport(max_problems_per_file=rules.max_problems_per_file)
    paths = list(paths)
    # entry j: (path, bytes, sha) or the error reading it; None while a parser process reads and parses it
    raw: dict[int, object] = {}
    read_upto = 0
    parsers = _parser_pool(len(paths))  # forked before any thread of this call starts
    if parsers is not None:
        parsers.start(rules)

    def prefetch(upto: int) -> None:
        """Hand the next files to the parser processes (if any), or read them here."""
        nonlocal read_upto
        while read_upto < min(upto, len(paths)):
            j = read_upto
            read_upto += 1
            if parsers is not None and parsers.submit(j, paths[j]):
                raw[j] = None
                continue
            try:
                raw[j] = _read(paths[j], rules)
            except (InputError, OSError) as exc:  # reported (or raised) at the file's turn, as before
                raw[j] = exc

    def load(i: int) -> tuple[_Loaded | None, InputError | None]:
        prefetch(i + 1 + READ_AHEAD)
        got = raw.pop(i)
        result = None
        if got is None:  # a parser's: (bytes, sha, parsed), the error reading it, or None (do it here)
            answer = parsers.result(i)
            if isinstance(answer, tuple):
                data, sha, result = answer
                got = (Path(paths[i]), data, sha)
            elif isinstance(answer, InputError):
                got = answer
            else:
                try:
                    got = _read(paths[i], rules)
                except (InputError, OSError) as exc:
                    got = exc
        if isinstance(got, InputError):
            return None, got
        if isinstance(got, Exception):
            raise got
        path, data, sha = got
        if result is None:
            result = _parse_job(path, data, rules)
        if isinstance(result, InputError):
            return None, result
        kind, parsed = result
        return _Loaded(path, data, sha, kind, parsed), None

    ctx: _Context | None = None
    pool: ThreadPoolExecutor | None = None
    try:
        had_dir = Path(archive_dir).is_dir()
        _check_writable(conn, Path(archive_dir))
        prefetch(1 + READ_AHEAD)  # the parsers start on the first files while the catalogue is read
        ctx = _Context.make(read_catalogue(conn, plan), rules, archive_dir)
        with ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="perfkit-archive") as pool:
            ctx.pool = pool

            def settle(group: list[tuple[str, _Loaded | None, InputError | None]]) -> int | None:
                """Store a group and report its files in order; the index of the file the store or the
                archive could not take (report.failed says why), else None."""
                stored = [loaded for _, loaded, _ in group if loaded is not None]
                try:
                    outcomes = iter(_store_group(conn, stored, ctx, today) if stored else ())
                except _WriteFailed as exc:
                    if len(stored) > 1:  # one transaction a file: what fits is kept, the failing file named
                        for k, entry in enumerate(group):
                            if settle([entry]) is not None:
                                return k
                        return None
                    k = next(k for k, (_, loaded, _) in enumerate(group) if loaded is not None)
                    report.failed = Problem(
                        group[k][0], f"not stored, rolled back: {_write_failure(exc.error)}"
                    )
                    return k
                for file, loaded, error in group:
                    if loaded is not None:
                        outcome = next(outcomes)
                        if isinstance(outcome, InputError):
                            error = outcome
                        else:
                            report.results.append(outcome)
                            if on_result is not None:
                                on_result(outcome)
                    if error is not None:
                        report.problems.extend(error.problems)
                        report.rejected.append(file)
                        if on_rejected is not None:
                            on_rejected(file, error.problems)
                return None

            try:
                i = 0
                while i < len(paths):
                    group: list[tuple[str, _Loaded | None, InputError | None]] = []
                    held, began = 0, time.monotonic()
                    while (
                        i < len(paths)
                        and len(group) < GROUP_FILES
                        and held < GROUP_BYTES
                        and time.monotonic() - began < GROUP_SECONDS
                    ):
                        report.stopped = stop() if stop is not None else ""
                        if report.stopped:
                            break
                        loaded, error = load(i)
                        group.append((str(paths[i]), loaded, error))
                        held += len(loaded.data) if loaded is not None else 0
                        i += 1
                    failed = settle(group)
                    if failed is not None:
                        report.not_stored = [file for file, _, _ in group[failed:]] + [
                            str(p) for p in paths[i:]
                        ]
                        break
                    if report.stopped:
                        report.not_stored = [str(p) for p in paths[i:]]
                        break
            finally:
                pool.shutdown(wait=True)
                if not had_dir:
                    try:
                        ctx.archive_dir.rmdir()  # made only for copies that were not needed
                    except OSError:
                        pass
    finally:
        if parsers is not None:
            parsers.shutdown()
    return report


def _check_writable(conn: sqlite3.Connection, archive_dir: Path) -> None:
    """Refuse at once, naming the path, a store or an archive folder that cannot be written (read-only
    file or folder, read-only disk), before any file is read or copied."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:  # a write that changes nothing: a read-only file is found only when a page is written
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        row = conn.execute("PRAGMA database_list").fetchone()
        raise StoreError(f"{row[2] if row else 'the store'}: cannot write to the store ({exc})") from exc
    probe = archive_dir / f".perfkit-write-check.{os.getpid()}"
    for attempt in range(3):
        made = not archive_dir.exists()
        try:
            archive_dir.mkdir(parents=True, exist_ok=True)
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
            break
        except FileNotFoundError as exc:
            # another process's check removed the empty folder it had made, between our mkdir and open
            if attempt == 2:
                raise StoreError(
                    f"{archive_dir}: cannot write to the archive folder ({exc.strerror or exc})"
                ) from exc
        except OSError as exc:
            # a file where the folder or one above it should be: name that file, not just 'Not a directory'
            blocker = folder_problem(archive_dir, named=True) if exc.errno in (ENOTDIR, EEXIST) else None
            raise StoreError(
                f"{archive_dir}: cannot write to the archive folder ({blocker or exc.strerror or exc})"
            ) from exc
        finally:
            if made:
                try:
                    archive_dir.rmdir()  # made again when a file is archived
                except OSError:
                    pass


def _write_failure(exc: BaseException) -> str:
    """Why the store or the archive refused a write, in one line (disk full, file too large, I/O)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")
    return f"the store: {exc}" if isinstance(exc, sqlite3.Error) else str(exc)


# ---------------------------------------------------------------------------------------- history


def history(conn: sqlite3.Connection, measure_id: str) -> pd.DataFrame:
    """Every stored value of a measure, superseded ones included, oldest first.

    Columns: measure_id, month (Period[M]), reporting_unit, cumulative, status, note, submission_id,
    file_name, sha256, received_at, source, preparer, reviewer, prepared_on (the workbook's sign-off, '' when
    it had none), superseded (a later submission for that unit and month exists).
    """
    known = conn.execute("SELECT schedule FROM measures WHERE measure_id = ?", (measure_id,)).fetchone()
    if known is None:
        raise InputError(Problem(measure_id, "unknown measure id"))
    if known[0] == "statistic":
        raise InputError(Problem(measure_id, "comes from the turnover table: see `perfkit growth`"))
    df = pd.read_sql_query(
        """
        SELECT p.measure_id, p.month, s.unit AS reporting_unit, p.cumulative, p.status, p.note,
               s.id AS submission_id, s.file_name, s.sha256, s.received_at, s.source,
               s.preparer, s.reviewer, s.prepared_on,
               s.id < (SELECT MAX(id) FROM submissions l
                       WHERE l.kind = 'progress' AND l.unit = s.unit AND l.month = s.month) AS superseded
        FROM progress p JOIN submissions s ON s.id = p.submission_id
        WHERE p.measure_id = ?
        ORDER BY p.month, s.id
        """,
        conn,
        params=(measure_id,),
    )
    df["superseded"] = df["superseded"].astype(bool)
    df["month"] = pd.PeriodIndex(df["month"], freq="M") if len(df) else pd.PeriodIndex([], freq="M")
    return df
