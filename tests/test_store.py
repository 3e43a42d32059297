"""The real SQLite store: created on first use, versioned, append-only, atomic."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from test_cli import permissions_apply  # noqa: F401 - a fixture, asked for by name

from perfkit import store
from perfkit.config import PLAN_DIR, SAMPLE_DIR
from perfkit.errors import StoreError


def test_created_and_filled_from_bundled_files_on_first_use(tmp_path):
    path = tmp_path / "new.sqlite"
    conn = store.open_store(path)
    assert path.exists()
    assert conn.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == 63
    assert conn.execute("SELECT SUM(target) FROM measures WHERE kind = 'investment'").fetchone()[0] == 194800
    assert store.latest_month(conn) == "2019-09"
    assert store.is_sample(conn)
    info = store.meta(conn)
    assert info["app"] == "perfkit" and info["catalogue_version"] == "2019.1"
    assert not list(tmp_path.glob("*.tmp"))  # the temporary build file was moved into place


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(StoreError, match="not a perfkit store"):
        store.open_store(path)


def test_newer_schema_is_refused(sample_db):
    conn = sqlite3.connect(sample_db)
    conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this perfkit"):
        store.open_store(sample_db)


def test_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        store.open_store(path)


def test_cli_exit_code_for_unusable_store(tmp_path):
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE x (a)").connection.commit()
    out = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "--db", str(path), "score"], capture_output=True, text=True
    )
    assert out.returncode == 3
    assert "not a perfkit store" in out.stderr


@pytest.mark.parametrize("command", [["score", "--format", "json"], ["init"]], ids=["first-use", "init"])
@pytest.mark.parametrize("where", ["a-folder", "under-a-file", "read-only-folder"])
def test_a_store_path_that_cannot_be_a_store_is_one_line_exit_3_and_nothing_made(
    tmp_path, where, command, request
):
    """--db naming a folder, a path under a file, or a new store in a folder without write permission, on
    first use and for `perfkit init`: exit 3, one line naming the store and the reason, nothing made
    (init named a folder 'a store already exists here' and went through the last resort, exit 1, under a
    file; a folder gave 'cannot be opened (permissions, or a missing folder)', a file above 'File exists')."""
    from test_cli import one_line, perfkit

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    db, reason = {
        "a-folder": (folder, "is a folder, not a store file"),
        "under-a-file": (a_file / "s.sqlite", f"cannot create the store: {a_file} is a file, not a folder"),
        "read-only-folder": (folder / "s.sqlite", f"cannot create the store: cannot write in {folder}: Permission denied"),
    }[where]  # fmt: skip
    if where == "read-only-folder":
        request.getfixturevalue("permissions_apply")  # skips where permissions cannot be made to apply
        folder.chmod(0o555)
    got = perfkit("--db", str(db), *command, reader=where == "read-only-folder")
    folder.chmod(0o755)
    assert got.returncode == 3
    line = one_line(got.stderr)
    assert line.startswith(f"store error: {db}: {reason}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder"] and not list(folder.iterdir())
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("what", ["not-sqlite", "foreign-sqlite", "a-store"])
def test_init_on_an_existing_file_says_what_it_is(tmp_path, sample_db, what):
    """`perfkit init --db FILE` where FILE exists: a perfkit store is 'a store already exists here' (exit 2);
    any other file is named for what it is, exit 3 as for any command's --db (it said 'a store already
    exists here' of a text file or another application's SQLite file). The file is left byte for byte."""
    from test_cli import one_line, perfkit

    folder = tmp_path / "here"
    folder.mkdir()
    path = folder / "perfkit.sqlite"
    if what == "not-sqlite":
        path.write_text("year,value\n2019,1\n")
        code, reason = 3, "not a perfkit store: not a SQLite database; refusing to replace it"
    elif what == "foreign-sqlite":
        sqlite3.connect(path).execute("CREATE TABLE x (a)").connection.commit()
        code, reason = 3, "not a perfkit store: another application's SQLite file (application_id 0x0)"
    else:
        path.write_bytes(sample_db.read_bytes())
        code, reason = 2, "a store already exists here; give another --db (nothing changed)"
    before = path.read_bytes()
    got = perfkit("--db", str(path), "init")
    assert got.returncode == code
    prefix = "store error: " if code == 3 else ""
    assert one_line(got.stderr).startswith(f"{prefix}{path}: {reason}")
    assert path.read_bytes() == before and [p.name for p in folder.iterdir()] == [path.name]


def test_submissions_and_progress_are_append_only(sample_conn):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        sample_conn.execute("UPDATE progress SET cumulative = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        sample_conn.execute("DELETE FROM submissions")


def test_later_submission_supersedes_but_both_stay(sample_conn):
    before = store.read_progress(sample_conn)
    row = before[(before["measure_id"] == "1-1-1.6") & (before["month"] == pd.Period("2019-09", "M"))].iloc[0]
    with store.transaction(sample_conn):
        sid = store.add_submission(
            sample_conn,
            kind="progress",
            file_name="市高指_2019-09.xlsx",
            sha256="x" * 64,
            unit="市高指",
            month="2019-09",
        )
        store.insert_progress(
            sample_conn,
            sid,
            pd.DataFrame(
                [
                    {
                        "measure_id": "1-1-1.6",
                        "month": "2019-09",
                        "cumulative": 50000.0,
                        "status": "推进中",
                        "note": "更正：补报8月支付",
                    }
                ]
            ),
        )
    after = store.read_progress(sample_conn)
    now = after[(after["measure_id"] == "1-1-1.6") & (after["month"] == pd.Period("2019-09", "M"))]
    assert list(now["cumulative"]) == [50000.0]
    assert row["cumulative"] != 50000.0
    # the superseded submission is still there
    n = sample_conn.execute(
        "SELECT COUNT(*) FROM progress WHERE measure_id = '1-1-1.6' AND month = '2019-09'"
    ).fetchone()[0]
    assert n == 2
    # the other measures of that unit and month came only from the earlier submission: superseded too
    assert set(now["submission_id"]) == {sid}


def test_failed_transaction_leaves_store_unchanged(sample_conn):
    before = store.dump(sample_conn)
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction(sample_conn):
            sid = store.add_submission(sample_conn, kind="progress", file_name="f.xlsx", sha256="y" * 64)
            store.insert_progress(
                sample_conn,
                sid,
                pd.DataFrame(
                    [
                        {
                            "measure_id": "NO-SUCH",
                            "month": "2019-09",
                            "cumulative": 1.0,
                            "status": "",
                            "note": "",
                        }
                    ]
                ),
            )
    assert store.dump(sample_conn) == before


def test_killed_creation_leaves_no_store(tmp_path):
    """A process killed while building the store leaves nothing half-written at the store path."""
    path = tmp_path / "killed.sqlite"
    code = (
        "import os, perfkit.store as s\n"
        "orig = s._write_catalogue\n"
        "def boom(conn, cat):\n"
        "    orig(conn, cat)\n"
        "    os._exit(9)\n"
        "s._write_catalogue = boom\n"
        f"s.create_store({str(path)!r})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 9
    assert not path.exists()
    conn = store.open_store(path, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)  # a later run builds it cleanly
    assert conn.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == 63


def test_turnover_rows_normalised_from_ytd_release(sample_conn):
    t = store.read_turnover(sample_conn)
    road = t[t["mode"] == "road"]
    feb = road[road["month"] == pd.Period("2019-02", "M")].iloc[0]
    assert feb["span_months"] == 2  # 1—2月 published together
    assert pd.Period("2019-01", "M") not in set(road["month"])
    assert road["month"].max() == pd.Period("2019-09", "M")
    assert road.loc[road["month"] == pd.Period("2019-09", "M"), "official_yoy_pct"].notna().all()


def test_empty_store_has_catalogue_only(empty_db):
    conn = store.open_store(empty_db)
    assert store.latest_month(conn) is None
    assert not store.is_sample(conn)
    assert store.read_progress(conn).empty


SIGN_OFF_COLUMNS = ("preparer", "reviewer", "prepared_on")


def _as_schema_3(path) -> None:
    """Turn a new store back into what schema 3 wrote: submissions without the sign-off columns."""
    conn = sqlite3.connect(path, isolation_level=None)
    for column in SIGN_OFF_COLUMNS:
        conn.execute(f"ALTER TABLE submissions DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 3")
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()


def test_a_schema_3_store_gains_the_sign_off_keeping_its_data(sample_db):
    """3 → 4: the submissions keep the workbook's 填报人 / 审核人 / 填报日期; older rows get ''."""
    _as_schema_3(sample_db)
    old = sqlite3.connect(sample_db)
    columns = {r[1] for r in old.execute("PRAGMA table_info(submissions)")}
    assert not set(SIGN_OFF_COLUMNS) & columns
    before = [line for line in old.iterdump() if line.startswith('INSERT INTO "')]
    n = old.execute("SELECT count(*) FROM submissions").fetchone()[0]
    old.close()

    conn = store.open_store(sample_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 4
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT DISTINCT preparer, reviewer, prepared_on FROM submissions").fetchall() == [
        ("", "", "")
    ]
    assert conn.execute("SELECT count(*) FROM submissions").fetchone()[0] == n
    kept = lambda line: "submissions" not in line and "schema_version" not in line  # noqa: E731
    after = [line for line in conn.iterdump() if line.startswith('INSERT INTO "') and kept(line)]
    assert after == [line for line in before if kept(line)]
    with store.transaction(conn):
        sid = store.add_submission(
            conn, kind="progress", file_name="x.xlsx", sha256="0" * 64, unit="u", month="2019-10",
            preparer="张三", reviewer="李四", prepared_on="2019-11-05",
        )  # fmt: skip
    got = conn.execute("SELECT preparer, reviewer, prepared_on FROM submissions WHERE id = ?", (sid,))
    assert got.fetchone() == ("张三", "李四", "2019-11-05")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE submissions SET preparer = 'x'")
    conn.close()


