"""perfkit.turnover_table: the turnover table read for intake, from a sheet's grid or a CSV. Whole files
through ingest are tested in tests/test_intake.py."""

from __future__ import annotations

import pytest

from perfkit.errors import InputError
from perfkit.turnover_table import read_turnover_csv, turnover_frame

HEADER = ["月份", "运输方式", "旅客周转量", "货物周转量"]


def test_a_gb18030_csv_is_read_and_trailing_comma_lines_are_not_data():
    text = ",".join(HEADER) + "\n2019-01,公路,1.5,20\n,,,\n,,,\n"
    frame, letters = read_turnover_csv(text.encode("gb18030"), "t.csv")
    assert len(frame) == 1 and frame["passenger_km"].tolist() == ["1.5"]
    assert letters["month"] == "A" and letters["ton_km"] == "D"


def test_too_many_rows_are_refused_before_pandas_reads_them():
    text = ",".join(HEADER) + "\n" + "2019-01,公路,1,2\n" * 11
    with pytest.raises(InputError, match="11 data rows, over the limit of 10"):
        read_turnover_csv(text.encode("utf-8"), "t.csv", max_rows=10)


def test_a_sheet_is_a_turnover_table_only_by_its_headers_and_its_numbers_are_checked_by_cell():
    assert turnover_frame([["措施编号", "本年累计完成"], ["1-1-1.1", 3]], "b.xlsx", "Sheet1", {}) is None
    grid = [HEADER, ["2019-01", "公路", 1.5, 20], ["2019-02", "公路", "二十", 21], ["", "", "", ""]]
    with pytest.raises(InputError) as err:
        turnover_frame(grid, "b.xlsx", "Sheet1", {})
    [problem] = err.value.problems
    assert (problem.file, problem.sheet, problem.cell) == ("b.xlsx", "Sheet1", "C3")
    frame = turnover_frame(grid[:2], "b.xlsx", "Sheet1", {"D2": "formatted as a percentage: …"})
    assert frame["month"].tolist() == ["2019-01"]  # a number formatted as % is fine outside the YoY column


def test_a_month_typed_as_a_number_is_refused_not_read_as_january():
    # Excel keeps 2019.10 typed into a General cell as the number 2019.1: it read as January, silently
    grid = [HEADER, [2019.1, "公路", 1.5, 20], ["2019-09", "公路", 1, 2], [43739.0, "公路", 1, 2]]
    with pytest.raises(InputError) as err:
        turnover_frame(grid, "b.xlsx", "Sheet1", {})
    [problem] = err.value.problems  # a date serial (43739 is 2019-10-01) is a month
    assert (problem.sheet, problem.cell) == ("Sheet1", "A2")
    assert "holds the number 2019.1" in problem.reason and "2019年10月" in problem.reason
