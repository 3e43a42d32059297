"""The real SQLite store: created on first use, versioned, append-only, atomic."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

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


def test_db_path_from_environment(tmp_path, monkeypatch):
    target = tmp_path / "env.sqlite"
    monkeypatch.setenv("PERFKIT_DB", str(target))
    out = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "catalog", "show", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PERFKIT_DB": str(target)},
    )
    assert out.returncode == 0, out.stderr
    assert target.exists()


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
