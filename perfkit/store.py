"""The embedded SQLite store: catalogue, measures, submissions with provenance, turnover, assessments, and
the monthly snapshots (perfkit.monthly).

Submissions are append-only (triggers refuse UPDATE and DELETE): a later submission for the same unit and
month supersedes the earlier one in calculations, while both stay queryable. A new store is built in a
temporary file and linked into place only if no other process made one meanwhile, so a crash never leaves a
half-written store behind and two processes starting together share one store.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .catalogue import Catalogue, load_catalogue
from .config import DEFAULT_PLAN_DIR, SAMPLE_DIR, db_path, recorded_path, stored_path
from .errors import StoreError

APPLICATION_ID = 0x50464B54  # 'PFKT': tells a perfkit store from any other SQLite file
SCHEMA_VERSION = 4
# Upgrades of an older store, applied in one transaction when it is opened: MIGRATIONS[v] takes a store from
# version v to v + 1, as SQL or as a function of the connection (for what SQL alone cannot say).
# 1 → 2 (work plans): see _workplan_tables. 2 → 3 (snapshots): the month's computed results moved into
# snapshots (perfkit.monthly); the old flags table held reasons as rendered Chinese text without their rule
# codes, so it is dropped and the months are recomputed from the submissions on first use. 3 → 4 (sign-off):
# a submission keeps the 填报人, 审核人 and 填报日期 of its workbook ('' for files without them).
MIGRATIONS: dict[int, str | Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: _workplan_tables(conn),  # defined below
    2: """
DROP TABLE IF EXISTS flags;
CREATE TABLE snapshots (month TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, computed_at TEXT NOT NULL);
CREATE TABLE snapshot_parts (
    month TEXT NOT NULL REFERENCES snapshots(month) ON DELETE CASCADE, part TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (month, part)
);
""",
    3: """
