"""Months: the one parser and validator of as-of months, and the month arithmetic the plan year needs.

Every place that takes a month from a person (the CLI's --as-of and --month, the brief, a notebook's
`as_of` parameter) goes through `parse_month`, and every as-of month checked against a store goes through
`resolve_as_of`: one wording for one mistake, one exception type (`MonthError`, which is both the CLI's
InputError, exit 2, and a ValueError for library callers).
"""

from __future__ import annotations

import re

import pandas as pd

from .errors import InputError, Problem

_MONTH = re.compile(r"^\s*(\d{4})-(\d{2})\s*$")


class MonthError(InputError, ValueError):
    """A month that is malformed, outside the plan's year, or after the latest data."""


def parse_month(value: object, source: str = "--as-of") -> pd.Period:
    """'2019-09' → Period('2019-09', 'M'); a Period passes through; anything else is a MonthError."""
    if isinstance(value, pd.Period):
        return value.asfreq("M")
    m = _MONTH.match(str(value)) if value is not None else None
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise MonthError(Problem(source, f"expected a month as YYYY-MM, got {value!r}"))
    return pd.Period(year=int(m.group(1)), month=int(m.group(2)), freq="M")


def check_month(
    month: pd.Period, plan_year: int, latest: str | pd.Period | None = None, source: str = "--as-of"
) -> pd.Period:
    """`month` if it lies in the plan's year and not after the latest month with data, else a MonthError."""
    if month.year != plan_year:
        raise MonthError(Problem(source, f"{month} is outside the plan's year {plan_year}"))
    if latest is not None and month > parse_month(latest):
        raise MonthError(Problem(source, f"{month} is after the latest month with data ({latest})"))
    return month


def resolve_as_of(conn, value: object = None, source: str = "--as-of") -> pd.Period:
    """The as-of month for a store: `value` checked (plan year, not after the latest data), or the latest
    month with data when `value` is empty."""
    from .store import latest_month, meta

    latest = latest_month(conn)
    plan_year = int(meta(conn)["plan_year"])
    if value is None or (isinstance(value, str) and not value.strip()):
        if latest is None:
            raise MonthError(
                Problem(source, "the store has no progress data yet: ingest submissions or give --as-of")
            )
        return parse_month(latest, source)
    return check_month(parse_month(value, source), plan_year, latest, source)


def year_start(month: pd.Period) -> pd.Period:
    """January of the month's year."""
    return pd.Period(year=month.year, month=1, freq="M")


def months_to(month: pd.Period) -> list[pd.Period]:
    """January .. `month` of its year, in order."""
    return list(pd.period_range(year_start(month), month, freq="M"))


def quarter_of(month: object) -> tuple[int, int]:
    """(year, quarter) of a month: '2019-09' → (2019, 3)."""
    p = parse_month(month)
    return p.year, (p.month + 2) // 3


def quarter_start(year: int, quarter: int) -> pd.Period:
    """The quarter's first month: (2019, 3) → 2019-07."""
    return pd.Period(year=year, month=3 * quarter - 2, freq="M")


def quarter_end(year: int, quarter: int) -> pd.Period:
    """The quarter's last month: (2019, 2) → 2019-06."""
    return pd.Period(year=year, month=3 * quarter, freq="M")
