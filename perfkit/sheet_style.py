"""How every workbook perfkit writes prints and looks: A4 (paper size 9) fitted to the page width with the
header rows repeated on every page, thin borders, and row heights set for the lines wrapped text takes
(Excel does not grow a row for wrapped text written by a program). Used by the exports
(perfkit.workbooks) and the fill-in forms (perfkit.forms); openpyxl is imported inside the functions, as
intake imports this module and must stay quick to start.
"""

from __future__ import annotations

import math

A4 = 9  # the paperSize code of A4 in SpreadsheetML
LINE_HEIGHT = 15.0  # points per line of 11-point text (CJK glyphs need a little more than Latin)
BORDER_COLOUR = "A6A6A6"
HEADER_FILL = "DDEBF7"


def print_setup(ws, *, landscape: bool = True, title_rows: str | None = None) -> None:
    """A4, fitted to the page width (as many pages down as needed), `title_rows` ('2:2') on every page."""
    ws.page_setup.paperSize = A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    if title_rows:
        ws.print_title_rows = title_rows


def thin_border():
    from openpyxl.styles import Border, Side

    side = Side(style="thin", color=BORDER_COLOUR)
    return Border(left=side, right=side, top=side, bottom=side)


def text_width(value: object) -> int:
    """Display width of the longest line (CJK characters take two columns)."""
    lines = str(value if value is not None else "").splitlines() or [""]
    return max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in line) for line in lines)


def wrapped_lines(value: object, width: float) -> int:
    """How many lines `value` takes in a wrapped cell `width` characters wide."""
    if value is None or value == "":
        return 1
    room = max(int(width) - 1, 1)
    return sum(max(1, math.ceil(text_width(line) / room)) for line in str(value).splitlines() or [""])


def fit_row_heights(ws, first_row: int, widths: dict[int, float], last_row: int | None = None) -> None:
    """Set each row's height for its tallest wrapped cell (`widths`: column number → width; merged
    cells count with the width of their first column)."""
    for r in range(first_row, (last_row or ws.max_row) + 1):
        lines = max(
            (
                wrapped_lines(ws.cell(r, c).value, w)
                for c, w in widths.items()
                if ws.cell(r, c).value is not None
            ),
            default=1,
        )
        ws.row_dimensions[r].height = max(lines, 1) * LINE_HEIGHT + 3
