"""perfkit.safe_xlsx: the cell scans over a sheet's XML. Whole workbooks, hostile ones included, go through
ingest in tests/test_intake.py (CASES and the hostile-input battery)."""

from __future__ import annotations

import pytest

from perfkit.errors import InputError
from perfkit.forms import IntakeRules
from perfkit.safe_xlsx import _scan_cells, _value_extent, open_book

SHEET = "填报"


def test_cell_scan_follows_rows_and_cells_without_references():
    xml = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="3"><c><v>1</v></c><c><f>A1</f></c><c s="1"><v>0.5</v></c></row>'
        b'<row><c t="e"><f>1/0</f><v>#DIV/0!</v></c><c><f t="shared" si="0"/><v>2</v></c></row>'
        b"</sheetData></worksheet>"
    )
    flags = _scan_cells(xml, {1}, "f.xlsx", SHEET)
    assert sorted(flags) == ["A4", "B3", "C3"]
    assert flags["B3"].startswith("formula without a cached value")
    assert flags["C3"].startswith("formatted as a percentage")
    assert flags["A4"].startswith("error value #DIV/0!")
    # the grid calamine would build: up to the last cell holding something; formatting-only cells do not count
    assert _value_extent(xml, "f.xlsx", SHEET) == (4, 3)
    assert _value_extent(
        b'<sheetData><row r="9"><c r="AB9" s="1"/><c r="C2"><v>1</v></c></row></sheetData>', "f", SHEET
    ) == (2, 3)


@pytest.mark.parametrize(
    ("cells", "extent"),
    [
        (b'<c r="B2"><v>1</v></c><c r="AB9" s="1"></c>', (2, 2)),  # closed at once: formatting only
        (b'<c r="B2"><v>1</v></c><c r="AB9" s="1" />', (2, 2)),  # self-closed, with a space
        (b'<x:c r="B2"><x:v>1</x:v></x:c><x:c r="AB9" s="1"></x:c>', (2, 2)),  # a namespace prefix
        (b'<c s="1" r="c7" t="n"><v>1</v></c>', (7, 3)),  # the reference after other attributes, lower case
        (b"<c  r = 'AA3' ><v>1</v></c>", (3, 27)),  # spaces and single quotes
        (b'<c t="s" r="Z1"><v>0</v></c><c r="AA1"><v>0</v></c>', (1, 27)),  # AA is wider than Z
        # the first r= as a search of the attributes finds it, inside another one's value too (a lie can only
        # make the extent larger, and the limit refuses it)
        (b'<c foo=" r=\'XFD9\'" r="A2"><v>1</v></c>', (9, 16384)),
        (b'<c xr="Q9" r="B1"><v>1</v></c>', (1, 2)),  # r= only after white space
        (b"", (0, 0)),
    ],
)
def test_value_extent_counts_value_cells_by_their_references(cells, extent):
    """The extent calamine would allocate: the last row and the widest column of cells that may hold a value."""
    xml = b'<worksheet><sheetData><row r="1">' + cells + b"</row></sheetData></worksheet>"
    assert _value_extent(xml, "f.xlsx", SHEET) == extent


def test_value_extent_of_a_cell_without_a_usable_reference_walks_the_elements():
    """A value cell whose reference is missing follows the previous one; XML the walk cannot read is damaged,
    named with its sheet."""
    xml = b'<worksheet><sheetData><row r="5"><c r="B5"><v>1</v></c><c><v>2</v></c></row></sheetData></worksheet>'
    assert _value_extent(xml, "f.xlsx", SHEET) == (5, 3)
    bad = b"<worksheet><sheetData><row><c><v>1</v></row></sheetData></worksheet>"
    with pytest.raises(InputError) as err:
        _value_extent(bad, "f.xlsx", SHEET)
    assert err.value.problems[0].sheet == SHEET and "damaged sheet XML" in err.value.problems[0].reason


@pytest.mark.parametrize(
    ("name", "owner"), [("~$市道管处.xlsx", "市道管处.xlsx"), (".~lock.b.xlsx#", "b.xlsx")]
)
def test_an_office_lock_file_is_named_as_one(tmp_path, name, owner):
    # `perfkit ingest inbox/*.xlsx` while someone has a workbook open picks up its lock file
    lock = tmp_path / name
    lock.write_bytes(b"\x0bzhang san" + b" " * 40 + b"\x00" * 50)
    with pytest.raises(InputError) as err:
        open_book(lock, lock.read_bytes(), IntakeRules())
    [problem] = err.value.problems
    assert problem.file == str(lock) and problem.reason.startswith(
        f"a lock file Excel, WPS or LibreOffice keeps while {owner} is open"
    )


@pytest.mark.parametrize(
    ("part", "old", "new", "reason"),
    [
        ("xl/styles.xml", b'numFmtId="164"', b'numFmtId="abc"', "damaged workbook part xl/styles.xml"),
        ("xl/worksheets/sheet1.xml", b'<c r="A2" s="1"', b'<c r="A2" s="q"', "damaged sheet XML"),
        ("xl/worksheets/sheet1.xml", b'<row r="2"', b'<row r="x"', "damaged sheet XML"),
    ],
)
def test_a_style_or_reference_that_is_not_a_number_is_one_problem_not_a_crash(
    tmp_path, part, old, new, reason
):
    # int() of a hand-made or damaged attribute ended `perfkit ingest` with exit 1 ('invalid literal')
    from battery import rezip
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["月份", "share"])
    wb.active.append(["2019-01", 0.5])
    wb.active["B2"].number_format = "0.0%"  # a custom % format: styles are parsed, cells scanned
    wb.active["A2"].number_format = "0.0%"
    made = tmp_path / "made.xlsx"
    wb.save(made)

    def change(name, data):
        if name != part:
            return data
        assert old in data, data[:400]
        return data.replace(old, new, 1)

    bad = rezip(made, tmp_path / "bad.xlsx", change)
    book = open_book(bad, bad.read_bytes(), IntakeRules())
    with pytest.raises(InputError) as err:
        book.cell_flags(book.sheets[0])
    [problem] = err.value.problems
    assert problem.file == str(bad) and problem.reason.startswith(reason), problem.reason
