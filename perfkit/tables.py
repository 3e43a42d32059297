"""Tables people read: the domain frames (flags, problems, totals, investment projections, backtests) as
CSV rows, JSON records and labelled notebook tables.

The domain modules (perfkit.risks, perfkit.investment) compute; this module presents what they computed:
lists joined, numbers rounded, statuses and headers in the reader's language (perfkit.labels). The brief's
HTML pieces are in perfkit.report, the charts in perfkit.charts.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd

from .investment import METHODS
from .labels import sentences, sep, t, unit_label
from .months import parse_month
from .rules import STATUS_CODES, STATUSES
from .store import is_sample

# ------------------------------------------------------------------------------------- risk flags

_STATUS_CODE = dict(zip((t(f"risk.status.{c}") for c in STATUS_CODES), STATUS_CODES, strict=True))


def status_label(status: str, lang: str = "zh") -> str:
    """A stored status (zh text) in `lang`."""
    code = _STATUS_CODE.get(status)
    return t(f"risk.status.{code}", lang) if code else status


TABLE_COLUMNS = [
    "status",
    "points_at_risk",
    "measure_id",
    "indicator_id",
    "name",
    "reasons",
    "leaders",
    "units",
    "persons",
    "opened",
    "months_open",
    "last_report",
    "actual",
    "target",
    "unit",
    "completion_pct",
    "time_pct",
    "schedule_gap_pp",
    "projected",
    "p_reach",
]


def as_printed(values: pd.Series, digits: int) -> pd.Series:
    """Numbers rounded as the brief, the reasons and the Word document print them (f"{v:.1f}", rounded from
    the number's exact value): numpy's round, which pandas uses, rounds 31.95 (stored as 31.9499…) to 32.0
    where every text shows 31.9, so a CSV or workbook would disagree with the brief at such ties."""
    return values.map(lambda v: v if pd.isna(v) else round(float(v), digits)).astype(float)


def _joined(value, sep: str) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return sep.join(str(v) for v in value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def people_text(frame: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """`frame` with its lists as people read them in `lang`: leaders, units and persons joined (、 or a comma),
    reasons as sentences; everything else as it is (the brief, the Word document and the unit pages)."""
    out = frame.copy()
    for col in ("leaders", "units", "persons"):
        if col in out:
            out[col] = out[col].map(lambda v: sep(lang).join(v) if isinstance(v, list | tuple) else v)
    if "reasons" in out:
        out["reasons"] = out["reasons"].map(
            lambda v: sentences(v, lang) if isinstance(v, list | tuple) else v
        )
    return out


def people_table(
    frame: pd.DataFrame,
    columns: list[str] | None = None,
    lang: str = "zh",
    reason_sep: str = "",
    labels: bool = True,
) -> pd.DataFrame:
    """A flag, problem or totals frame as people read it: lists joined, numbers rounded, headers labelled
    (`labels=False` keeps the column keys, for machine-read CSV)."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    out = frame[columns].copy()
    for col in ("leaders", "units", "persons", "rules"):
        if col in out:
            out[col] = out[col].map(lambda v: _joined(v, sep(lang)))
    if "unit" in out and lang != "zh":  # the plan's unit of measure (个, 万元 …)
        out["unit"] = out["unit"].map(lambda u: unit_label(u, lang))
    if "reasons" in out:
        between = reason_sep or ("" if lang == "zh" else " ")
        out["reasons"] = out["reasons"].map(lambda v: _joined(v, between))
    for col in ("status", "worst_status"):
        if col in out:
            out[col] = out[col].map(lambda s: status_label(s, lang))
    for col in ("opened", "closed"):
        if col in out:
            out[col] = out[col].map(lambda v: "" if v is None or pd.isna(v) else str(v))
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = as_printed(out[col], 3 if col in ("points_at_risk", "p_reach") else 1)
    if "p_reach" in out:
        out["p_reach"] = as_printed(out["p_reach"], 2)
    if not labels:
        return out
    names = {c: t(f"risk.col.{c}", lang) for c in out.columns}
    names.update({s: status_label(s, lang) for s in STATUSES})
    return out.rename(columns=names)


def flags_table(flags: pd.DataFrame, lang: str = "zh", reason_sep: str = "") -> pd.DataFrame:
    """The flag list for CSV, Excel and the notebook: TABLE_COLUMNS in order, Chinese headers by default."""
    return people_table(flags, TABLE_COLUMNS, lang, reason_sep)


RECORD_COLUMNS = [
    "measure_id",
    "indicator_id",
    "name",
    "status",
    "reasons",
    "points_at_risk",
    "leaders",
    "units",
    "persons",
    "opened",
    "months_open",
    "reporting_unit",
    "last_report",
    "actual",
    "target",
    "unit",
    "completion_pct",
    "time_pct",
    "schedule_gap_pp",
    "projected",
    "p_reach",
    "expected_completion",
    "rules",
    "schedule_source",
    "as_of",
]


def flags_records(flags: pd.DataFrame) -> list[dict]:
    """Flags as JSON-ready dicts (lists kept, NaN → None, '' → None for opened), by points at risk."""
    out = []
    for rec in flags[[c for c in RECORD_COLUMNS if c in flags.columns]].to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float):
                v = None if math.isnan(v) else round(v, 4)
            if isinstance(v, np.ndarray):
                v = v.tolist()
            clean[k] = v
        clean["opened"] = clean.get("opened") or None
        out.append(clean)
    return out