ALTER TABLE submissions ADD COLUMN preparer TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN reviewer TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN prepared_on TEXT NOT NULL DEFAULT '';
""",
}

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE indicators (
    id TEXT PRIMARY KEY, ord INTEGER NOT NULL, category TEXT NOT NULL, section TEXT NOT NULL,
    grp TEXT NOT NULL, text TEXT NOT NULL, weight REAL NOT NULL, deadline_month INTEGER NOT NULL,
    leaders TEXT NOT NULL, units TEXT NOT NULL, persons TEXT NOT NULL, basis TEXT NOT NULL,
    remark TEXT NOT NULL DEFAULT ''
);
CREATE TABLE measures (
    measure_id TEXT PRIMARY KEY, indicator_id TEXT NOT NULL REFERENCES indicators(id), ord INTEGER NOT NULL,
    name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL, target REAL, target_high REAL,
    schedule TEXT NOT NULL, per_month REAL, reporting_unit TEXT NOT NULL, share REAL NOT NULL,
    weight REAL NOT NULL, deadline_month INTEGER NOT NULL, source_text TEXT NOT NULL
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('progress', 'turnover', 'assessment', 'workplan', 'selfeval')),
    file_name TEXT NOT NULL, sha256 TEXT NOT NULL, unit TEXT NOT NULL DEFAULT '', month TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL, archive_path TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT 'ingest',
    catalogue_version TEXT NOT NULL DEFAULT '', rows INTEGER NOT NULL DEFAULT 0,
    preparer TEXT NOT NULL DEFAULT '', reviewer TEXT NOT NULL DEFAULT '', prepared_on TEXT NOT NULL DEFAULT ''
);
CREATE INDEX submissions_sha ON submissions (sha256);
CREATE TABLE progress (
    submission_id INTEGER NOT NULL REFERENCES submissions(id), measure_id TEXT NOT NULL REFERENCES measures(measure_id),
    month TEXT NOT NULL, cumulative REAL, status TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (submission_id, measure_id)
);
CREATE TABLE turnover (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    mode TEXT NOT NULL CHECK (mode IN ('road', 'waterway')), month TEXT NOT NULL,
    span_months INTEGER NOT NULL DEFAULT 1, passenger_km REAL NOT NULL, ton_km REAL NOT NULL,
    official_yoy_pct REAL,
    PRIMARY KEY (submission_id, mode, month)
);
CREATE TABLE assessments (
    submission_id INTEGER NOT NULL REFERENCES submissions(id), year INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('public', 'bonus', 'deduction', 'grade', 'indicator_score')),
    indicator_id TEXT NOT NULL DEFAULT '', points REAL, grade TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '', level TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL DEFAULT '', date TEXT NOT NULL DEFAULT ''
);
CREATE TABLE workplan (
    submission_id INTEGER NOT NULL REFERENCES submissions(id), measure_id TEXT NOT NULL REFERENCES measures(measure_id),
    month TEXT NOT NULL, planned REAL, person TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (submission_id, measure_id, month)
);
CREATE TABLE self_evaluation (
    submission_id INTEGER NOT NULL REFERENCES submissions(id), indicator_id TEXT NOT NULL REFERENCES indicators(id),
    statement TEXT NOT NULL DEFAULT '', grade TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (submission_id, indicator_id)
);
CREATE TABLE snapshots (month TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, computed_at TEXT NOT NULL);
CREATE TABLE snapshot_parts (
    month TEXT NOT NULL REFERENCES snapshots(month) ON DELETE CASCADE, part TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (month, part)
);
CREATE TRIGGER submissions_no_update BEFORE UPDATE ON submissions BEGIN SELECT RAISE(ABORT, 'submissions are append-only'); END;
CREATE TRIGGER submissions_no_delete BEFORE DELETE ON submissions BEGIN SELECT RAISE(ABORT, 'submissions are append-only'); END;
CREATE TRIGGER progress_no_update BEFORE UPDATE ON progress BEGIN SELECT RAISE(ABORT, 'progress is append-only'); END;
CREATE TRIGGER progress_no_delete BEFORE DELETE ON progress BEGIN SELECT RAISE(ABORT, 'progress is append-only'); END;
CREATE TRIGGER turnover_no_update BEFORE UPDATE ON turnover BEGIN SELECT RAISE(ABORT, 'turnover is append-only'); END;
CREATE TRIGGER turnover_no_delete BEFORE DELETE ON turnover BEGIN SELECT RAISE(ABORT, 'turnover is append-only'); END;
CREATE TRIGGER workplan_no_update BEFORE UPDATE ON workplan BEGIN SELECT RAISE(ABORT, 'workplan is append-only'); END;
CREATE TRIGGER workplan_no_delete BEFORE DELETE ON workplan BEGIN SELECT RAISE(ABORT, 'workplan is append-only'); END;
CREATE TRIGGER self_evaluation_no_update BEFORE UPDATE ON self_evaluation BEGIN SELECT RAISE(ABORT, 'self_evaluation is append-only'); END;
CREATE TRIGGER self_evaluation_no_delete BEFORE DELETE ON self_evaluation BEGIN SELECT RAISE(ABORT, 'self_evaluation is append-only'); END;
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# A writer waits this long for another process's transaction (ingest commits one file at a time) instead of
# failing with "database is locked".
BUSY_TIMEOUT_S = 60.0

# SQLite's messages for a store that cannot take a write, and what to tell the user about each.
_WRITE_FAILURES = {
    "readonly database": "the store is read-only",
    "database or disk is full": "the disk is full",
    "disk i/o error": "writing the store failed (disk full or a file-size limit)",
    "unable to open database file": "the store cannot be opened (permissions, or a missing folder)",
}


def store_failure(exc: BaseException, path: str | os.PathLike) -> StoreError | None:
    """A StoreError naming `path` for an SQLite error that means the store is unusable (read-only, disk
    full, I/O error), else None: callers turn such errors into one line and exit 3. SQLite rolled the
    failed transaction back, so the store is as it was before the failing step."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    text = str(exc).lower()
    for needle, what in _WRITE_FAILURES.items():
        if needle in text:
            return StoreError(f"{path}: {what} (sqlite: {exc}); the failed step changed nothing")
    return None


SQLITE_HEADER = b"SQLite format 3\x00"


