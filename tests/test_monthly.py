"""The monthly snapshot: computed once per month and fingerprint, read afterwards, recomputed from the first
changed month, the same for the brief's route and the command line's, reasons rendered in the reader's
language, and an older store upgraded in place."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from perfkit import growth, investment, monthly, report
from perfkit.cli import main
from perfkit.months import MonthError
from perfkit.store import (
    SCHEMA_VERSION,
    add_submission,
    insert_progress,
    insert_turnover,
    open_store,
    read_catalogue,
    read_turnover,
    transaction,
)


def _parts(conn) -> dict:
    """Every stored snapshot: month → (fingerprint, {part: payload})."""
    out = {}
    for month, fp in conn.execute("SELECT month, fingerprint FROM snapshots ORDER BY month"):
        parts = dict(conn.execute("SELECT part, payload FROM snapshot_parts WHERE month = ?", (month,)))
        out[month] = (fp, parts)
    return out


def _report(conn, unit: str, month: str, measure_id: str, value: float) -> None:
    """A later submission of `unit` for `month` changing one measure's value."""
    rows = pd.read_sql_query(
        "SELECT p.measure_id, p.month, p.cumulative, p.status, p.note FROM progress p JOIN submissions s "
        "ON s.id = p.submission_id WHERE s.unit = ? AND p.month = ? AND s.id = "
        "(SELECT MAX(id) FROM submissions WHERE unit = ? AND month = ? AND kind = 'progress')",
        conn,
        params=(unit, month, unit, month),
    )
    assert len(rows), (unit, month)
    rows.loc[rows["measure_id"] == measure_id, "cumulative"] = value
    with transaction(conn):
        sid = add_submission(
            conn, kind="progress", file_name="fix.xlsx", sha256="f" * 64, unit=unit, month=month
        )
        insert_progress(conn, sid, rows)


def test_a_month_is_computed_once_then_read(fresh_sample_db):
    conn = open_store(fresh_sample_db)
    first = monthly.ensure(conn, "2019-02")
    assert first.computed == ["2019-01", "2019-02"]  # the backfill, in order
    stamps = monthly.computed_months(conn)
    again = monthly.ensure(conn, "2019-02")
    assert again.computed == []  # no new data: nothing computed, no model fitted
    assert monthly.computed_months(conn) == stamps
    assert again.fingerprints == first.fingerprints
    # a later month computes only itself
    assert monthly.ensure(conn, "2019-03").computed == ["2019-03"]


def test_a_known_fingerprint_reads_nothing_and_a_stale_one_is_ignored(fresh_sample_db):
    """The brief's notebooks get the fingerprint the runner made current: taken as is when the store holds
    it; any other (new data since, a kept copy run again by hand) brings the month up to date as without."""
    conn = open_store(fresh_sample_db)
    done = monthly.ensure(conn, "2019-02")
    stamps = monthly.computed_months(conn)
    known = monthly.ensure(conn, "2019-02", done.fingerprint)
    assert known.computed == [] and known.fingerprint == done.fingerprint
    assert monthly.snapshot(conn, "2019-02", fingerprint=done.fingerprint).score.totals == (
        monthly.snapshot(conn, "2019-02").score.totals
    )
    _report(conn, "局工程科", "2019-02", "1-5-1.2", 1.0)  # new data: the stored fingerprint is stale
    stale = monthly.ensure(conn, "2019-02", "0" * 32)
    assert stale.computed == ["2019-02"] and stale.fingerprint != done.fingerprint
    assert monthly.computed_months(conn)["2019-01"] == stamps["2019-01"]
    with pytest.raises(MonthError, match="outside the plan's year"):
        monthly.ensure(conn, "2018-12", done.fingerprint)  # a wrong month is still the same error


def test_a_month_on_top_of_stored_months_is_the_month_of_one_pass(fresh_sample_db, tmp_path):
    """The brief's route (the earlier months stored, the new one computed on top: its investment backtest
    reads their interval widths, monthly.SIGMA_PART) gives the month one pass from January gives."""
    in_steps = tmp_path / "steps.sqlite"
    shutil.copy(fresh_sample_db, in_steps)
    conn = open_store(in_steps)
    monthly.ensure(conn, "2019-03")
    assert monthly.ensure(conn, "2019-04").computed == ["2019-04"]
    one_pass = open_store(fresh_sample_db)
    assert monthly.ensure(one_pass, "2019-04").computed[-1] == "2019-04"
    stepped, whole = _parts(conn)["2019-04"], _parts(one_pass)["2019-04"]
    assert stepped[0] == whole[0] and stepped[1] == whole[1]  # same fingerprint, every part the same
    assert set(json.loads(whole[1][monthly.SIGMA_PART])) == set(monthly.SIGMA_FIELDS)


