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