def not_a_store(path: Path) -> str | None:
    """Why the existing file at `path` is not a perfkit store (not a regular file, not SQLite, another
    application's SQLite file), or None when its header says it is one. Only its first 100 bytes are read:
    SQLite is not asked to open it, so nothing beside it is made or changed."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a perfkit store: not a regular file (a device, pipe or socket)"
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        return f"cannot read it to tell whether it is a store ({exc.strerror or exc})"
    if not head.startswith(SQLITE_HEADER) or len(head) < 72:
        return "not a perfkit store: " + ("an empty file" if not head else "not a SQLite database")
    app = int.from_bytes(head[68:72], "big")  # the header's application_id (PRAGMA application_id)
    if app != APPLICATION_ID:
        return f"not a perfkit store: another application's SQLite file (application_id {app:#x})"
    return None


def writable(path: str | os.PathLike) -> bool:
    """True when this process may write the store: the file and its folder (SQLite keeps its -wal and -shm
    files beside the store). os.access also reports immutable files and read-only mounts, even for root."""
    path = Path(path)
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _connect(path: Path, *, write: bool | None = None) -> sqlite3.Connection:
    """Open an existing store. A store this process cannot write is refused when `write` is True, and
    otherwise read into a private in-memory copy (so read commands such as `perfkit risks`, which record
    their flags, work and nothing reaches the file)."""
    if not writable(path):
        if write:
            raise StoreError(f"{path}: the store is read-only (no write permission on it or its folder)")
        return _private_copy(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)  # explicit BEGIN/COMMIT
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        _check(conn, path)  # before WAL: never convert someone else's database file
        # WAL lets readers run beside a writer; stores are created in WAL mode, so this only ever converts
        # a store written by an older perfkit (and then needs the write lock, waited for like any write)
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _private_copy(path: Path) -> sqlite3.Connection:
    """A read-only store copied into memory: opened read-only, or immutable when even SQLite's shared-memory
    file cannot be made beside it (a read-only folder)."""
    base = path.resolve().as_uri()
    last: sqlite3.Error | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        try:
            src = sqlite3.connect(f"{base}?{query}", uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            src.execute("PRAGMA schema_version").fetchone()  # the first read: WAL without -shm fails here
            _check(src, path, migrate=False)
            mem = sqlite3.connect(":memory:", isolation_level=None)
            src.backup(mem)
            _check(mem, path)  # an older schema is upgraded in the copy, the file untouched
        except sqlite3.Error as exc:
            last = exc
            continue
        finally:
            src.close()
        mem.execute("PRAGMA foreign_keys = ON")
        return mem
    raise StoreError(f"{path}: the store is read-only and could not be read ({last})")


def _check(conn: sqlite3.Connection, path: Path, *, migrate: bool = True) -> None:
    """A perfkit store of this schema (an older one is upgraded in place unless `migrate` is False)."""
    try:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        failure = store_failure(exc, path)
        if failure is not None:
            raise failure from exc
        raise StoreError(f"{path}: not a SQLite database ({exc})") from exc
    if app != APPLICATION_ID:
        raise StoreError(f"{path}: not a perfkit store (application_id {app:#x}); refusing to use it")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this perfkit ({SCHEMA_VERSION}); upgrade perfkit"
        )
    if version < SCHEMA_VERSION and migrate:
        _migrate(conn, path, version)


def _migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring an older store up to SCHEMA_VERSION, all steps in one transaction (all or nothing). The version
    is read again under the write lock: another process may have upgraded the store meanwhile."""
    if any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise StoreError(f"{path}: store schema version {version} is older than {SCHEMA_VERSION}; rebuild it")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for v in range(current, SCHEMA_VERSION):
                step = MIGRATIONS[v]
                if callable(step):
                    step(conn)
                else:
                    for stmt in _statements(step):
                        conn.execute(stmt)
            if current < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        failure = store_failure(exc, path)
        if failure is not None:
            raise failure from exc
        raise StoreError(f"{path}: could not upgrade the store from schema version {version}: {exc}") from exc


_V1_KINDS = "CHECK (kind IN ('progress', 'turnover', 'assessment'))"


