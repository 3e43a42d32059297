"""Writing tables people open: CSV with a BOM so Excel reads the Chinese, text neutralised against
formula injection (a cell starting with =, +, -, @ would be run by Excel)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# C0 controls but tab, line feed and carriage return; DEL; C1 controls (ESC, BEL, CSI… drive terminals)
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_char(text: str) -> str | None:
    """What is wrong with submitted text that holds a control character (None when it holds none):
    intake refuses such text rather than altering what a unit sent."""
    m = CONTROL_CHARS.search(text)
    if m is None:
        return None
    ch = m.group()
    name = unicodedata.name(ch, "") or {"\x1b": "ESC", "\x07": "BEL", "\x00": "NUL", "\x7f": "DEL"}.get(
        ch, ""
    )
    return (
        f"control character U+{ord(ch):04X}{f' ({name})' if name else ''} at character {m.start() + 1}:"
        " remove it (tabs and line breaks are fine)"
    )


def visible(value: object) -> object:
    """Text for a terminal: every unprintable character (controls, bidi overrides, line breaks) shown as
    its escape (\\x1b, \\u202e, \\n) so stored text can never drive the terminal; spaces stay."""
    if not isinstance(value, str) or value.isprintable():
        return value
    return "".join(
        ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else ascii(ch)[1:-1] for ch in value
    )


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
