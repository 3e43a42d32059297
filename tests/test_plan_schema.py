"""plan.toml is checked once, when read: a syntax error or a mistyped setting is one line naming the file,
line, key and expected type, exit 2, for every command (before: TOMLDecodeError or ValueError tracebacks)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from perfkit.catalogue import load_plan
from perfkit.config import PLAN_DIR, SAMPLE_DIR
from perfkit.errors import InputError
from perfkit.plan_schema import PLAN_SCHEMA, check_plan, parse_plan
from perfkit.store import create_store


def broken_plan(tmp_path, old: str, new: str):
    """A copy of the bundled plan folder with one edit in plan.toml."""
    folder = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, folder)
    text = (folder / "plan.toml").read_text(encoding="utf-8")
    assert old in text
    (folder / "plan.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def line_of(folder, needle: str) -> int:
    lines = (folder / "plan.toml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_bundled_plan_fits_the_schema():
    plan = load_plan()
    assert check_plan(plan, "plan.toml") == []
    assert set(PLAN_SCHEMA) <= set(plan)


@pytest.mark.parametrize(
    "old, new, needle, reason",
    [
        ("max_file_mb = 5", 'max_file_mb = "5MB"', "max_file_mb", "[intake] max_file_mb must be a number > 0, got '5MB'"),
        ("recent_weight = 0.5", "recent_weight = nan", "recent_weight", "[investment.projection] recent_weight must be a number from 0 to 1, got nan"),
        ('"已完成" = 1.0 }', '"已完成" = true }', "milestone_status_fraction", "[scoring.milestone_status_fraction] 已完成 must be a number from 0 to 1, got True"),
        ("workers = 2", "workers = 1.5", "workers = 1.5", "[brief] workers must be a whole number ≥ 1, got 1.5"),
        ("negative_growth_alert = true", 'negative_growth_alert = "yes"', "negative_growth_alert", "[risks] negative_growth_alert must be true or false, got 'yes'"),
        ("road = [13.0, 14.0]", "road = [13.0]", "bands =", "[turnover.bands] road must be a list of 2 numbers, got [13.0]"),
        ("public = 85.0", "public = inf", "public = inf", "[assumptions] public must be a number from 0 to 100, got inf"),
        ('"科学行政" = 4', '"科学行政" = "4"', '"科学行政"', "[weights.sections] 科学行政 must be a number ≥ 0, got '4'"),
        ("alert_gap_pp = 30.0\n", "", "[risks]", "[risks] alert_gap_pp is missing"),
        ("max_file_mb = 5", "max_fle_mb = 50", "max_fle_mb", "[intake] max_fle_mb is not a setting (the settings are max_file_mb, "),
    ],
)  # fmt: skip
def test_wrong_type_names_file_line_key_and_expected_type(tmp_path, old, new, needle, reason):
    folder = broken_plan(tmp_path, old, new)
    with pytest.raises(InputError) as err:
        load_plan(folder)
    assert len(err.value.problems) == 1
    text = str(err.value.problems[0])
    assert text.startswith(f"{folder / 'plan.toml'} line {line_of(folder, needle)}: {reason}"), text


def test_syntax_error_names_file_and_line(tmp_path):
    folder = broken_plan(tmp_path, "top_problems = 10", "top_problems = = 10")
    with pytest.raises(InputError) as err:
        load_plan(folder)
    text = str(err.value)
    assert text.startswith(
        f"{folder / 'plan.toml'} line {line_of(folder, 'top_problems = =')}: not valid TOML"
    )
    assert "\n" not in text


def test_not_a_table_and_many_problems_are_capped(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text("risks = 3\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        parse_plan(path)
    assert f"{path} line 1: [risks] must be a table, got 3" in str(err.value).splitlines()
    path.write_text("".join(f"[{name}]\n" for name in PLAN_SCHEMA), encoding="utf-8")  # every key missing
    with pytest.raises(InputError) as err:
        parse_plan(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 21 and lines[-1].endswith("more problems")


# A wrong type and a syntax error, met by every command that reads the plan (the store records its plan
# folder when it is created; the commands read it from there). `history` reads no plan.
COMMANDS = [
    ["score"],
    ["ingest", "{turnover}"],
    ["brief", "--out", "{out}"],
    ["risks", "--as-of", "2019-09"],
    ["invest", "--as-of", "2019-09"],
    ["growth", "--as-of", "2019-09"],
    ["template", "--month", "2019-10", "--out", "{out}"],
    ["catalog", "show"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    "old, new, said",
    [
        ("max_file_mb = 5", 'max_file_mb = "5MB"', "[intake] max_file_mb must be a number > 0, got '5MB'"),
        ("top_problems = 10", "top_problems = = 10", "not valid TOML"),
    ],
    ids=["wrong-type", "syntax-error"],
)
def test_every_command_refuses_a_broken_plan_in_one_line(tmp_path, command, old, new, said):
    folder = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, folder)
    db = tmp_path / "perfkit.sqlite"
    create_store(db, plan_dir=folder, sample_dir=SAMPLE_DIR)
    plan = folder / "plan.toml"
    plan.write_text(plan.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    turnover = tmp_path / "turnover.csv"
    turnover.write_text(
        "月份,运输方式,口径,旅客周转量（万人公里）,货物周转量（万吨公里）\n2019年3月,公路,当月,1.0,2.0\n"
    )
    args = [a.format(turnover=turnover, out=tmp_path / "out") for a in command]
    out = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "--db", str(db), *args], capture_output=True, text=True
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(f"{plan} line ") and said in out.stderr
    assert not (tmp_path / "out").exists()


def test_a_misspelt_intake_limit_is_refused_by_init_and_no_store_is_made(tmp_path):
    """[intake] max_fle_mb = 50 (meant: max_file_mb) left the 5 MB default in force without a word; now
    `perfkit init` in a real process names the file, the line and the key, exit 2, and makes no store."""
    from test_cli import one_line, perfkit

    folder = broken_plan(tmp_path, "max_file_mb = 5", "max_fle_mb = 50")
    db = tmp_path / "s.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(folder))
    assert got.returncode == 2
    line = one_line(got.stderr)
    where = f"{folder / 'plan.toml'} line {line_of(folder, 'max_fle_mb')}"
    assert line.startswith(f"{where}: [intake] max_fle_mb is not a setting (the settings are max_file_mb")
    assert not db.exists()


def test_a_misspelt_brief_setting_is_refused_by_init_and_no_store_is_made(tmp_path):
    """[brief] worker = 4 (meant: workers) left the default 2 kernels without a word: [brief] was open while
    [intake] and [document] were closed. Now `perfkit init` in a real process names the file, the line and
    the key, exit 2, and makes no store."""
    from test_cli import one_line, perfkit

    folder = broken_plan(tmp_path, "workers = 2", "worker = 4")
    db = tmp_path / "s.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(folder))
    assert got.returncode == 2
    where = f"{folder / 'plan.toml'} line {line_of(folder, 'worker = 4')}"
    settings = "workers, html_from, unit_notebook, report_due_day, cell_timeout_s, top_problems, notebooks"
    assert one_line(got.stderr) == f"{where}: [brief] worker is not a setting (the settings are {settings})"
    assert not db.exists()


def test_a_misspelt_setting_of_a_brief_notebook_is_refused(tmp_path):
    """{ file = "risks.ipynb", write = [...] } (meant: writes) left the brief without its check that the
    notebook wrote its files: the entries of [brief] notebooks are closed as [brief] is. `perfkit init` in a
    real process names the file, the line of `notebooks`, the entry and the key, exit 2, no store."""
    from test_cli import one_line, perfkit

    folder = broken_plan(tmp_path, '{ file = "risks.ipynb", writes', '{ file = "risks.ipynb", write')
    db = tmp_path / "s.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(folder))
    assert got.returncode == 2
    where = f"{folder / 'plan.toml'} line {line_of(folder, 'notebooks = [')}"
    assert one_line(got.stderr) == (
        f"{where}: [brief] notebooks entry 2: write is not a setting (an entry's settings are file, writes)"
    )
    assert not db.exists()


def test_a_byte_order_mark_is_read_and_shares_that_do_not_add_up_are_refused(tmp_path):
    """Notepad saves "UTF-8" with a byte-order mark: init said 'line 1: not valid TOML: Invalid statement'.
    target_weight 0.7 with public_weight 0.4 made a store whose 考评总得分 could pass 100."""
    from test_cli import one_line, perfkit

    folder = broken_plan(tmp_path, "public_weight = 0.3", "public_weight = 0.3")
    toml = folder / "plan.toml"
    toml.write_bytes(b"\xef\xbb\xbf" + toml.read_bytes().replace(b"\n", b"\r\n"))
    db = tmp_path / "bom.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(folder))
    assert got.returncode == 0, got.stderr
    assert load_plan(folder)["formula"] == {"target_weight": 0.7, "public_weight": 0.3}

    folder = broken_plan(tmp_path / "sum", "public_weight = 0.3", "public_weight = 0.4")
    db = tmp_path / "sum.sqlite"
    got = perfkit("--db", str(db), "init", "--plan", str(folder))
    line = line_of(folder, "public_weight")
    says = f"{folder / 'plan.toml'} line {line}: [formula] public_weight and target_weight must add up to 1, got 0.7 + 0.4"
    assert (got.returncode, one_line(got.stderr)) == (2, says)
    assert not db.exists()