def test_a_correction_recomputes_from_its_month_on(sample_conn):
    before = _parts(sample_conn)
    assert sorted(before) == [f"2019-{m:02d}" for m in range(1, 10)]
    _report(sample_conn, "局工程科", "2019-06", "1-5-1.2", 1.0)
    done = monthly.ensure(sample_conn, "2019-09")
    assert done.computed == ["2019-06", "2019-07", "2019-08", "2019-09"]
    after = _parts(sample_conn)
    assert all(after[m] == before[m] for m in ("2019-01", "2019-02", "2019-03", "2019-04", "2019-05"))
    assert after["2019-06"][0] != before["2019-06"][0]


def _turnover(conn, month: str, factor: float) -> None:
    """A later turnover submission for `month` with its ton-km scaled by `factor` (a corrected figure)."""
    rows = read_turnover(conn)
    rows = rows[rows["month"].astype(str) == month].assign(month=month)
    assert len(rows), month
    rows["ton_km"] = rows["ton_km"] * factor
    with transaction(conn):
        sid = add_submission(conn, kind="turnover", file_name="fix.xlsx", sha256="e" * 64, month=month)
        insert_turnover(conn, sid, rows)


def _key(parts: dict, part: str) -> str:
    return json.loads(parts[monthly.KEYS_PART])[part]


def test_kept_parts_are_reused_for_a_new_month_and_recomputed_when_their_inputs_change(fresh_sample_db):
    conn = open_store(fresh_sample_db)
    first = monthly.ensure(conn, "2019-08")
    # the backfill computes the backtest over past years and the public-series backtest once, for every month
    assert first.kept_computed == ["growth_backtest", "investment_public"]
    august = _parts(conn)["2019-08"][1]
    assert json.loads(august["growth_backtest"])["data"], "the sample has past years to backtest"
    assert all(_parts(conn)[m][1][p] == august[p] for m in ("2019-01", "2019-05") for p in monthly.KEPT_PARTS)
    # September's data arrives: the month is computed, the parts that do not depend on it are reused
    done = monthly.ensure(conn, "2019-09")
    assert done.computed == ["2019-09"] and done.kept_computed == []
    september = _parts(conn)["2019-09"][1]
    for part in (*monthly.KEPT_PARTS, monthly.KEYS_PART):
        assert september[part] == august[part]
    # the month's own report parts are its own: this year's reports up to September
    assert september["investment_backtest"] != august["investment_backtest"]
    # a corrected figure of this year changes the months, not the backtest over past years
    _turnover(conn, "2019-09", 1.01)
    done = monthly.ensure(conn, "2019-09")
    assert done.computed == ["2019-09"] and done.kept_computed == []
    # an earlier year's figure changed: every month and the backtest over past years are recomputed
    _turnover(conn, "2018-06", 1.2)
    done = monthly.ensure(conn, "2019-09")
    assert done.computed == [f"2019-{m:02d}" for m in range(1, 10)]
    assert done.kept_computed == ["growth_backtest"]  # the public series did not change
    after = _parts(conn)["2019-09"][1]
    assert _key(after, "growth_backtest") != _key(september, "growth_backtest")
    assert after["growth_backtest"] != september["growth_backtest"]  # 2018 is one of the years backtested
    assert after["investment_public"] == september["investment_public"]


def test_kept_parts_are_keyed_by_the_code_and_the_plan(sample_conn, monkeypatch):
    inputs = monthly.read_inputs(sample_conn, "2019-09")
    keys = monthly.part_keys(inputs)
    assert keys == monthly.part_keys(monthly.read_inputs(sample_conn, "2019-03"))  # not by the month
    monkeypatch.setattr(monthly, "code_version", lambda: "another growth model")
    assert all(monthly.part_keys(inputs)[p] != keys[p] for p in monthly.KEPT_PARTS)
    monkeypatch.undo()
    monkeypatch.setattr(monthly, "plan_version", lambda catalogue: "another plan")
    assert all(monthly.part_keys(inputs)[p] != keys[p] for p in monthly.KEPT_PARTS)