def _workplan_tables(conn: sqlite3.Connection) -> None:
    """Schema 1 → 2 (inside _migrate's transaction, data untouched): the submissions' kind list gains
    'workplan' and 'selfeval' (a CHECK constraint, rewritten in place as SQLite documents for constraint-only
    changes: no row can violate the wider list), their tables and triggers, the assessments' document and
    date."""
    new_tables = [
        stmt
        for stmt in _statements(SCHEMA)
        if stmt.startswith(
            (
                "CREATE TABLE workplan",
                "CREATE TRIGGER workplan_",
                "CREATE TABLE self_evaluation",
                "CREATE TRIGGER self_evaluation_",
            )
        )
    ]
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'submissions'",
        (_V1_KINDS, _V1_KINDS.replace("'assessment')", "'assessment', 'workplan', 'selfeval')")),
    )
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.execute("ALTER TABLE assessments ADD COLUMN document TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE assessments ADD COLUMN date TEXT NOT NULL DEFAULT ''")
    for stmt in new_tables:
        conn.execute(stmt)


def open_store(
    path: str | os.PathLike | None = None,
    *,
    plan_dir: str | os.PathLike = DEFAULT_PLAN_DIR,
    sample_dir: str | os.PathLike | None = SAMPLE_DIR,
    write: bool | None = None,
) -> sqlite3.Connection:
    """Open the store, creating it on first use from `plan_dir` (and the synthetic sample, which belongs to
    the bundled 2019 plan); `perfkit init --plan DIR` makes one for another year's plan.

    Two processes starting together on a missing store build it once: the first builds under a lock, the
    other waits and opens what it built. `write=True` (commands that store submissions) refuses a
    read-only store with StoreError; otherwise a read-only store is read from a private in-memory copy.
    """
    path = db_path(path)
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a store file")
    if not path.exists():
        _create_once(path, plan_dir=plan_dir, sample_dir=sample_dir)
    try:
        return _connect(path, write=write)
    except sqlite3.DatabaseError as exc:
        raise store_failure(exc, path) or StoreError(f"{path}: not a SQLite database ({exc})") from exc


def _create_once(path: Path, *, plan_dir, sample_dir) -> None:
    """Create the store unless another process did while this one waited for the creation lock."""
    with creating(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with _creation_lock(path):
            if not path.exists():
                create_store(path, plan_dir=plan_dir, sample_dir=sample_dir)


@contextmanager
def creating(path: Path) -> Iterator[None]:
    """Where a store is being created: a folder that cannot hold it (a file in the way, no write permission)
    is refused before anything is made, and what fails while it is built is one StoreError naming it."""
    from .exports import folder_problem

    why = folder_problem(path.parent, named=True)
    if why is not None:
        raise StoreError(f"{path}: cannot create the store: {why}")
    try:
        yield
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        raise store_failure(exc, path) or StoreError(f"{path}: cannot create the store ({exc})") from exc


@contextmanager
def _creation_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `<store>.lock` while the store is created (left in place: removing a lock file
    another process is about to open would let two creators run). Without fcntl (Windows) the atomic
    link in `create_store` still keeps the first store and drops the second."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def create_store(
    path: str | os.PathLike,
    *,
    plan_dir: str | os.PathLike = DEFAULT_PLAN_DIR,
    sample_dir: str | os.PathLike | None = SAMPLE_DIR,
) -> Path:
    """Build a new store in a temporary file next to `path`, then put it in place only if `path` is still
    absent (a store another process made meanwhile is kept, never replaced under its open connections)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    catalogue = load_catalogue(plan_dir)
    # The temporary name is chosen before any file exists and SQLite creates the file: an interrupt at any
    # point after that still finds the name to remove (mkstemp made a file before its name was returned).
    tmp = _unused_name(path)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN")
            for stmt in _statements(SCHEMA):
                conn.execute(stmt)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            _write_catalogue(conn, catalogue)
            if sample_dir and Path(sample_dir, "progress.csv").exists():
                load_sample(conn, Path(sample_dir))
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # recorded in the file: opening never has to convert it
        finally:
            conn.close()  # the last connection checkpoints and removes the -wal file
        _publish(Path(tmp), path)
    finally:
        for p in (tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"):
            if os.path.exists(p):
                os.unlink(p)
    return path


def _unused_name(path: Path) -> str:
    """A name beside `path` that no file has (random, so two builders never share one)."""
    while True:
        candidate = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
        if not os.path.lexists(candidate):
            return str(candidate)


def _publish(tmp: Path, path: Path) -> None:
    """Make the finished `tmp` the store at `path` only if there is none yet (atomic: link fails on an
    existing name); the caller removes `tmp`. SQLite fsynced the file at COMMIT."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return  # another process's store won: keep it
    except OSError:  # a file system without hard links: rename, still atomic, under the creation lock
        if not path.exists():
            os.replace(tmp, path)


