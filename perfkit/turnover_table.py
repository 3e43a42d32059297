"""The turnover table as the statistics office sends it, read for intake: a sheet of a workbook (read through
perfkit.safe_xlsx) or a CSV, its headers recognised, number cells checked cell by cell, months after the
current one refused, then normalised to monthly values by perfkit.turnover. Problems name the file, sheet and
cell."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd

from .errors import InputError, Problem
from .forms import cell_number, cell_text, col_letter, is_blank, last_filled_row, month_text


def _too_many_rows(n: int, limit: int, file: str, sheet: str = "") -> None:
    if n > limit:  # a turnover table is a few hundred rows; a bigger one would only cost memory
        raise InputError(
            Problem(file, f"{n:,} data rows, over the limit of {limit:,} ([intake] max_table_rows)", sheet)
        )


def turnover_frame(
    grid: list[list], file: str, sheet: str, flags: dict[str, str], max_rows: int = 10_000
) -> pd.DataFrame | None:
    """A sheet grid as a turnover table (header in row 1), or None when its headers are not a turnover
    table's. Number cells must hold numbers; month cells may be dates."""
    from .turnover import canonical_columns

    if not grid or not any(not is_blank(v) for v in grid[0]):
        return None
    grid = grid[: last_filled_row(grid) + 1]  # the empty rows Excel leaves below a table are not data
    header = [cell_text(v) for v in grid[0]]
    try:
        canonical_columns(pd.DataFrame(columns=header), file, sheet)
    except InputError:
        return None
    _too_many_rows(len(grid) - 1, max_rows, file, sheet)
    frame = pd.DataFrame([list(r) + [""] * (len(header) - len(r)) for r in grid[1:]], columns=header)
    canon = canonical_columns(frame, file, sheet)
    problems = []
    letters = {c: col_letter(i + 1) for i, c in enumerate(canon.columns)}
    for i, rec in enumerate(canon.to_dict("records"), start=2):
        for key in ("month", "passenger_km", "ton_km", "official_yoy_pct"):
            if key not in letters:
                continue
            ref = f"{letters[key]}{i}"
            if ref in flags and (key == "official_yoy_pct" or not flags[ref].startswith("formatted")):
                problems.append(Problem(file, flags[ref], sheet, ref))
            elif key == "month" and (reason := _number_month(rec[key])):
                problems.append(Problem(file, reason, sheet, ref))
            elif key != "month" and not is_blank(rec[key]):
                _, reason = cell_number(rec[key])
                if reason:
                    problems.append(Problem(file, reason, sheet, ref))
    if problems:
        raise InputError(problems)
    canon["month"] = canon["month"].map(month_text)
    return canon


def _number_month(v: object) -> str | None:
    """Why a month cell holding a plain number (not a date) is refused: Excel keeps 2019.10 typed into a
    General cell as the number 2019.1, which reads as January, so a number cannot say which month it is."""
    if isinstance(v, bool) or not isinstance(v, int | float) or 20000 < v < 80000:
        return None  # text, or a date serial (month_text reads its month)
    return (
        f"month cell holds the number {v!r}, not a month: Excel drops a trailing zero (2019.10 becomes"
        " 2019.1, January); type the month as text, e.g. 2019-10 or 2019年10月"
    )


def check_turnover(
    frame: pd.DataFrame, file: str, sheet: str, letters: dict[str, str], today: date
) -> pd.DataFrame:
    """Normalise to monthly values (perfkit.turnover) and refuse months after the current one."""
    from .turnover import normalise_turnover, parse_period

    problems = []
    now = pd.Period(today, freq="M")
    for i, v in enumerate(frame["month"], start=2):
        try:
            month, _ = parse_period(v)
        except ValueError:
            continue  # reported by normalise_turnover
        if month > now:
            problems.append(
                Problem(file, f"month {month} is in the future", sheet, f"{letters.get('month', 'A')}{i}")
            )
    if problems:
        raise InputError(problems)
    return normalise_turnover(frame, file, sheet, letters)


def read_turnover_csv(data: bytes, file: str, max_rows: int = 10_000) -> tuple[pd.DataFrame, dict[str, str]]:
    """A CSV turnover table: UTF-8 (with or without BOM) or GB18030 as saved by Chinese Excel. Trailing
    lines of nothing but commas are not data; more than `max_rows` data rows are refused before pandas
    reads them (a 5 MB table of 250,000 rows would cost 250 MB)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(Problem(file, "not text in UTF-8 or GB18030"))
    lines = text.splitlines()
    while lines and not lines[-1].strip(", \t"):
        lines.pop()
    _too_many_rows(len(lines) - 1, max_rows, file)
    text = "\n".join(lines) + "\n"
    del lines
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(Problem(file, f"not a readable CSV table ({exc})")) from exc
    from .turnover import canonical_columns

    frame = canonical_columns(frame, file)
    return frame, {c: col_letter(i + 1) for i, c in enumerate(frame.columns)}