def test_the_notebooks_figures_read_from_the_snapshot_are_the_ones_computed_directly(sample_conn):
    catalogue, progress, history = investment.store_inputs(sample_conn, "2019-09")
    kept = monthly.investment_report(sample_conn, "2019-09")
    pd.testing.assert_frame_equal(
        kept.calibration, investment.calibrate(catalogue, progress, "2019-09", history).summary()
    )
    pd.testing.assert_frame_equal(kept.backtest, investment.backtest(catalogue, progress, "2019-09", history))
    pd.testing.assert_frame_equal(kept.public, investment.backtest_public(catalogue))
    pd.testing.assert_frame_equal(kept.projection, monthly.snapshot(sample_conn, "2019-09").investment)
    shown = monthly.growth_report(sample_conn, "2019-09")
    direct = growth.growth_report(read_catalogue(sample_conn), read_turnover(sample_conn), "2019-09")
    for name in ("projections", "backtest", "summary"):
        pd.testing.assert_frame_equal(getattr(shown, name), getattr(direct, name), check_exact=True)


def test_brief_route_and_cli_route_give_identical_snapshots(fresh_sample_db, tmp_path, capsys):
    cli_db = tmp_path / "cli.sqlite"
    shutil.copy(fresh_sample_db, cli_db)
    # the command line: each command reads (and on first use computes) the month's snapshot
    outputs = {}
    for command in ("score", "growth", "invest", "risks"):
        assert main(["--db", str(cli_db), command, "--as-of", "2019-02", "--format", "json"]) == 0
        outputs[command] = json.loads(capsys.readouterr().out)
    # the brief: report.gather, as brief.ipynb calls it
    brief_conn = open_store(fresh_sample_db)
    data = report.gather(brief_conn, "2019-02")
    cli_conn = open_store(cli_db)
    assert _parts(cli_conn) == _parts(brief_conn)
    # and what each shows is the same numbers
    assert outputs["score"]["totals"]["total"] == round(data.score.totals["total"], 4)
    assert [r["projected_growth_pct"] for r in outputs["growth"]] == pytest.approx(
        data.growth.projections["projected_growth_pct"].tolist()
    )
    assert [r["measure_id"] for r in outputs["invest"]] == data.investment["measure_id"].tolist()
    assert [(r["measure_id"], r["status"]) for r in outputs["risks"]] == list(
        zip(data.flags["measure_id"], data.flags["status"], strict=True)
    )


def test_reasons_are_rendered_in_the_readers_language(sample_conn):
    zh = monthly.snapshot(sample_conn, "2019-09", "zh")
    en = monthly.snapshot(sample_conn, "2019-09", "en")
    closed = en.problems[en.problems["closed"].notna()]
    assert len(closed), "the sample has problems closed during the year"
    # an English reader sees English reasons for closed problems too (the words are not stored)
    for reasons in closed["reasons"]:
        assert reasons and all(r[0].isascii() and r[0].isalnum() for r in reasons), reasons
    zh_closed = zh.problems[zh.problems["closed"].notna()]
    assert all(r and not r[0].isascii() for reasons in zh_closed["reasons"] for r in reasons)
    # the same flags underneath: rule codes and statuses, only the words differ
    assert zh.flags["rules"].tolist() == en.flags["rules"].tolist()
    assert zh.flags["reasons"].tolist() != en.flags["reasons"].tolist()
    stored = sample_conn.execute("SELECT payload FROM snapshot_parts WHERE part = 'flags'").fetchone()[0]
    assert "reason_args" in stored and '"reasons"' not in stored  # codes and numbers kept, never words


def test_frames_round_trip_exactly():
    df = pd.DataFrame(
        {
            "f": [0.1 + 0.2, np.nan, 1e-300],
            "i": np.array([1, 2, 3], dtype=np.int64),
            "b": [True, False, True],
            "p": pd.PeriodIndex(["2019-01", None, "2019-03"], freq="M"),
            "lists": [["a", "b"], [], ["c"]],
            "text": ["甲", "", "=1+1"],
        }
    )
    back = monthly.decode_frame(monthly.encode_frame(df))
    pd.testing.assert_frame_equal(back, df)
    assert back["f"].iloc[0] == 0.1 + 0.2  # exact, not rounded


def test_an_older_store_is_upgraded_in_place(fresh_sample_db):
    conn = sqlite3.connect(fresh_sample_db)
    conn.executescript(  # schema 2: the work plans' tables, the flags table, no snapshots, no sign-off
        "DROP TABLE snapshot_parts; DROP TABLE snapshots;"
        "ALTER TABLE submissions DROP COLUMN preparer; ALTER TABLE submissions DROP COLUMN reviewer;"
        "ALTER TABLE submissions DROP COLUMN prepared_on;"
        "CREATE TABLE flags (as_of TEXT, measure_id TEXT, status TEXT, reasons TEXT, points_at_risk REAL,"
        " computed_at TEXT); PRAGMA user_version = 2;"
    )
    conn.close()
    conn = open_store(fresh_sample_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"snapshots", "snapshot_parts"} <= tables and "flags" not in tables
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION
    )
