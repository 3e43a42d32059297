"""The batch over many series: same numbers serially, on an Executor and on a real two-worker Dask
LocalCluster; the `perfkit batch` command and its output fields; bad files named by file, cell and reason."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import permissions_apply  # noqa: F401 - a fixture, asked for by name

from perfkit import batch, growth
from perfkit.cli import main
from perfkit.errors import InputError
from perfkit.months import MonthError

AS_OF = "2016-06"
BAND = (8.0, 9.0)
QUICK = {"models": ("ets", "profile", "combined"), "repetitions": 200}  # a short backtest: two fits a year


def county(i: int, years: int = 4, start: int = 2013) -> pd.Series:
    """A synthetic county's monthly turnover: seasonal, growing 4–10% a year, 1% noise (seeded by i)."""
    rng = np.random.default_rng([17, i])
    months = pd.period_range(f"{start}-01", f"{start + years - 1}-12", freq="M")
    t = np.arange(len(months)) / 12
    season = 1 + 0.1 * np.cos(2 * np.pi * (months.month.to_numpy() - 1) / 12)
    return pd.Series(1000 * (1.04 + 0.03 * i) ** t * season * rng.normal(1, 0.01, len(months)), index=months)


def long_frame(series: dict[str, pd.Series]) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame({"series_id": sid, "month": s.index.astype(str), "value": s.to_numpy()})
            for sid, s in series.items()
        ],
        ignore_index=True,
    )


def write_long(path, series: dict[str, pd.Series]):
    df = long_frame(series)
    if str(path).endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def counties() -> dict[str, pd.Series]:
    return {f"350{i:03d}": county(i) for i in range(3)}


@pytest.fixture(scope="module")
def serial(counties):
    return growth.project_many(counties, AS_OF, BAND, workers=1, **QUICK)


def assert_same(results: dict, expected: dict) -> None:
    assert list(results) == list(expected)
    for sid in expected:
        assert results[sid].to_dict() == expected[sid].to_dict(), sid


# ---------------------------------------------------------------------------------- same answers