def load_sample(conn: sqlite3.Connection, sample_dir: Path) -> None:
    """Fill a new store from the synthetic sample's files (written by perfkit.sample; inside the caller's
    transaction), provenance 'sample'."""
    from .turnover import normalise_turnover

    rel = lambda p: f"data/sample/{p.name}"  # noqa: E731 - provenance names the bundled file
    progress_file = sample_dir / "progress.csv"
    progress = pd.read_csv(progress_file, dtype={"month": str, "unit": str, "measure_id": str})
    progress["status"] = progress["status"].fillna("")
    progress["note"] = progress["note"].fillna("")
    sha = sha256_file(progress_file)
    for (unit, month), g in progress.groupby(["unit", "month"], sort=True):
        sid = add_submission(
            conn,
            kind="progress",
            file_name=rel(progress_file),
            sha256=sha,
            unit=unit,
            month=month,
            source="sample",
            rows=len(g),
            received_at=f"{month}-28T09:00:00+08:00",
        )
        insert_progress(conn, sid, g)
    turnover_file = sample_dir / "turnover.csv"
    if turnover_file.exists():
        t = normalise_turnover(pd.read_csv(turnover_file), rel(turnover_file))
        sid = add_submission(
            conn,
            kind="turnover",
            file_name=rel(turnover_file),
            sha256=sha256_file(turnover_file),
            source="sample",
            rows=len(t),
        )
        insert_turnover(conn, sid, t)
    assess_file = sample_dir / "assessments.csv"
    if assess_file.exists():
        a = pd.read_csv(assess_file, dtype={"indicator_id": str, "grade": str}, keep_default_na=False)
        a["points"] = pd.to_numeric(a["points"], errors="coerce")
        sid = add_submission(
            conn,
            kind="assessment",
            file_name=rel(assess_file),
            sha256=sha256_file(assess_file),
            source="sample",
            rows=len(a),
        )
        insert_assessments(conn, sid, a)


