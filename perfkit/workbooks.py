"""Excel workbooks people read and print: risk_flags.xlsx and the catalogue in the bureau's layout (考评表).

Both in perfkit.sheet_style's look: A4, fitted to the page width, the header rows repeated on every page,
thin borders, wrapped text with rows as tall as their lines. Text goes through `exports.neutralise`.
"""

from __future__ import annotations

import math
from copy import copy
from pathlib import Path

import numpy as np
import pandas as pd

from .exports import neutralise, write_whole
from .labels import t
from .sheet_style import (
    HEADER_FILL,
    LINE_HEIGHT,
    fit_row_heights,
    print_setup,
    text_width,
    thin_border,
    wrapped_lines,
)


def _cell(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ------------------------------------------------------------------------------------ risk_flags.xlsx

# problems first: 未完成, 预警 and 缺报 (red and grey: someone must act), then 关注, then 正常, then 已完成
PROBLEM_RANK_OF_LEVEL = {4: 0, 3: 0, 2: 0, 1: 1, 0: 2, -1: 3}


def problems_first(flags: pd.DataFrame) -> pd.DataFrame:
    """The flags with problems first (未完成/预警/缺报, then 关注, then 正常, then 已完成), each group by
    points at risk, highest first; ties keep their order."""
    from .risks import LEVEL

    rank = flags["status"].map(lambda s: PROBLEM_RANK_OF_LEVEL.get(LEVEL.get(s, 0), 2))
    points = pd.to_numeric(flags["points_at_risk"], errors="coerce").fillna(0.0)
    order = pd.DataFrame({"rank": rank.to_numpy(), "points": -points.to_numpy()})
    return flags.iloc[order.sort_values(["rank", "points"], kind="mergesort").index].reset_index(drop=True)


def write_flags_xlsx(
    flags: pd.DataFrame,
    path: str | Path,
    *,
    by_unit: pd.DataFrame | None = None,
    by_leader: pd.DataFrame | None = None,
    notes: list[str] | tuple[str, ...] = (),
    lang: str = "zh",
) -> Path:
    """risk_flags.xlsx: problems first, status cells coloured, long reasons wrapped with the rows as tall as
    their lines, borders, header frozen and repeated on every printed page, filters on, A4 landscape fitted
    to the width, text neutralised.

    Sheets: the flag list, totals by unit and by leader if given, and notes.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from .charts import STATUS_COLOURS
    from .tables import flags_table, people_table, status_label

    wb = Workbook()
    sheets = [(t("risk.sheet.flags", lang), flags_table(problems_first(flags), lang, reason_sep="\n"))]
    if by_unit is not None:
        sheets.append((t("risk.sheet.by_unit", lang), people_table(by_unit, lang=lang)))
    if by_leader is not None:
        sheets.append((t("risk.sheet.by_leader", lang), people_table(by_leader, lang=lang)))
    status_header = {t("risk.col.status", lang), t("risk.col.worst_status", lang)}
    fills = {
        status_label(zh, lang): (PatternFill("solid", fgColor=colour.lstrip("#").upper()), colour)
        for zh, colour in STATUS_COLOURS.items()
    }
    border = thin_border()
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for i, (title, table) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = title
        ws.append([str(c) for c in table.columns])
        for row in table.itertuples(index=False):
            ws.append([_cell(neutralise(v)) for v in row])
        widths = {}
        for j, header in enumerate(table.columns, start=1):
            letter = get_column_letter(j)
            width = max([text_width(header)] + [text_width(v) for v in table.iloc[:200, j - 1]])
            widths[j] = min(max(width + 2, 8), 60)
            ws.column_dimensions[letter].width = widths[j]
        # every body cell gets the first one's alignment and border: registered once, then its style array
        # copied (openpyxl hashes a style object into the workbook's tables on every assignment: 0.2 s of a
        # brief's risks); each cell keeps the number format append gave it (a date's, say)
        body = None
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if body is None:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
                    cell.border = border
                    body = cell._style
                else:
                    style = copy(body)
                    if cell._style is not None:  # None: a cell openpyxl never styled (number format 0)
                        style.numFmtId = cell._style.numFmtId
                    cell._style = style
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.border = border
            cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        for j, header in enumerate(table.columns, start=1):
            if header in status_header:
                for cell in ws[get_column_letter(j)][1:]:
                    fill = fills.get(cell.value)
                    if fill:
                        cell.fill = fill[0]
                        dark = fill[1] in ("#2e7d32", "#c62828", "#6d1b1b", "#757575")
                        cell.font = Font(bold=True, color="FFFFFF" if dark else "000000")
        fit_row_heights(ws, 1, widths)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
        print_setup(ws, landscape=True, title_rows="1:1")
    ws = wb.create_sheet(t("risk.sheet.notes", lang))
    for line in [*notes, t("risk.note.order", lang)]:
        ws.append([neutralise(line)])
    ws.column_dimensions["A"].width = 120
    for row in ws.iter_rows():
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    fit_row_heights(ws, 1, {1: 120})
    print_setup(ws, landscape=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_whole(path, wb.save)


# ---------------------------------------------------------------------------- the catalogue (考评表)

ATTACHMENT_COLUMNS = {
    "category": 1,
    "section": 2,
    "id": 3,
    "basis": 4,
    "first_level": 5,
    "second_level": 6,
    "weight": 7,
    "deadline": 8,
    "leaders": 9,
    "units": 10,
    "persons": 11,
    "remark": 12,
}
ATTACHMENT_WIDTHS = [10, 10, 8, 20, 28, 46, 6, 7, 8, 18, 9, 7]
ATTACHMENT_HEADER_ROWS = (2, 3)
ATTACHMENT_FIRST_ROW = 4


def write_attachment_xlsx(raw: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Write the raw attachment (catalogue.read_attachment_csv) in the bureau's layout, as the plan prints
    its 考评表: a two-row header, each first-level block (职能工作目标80分, 行政能力目标20分) and each
    section one merged cell down its rows, blank owner and basis cells merged into the cell above within a
    first-level group, admin text spanning basis..second level, subtotal labels spanning the text columns;
    thin borders on every cell, wrapped text with rows as tall as their lines, the header frozen and
    repeated on every printed page, A4 landscape fitted to the width.

    Used by `catalog export` and to build test fixtures; `catalogue.load_catalogue(attachment=…)` reads it
    back to the same indicators.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    from .catalogue import INHERITED, SUBTOTAL_RE, group_key

    col = ATTACHMENT_COLUMNS
    wb = Workbook()
    ws = wb.active
    ws.title = "考评表"
    ws.cell(1, 1, neutralise(title)).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=12)
    ws.row_dimensions[1].height = 28
    ws.cell(2, 1, "项 目")
    ws.cell(2, 3, "目标内容")
    ws.cell(2, 8, "完成时限")
    ws.cell(2, 9, "责任分解")
    ws.cell(2, 12, "备注")
    for key, word in [
        ("id", "序号"),
        ("basis", "文件依据"),
        ("first_level", "一级指标"),
        ("second_level", "二级指标"),
        ("weight", "权重"),
        ("leaders", "分管\n领导"),
        ("units", "责任\n单位"),
        ("persons", "责任人"),
    ]:
        ws.cell(3, col[key], word)

    r0 = ATTACHMENT_FIRST_ROW
    runs: list[tuple[int, int, int]] = []  # (column, first row, last row) to merge
    open_run: dict[int, list] = {}  # column -> [first row, last row, text] of the run being extended
    spans: list[tuple[int, int, int]] = []  # (row, first column, last column) merged across
    last_group = None

    def close(c: int) -> None:
        run = open_run.pop(c, None)
        if run and run[1] > run[0]:
            runs.append((c, run[0], run[1]))

    def extend(c: int, r: int, text: str, *, same_continues: bool) -> None:
        """Blank continues the run above; so does the same text again, for the category and section
        columns (the transcription repeats them where the printed plan turns a page)."""
        run = open_run.get(c)
        if text and not (same_continues and run and run[2] == text):
            close(c)
            ws.cell(r, c, neutralise(text))
            open_run[c] = [r, r, text]
        elif run:
            run[1] = r

    records = raw.to_dict("records")
    for i, rec in enumerate(records):
        r = r0 + i
        cat = str(rec["category"]).strip()
        if SUBTOTAL_RE.match(cat) or cat.startswith("绩效目标考评得分"):
            for c in list(open_run):
                close(c)
            ws.cell(r, 1, cat)
            spans.append((r, 1, 6))
            ws.cell(r, col["weight"], float(rec["weight"]))
            last_group = None
            continue
        admin = str(rec["id"]).split("-")[0] not in {"1", "2"}
        gid = group_key(str(rec["section"]), str(rec["id"]), admin)
        if gid != last_group:
            for key in INHERITED:
                close(col[key])
            last_group = gid
        extend(col["category"], r, cat, same_continues=True)
        extend(col["section"], r, str(rec["section"]).strip(), same_continues=True)
        ws.cell(r, col["id"], str(rec["id"]))
        ws.cell(r, col["weight"], float(rec["weight"]))
        ws.cell(r, col["deadline"], str(rec["deadline"]))
        if str(rec["remark"]).strip():
            ws.cell(r, col["remark"], neutralise(str(rec["remark"])))
        if admin:
            ws.cell(r, col["basis"], neutralise(str(rec["second_level"])))
            spans.append((r, col["basis"], col["second_level"]))
        else:
            ws.cell(r, col["second_level"], neutralise(str(rec["second_level"])))
        for key in INHERITED:
            if admin and key in ("basis", "first_level"):
                continue
            extend(col[key], r, str(rec[key]).strip(), same_continues=False)
    for c in list(open_run):
        close(c)

    last_row = r0 + len(records) - 1
    border = thin_border()
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for c, width in enumerate(ATTACHMENT_WIDTHS, start=1):
        ws.column_dimensions[chr(64 + c)].width = width
    for row in ws.iter_rows(min_row=2, max_row=last_row, max_col=12):
        for cell in row:
            cell.border = border
            header = cell.row in ATTACHMENT_HEADER_ROWS
            cell.alignment = Alignment(
                wrap_text=True,
                vertical="center",
                horizontal="center" if header or cell.column not in (4, 5, 6, 12) else "left",
            )
            if header:
                cell.font = Font(bold=True)
                cell.fill = header_fill
    # merged after styling: a merged range draws the borders its cells had
    for first_col, last_row_, last_col in ((1, 3, 2), (3, 2, 7), (8, 3, 8), (9, 2, 11), (12, 3, 12)):
        ws.merge_cells(start_row=2, start_column=first_col, end_row=last_row_, end_column=last_col)
    for c, first, last in runs:
        ws.merge_cells(start_row=first, start_column=c, end_row=last, end_column=c)
    for r, first, last in spans:
        ws.merge_cells(start_row=r, start_column=first, end_row=r, end_column=last)
    # a row's height follows its own cells; text merged down several rows is left to those rows
    widths = {c: w for c, w in enumerate(ATTACHMENT_WIDTHS, start=1) if c not in (1, 2)}
    merged_down = {(c, r) for c, first, last in runs for r in range(first, last + 1)}
    for r in range(r0, last_row + 1):
        lines = 1
        for c, w in widths.items():
            value = ws.cell(r, c).value
            if value is None or (c, r) in merged_down:
                continue
            span = next((last - first + 1 for rr, first, last in spans if rr == r and first == c), 1)
            room = w if span == 1 else sum(ATTACHMENT_WIDTHS[first - 1 : first - 1 + span])
            lines = max(lines, wrapped_lines(value, room))
        ws.row_dimensions[r].height = lines * LINE_HEIGHT + 3
    ws.freeze_panes = f"A{ATTACHMENT_FIRST_ROW}"
    print_setup(ws, landscape=True, title_rows=f"{ATTACHMENT_HEADER_ROWS[0]}:{ATTACHMENT_HEADER_ROWS[-1]}")
    return write_whole(path, wb.save)  # into an existing folder: `catalog export --out` makes none
