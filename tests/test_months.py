"""Months: one parser and validator for as-of months, the same wording everywhere, exit 2 from the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from perfkit.cli import main
from perfkit.errors import InputError
from perfkit.months import (
    MonthError,
    check_month,
    months_to,
    parse_month,
    quarter_end,
    quarter_of,
    quarter_start,
    resolve_as_of,
    year_start,
)

WORDING = "expected a month as YYYY-MM"


@pytest.mark.parametrize("text", ["2019-9", "2019-13", "2019/09", "Sept", "", "2019-00", "19-09", None])
def test_malformed_months_are_one_error_in_one_wording(text):
    with pytest.raises(MonthError, match=WORDING) as err:
        parse_month(text)
    # the CLI treats it as bad input (exit 2), library callers may catch a ValueError
    assert isinstance(err.value, InputError) and isinstance(err.value, ValueError)
    assert str(err.value).startswith("--as-of: ")


def test_parse_and_arithmetic():
    assert parse_month(" 2019-09 ") == pd.Period("2019-09", "M")
    assert parse_month(pd.Period("2019-09-15", "D")) == pd.Period("2019-09", "M")
    assert parse_month("2019-10", source="--month") == pd.Period("2019-10", "M")
    assert year_start(pd.Period("2019-09", "M")) == pd.Period("2019-01", "M")
    assert [str(m) for m in months_to(pd.Period("2019-03", "M"))] == ["2019-01", "2019-02", "2019-03"]
    assert quarter_of("2019-09") == (2019, 3) and quarter_of("2019-10") == (2019, 4)
    assert [str(quarter_start(2019, q)) for q in (1, 4)] == ["2019-01", "2019-10"]
    assert [str(quarter_end(2019, q)) for q in (1, 2, 4)] == ["2019-03", "2019-06", "2019-12"]


def test_month_outside_the_plan_year_or_after_the_data():
    with pytest.raises(MonthError, match="2018-12 is outside the plan's year 2019"):
        check_month(pd.Period("2018-12", "M"), 2019)
    with pytest.raises(MonthError, match=r"2019-10 is after the latest month with data \(2019-09\)"):
        check_month(pd.Period("2019-10", "M"), 2019, "2019-09")
    assert check_month(pd.Period("2019-09", "M"), 2019, "2019-09") == pd.Period("2019-09", "M")


def test_resolve_defaults_to_the_latest_month(sample_conn, empty_db):
    from perfkit.store import open_store

    assert resolve_as_of(sample_conn) == pd.Period("2019-09", "M")
    assert resolve_as_of(sample_conn, "") == pd.Period("2019-09", "M")
    assert resolve_as_of(sample_conn, "2019-05") == pd.Period("2019-05", "M")
    with pytest.raises(MonthError, match="no progress data"):
        resolve_as_of(open_store(empty_db))


@pytest.mark.parametrize("command", ["score", "growth", "invest", "risks", "brief"])
@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2018-12", "--as-of: 2018-12 is outside the plan's year 2019"),
        ("2019-10", "--as-of: 2019-10 is after the latest month with data (2019-09)"),
        ("2019-9", "--as-of: expected a month as YYYY-MM, got '2019-9'"),
    ],
)
def test_cli_refuses_a_wrong_month_the_same_way_everywhere(
    sample_db, tmp_path, capsys, command, as_of, message
):
    argv = ["--db", str(sample_db), command, "--as-of", as_of]
    if command == "brief":
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == message
    assert not (tmp_path / "out").exists()  # the brief stopped before any notebook ran


def test_cli_defaults_to_the_latest_month(sample_db, capsys):
    import json

    assert main(["--db", str(sample_db), "score", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["as_of"] == "2019-09"
    assert main(["--db", str(sample_db), "invest", "--format", "table"]) == 0
    assert capsys.readouterr().out.startswith("as of 2019-09")