def _statements(script: str) -> list[str]:
    """Split the schema into statements; triggers contain ';' inside BEGIN…END."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and (
            not joined.upper().startswith("CREATE TRIGGER") or joined.endswith("END;")
        ):
            out.append(joined)
            buf = []
    return out


def _write_catalogue(conn: sqlite3.Connection, cat: Catalogue) -> None:
    meta = {
        "app": "perfkit",
        "schema_version": str(SCHEMA_VERSION),
        "catalogue_version": cat.version,
        "plan_year": str(cat.year),
        "plan_dir": stored_path(cat.plan_dir),  # the plan this store works from, for every command
        "created_at": now_iso(),
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    conn.executemany(
        "INSERT INTO indicators VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                r["id"],
                i,
                r["category"],
                r["section"],
                r["group"],
                r["text"],
                r["weight"],
                r["deadline_month"],
                json.dumps(r["leaders"], ensure_ascii=False),
                json.dumps(r["units"], ensure_ascii=False),
                json.dumps(r["persons"], ensure_ascii=False),
                json.dumps(r["basis"], ensure_ascii=False),
                r["remark"],
            )
            for i, r in enumerate(cat.indicators.to_dict("records"))
        ],
    )
    m = cat.measures
    conn.executemany(
        "INSERT INTO measures VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                r["measure_id"],
                r["indicator_id"],
                i,
                r["name"],
                r["kind"],
                r["unit"],
                _num(r["target"]),
                _num(r["target_high"]),
                r["schedule"],
                _num(r["per_month"]),
                r["reporting_unit"],
                r["share"],
                r["weight"],
                r["deadline_month"],
                r["source_text"],
            )
            for i, r in enumerate(m.to_dict("records"))
        ],
    )


def _num(v: object) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One all-or-nothing transaction: any exception rolls everything back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def add_submission(
    conn: sqlite3.Connection,
    *,
    kind: str,
    file_name: str,
    sha256: str,
    unit: str = "",
    month: str = "",
    archive_path: str = "",
    source: str = "ingest",
    rows: int = 0,
    received_at: str | None = None,
    catalogue_version: str | None = None,
    preparer: str = "",
    reviewer: str = "",
    prepared_on: str = "",
) -> int:
    """Record a submission's provenance (inside the caller's transaction), the workbook's sign-off
    (填报人, 审核人, 填报日期 'YYYY-MM-DD') included; returns its id. `catalogue_version`: the store's, when
    the caller has read it already (ingest reads it once a batch)."""
    version = (
        catalogue_version
        or conn.execute("SELECT value FROM meta WHERE key = 'catalogue_version'").fetchone()[0]
    )
    cur = conn.execute(
        "INSERT INTO submissions (kind, file_name, sha256, unit, month, received_at, archive_path, source,"
        " catalogue_version, rows, preparer, reviewer, prepared_on) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (kind, file_name, sha256, unit, month, received_at or now_iso(), archive_path, source, version, rows,
         preparer, reviewer, prepared_on),
    )  # fmt: skip
    return int(cur.lastrowid)


def insert_progress(conn: sqlite3.Connection, submission_id: int, rows: pd.DataFrame) -> None:
    """rows: measure_id, month ('YYYY-MM'), cumulative, status, note."""
    conn.executemany(
        "INSERT INTO progress (submission_id, measure_id, month, cumulative, status, note) VALUES (?,?,?,?,?,?)",
        [
            (submission_id, r.measure_id, str(r.month), _num(r.cumulative), r.status or "", r.note or "")
            for r in rows.itertuples(index=False)
        ],
    )


def insert_turnover(conn: sqlite3.Connection, submission_id: int, rows: pd.DataFrame) -> None:
    """rows: mode, month ('YYYY-MM', the period's last month), span_months, passenger_km, ton_km, official_yoy_pct."""
    conn.executemany(
        "INSERT INTO turnover VALUES (?,?,?,?,?,?,?)",
        [
            (
                submission_id,
                r.mode,
                str(r.month),
                int(r.span_months),
                float(r.passenger_km),
                float(r.ton_km),
                _num(r.official_yoy_pct),
            )
            for r in rows.itertuples(index=False)
        ],
    )


def insert_assessments(conn: sqlite3.Connection, submission_id: int, rows: pd.DataFrame) -> None:
    """rows: year, kind, indicator_id, points, grade, description, level, unit (document, date optional)."""
    conn.executemany(
        "INSERT INTO assessments (submission_id, year, kind, indicator_id, points, grade, description, level,"
        " unit, document, date) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                submission_id,
                int(r.year),
                r.kind,
                r.indicator_id or "",
                _num(r.points),
                r.grade or "",
                r.description or "",
                r.level or "",
                r.unit or "",
                getattr(r, "document", "") or "",
                getattr(r, "date", "") or "",
            )
            for r in rows.itertuples(index=False)
        ],
    )


# --------------------------------------------------------------------------------------------- reads


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def plan_dir(conn: sqlite3.Connection) -> Path:
    """The plan folder the store was made with (`perfkit init --plan`)."""
    recorded = meta(conn).get("plan_dir")
    return recorded_path(recorded) if recorded else DEFAULT_PLAN_DIR


def read_plan(conn: sqlite3.Connection) -> dict:
    """The plan settings (plan.toml) from the plan folder recorded at creation."""
    from .catalogue import load_plan

    folder = plan_dir(conn)
    if not (folder / "plan.toml").exists():
        raise StoreError(f"the store's plan folder {folder} has no plan.toml (moved or deleted?)")
    return load_plan(folder)


def read_catalogue(conn: sqlite3.Connection, plan: dict | None = None) -> Catalogue:
    """The catalogue as stored (the plan settings come from the plan folder recorded at creation;
    `plan`: those settings when the caller has read them already, see `read_plan`)."""
    plan = read_plan(conn) if plan is None else plan
    ind = pd.read_sql_query("SELECT * FROM indicators ORDER BY ord", conn)
    for col in ["leaders", "units", "persons", "basis"]:
        ind[col] = ind[col].map(json.loads)
    ind = ind.rename(columns={"grp": "group"}).drop(columns=["ord"])
    ms = pd.read_sql_query("SELECT * FROM measures ORDER BY ord", conn).drop(columns=["ord"])
    ms["indicator_weight"] = ms["indicator_id"].map(ind.set_index("id")["weight"])
    return Catalogue(plan=plan, indicators=ind, measures=ms, plan_dir=plan_dir(conn))


