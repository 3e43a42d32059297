"""perfkit.errors: problems name where bad input is, and survive a trip between processes."""

from __future__ import annotations

import pickle

from perfkit.errors import InputError, Problem


def test_problem_names_file_sheet_and_cell():
    assert str(Problem("a.xlsx", "not a number", "填报", "J4")) == "a.xlsx [填报] J4: not a number"
    assert str(Problem("a.csv", "empty file")) == "a.csv: empty file"


def test_input_error_keeps_its_problems_through_pickle():
    """Files parsed in a worker process send their InputError back pickled."""
    err = InputError(
        [Problem("a.xlsx", "text in a number cell", "填报", "J4"), Problem("a.xlsx", "no status")]
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is InputError
    assert back.problems == err.problems and str(back) == str(err)
    assert pickle.loads(pickle.dumps(InputError(Problem("b", "x")))).problems == [Problem("b", "x")]


def test_an_input_that_is_not_a_saved_file_is_named(tmp_path):
    """input_file: a missing path, a folder, a named pipe (opening it blocks until a writer comes) and a
    device (/dev/zero reads forever) are each one Problem naming the path; a regular file passes."""
    import os

    import pytest

    from perfkit.errors import input_file

    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    cases = {
        tmp_path / "nope.csv": "cannot read the file (No such file or directory)",
        tmp_path: "is a folder, not a file",
        pipe: "not a regular file (a device, pipe or socket): give a saved file",
        "/dev/zero": "not a regular file (a device, pipe or socket): give a saved file",
    }
    for path, reason in cases.items():
        with pytest.raises(InputError) as err:
            input_file(path)
        assert [str(p) for p in err.value.problems] == [f"{path}: {reason}"]
    saved = tmp_path / "a.csv"
    saved.write_text("month,value\n")
    assert input_file(saved) == saved


def test_a_long_reason_is_printed_with_its_ends_only():
    # a turnover table's 运输方式 cell of 30,000 characters, quoted in the reason, printed a 90 KB line
    from perfkit.errors import REASON_ENDS, Problem

    reason = "mode must be 公路 or 水路, got '" + "公" * 30_000 + "'"
    line = str(Problem("t.csv", reason, cell="B2"))
    assert line.startswith("t.csv B2: mode must be 公路 or 水路, got '公公") and line.endswith("公公'")
    assert f"({len(reason) - 2 * REASON_ENDS:,} characters left out)" in line and len(line) < 700
    assert str(Problem("t.csv", "short")) == "t.csv: short"
