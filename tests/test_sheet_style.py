"""perfkit.sheet_style: widths of mixed Chinese/Latin text, wrapped line counts, and the print setup and row
heights of a real workbook written and read back."""

from __future__ import annotations

from openpyxl import Workbook, load_workbook

from perfkit import sheet_style


def test_cjk_characters_take_two_columns_and_wrap_accordingly():
    assert sheet_style.text_width("报表ab") == 6
    assert sheet_style.text_width("ab\n报表报表") == 8  # the longest line
    assert sheet_style.wrapped_lines("报表" * 10, 11) == 4  # 40 columns in rows of 10
    assert sheet_style.wrapped_lines("a\nb", 20) == 2
    assert sheet_style.wrapped_lines(None, 5) == 1


def test_print_setup_and_row_heights_survive_a_save(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["A1"], ws["A2"], ws["A3"] = "标题", "报表" * 10, "short"
    sheet_style.print_setup(ws, landscape=False, title_rows="1:1")
    sheet_style.fit_row_heights(ws, 2, {1: 11})
    wb.save(tmp_path / "styled.xlsx")
    back = load_workbook(tmp_path / "styled.xlsx").active
    assert back.page_setup.paperSize == sheet_style.A4 and back.page_setup.orientation == "portrait"
    assert back.page_setup.fitToWidth == 1 and back.sheet_properties.pageSetUpPr.fitToPage
    assert back.print_title_rows == "$1:$1"
    assert back.row_dimensions[2].height == 4 * sheet_style.LINE_HEIGHT + 3
    assert back.row_dimensions[3].height == sheet_style.LINE_HEIGHT + 3
