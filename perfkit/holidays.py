"""The Spring Festival as a moving-holiday regressor.

The holiday moves between January and February, so a fixed January effect is wrong. Like X-13's genhol,
the regressor is the share of a window of days around the festival that falls in each month.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import pandas as pd

from .config import REFERENCE_DIR


@cache
def spring_festival_dates() -> dict[int, date]:
    """Year → date of 春节, from data/reference/spring_festival.csv (2000–2035)."""
    df = pd.read_csv(REFERENCE_DIR / "spring_festival.csv", comment="#")
    return {int(y): date.fromisoformat(d) for y, d in zip(df["year"], df["date"], strict=True)}


def holiday_share(months: pd.PeriodIndex, before: int = 10, after: int = 20) -> pd.Series:
    """Share of the window [festival − before days, festival + after days) falling in each month.

    The default window covers the peak of 春运 travel and the post-holiday restart of freight.
    Months outside 2000–2035 raise KeyError rather than guessing a date.
    """
    months = pd.PeriodIndex(months, freq="M")
    dates = spring_festival_dates()
    width = before + after
    out = []
    for p in months:
        total = 0
        for year in (p.year, p.year + 1):  # a window can start in the previous calendar year
            if year not in dates:
                if p.month in (1, 2, 3, 12):
                    raise KeyError(f"no Spring Festival date for {year}")
                continue
            start = dates[year] - timedelta(days=before)
            for k in range(width):
                d = start + timedelta(days=k)
                if d.year == p.year and d.month == p.month:
                    total += 1
        out.append(total / width)
    return pd.Series(out, index=months, name="spring_festival")
