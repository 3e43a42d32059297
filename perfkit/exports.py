"""Writing tables people open: CSV with a BOM so Excel reads the Chinese, text neutralised against
formula injection (a cell starting with =, +, -, @ would be run by Excel)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Text that a spreadsheet would take as a formula gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """UTF-8 with BOM (Excel opens it with the right encoding), text neutralised."""
    path = Path(path)
    safe_frame(df).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path