def _as_schema_1(path) -> None:
    """Turn a new store back into what schema 1 wrote (no workplan or self_evaluation tables, no
    assessment document/date, the three submission kinds; a flags table with one month, no snapshots)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name in ("workplan", "self_evaluation", "snapshot_parts", "snapshots"):
        conn.execute(f"DROP TABLE {name}")  # its triggers go with it
    conn.execute(
        "CREATE TABLE flags (as_of TEXT NOT NULL, measure_id TEXT NOT NULL, status TEXT NOT NULL,"
        " reasons TEXT NOT NULL, points_at_risk REAL NOT NULL, computed_at TEXT NOT NULL,"
        " PRIMARY KEY (as_of, measure_id))"
    )
    conn.execute("INSERT INTO flags VALUES ('2019-03', '1-8-1.1', '预警', '[]', 0.5, '2019-03-28')")
    conn.execute("ALTER TABLE assessments DROP COLUMN document")
    conn.execute("ALTER TABLE assessments DROP COLUMN date")
    for column in SIGN_OFF_COLUMNS:
        conn.execute(f"ALTER TABLE submissions DROP COLUMN {column}")
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE name = 'submissions'",
        (", 'workplan', 'selfeval'))", "))"),
    )
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_a_schema_1_store_is_upgraded_in_place_keeping_its_data(sample_db):
    """Every upgrade in one go: 1 → 2 (work plans, 自评, assessment columns), 2 → 3 (snapshots, no flags),
    3 → 4 (the submissions' sign-off)."""
    _as_schema_1(sample_db)
    old = sqlite3.connect(sample_db)
    assert (
        "'workplan'"
        not in old.execute("SELECT sql FROM sqlite_master WHERE name = 'submissions'").fetchone()[0]
    )
    before = list(old.iterdump())
    progress = [line for line in before if line.startswith('INSERT INTO "progress"')]
    old.close()

    conn = store.open_store(sample_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 4
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"workplan", "self_evaluation", "snapshots", "snapshot_parts"} <= tables and "flags" not in tables
    assert [line for line in conn.iterdump() if line.startswith('INSERT INTO "progress"')] == progress
    with store.transaction(conn):
        sid = store.add_submission(conn, kind="workplan", file_name="x.xlsx", sha256="0" * 64, unit="u")
        conn.execute(
            "INSERT INTO workplan (submission_id, measure_id, month) VALUES (?, '1-8-1.1', '2019-01')", (sid,)
        )
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM workplan")
    assert store.read_assessments(conn, 2019)["document"].tolist() == [""] * 4
    conn.close()
    assert (
        store.open_store(sample_db).execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    )  # opened again: as is


def test_a_read_only_schema_1_store_is_upgraded_in_its_private_copy(sample_db):
    """What a read-only store is opened as (the file checked without upgrading, the copy upgraded to 3)."""
    _as_schema_1(sample_db)
    before = sample_db.read_bytes()
    conn = store._private_copy(sample_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert len(store.read_progress(conn)) and conn.execute("SELECT count(*) FROM snapshots").fetchone() == (
        0,
    )
    conn.close()
    assert sample_db.read_bytes() == before  # the file is as it was: still schema 1


# ------------------------------------------------------------------------------ two processes at once

TURNOVER_HEAD = "月份,运输方式,口径,旅客周转量（万人公里）,货物周转量（万吨公里）\n"

# Each child imports everything, says it is ready, then waits for the `go` file: all reach the store together.
STARTER = """
import os, sys, time
import perfkit.intake, perfkit.store
from perfkit.cli import main
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
sys.exit(main(sys.argv[3:]))
"""


def start_together(folder, commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Run `perfkit <command>` in one process per command, released at the same instant."""
    ready = [folder / f"ready-{i}" for i in range(len(commands))]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(folder / "go"), str(flag), *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag, cmd in zip(ready, commands, strict=True)
    ]
    deadline = time.monotonic() + 120
    while not all(f.exists() for f in ready) and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    (folder / "go").touch()
    done = []
    for p, cmd in zip(procs, commands, strict=True):
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(cmd, p.returncode, out, err))
    return done


@pytest.mark.parametrize("trial", range(3))
def test_concurrent_first_use_builds_one_store_and_keeps_every_file(tmp_path, trial):
    """Three ingests started together on a store that does not exist yet: each exits 0 and the store
    holds every file (before: a process replaced the store under another's open connection, losing its
    files, or failed with 'not a SQLite database (disk I/O error)')."""
    db = tmp_path / "new.sqlite"
    commands = []
    for p in range(3):
        files = []
        for j in range(3):
            f = tmp_path / f"turnover_{p}_{j}.csv"
            # months after 1—2月, in proportion to the sample's (the store is made with it)
            f.write_text(
                TURNOVER_HEAD + f"2018年{j + 3}月,公路,当月,{24000 + 10 * p + j}.0,110000.0\n", "utf-8"
            )
            files.append(str(f))
        commands.append(["--db", str(db), "ingest", "--archive", str(tmp_path / "archive"), *files])
    runs = start_together(tmp_path, commands)
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    conn = store.open_store(db)
    stored = store.read_submissions(conn, "turnover").query("source == 'ingest'")
    assert sorted(stored["file_name"]) == sorted(f"turnover_{p}_{j}.csv" for p in range(3) for j in range(3))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.is_sample(conn)  # built once, from the sample, and never replaced
    assert conn.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == 63
    assert not list(tmp_path.glob("*.tmp"))