PROBLEM_COLUMNS = [
    "status",
    "points_at_risk",
    "measure_id",
    "indicator_id",
    "name",
    "opened",
    "closed",
    "months_open",
    "worst_status",
    "reasons",
    "leaders",
    "units",
    "persons",
]


def file_notes(conn: sqlite3.Connection, as_of: str | pd.Period, lang: str = "zh") -> list[str]:
    """Lines for a file's notes: the as-of month and, for sample data, that it is synthetic."""
    colon = "：" if lang == "zh" else ": "
    lines = [f"{t('risk.col.as_of', lang)}{colon}{parse_month(as_of)}"]
    if is_sample(conn):
        lines.append(f"{t('synthetic', lang)}{colon}{t('synthetic_note', lang)}")
    return lines


# ------------------------------------------------------------------------------ investment projections

ROUND = 2


def investment_csv(df: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """The projection for a CSV: lists joined with '、' (', ' in English), numbers rounded."""
    out = df.copy()
    for col in ("leaders", "units", "persons"):
        out[col] = out[col].map(lambda v: sep(lang).join(v) if isinstance(v, list) else "")
    if lang != "zh":
        out["unit"] = out["unit"].map(lambda u: unit_label(u, lang))
    for col in out.select_dtypes("float").columns:
        out[col] = as_printed(out[col], ROUND)
    out["p_reach"] = as_printed(df["p_reach"], 3)
    return out


def investment_records(df: pd.DataFrame) -> list[dict]:
    """JSON records: the projection's columns, the interval as interval_80 [low, high], NaN as null."""
    out = []
    for rec in df.to_dict("records"):
        low, high = rec.pop("interval_80_low"), rec.pop("interval_80_high")
        rec["interval_80"] = [_num(low), _num(high)]
        out.append({k: _num(v) if isinstance(v, float | np.floating) else _plain(v) for k, v in rec.items()})
    return out


def _num(v) -> float | None:
    if v is None or (isinstance(v, float | np.floating) and np.isnan(v)):
        return None
    return round(float(v), 4)


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


INVESTMENT_COLUMNS = [
    "measure_id",
    "name",
    "reporting_unit",
    "unit",
    "target",
    "actual",
    "projected",
    "interval_80",
    "p_reach",
    "shortfall",
    "required_monthly",
    "schedule_gap_pp",
    "edge",
]


def investment_table(df: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """The projection as people read it: rounded, the interval as 'low–high', chances in %, labels from
    perfkit.labels (keys 'invest.<column>')."""
    out = df.copy()
    fmt = lambda v: "" if pd.isna(v) else f"{v:,.1f}"  # noqa: E731 - local formatter
    out["interval_80"] = [
        "" if pd.isna(lo) else f"{fmt(lo)}–{fmt(hi)}"
        for lo, hi in zip(df["interval_80_low"], df["interval_80_high"], strict=True)
    ]
    for col in ("target", "actual", "projected", "shortfall", "required_monthly"):
        out[col] = df[col].map(fmt)
    out["p_reach"] = df["p_reach"].map(lambda v: "" if pd.isna(v) else f"{v * 100:.0f}%")
    out["schedule_gap_pp"] = df["schedule_gap_pp"].map(lambda v: "" if pd.isna(v) else f"{v:+.1f}")
    out["edge"] = df["edge"].map(lambda e: t(f"invest.edge.{e}", lang) if e else "")
    out = out[INVESTMENT_COLUMNS]
    return out.rename(columns={c: t(f"invest.{c}", lang) for c in INVESTMENT_COLUMNS})


def investment_totals(agg: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """investment.by_unit / by_leader for people: rounded, labelled."""
    out = agg.copy()
    for col in ("target", "actual", "projected", "shortfall", "projected_pct"):
        out[col] = as_printed(out[col], 1)
    return out.rename(columns={c: t(f"invest.{c}", lang) for c in out.columns})


def backtest_wide(summary: pd.DataFrame, value: str = "mae_pct", by: str = "as_of_month") -> pd.DataFrame:
    """investment.backtest_summary as one row per as-of month, one column per method (the table in the
    notebook and docs)."""
    if summary.empty:
        return pd.DataFrame()
    w = summary.pivot_table(index=by, columns="method", values=value, observed=True)
    w = w.reindex(columns=[m for m in METHODS if m in w.columns])
    w.columns = [str(c) for c in w.columns]
    return w.reset_index()


def public_backtest_table(bt: pd.DataFrame) -> pd.DataFrame:
    """investment.backtest_public as one row per series × as-of month: the actual value checked and each
    method's error (%)."""
    if bt.empty:
        return pd.DataFrame()
    keys = ["series", "label", "in_profile", "as_of_month", "horizon_month", "actual"]
    w = bt.pivot_table(index=keys, columns="method", values="error_pct", sort=False).reset_index()
    cols = [m for m in METHODS if m in w.columns]
    w = w[keys + cols]
    w.columns = [*keys, *(f"{m}_error_pct" for m in cols)]
    return w
