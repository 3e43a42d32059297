"""The sample is synthetic, deterministic, and tells the intended story."""

from __future__ import annotations

import filecmp

import pandas as pd
import pytest
from test_cli import permissions_apply  # noqa: F401 - a fixture, asked for by name

from perfkit import sample
from perfkit.config import PLAN_DIR, SAMPLE_DIR


def test_generation_is_deterministic_and_matches_bundled_files(tmp_path):
    files = sample.generate(tmp_path, PLAN_DIR)
    for name, path in files.items():
        assert filecmp.cmp(path, SAMPLE_DIR / path.name, shallow=False), f"{name} differs from data/sample"


def test_turnover_covers_2014_to_2019_09_published_as_ytd():
    t = pd.read_csv(SAMPLE_DIR / "turnover.csv")
    assert t["月份"].iloc[0] == "2014年1—2月"
    assert t["月份"].iloc[-1] == "2019年9月"
    assert set(t["口径"]) == {"累计"}
    assert set(t["运输方式"]) == {"公路", "水路"}
    # official comparable-basis YoY only in the year being judged
    assert t.loc[t["月份"].str.startswith("2019"), "总周转量累计同比（%）"].notna().all()
    assert t.loc[~t["月份"].str.startswith("2019"), "总周转量累计同比（%）"].isna().all()


def test_progress_story(catalogue):
    p = pd.read_csv(SAMPLE_DIR / "progress.csv")
    assert p["month"].min() == "2019-01" and p["month"].max() == "2019-09"
    reported = set(p["measure_id"])
    unit_measures = set(catalogue.measures.loc[catalogue.measures["schedule"] != "statistic", "measure_id"])
    assert reported == unit_measures  # every unit-reported measure appears
    last = p[p["month"] == "2019-09"].set_index("measure_id")
    assert last.loc["1-4-1.2", "cumulative"] == 19000  # the station hub met its September deadline
    assert last.loc["1-3-2.2", "cumulative"] < 0.5 * 30000  # well behind
    # one stale unit: nothing from 局综规科 after June
    assert p.loc[p["unit"] == "局综规科", "month"].max() == "2019-06"
    # one correction that lowered a cumulative value, explained with 更正
    fix = p[p["note"].str.startswith("更正", na=False)]
    assert len(fix) == 1
    m = fix["measure_id"].iloc[0]
    series = p[p["measure_id"] == m].set_index("month")["cumulative"]
    assert series[fix["month"].iloc[0]] < series.shift(1)[fix["month"].iloc[0]]


@pytest.mark.parametrize("where", ["under-a-file", "a-file", "read-only-folder", "disk-full"])
def test_an_out_folder_that_cannot_hold_the_sample_is_one_line_and_exit_2(tmp_path, where, request):
    """`perfkit sample --out` under a file, naming a file, in a folder without write permission or on a
    full disk: one line naming the path and the reason, exit 2 (was exit 1 through the last resort), and
    nothing written: the earlier sample files stay as they were, no temporary file is left."""
    from test_cli import one_line, perfkit

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "turnover.csv").write_text("earlier")
    out, reason, kwargs = {
        "under-a-file": (a_file / "sample", f"{a_file} is a file, not a folder", {}),
        "a-file": (a_file, "is a file, not a folder", {}),
        "read-only-folder": (locked, f"cannot write in {locked}: Permission denied", {"reader": True}),
        "disk-full": (
            locked,
            "the disk is full (or a file-size limit was reached): nothing written",
            {"file_size_limit": 4096},
        ),
    }[where]
    if where == "read-only-folder":
        request.getfixturevalue("permissions_apply")  # skips where permissions cannot be made to apply
        locked.chmod(0o555)
    got = perfkit("sample", "--out", str(out), **kwargs)
    locked.chmod(0o755)
    assert got.returncode == 2
    line = one_line(got.stderr)
    named = locked / "turnover.csv" if where == "disk-full" else out  # the file the full disk refused
    assert line == f"{named}: {reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "locked"] and a_file.read_text() == "x"
    assert [p.name for p in locked.iterdir()] == ["turnover.csv"]
    assert (locked / "turnover.csv").read_text() == "earlier"
