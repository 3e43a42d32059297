"""Turnover statistics: the statistics office's table, normalised to monthly values, and 换算周转量.

The office publishes either the month's value (当月) or year-to-date (累计), and its first release of a year
is January–February combined (1—2月). Both forms become rows of one period each: `month` is the period's
last month and `span_months` its length (2 for 1—2月). The official YoY (累计同比, comparable basis) is kept
as given: growth is reported on that basis, not recomputed from revised levels.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .errors import InputError, Problem, times

MODES = {"公路": "road", "水路": "waterway", "road": "road", "waterway": "waterway"}
COLUMN_ALIASES = {
    "month": ["month", "月份", "时间", "统计期"],
    "mode": ["mode", "运输方式", "方式"],
    "passenger_km": ["passenger_km", "旅客周转量", "旅客周转量（万人公里）", "旅客周转量(万人公里)"],
    "ton_km": ["ton_km", "货物周转量", "货物周转量（万吨公里）", "货物周转量(万吨公里)"],
    "form": ["form", "口径", "数据口径"],
    "official_yoy_pct": [
        "official_yoy_pct",
        "同比增长",
        "同比增长（%）",
        "同比增长(%)",
        "总周转量累计同比（%）",
        "总周转量累计同比(%)",
    ],
}
FORMS = {"当月": "month", "累计": "ytd", "month": "month", "ytd": "ytd"}
NORMALISED = ["mode", "month", "span_months", "passenger_km", "ton_km", "official_yoy_pct"]
_PERIOD = re.compile(
    r"^\s*(\d{4})\s*(?:年|-|/|\.)\s*(\d{1,2})(?:\s*(?:—|–|-|~|至)\s*(\d{1,2}))?\s*(?:月份|月)?\s*$"
)


def parse_period(text: object) -> tuple[pd.Period, int]:
    """'2019-03', '2019年3月', '2019年1—2月', '2019-01~02' → (last month, number of months)."""
    if re.fullmatch(r"\s*\d{4}\.1\s*", str(text)):
        # what Excel writes for 2019.10 typed as a number (and a float month column holds): January or October
        raise ValueError(
            f"month {str(text).strip()!r} is January or October (2019.10 as a number is 2019.1):"
            " write it as 2019-01 or 2019-10"
        )
    m = _PERIOD.match(str(text))
    if not m:
        raise ValueError(f"not a month or month range: {text!r}")
    year, first = int(m.group(1)), int(m.group(2))
    last = int(m.group(3)) if m.group(3) else first
    if not (1 <= first <= last <= 12):
        raise ValueError(f"month out of range: {text!r}")
    return pd.Period(year=year, month=last, freq="M"), last - first + 1


def canonical_columns(df: pd.DataFrame, source: str, sheet: str = "") -> pd.DataFrame:
    """Rename Chinese or English headers to canonical names; missing required columns are an error."""
    lookup = {re.sub(r"\s+", "", alias): key for key, aliases in COLUMN_ALIASES.items() for alias in aliases}
    rename = {
        c: lookup[re.sub(r"\s+", "", str(c))] for c in df.columns if re.sub(r"\s+", "", str(c)) in lookup
    }
    out = df.rename(columns=rename)
    missing = [k for k in ("month", "mode", "passenger_km", "ton_km") if k not in out.columns]
    if missing:
        raise InputError(Problem(source, f"missing column(s): {', '.join(missing)}", sheet, "row 1"))
    if "form" not in out.columns:
        out["form"] = ""  # not stated: read as 当月 (normalise_turnover checks it does not look 累计)
    if "official_yoy_pct" not in out.columns:
        out["official_yoy_pct"] = None
    return out


def normalise_turnover(
    df: pd.DataFrame, source: str, sheet: str = "", cell_of: dict[str, str] | None = None
) -> pd.DataFrame:
    """Validate and normalise a turnover table to one row per mode × period (monthly values).

    `cell_of` maps canonical column name → spreadsheet column letter, for messages; rows are numbered as
    in the file (header on row 1).
    """
    df = canonical_columns(df, source, sheet)
    cell_of = cell_of or {}
    problems: list[Problem] = []
    recs = []
    for i, r in enumerate(df.to_dict("records")):
        rownum = i + 2

        def where(col: str, rownum: int = rownum) -> str:
            return f"{cell_of.get(col, col)}{rownum}"

        try:
            month, span = parse_period(r["month"])
        except ValueError as exc:
            problems.append(Problem(source, str(exc), sheet, where("month")))
            continue
        mode = MODES.get(str(r["mode"]).strip())
        if mode is None:
            problems.append(
                Problem(source, f"mode must be 公路 or 水路, got {r['mode']!r}", sheet, where("mode"))
            )
            continue
        stated = str(r["form"]).strip() != ""
        form = FORMS.get(str(r["form"]).strip() or "当月")
        if form is None:
            problems.append(
                Problem(source, f"form must be 当月 or 累计, got {r['form']!r}", sheet, where("form"))
            )
            continue
        values = {}
        for col in ("passenger_km", "ton_km"):
            v = r[col]
            try:
                x = float(v)
            except (TypeError, ValueError):
                problems.append(Problem(source, f"not a number: {v!r}", sheet, where(col)))
                continue
            if not math.isfinite(x) or x < 0:  # NaN, inf and 1e999 (which float() reads as inf) too
                problems.append(Problem(source, f"must be a finite number ≥ 0, got {v!r}", sheet, where(col)))
                continue
            values[col] = x
        yoy = r.get("official_yoy_pct")
        if yoy is not None and not (isinstance(yoy, float) and pd.isna(yoy)) and str(yoy).strip() != "":
            try:
                x = float(str(yoy).strip().rstrip("%％"))  # 12.7% or, typed in Chinese, 12.7％
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                problems.append(
                    Problem(source, f"YoY is not a finite number: {yoy!r}", sheet, where("official_yoy_pct"))
                )
                continue
            yoy = x
        else:
            yoy = None
        if len(values) < 2:
            continue
        recs.append(
            {"mode": mode, "month": month, "span": span, "form": form, "yoy": yoy, **values, "row": rownum,
             "stated": stated}
        )  # fmt: skip
    if problems:
        raise InputError(problems)
    raw = pd.DataFrame(recs)
    if raw.empty:
        raise InputError(Problem(source, "no data rows", sheet))
    dup = raw[raw.duplicated(["mode", "month"], keep=False)]
    if len(dup):
        rows = ", ".join(str(x) for x in dup["row"].iloc[:20])
        rows += f" and {len(dup) - 20:,} more" if len(dup) > 20 else ""
        raise InputError(
            Problem(source, f"the same mode and month appear more than once (rows {rows})", sheet)
        )

    out = []
    for (mode, _year), g in raw.groupby(["mode", raw["month"].map(lambda p: p.year)], sort=True):
        g = g.sort_values("month")
        if reason := _looks_year_to_date(g):
            raise InputError(Problem(source, f"{mode} {_year}: {reason}", sheet, f"row {g['row'].iloc[-1]}"))
        prev_end, prev_cum = 0, {"passenger_km": 0.0, "ton_km": 0.0}
        for r in g.to_dict("records"):
            end = r["month"].month
            if r["form"] == "ytd":
                span = end - prev_end
                vals = {c: r[c] - prev_cum[c] for c in prev_cum}
                if any(v < -1e-9 for v in vals.values()):
                    raise InputError(
                        Problem(
                            source,
                            f"{mode} {r['month']}: year-to-date value below the previous month's",
                            sheet,
                            f"row {r['row']}",
                        )
                    )
                prev_cum = {c: r[c] for c in prev_cum}
            else:
                span = r["span"]
                vals = {c: r[c] for c in prev_cum}
                prev_cum = {c: prev_cum[c] + r[c] for c in prev_cum}
            if end - span != prev_end and r["form"] == "month" and prev_end and end - span < prev_end:
                raise InputError(
                    Problem(source, f"{mode} {r['month']}: periods overlap", sheet, f"row {r['row']}")
                )
            if reason := _unusable_period(r, span, prev_end, vals):
                raise InputError(Problem(source, f"{mode} {r['month']}: {reason}", sheet, f"row {r['row']}"))
            prev_end = end
            out.append(
                {"mode": mode, "month": r["month"], "span_months": span, **vals, "official_yoy_pct": r["yoy"]}
            )
    return pd.DataFrame(out, columns=NORMALISED)


def _looks_year_to_date(g: pd.DataFrame) -> str | None:
    """Why one mode's year, its 口径 not stated, reads as year-to-date figures taken for monthly ones: a
    table without a 口径 column is 当月, and a 累计 table sent without it (the office's usual release)
    went in as months each holding the year so far, its growth several hundred per cent. Monthly turnover
    does not rise every month to 1.6 times its first month's; year-to-date figures do."""
    if g["stated"].any() or len(g) < 3:
        return None
    per_month = g["ton_km"].to_numpy() / g["span"].to_numpy()
    if (np.diff(per_month) > 0).all() and per_month[-1] >= 1.6 * per_month[0] > 0:
        first, last = g["month"].iloc[0], g["month"].iloc[-1]
        return (
            f"ton-km rises every month from {first} to {last}, to {per_month[-1] / per_month[0]:.1f} times"
            " the first month's, as year-to-date (累计) figures do, and the table does not say which they"
            " are: add a 口径 column saying 累计 (or 当月, if they are the months' own figures)"
        )
    return None


def _unusable_period(r: dict, span: int, prev_end: int, vals: dict[str, float]) -> str | None:
    """Why a period cannot be stored: the growth models (and every score) take months and the combined
    1—2月 only, and a period with no turnover at all; stored, it broke `perfkit score` until corrected."""
    end, year = r["month"].month, r["month"].year
    if span > 2 or (span == 2 and end != 2):
        if r["form"] != "ytd":
            return f"a period of {span} months: only 1—2月 is published as one period; give each month"
        if prev_end == 0:
            return (
                f"a year-to-date (累计) figure with no earlier month of {year} in the table: a 累计 table"
                " starts from the year's first release (1—2月); or give the month's own figure as 当月"
            )
        missing = f"{year}-{prev_end + 1:02d}" + (f"..{year}-{end - 1:02d}" if end - 1 > prev_end + 1 else "")
        return f"a year-to-date (累计) figure after {year}-{prev_end:02d}: {missing} missing from the table"
    if all(v == 0 for v in vals.values()):
        what = "unchanged from the month before" if r["form"] == "ytd" and prev_end else "0"
        return f"passenger-km and ton-km are both {what}: leave a month not yet published out of the table"
    return None


def overlaps_stored(new: pd.DataFrame, stored: pd.DataFrame, source: str) -> list[Problem]:
    """A new table's periods against the stored ones they join (latest per mode and month, the new rows
    superseding theirs): January given alone beside a 1—2月, either way round, cannot be undone in an
    append-only store and made every score fail. One problem per mode and year."""
    months = lambda df: {(m, p.year): {} for m, p in zip(df["mode"], df["month"], strict=True)}  # noqa: E731
    joined = months(new)
    for frame, origin in ((stored, "stored"), (new, "this table")):
        for m, p, span in zip(frame["mode"], frame["month"], frame["span_months"], strict=True):
            if (m, p.year) in joined:
                joined[(m, p.year)][p] = (int(span), origin)
    problems = []
    for (mode, year), periods in joined.items():
        jan, feb = (
            periods.get(pd.Period(year=year, month=1, freq="M")),
            periods.get(pd.Period(year=year, month=2, freq="M")),
        )
        if jan and feb and feb[0] == 2 and "this table" in (jan[1], feb[1]):
            alone, combined = f"{year}-01 alone ({jan[1]})", f"1—2月 ({feb[1]})"
            problems.append(
                Problem(
                    source,
                    f"{mode} {year}: January given both {alone} and inside {combined}: the store is"
                    " append-only, so give the year's first release the way the store has it",
                )
            )
    return problems


def out_of_proportion(new: pd.DataFrame, stored: pd.DataFrame, source: str, ratio: float) -> list[Problem]:
    """A new table's figures against the typical month of their mode (the median monthly figure of the
    stored periods and the table's, the new ones superseding theirs): one more than `ratio` times it, or
    less than 1/`ratio` of it, is a slip of units (吨公里 for 万吨公里) or digits, refused ([intake]
    max_turnover_ratio). Stored, 1e308 ton-km gave a growth of 10^300 %. Needs 4 periods of the mode."""
    cols = {"passenger_km": "passenger-km", "ton_km": "ton-km"}
    merged = pd.concat([stored.assign(new=False), new.assign(new=True)], ignore_index=True)
    merged = merged.drop_duplicates(["mode", "month"], keep="last")  # the new rows supersede the stored
    problems = []
    for mode, g in merged.groupby("mode", sort=False):
        if len(g) < 4:
            continue
        span = g["span_months"].astype(float).to_numpy()
        for col, name in cols.items():
            per_month = g[col].astype(float).to_numpy() / span
            for i in np.flatnonzero(g["new"].to_numpy()):
                typical = float(np.median(np.delete(per_month, i)))
                v = per_month[i]
                if typical <= 0 or v <= 0 or typical / ratio <= v <= typical * ratio:
                    continue
                month = g["month"].iloc[i]
                problems.append(
                    Problem(
                        source,
                        f"{mode} {month}: {name} {g[col].iloc[i]:,.15g} is {times(max(v / typical, typical / v))}"
                        f" times {'above' if v > typical else 'below'} the typical month ({typical:,.1f}):"
                        " check the units (万人公里, 万吨公里) and the digits; more than"
                        f" {ratio:g} times is refused ([intake] max_turnover_ratio)",
                    )
                )
    return problems


def converted(turnover: pd.DataFrame, coefficients: dict[str, float]) -> pd.DataFrame:
    """换算周转量 = ton-km + passenger-km × coefficient (road 0.1; waterway 1 for berths, 0.33 for seats).

    Adds a `converted` column (万吨公里) to the normalised turnover rows.
    """
    out = turnover.copy()
    _check_finite(out)
    coef = out["mode"].map(coefficients)
    if coef.isna().any():
        missing = sorted(set(out.loc[coef.isna(), "mode"]))
        raise KeyError(f"no conversion coefficient for mode(s): {', '.join(missing)}")
    out["converted"] = out["ton_km"] + out["passenger_km"] * coef
    return out


def _check_finite(turnover: pd.DataFrame) -> None:
    """Intake refuses non-finite figures; a store written before it did may still hold one (SQLite keeps
    inf): refuse to compute from it, naming the period, rather than fail deep inside the growth models."""
    for col in ("passenger_km", "ton_km", "official_yoy_pct"):
        values = pd.to_numeric(turnover[col], errors="coerce").to_numpy(dtype=float)
        bad = np.isinf(values) if col == "official_yoy_pct" else ~np.isfinite(values)
        if bad.any():
            row = turnover[bad].iloc[0]
            raise ValueError(
                f"stored turnover {row['mode']} {row['month']} has a non-finite {col} ({values[bad][0]}):"
                " ingest a corrected table (it supersedes the stored one)"
            )


def monthly_series(turnover: pd.DataFrame, mode: str, coefficients: dict[str, float]) -> pd.DataFrame:
    """One mode's converted turnover by period: month (last month), span_months, value, official_yoy_pct."""
    df = converted(turnover[turnover["mode"] == mode], coefficients)
    return df[["month", "span_months", "converted", "official_yoy_pct"]].rename(
        columns={"converted": "value"}
    )


def ytd_growth(series: pd.DataFrame, as_of: str | pd.Period) -> float | None:
    """Year-to-date growth (%) of one mode's converted turnover at `as_of`.

    The official comparable-basis figure when the data carries one for that month; otherwise recomputed
    from levels (current year's periods to `as_of` over the same months a year earlier). None when the
    as-of month has not been published (January alone never is).
    """
    as_of = pd.Period(as_of, freq="M")
    row = series[series["month"] == as_of]
    if row.empty:
        return None
    official = row["official_yoy_pct"].iloc[0]
    if official is not None and not pd.isna(official):
        return float(official)
    months = series["month"]
    now = series.loc[(months.map(lambda p: p.year) == as_of.year) & (months <= as_of), "value"].sum()
    prev_end = pd.Period(year=as_of.year - 1, month=as_of.month, freq="M")
    prev_sel = (months.map(lambda p: p.year) == as_of.year - 1) & (months <= prev_end)
    before = series.loc[prev_sel, "value"].sum()
    # the previous year's periods must cover the same months (1—2月 counts as two)
    covered = series.loc[prev_sel, "span_months"].sum()
    if before <= 0 or covered != as_of.month:
        return None
    return float((now / before - 1) * 100)