def read_progress(conn: sqlite3.Connection, as_of: str | None = None) -> pd.DataFrame:
    """Tidy progress: one row per measure × month, from the latest submission of each unit and month.

    Columns: measure_id, month (Period[M]), cumulative, status, note, unit, submission_id.
    """
    sql = """
        WITH latest AS (
            SELECT unit, month, MAX(id) AS id FROM submissions WHERE kind = 'progress' GROUP BY unit, month
        )
        SELECT p.measure_id, p.month, p.cumulative, p.status, p.note, s.unit, p.submission_id
        FROM progress p JOIN latest l ON p.submission_id = l.id JOIN submissions s ON s.id = l.id
    """
    params: tuple = ()
    if as_of:
        sql += " WHERE p.month <= ?"
        params = (as_of,)
    df = pd.read_sql_query(sql + " ORDER BY p.measure_id, p.month", conn, params=params)
    df["month"] = pd.PeriodIndex(df["month"], freq="M") if len(df) else pd.PeriodIndex([], freq="M")
    return df


def read_turnover(conn: sqlite3.Connection) -> pd.DataFrame:
    """Turnover, latest submission per mode and month: mode, month (Period[M]), span_months,
    passenger_km, ton_km (万人公里 / 万吨公里), official_yoy_pct."""
    df = pd.read_sql_query(
        """
        SELECT t.mode, t.month, t.span_months, t.passenger_km, t.ton_km, t.official_yoy_pct
        FROM turnover t JOIN (
            SELECT mode, month, MAX(submission_id) AS sid FROM turnover GROUP BY mode, month
        ) l ON t.mode = l.mode AND t.month = l.month AND t.submission_id = l.sid
        ORDER BY t.mode, t.month
        """,
        conn,
    )
    df["month"] = pd.PeriodIndex(df["month"], freq="M") if len(df) else pd.PeriodIndex([], freq="M")
    return df


def read_assessments(conn: sqlite3.Connection, year: int | None = None) -> pd.DataFrame:
    """Assessment rows of `year` (all years when None). An ingested 考评结果 workbook is the year's complete
    record (perfkit.assessments): once one exists, the latest one's rows stand and earlier ones are kept
    for history only."""
    sql = "SELECT a.*, s.received_at FROM assessments a JOIN submissions s ON s.id = a.submission_id"
    params: tuple = ()
    if year is not None:
        sql += " WHERE a.year = ?"
        params = (year,)
        book = conn.execute(
            "SELECT MAX(id) FROM submissions WHERE kind = 'assessment' AND month = ?", (str(year),)
        ).fetchone()[0]
        if book is not None:
            sql += " AND a.submission_id = ?"
            params = (year, book)
    return pd.read_sql_query(sql + " ORDER BY a.submission_id", conn, params=params)


def read_submissions(conn: sqlite3.Connection, kind: str | None = None) -> pd.DataFrame:
    sql = "SELECT * FROM submissions"
    params: tuple = ()
    if kind:
        sql += " WHERE kind = ?"
        params = (kind,)
    return pd.read_sql_query(sql + " ORDER BY id", conn, params=params)


def latest_month(conn: sqlite3.Connection) -> str | None:
    """The latest month with progress data ('YYYY-MM'): the default as-of month."""
    row = conn.execute("SELECT MAX(month) FROM progress").fetchone()
    return row[0] if row and row[0] else None


def is_sample(conn: sqlite3.Connection) -> bool:
    """True when any data in the store comes from the bundled synthetic sample."""
    return conn.execute("SELECT 1 FROM submissions WHERE source = 'sample' LIMIT 1").fetchone() is not None


def dump(conn: sqlite3.Connection) -> str:
    """The whole store as SQL text: tests compare dumps to prove a rejected input changed nothing."""
    return "\n".join(conn.iterdump())
