"""The brief's HTML building blocks: escaped text (`Html`, `esc`), numbers and months as printed, the status
chip, and formatted tables (`Col`, `table`), shared by the brief's sections (perfkit.report), the unit pages
and the Word document's cells (perfkit.docx_layout).

Every function returns text built from escaped values: submission notes, names and free text never reach a
page unescaped. Labels come from perfkit.labels; colours from perfkit.charts, so tables and charts agree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .labels import STATUS_CODES, paren, t

STATUSES = list(STATUS_CODES)  # 已完成 正常 关注 预警 未完成 缺报
# risk statuses are stored as their Chinese text; the English labels are perfkit.risks' keys


STATUS_KEYS = STATUS_CODES


MISSING = "—"
ZH_NUMERALS = "一二三四五六七八九十"  # numbered headings: 一、 二、 …


class Html(str):
    """HTML text that Jupyter displays as HTML (the brief's building block)."""

    def _repr_html_(self) -> str:
        return str(self)


def esc(value: object) -> str:
    """Escaped text for HTML; missing values show as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, list | tuple):
        return html.escape("、".join(str(v) for v in value))
    return html.escape(str(value))


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def fmt_number(v: object, digits: int = 2) -> str:
    """12345.678 → '12,345.68'; whole numbers shown without decimals when digits is 0."""
    if _missing(v):
        return MISSING
    try:
        x = float(v)
    except (TypeError, ValueError):
        return esc(v)
    return f"{x:,.{digits}f}"


def fmt_pct(v: object, digits: int = 1, signed: bool = False) -> str:
    """A percentage value (already in %) → '12.3%'."""
    if _missing(v):
        return MISSING
    return f"{float(v):{'+' if signed else ''}.{digits}f}%"


def fmt_share(v: object, digits: int = 0) -> str:
    """A fraction 0–1 → '73%'."""
    if _missing(v):
        return MISSING
    return f"{float(v) * 100:.{digits}f}%"


def month_label(month: str | pd.Period, lang: str = "zh") -> str:
    p = pd.Period(str(month), freq="M")
    return f"{p.year}年{p.month}月" if lang == "zh" else p.strftime("%b %Y")


def status_chip(status: object, lang: str = "zh") -> str:
    """A coloured label for a risk status (colours from charts.STATUS_COLOURS, the charts use the same)."""
    # here, not at the top: charts imports altair (about 0.75 s), which the brief's runner never needs
    from .charts import STATUS_COLOURS

    if _missing(status) or str(status) == "":
        return MISSING
    s = str(status)
    colour = STATUS_COLOURS.get(s, "#9e9e9e")
    # yellow needs dark text to stay readable
    ink = "#1a1a1a" if s == "关注" else "#ffffff"
    return (
        f'<span class="pk-status" data-status="{esc(STATUS_KEYS.get(s, s))}" style="background:{colour};color:{ink}">'
        f"{esc(t('risk.status.' + STATUS_KEYS[s], lang) if s in STATUS_KEYS else s)}</span>"
    )


@dataclass(frozen=True)
class Col:
    """One table column: data column, header label key, format, and unit shown in the header."""

    name: str
    label: str = ""
    # text, name (no wrap), range (aligned as a number), int, num0-num2, pct, share, status, reported, html
    fmt: str = "text"
    unit: str = ""

    def header(self, lang: str) -> str:
        text = t(self.label or self.name, lang)
        unit = t("unit." + self.unit, lang) if self.unit else ""
        return esc(text) + (f'<span class="pk-unit">{esc(paren(unit, lang))}</span>' if unit else "")

    def cell(self, value: object, lang: str) -> tuple[str, str]:
        """(html, css class) for one value."""
        f = self.fmt
        if f == "status":
            return status_chip(value, lang), "pk-c"
        if f == "int":
            return fmt_number(value, 0), "pk-n"
        if f.startswith("num"):
            return fmt_number(value, int(f[3:] or 2)), "pk-n"
        if f == "pct":
            return fmt_pct(value), "pk-n"
        if f == "pct_signed":
            return fmt_pct(value, signed=True), "pk-n"
        if f == "share":
            return fmt_share(value), "pk-n"
        if f == "reported":  # 缺报 shows as its status colour, a report as plain text
            return (status_chip(value, lang), "pk-c") if value == "缺报" else (esc(value), "pk-c")
        if f == "mark":  # a difference to highlight (empty: nothing to say)
            return (f'<span class="pk-mark">{esc(value)}</span>' if value else ""), "pk-t pk-nw"
        if f == "range":
            return esc(value), "pk-n"
        if f == "html":  # markup perfkit built itself (a progress bar), never data text
            return ("" if _missing(value) else str(value)), "pk-c"
        if f == "name":
            return esc(value), "pk-t pk-nw"
        return esc(value), "pk-t"


def table(
    df: pd.DataFrame,
    columns: Sequence[Col],
    lang: str = "zh",
    *,
    caption: str = "",
    note: str = "",
    empty: str = "",
    row_status: str | None = None,
    css: str = "",
) -> Html:
    """A formatted HTML table; `row_status` names a column whose status tints the row's first cell."""
    if df is None or df.empty:
        return Html(f'<p class="pk-empty">{esc(empty or t("brief.none", lang))}</p>')
    from .charts import STATUS_COLOURS  # here: charts imports altair, heavy (see status_chip)

    head = "".join(f"<th>{c.header(lang)}</th>" for c in columns)
    rows = []
    for rec in df.to_dict("records"):
        cells = []
        for i, c in enumerate(columns):
            text, cls = c.cell(rec.get(c.name), lang)
            style = ""
            if i == 0 and row_status and not _missing(rec.get(row_status)):
                style = (
                    f' style="border-left:4px solid {STATUS_COLOURS.get(str(rec[row_status]), "#9e9e9e")}"'
                )
            cells.append(f'<td class="{cls}"{style}>{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    foot = f'<p class="pk-note">{esc(note)}</p>' if note else ""
    return Html(
        f'<table class="pk-table {css}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{foot}"
    )


def join(*parts: str) -> Html:
    return Html("".join(str(p) for p in parts if p))


def paragraph(text: str, css: str = "") -> Html:
    return Html(f'<p class="{css}">{esc(text)}</p>')


# The brief's sections in reading order for each kind; headings are numbered from this list.
