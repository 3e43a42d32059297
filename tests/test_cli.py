"""The command line as a user meets it: real processes on real SQLite files. Every failure is one line on
stderr with its exit code (2 bad input, 3 unusable store, 1 unforeseen, 130 interrupted, 141 stdout closed),
never a traceback."""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfkit import store
from perfkit.cli import build_parser
from perfkit.sample import turnover_table

# Linux capabilities that let root ignore file permissions; dropped from a reader's bounding set
# (PR_CAPBSET_DROP) so root, like any user, cannot write a file or folder without write permission.
PR_CAPBSET_DROP = 24
PERMISSION_OVERRIDES = (1, 2, 3, 9)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_LINUX_IMMUTABLE


def _obey_permissions() -> None:
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in PERMISSION_OVERRIDES:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop root's permission overrides")


def perfkit(*args: str, reader: bool = False, file_size_limit: int | None = None, **kwargs):
    """Run `perfkit ARGS` in a new process. `reader`: file permissions apply to it even as root (root's
    overrides are dropped), so a store without write permission is read-only to it; `file_size_limit`: no
    file it writes may grow past this many bytes (RLIMIT_FSIZE: a full disk without filling one)."""

    def before_exec() -> None:
        if file_size_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
        if reader:
            _obey_permissions()

    env = {**os.environ, **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "perfkit.cli", *args],
        capture_output=True,
        text=True,
        preexec_fn=before_exec,
        env=env,
        **kwargs,
    )


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def permissions_apply():
    probe = subprocess.run(
        [sys.executable, "-c", "import os; print(os.access('/', os.W_OK))"],
        capture_output=True,
        text=True,
        preexec_fn=_obey_permissions,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make file permissions apply to this user: {probe.stderr.strip()[-200:]}")


# ------------------------------------------------------------------------------------ read-only store


@pytest.mark.parametrize("folder_writable", [True, False], ids=["file-read-only", "folder-read-only"])
def test_read_only_store_is_read_and_refused_for_writes(
    sample_db, tmp_path, permissions_apply, folder_writable
):
    """Read commands work on a store the user cannot write (before: exit 3 'not a SQLite database');
    ingest exits 3 with one line naming the file and 'read-only', and nothing changes."""
    ro = tmp_path / "store"
    ro.mkdir()
    db = ro / "perfkit.sqlite"
    shutil.copy(sample_db, db)
    before = store.dump(sqlite3.connect(db))
    db.chmod(0o444)
    if not folder_writable:
        ro.chmod(0o555)
    archive = tmp_path / "archive"
    archive.mkdir()

    want = perfkit("--db", str(sample_db), "score", "--format", "csv")
    got = perfkit("--db", str(db), "score", "--format", "csv", reader=True)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout and got.stdout.count("\n") > 60

    if not folder_writable:  # the harder case (SQLite cannot make its shared-memory file); risks is slow
        risks = perfkit("--db", str(db), "risks", "--as-of", "2019-09", "--format", "csv", reader=True)
        assert risks.returncode == 0, risks.stderr
        measures = sqlite3.connect(sample_db).execute("SELECT COUNT(*) FROM measures").fetchone()[0]
        assert risks.stdout.count("\n") == 1 + measures  # flagged in a private copy; the store is untouched

    turnover = tmp_path / "turnover.csv"
    turnover.write_text(
        "月份,运输方式,口径,旅客周转量（万人公里）,货物周转量（万吨公里）\n2018年3月,公路,当月,1.0,2.0\n"
    )
    out = perfkit("--db", str(db), "ingest", "--archive", str(archive), str(turnover), reader=True)
    assert out.returncode == 3
    line = one_line(out.stderr)
    assert str(db) in line and "read-only" in line
    assert not list(archive.iterdir())
    ro.chmod(0o755)
    assert store.dump(sqlite3.connect(db)) == before


# ---------------------------------------------------------------------------------------- disk full


def test_disk_full_while_creating_the_store_leaves_nothing(tmp_path):
    db = tmp_path / "new.sqlite"
    out = perfkit("--db", str(db), "score", file_size_limit=64 * 1024)
    assert out.returncode == 3
    line = one_line(out.stderr)
    assert str(db) in line and "disk full" in line
    assert not db.exists() and not list(tmp_path.glob("*.tmp*"))
    assert perfkit("--db", str(db), "score", "--format", "json").returncode == 0  # a later run builds it


def test_disk_full_while_writing_changes_nothing(sample_db, tmp_path):
    """A write that cannot grow the store's log (an ingest of a 126-row turnover table under a 16 KB
    file-size limit) is rolled back whole: exit 3, the file named, the store as it was."""
    table = turnover_table()
    table["旅客周转量（万人公里）"] = (table["旅客周转量（万人公里）"] * 1.01).round(
        1
    )  # not the sample's file
    csv = tmp_path / "turnover.csv"
    table.to_csv(csv, index=False)
    before = store.dump(sqlite3.connect(sample_db))
    out = perfkit(
        "--db", str(sample_db), "ingest", "--archive", str(tmp_path / "a"), str(csv), file_size_limit=16384
    )
    assert out.returncode == 3
    assert "Traceback" not in out.stderr
    assert str(csv) in out.stderr and "disk" in out.stderr, out.stderr  # ingest names the file it rolled back
    conn = sqlite3.connect(sample_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.dump(conn) == before
    again = perfkit("--db", str(sample_db), "ingest", "--archive", str(tmp_path / "a"), str(csv))
    assert again.returncode == 0, again.stderr  # with room again, the same file goes in


# ------------------------------------------------------------------------------- pipes and arguments


def test_stdout_closed_by_the_reader_exits_quietly(sample_db):
    """`perfkit score | head -1`: the reader is gone before perfkit writes; no BrokenPipeError traceback,
    exit 141 as for a command killed by SIGPIPE."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfkit.cli", "--db", str(sample_db), "score"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the child has imported perfkit, so its first write meets a closed pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_db_option_before_or_after_the_subcommand(tmp_path):
    parser = build_parser()
    assert parser.parse_args(["--db", "a", "score"]).db == "a"
    assert parser.parse_args(["score", "--db", "b"]).db == "b"
    assert parser.parse_args(["--db", "a", "brief", "--db", "b"]).db == "b"
    assert parser.parse_args(["catalog", "show", "--db", "c"]).db == "c"
    assert parser.parse_args(["history", "1-8-1.1"]).db is None
    db = tmp_path / "after.sqlite"
    out = perfkit("score", "--db", str(db), "--format", "json", env={"PERFKIT_DB": str(tmp_path / "no")})
    assert out.returncode == 0, out.stderr
    assert db.exists() and not (tmp_path / "no").exists()


# ------------------------------------------------------------------------------------- last resort


UNFORESEEN = """
import sys
from perfkit import cli
def cmd_sample(args):  # a failure no handler foresaw, as the system reports it
    raise PermissionError(13, "Permission denied", sys.argv[1])
cli.cmd_sample = cmd_sample
sys.exit(cli.main(["sample"]))
"""


def test_unforeseen_failure_is_one_line_naming_the_file(tmp_path):
    """What no handler foresaw goes through the last resort: exit 1, one line naming the command, the
    failure and its file; PERFKIT_DEBUG=1 shows the traceback. (`sample --out` under a file, the example
    here before, is foreseen now: exit 2, tests/test_sample.py.)"""
    target = tmp_path / "somewhere"
    run = [sys.executable, "-c", UNFORESEEN, str(target)]
    out = subprocess.run(run, capture_output=True, text=True)
    assert out.returncode == 1
    line = one_line(out.stderr)
    assert line.startswith("perfkit sample failed: PermissionError:") and str(target) in line
    assert "PERFKIT_DEBUG=1" in line
    env = {**os.environ, "PERFKIT_DEBUG": "1"}
    debug = subprocess.run(run, capture_output=True, text=True, env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_outputs_that_cannot_be_written_are_one_line_and_exit_2(sample_db, tmp_path, permissions_apply):
    """Each command that writes into a folder, given one it cannot use: `brief --out` an existing folder
    without write permission (was exit 1 after every notebook had run: refused before any kernel now),
    `index` with $PERFKIT_OUTPUTS under a file, `catalog import --out` under a file or naming a folder
    (were exit 1, NotADirectoryError / IsADirectoryError through the last resort). One line naming the
    path and the reason; nothing written."""
    work = tmp_path / "work"  # beside the store
    work.mkdir()
    a_file = work / "a-file"
    a_file.write_text("x")
    locked = work / "2019-09"
    locked.mkdir()
    (locked / "brief.html").write_text("earlier")
    locked.chmod(0o555)
    attachment = "data/plan/2019/attachment.csv"
    cases = [
        (["brief", "--as-of", "2019-09", "--out", str(locked)], {}, f"{locked}: cannot write in {locked}: Permission denied"),
        (["index"], {"PERFKIT_OUTPUTS": str(a_file / "out")}, f"{a_file / 'out'}: {a_file} is a file, not a folder"),
        (["catalog", "import", attachment, "--out", str(a_file / "c.json")], {}, f"{a_file / 'c.json'}: {a_file} is a file, not a folder"),
        (["catalog", "import", attachment, "--out", str(work)], {}, f"{work}: is a folder, not a file"),
    ]  # fmt: skip
    root = Path(__file__).resolve().parent.parent  # catalog import reads the bundled attachment by its path
    for args, env, says in cases:
        got = perfkit("--db", str(sample_db), *args, reader=True, env=env, cwd=root)
        assert (got.returncode, one_line(got.stderr)) == (2, says), args
    locked.chmod(0o755)
    assert [p.name for p in locked.iterdir()] == ["brief.html"]
    assert (locked / "brief.html").read_text() == "earlier" and a_file.read_text() == "x"
    assert sorted(p.name for p in work.iterdir()) == ["2019-09", "a-file"]


def test_interrupt_is_one_line_exit_130_and_leaves_no_half_store(tmp_path):
    """Ctrl-C while the store is being built on first use: exit 130, one line, no store, no temp file.

    The interrupt is made to land mid-build whatever the machine's load: the process is frozen (SIGSTOP) as
    soon as its temporary store exists, the build is checked to be unpublished, and SIGINT is delivered as
    it resumes. A round whose freeze came after the store was published proves nothing and is run again."""
    for attempt in range(5):
        folder = tmp_path / f"round{attempt}"
        folder.mkdir()
        db = folder / "new.sqlite"
        proc = subprocess.Popen(
            [sys.executable, "-m", "perfkit.cli", "--db", str(db), "score"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while (
            not list(folder.glob("new.sqlite.*.tmp")) and proc.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.001)
        proc.send_signal(signal.SIGSTOP)
        while proc.poll() is None and _state(proc.pid) not in ("T", "t", "Z"):
            time.sleep(0.001)
        building = bool(list(folder.glob("new.sqlite.*.tmp"))) and not db.exists()
        if building:
            proc.send_signal(signal.SIGINT)  # pending while stopped: handled as the build resumes
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=300)
        if not building:  # the build had finished: it must be whole
            assert proc.returncode == 0, err
            assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            continue
        assert proc.returncode == 130, err
        assert one_line(err) == "perfkit score: interrupted"
        assert sorted(p.name for p in folder.iterdir()) == ["new.sqlite.lock"]  # no store, no temp file
        return
    pytest.fail("in five rounds the process was never caught while building the store")


def _state(pid: int) -> str:
    """The process's state letter from /proc (R running, S sleeping, T stopped …)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["score", "--public", "nan"], "--public: need a number from 0 to 100 (plan.toml [assessments] public_range), got nan"),
        (["score", "--public", "1000"], "--public: need a number from 0 to 100 (plan.toml [assessments] public_range), got 1000"),
        (["score", "--bonus", "inf", "--format", "json"], "--bonus: need a number from 0 to 5 (plan.toml [assessments] bonus_cap), got inf"),
        (["score", "--deduction", "-1"], "--deduction: need a number from 0 to 10 (plan.toml [assessments] deduction_cap), got -1"),
        (["growth", "--series", "{series}", "--band", "nan", "9"], "--band: need LOW ≤ HIGH, finite numbers; got nan 9"),
        (["growth", "--series", "{series}", "--band", "9", "8"], "--band: need LOW ≤ HIGH, finite numbers; got 9 8"),
    ],
)  # fmt: skip
def test_what_if_numbers_outside_what_the_record_accepts_are_one_line_exit_2(
    sample_db, tmp_path, cli, args, says
):
    """A what-if score with a non-finite or out-of-range 公众评议, 加分 or 扣分 printed 考评总得分 = nan (and
    JSON's invalid `Infinity`); a growth band of nan projected against it. Now each is refused as the
    考评结果 record's own intake refuses it (plan.toml [assessments]), one line, exit 2, nothing printed."""
    series = tmp_path / "one.csv"
    series.write_text("month,value\n2019-01,1\n")
    code, out, err = cli("--db", sample_db, *[a.format(series=series) for a in args])
    assert (code, out, err) == (2, "", says + "\n")


@pytest.mark.parametrize(
    "args",
    [
        ["growth", "--series", "{f}", "--band", "8", "9"],
        ["batch", "{f}", "--as-of", "2019-06", "--band", "8", "9", "--out", "{out}"],
        ["catalog", "show", "--attachment", "{f}"],
        ["catalog", "import", "{f}"],
        ["ingest", "--archive", "{out}", "{f}"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_input_that_is_a_pipe_or_a_device_is_one_line_not_a_hang(sample_db, tmp_path, args):
    """Every command that reads a file given a named pipe (which blocked forever) or /dev/zero (read until
    memory ran out, `catalog` and `growth`): exit 2 at once, one line naming it (perfkit.errors.input_file)."""
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    for f in (pipe,) if args[0] == "batch" else (pipe, "/dev/zero"):  # batch wants a .csv or .parquet name
        argv = [a.format(f=f, out=tmp_path / "out.csv") for a in args]
        got = perfkit("--db", str(sample_db), *argv, timeout=120)
        assert got.returncode == 2, got.stderr
        assert (
            one_line(got.stderr) == f"{f}: not a regular file (a device, pipe or socket): give a saved file"
        )
    assert not (tmp_path / "out.csv").exists()