def test_a_two_worker_local_cluster_gives_the_serial_results(counties, serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    src = write_long(tmp_path / "counties.parquet", counties)
    loaded = batch.load_batch(src, AS_OF, BAND)
    with batch.executor_for("local", workers=2) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        pids = set(client.run(os.getpid).values())
        with distributed.get_task_stream(client) as tasks:
            frame = batch.project_batch(loaded, AS_OF, client, **QUICK)
    assert len(pids) == 2 and not pids & {os.getpid()}  # two worker processes, not this one
    assert len(tasks.data) == len(counties)  # one task per series, all run on the cluster
    pd.testing.assert_frame_equal(frame, batch.projections_frame(serial))
    # the nested fields survive the file: the path read back equals the serial projection's
    out = batch.write_projections(frame, tmp_path / "out.parquet")
    back = pd.read_parquet(out)
    assert json.loads(back["path"].iloc[0]) == serial["350000"].to_dict()["path"]


def test_a_cluster_by_scheduler_address_checks_its_workers_and_gives_the_serial_results(counties, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        with batch.executor_for(cluster.scheduler_address) as client:
            versions = batch.check_workers(client)
            assert set(versions.values()) == {batch.worker_version()}
            results = growth.project_many(counties, AS_OF, BAND, executor=client, **QUICK)
    assert_same(results, serial)


def test_workers_running_other_perfkit_code_are_refused_before_any_series_is_sent(tmp_path):
    """A real `dask scheduler` and `dask worker` (as docs/scale.md sets them up) whose worker imports a
    perfkit with an edited growth.py: the batch stops with one line naming the worker and both versions."""
    pytest.importorskip("distributed")
    import perfkit

    other = tmp_path / "other"
    shutil.copytree(Path(perfkit.__file__).parent, other / "perfkit")
    with open(other / "perfkit" / "growth.py", "a", encoding="utf-8") as f:
        f.write("# edited on this worker\n")
    dask = [sys.executable, "-m", "distributed.cli.dask_{}"]
    info = tmp_path / "scheduler.json"
    procs = [
        subprocess.Popen(
            [
                *[a.format("scheduler") for a in dask],
                "--scheduler-file",
                str(info),
                "--port",
                "0",
                "--no-dashboard",
            ],
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(300):
            if info.exists() and info.stat().st_size:
                break
            time.sleep(0.1)
        env = {**os.environ, "PYTHONPATH": str(other)}
        procs.append(
            subprocess.Popen(
                [
                    *[a.format("worker") for a in dask],
                    "--scheduler-file",
                    str(info),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                ],
                env=env,
                cwd=tmp_path,  # not the repository, whose perfkit `python -m` would put first on the path
                stderr=subprocess.DEVNULL,
            )
        )
        address = json.loads(info.read_text())["address"]
        src = write_long(tmp_path / "long.csv", short_counties())
        with pytest.raises(batch.BatchError) as exc:
            batch.run_batch(src, AS_OF, tmp_path / "p.csv", band=BAND, scheduler=address)
        message = str(exc.value)
        assert "1 Dask worker(s) run another perfkit" in message and batch.worker_version() in message
        assert "\n" not in message and not (tmp_path / "p.csv").exists()
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=60)


def test_any_executor_gives_the_serial_results(counties, serial):
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert_same(growth.project_many(counties, AS_OF, BAND, executor=pool, **QUICK), serial)


def test_bands_per_series_reach_each_projection(counties, tmp_path):
    src = write_long(tmp_path / "counties.csv", counties)
    (tmp_path / "bands.csv").write_text("series_id,band_low,band_high\n350001,4,5\n350002,20,21\n")
    loaded = batch.load_batch(src, AS_OF, BAND, tmp_path / "bands.csv")
    frame = batch.project_batch(loaded, AS_OF, workers=1, models=("profile",))
    assert list(zip(frame["band_low"], frame["band_high"], strict=True)) == [
        (8.0, 9.0),
        (4.0, 5.0),
        (20.0, 21.0),
    ]
    one = growth.project_annual_growth(counties["350002"], AS_OF, (20.0, 21.0), models=("profile",))
    assert frame["p_reach_low"].iloc[2] == one.p_reach_low


# ------------------------------------------------------------------------------------ the command


def short_counties() -> dict[str, pd.Series]:
    """Eighteen months each: under 24 months of history, so the full default procedure is the quick
    year-to-date method (the command has no model options; the fits are tested above)."""
    return {f"县{i}": county(i, years=2, start=2015)[:-6] for i in range(2)}


def test_the_command_writes_every_field_of_growth_json_per_series(tmp_path, capsys):
    series = short_counties()
    src = write_long(tmp_path / "long.csv", series)
    out = tmp_path / "projections.parquet"
    assert (
        main(["batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out), "--workers", "1"])
        == 0
    )
    assert "2 series" in capsys.readouterr().out
    back = pd.read_parquet(out)
    assert list(back["series_id"]) == list(series)

    one = tmp_path / "one.csv"
    series["县1"].rename("value").rename_axis("month").to_csv(one)
    assert (
        main(["growth", "--series", str(one), "--as-of", AS_OF, "--band", "8", "9", "--format", "json"]) == 0
    )
    expected = json.loads(capsys.readouterr().out)
    row = back.iloc[1]
    for key, value in expected.items():
        if key in batch.PAIRS:
            assert [row[f"{key}_low"], row[f"{key}_high"]] == value, key
        elif key in batch.NESTED:
            assert json.loads(row[key]) == value, key
        elif value is None:
            assert row[key] is None or math.isnan(row[key]), key
        else:
            assert row[key] == value, key


def test_the_command_writes_csv_and_never_overwrites_its_input(tmp_path, capsys):
    src = write_long(tmp_path / "long.csv", short_counties())
    before = src.read_bytes()
    assert main(["batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(src)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert src.read_bytes() == before
    out = tmp_path / "p.csv"
    assert (
        main(["batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out), "--workers", "1"])
        == 0
    )
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert list(df["series_id"]) == ["县0", "县1"] and "interval_80_low" in df and "path" in df


@pytest.mark.parametrize("where", ["under-a-file", "a-folder", "read-only-folder"])
def test_an_output_that_cannot_be_written_is_one_line_before_any_series_runs(
    tmp_path, where, monkeypatch, capsys, request
):
    """--out under a file, naming a folder, or in a folder without write permission: exit 2 at once, one
    line naming the file and the reason, nothing written (the read-only folder was found only after every
    projection had run, and named the batch's own temporary file)."""
    src = write_long(tmp_path / "long.csv", short_counties())
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "p.csv").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    out, reason = {
        "under-a-file": (tmp_path / "a-file" / "p.csv", f"{tmp_path / 'a-file'} is a file, not a folder"),
        "a-folder": (tmp_path / "p.csv", "is a folder, not a file"),
        "read-only-folder": (locked / "p.csv", f"cannot write in {locked}: Permission denied"),
    }[where]
    argv = ["batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out), "--workers", "1"]
    if where == "read-only-folder":  # permissions apply to root too only in a process that drops them
        from test_cli import one_line, perfkit

        request.getfixturevalue("permissions_apply")  # skips where permissions cannot be made to apply
        locked.chmod(0o555)
        got = perfkit(*argv, reader=True)
        locked.chmod(0o755)
        assert got.returncode == 2
        assert one_line(got.stderr) == f"{out}: {reason}"
    else:
        monkeypatch.setattr(batch, "load_batch", lambda *a, **k: pytest.fail("read the input first"))
        assert main(argv) == 2
        assert capsys.readouterr().err == f"{out}: {reason}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "locked", "long.csv", "p.csv"]
    assert not list(locked.iterdir()) and not (tmp_path / "p.csv").is_file()


def test_a_full_disk_while_writing_is_one_line_and_keeps_the_earlier_output(tmp_path):
    """The projections are written whole (exports.write_whole, one temporary file): a file-size limit hit
    while writing is exit 2 (OutputError), one line naming the file, the earlier output as it was and no
    temporary file left."""
    from test_cli import one_line, perfkit

    src = write_long(tmp_path / "long.csv", short_counties())
    out = tmp_path / "p.csv"
    out.write_text("previous\n")
    got = perfkit(
        "batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out), "--workers", "1",
        file_size_limit=1024,
    )  # fmt: skip
    assert got.returncode == 2
    assert one_line(got.stderr) == (
        f"{out}: the disk is full (or a file-size limit was reached): nothing written"
    )
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.csv", "p.csv"]


def test_without_dask_the_pool_runs_and_scheduler_says_what_to_install(tmp_path, capsys, monkeypatch):
    src = write_long(tmp_path / "long.csv", short_counties())
    out = tmp_path / "p.parquet"
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    argv = ["batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out)]
    assert main([*argv, "--scheduler", "local"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e .[scale]" in err and not out.exists()
    assert main([*argv, "--workers", "1"]) == 0 and out.exists()


def test_importing_the_batch_does_not_import_dask():
    code = "import sys, perfkit.batch, perfkit.cli; sys.exit('distributed' in sys.modules or 'dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(batch, "CONNECT_TIMEOUT", "2s")
    src = write_long(tmp_path / "long.csv", short_counties())
    argv = ["batch", str(src), "--as-of", AS_OF, "--band", "8", "9", "--out", str(tmp_path / "p.csv")]
    assert main([*argv, "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("batch: cannot reach the Dask scheduler at tcp://127.0.0.1:9") and err.count("\n") == 1
    )


# ------------------------------------------------------------------------------------- bad files


def problems(call) -> list[str]:
    with pytest.raises(InputError) as exc:
        call()
    return [str(p) for p in exc.value.problems]


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("series,month,amount\na,2016-01,1\n")
    assert problems(lambda: batch.read_long(path)) == [
        f"{path} row 1: missing column(s): value (have: series, month, amount)"
    ]


def test_non_finite_and_unreadable_values_are_named_by_cell(tmp_path):
    df = long_frame({"a": county(0)}).astype({"value": object})
    df.loc[3, "value"], df.loc[5, "value"], df.loc[7, "value"], df.loc[8, "value"] = "inf", "nan", "1,2x", -4
    df.loc[9, "month"] = "2013-13"
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    got = problems(lambda: batch.read_long(path))
    assert got == [
        f"{path} B11: month out of range: '2013-13'",
        f"{path} C5: value must be a positive number, got 'inf'",
        f"{path} C7: value must be a positive number, got 'nan'",
        f"{path} C9: value must be a positive number, got '1,2x'",
        f"{path} C10: value must be a positive number, got '-4'",
    ]


def test_parquet_problems_name_row_and_column(tmp_path):
    df = long_frame({"a": county(0)})
    df.loc[4, "value"] = np.inf
    path = tmp_path / "long.parquet"
    df.to_parquet(path, index=False)
    assert problems(lambda: batch.read_long(path)) == [
        f"{path} row 5 (value): value must be a positive number, got inf"
    ]


def test_duplicate_months_are_named_with_the_first_row(tmp_path):
    df = long_frame({"a": county(0), "b": county(1)})  # 48 months each: file row 52 is b's 2013-03
    df = pd.concat([df, df.iloc[[50]]], ignore_index=True)
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    assert problems(lambda: batch.read_long(path)) == [
        f"{path} B98: series 'b': month 2013-03 repeated (first at B52)"
    ]


def test_a_float_month_column_is_not_read_as_january(tmp_path):
    # months stored as floats (2019.03 …): October is 2019.1, which read as January
    path = tmp_path / "long.parquet"
    pd.DataFrame({"series_id": ["a", "a"], "month": [2019.09, 2019.10], "value": [1.0, 2.0]}).to_parquet(path)
    assert problems(lambda: batch.read_long(path)) == [
        f"{path} row 2 (month): month '2019.1' is January or October (2019.10 as a number is 2019.1):"
        " write it as 2019-01 or 2019-10"
    ]


def test_unknown_ids_in_the_bands_file_are_named(counties, tmp_path):
    src = write_long(tmp_path / "long.csv", counties)
    bands = tmp_path / "bands.csv"
    bands.write_text("series_id,band_low,band_high\n350001,4,5\n999999,4,5\n350002,9,x\n350001,1,2\n")
    assert problems(lambda: batch.load_batch(src, AS_OF, BAND, bands)) == [
        f"{bands} A3: unknown series id '999999' (not in {src})",
        f"{bands} C4: band_high must be a number (%), got 'x'",
        f"{bands} A5: series '350001' given twice (first at A2)",
    ]


def test_a_series_that_cannot_be_projected_stops_the_batch_before_it_runs(counties, tmp_path):
    gap = counties["350001"].drop(pd.Period("2014-05", "M"))
    src = write_long(
        tmp_path / "long.csv", {"350000": counties["350000"], "350001": gap, "new": county(5)[-20:]}
    )
    got = problems(lambda: batch.load_batch(src, AS_OF, BAND))
    assert got == [
        f"{src}: series '350001': months missing between 2014-04 and 2014-06",
        f"{src}: series 'new': the previous year (2015) must be complete to project 2016's growth",
    ]


def test_no_band_for_a_series_is_an_error(counties, tmp_path):
    src = write_long(tmp_path / "long.csv", counties)
    assert problems(lambda: batch.load_batch(src, AS_OF)) == [
        f"{src}: no band for 3 series (350000, 350001, 350002): give --band LOW HIGH or --bands FILE"
    ]


def test_a_bad_file_exits_2_and_leaves_the_previous_output(counties, tmp_path, capsys):
    path = tmp_path / "long.csv"
    path.write_text("series_id,month,value\na,2016-01,1\na,2016-01,2\n")
    out = tmp_path / "p.csv"
    out.write_text("previous\n")
    assert main(["batch", str(path), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"{path} B3: series 'a': month 2016-01 repeated (first at B2)\n"
    assert out.read_text() == "previous\n"
    # the one month parser (perfkit.months), its one line, as every other command's --as-of
    for bad in ("June", "2016-13", "2016年6月"):
        assert main(["batch", str(path), "--as-of", bad, "--band", "8", "9", "--out", str(out)]) == 2
        assert capsys.readouterr().err == f"--as-of: expected a month as YYYY-MM, got {bad!r}\n"
    with pytest.raises(MonthError):
        batch.load_batch(path, "2016-6", BAND)
    assert (
        main(["batch", str(path), "--as-of", AS_OF, "--band", "8", "9", "--out", str(out), "--workers", "0"])
        == 2
    )
    assert capsys.readouterr().err == "--workers: need 1 or more, got 0\n"


def test_combined_january_february_rows_are_read_as_published(counties, tmp_path):
    df = long_frame({"a": counties["350000"]})
    jan_feb = df["month"].str.endswith(("-01", "-02"))
    merged = df[jan_feb].assign(year=df["month"].str[:4]).groupby("year", as_index=False)["value"].sum()
    merged = merged.assign(series_id="a", month=merged["year"] + "年1—2月")[["series_id", "month", "value"]]
    path = tmp_path / "long.csv"
    pd.concat([merged, df[~jan_feb]]).to_csv(path, index=False)
    loaded = batch.load_batch(path, AS_OF, BAND)
    assert loaded.spans["a"][pd.Period("2015-02", "M")] == 2 and len(loaded.values["a"]) == 48 - 4
    frame = batch.project_batch(loaded, AS_OF, workers=1, models=("profile",))
    one = growth.project_annual_growth(counties["350000"], AS_OF, BAND, models=("profile",))
    assert frame["projected_growth_pct"].iloc[0] == pytest.approx(one.projected_growth_pct, abs=1e-9)
