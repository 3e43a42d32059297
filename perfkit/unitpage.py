"""A page per reporting unit: its measures and their status, schedule gap and projection, what it must
deliver in each remaining month, its open problems with reasons, and its reporting record.

Presentation only: every domain number comes from the month's snapshot (perfkit.monthly: flags, problems,
deliveries), the reporting record from the stored submissions. `notebooks/unit.ipynb` calls `gather` once
and shows each section; `perfkit brief` runs it once per unit (perfkit.brief) and exports
`units/<file name>.html` with the brief's look (the same template, stylesheet and page chrome).
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass
from urllib.parse import quote

import pandas as pd

from .brief_data import check_lang
from .catalogue import Catalogue
from .errors import InputError, Problem
from .labels import say, t, unit_label
from .markup import (
    MISSING,
    STATUSES,
    ZH_NUMERALS,
    Col,
    Html,
    _missing,
    esc,
    fmt_number,
    join,
    month_label,
    paragraph,
    status_chip,
    table,
)
from .months import parse_month
from .report import css_string, measure_labels, page_chrome
from .tables import people_text

SECTIONS = ["summary", "measures", "deliveries", "problems", "record"]
DEFAULT_DUE_DAY = 10  # plan.toml [brief] report_due_day: a month's ledger is due by this day of the next
UNITS_DIR = "units"  # the unit pages' folder inside a brief's folder
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\s]+')


# ------------------------------------------------------------------------------------------ the units


def reporting_units(catalogue: Catalogue) -> list[str]:
    """Units that report at least one measure in the monthly 工作台账, in catalogue order."""
    m = catalogue.measures
    return list(dict.fromkeys(u for u in m.loc[m["schedule"] != "statistic", "reporting_unit"] if u))


class UnitError(InputError, ValueError):
    """A unit that is not one of the plan's reporting units: bad input (`--unit`: one line, exit 2)."""


def check_unit(known: Catalogue | list[str], unit: str) -> str:
    """`unit` when it is one of the reporting units (`known`, or a catalogue's); UnitError naming them
    otherwise, the name given shown short (whatever was typed, the line stays one readable line)."""
    known = reporting_units(known) if isinstance(known, Catalogue) else list(known)
    if unit not in known:
        shown = unit if len(unit) <= 40 else unit[:40] + "…"
        reason = f"unknown unit {shown!r}; the reporting units are: {'、'.join(known)}"
        raise UnitError(Problem("--unit", reason))
    return unit


def file_stem(unit: str) -> str:
    """The unit's name made safe as a file name on every system, still readable (Chinese kept): path
    separators, reserved and control characters and spaces become '_', no leading dot, at most 80
    characters."""
    stem = _UNSAFE.sub("_", unit).strip("_. ")[:80]
    return stem or "unit"


def file_names(units: list[str]) -> dict[str, str]:
    """unit → 'units/<stem>.html', distinct even when two names clean to the same stem (the runner publishes
    them under each language's name, brief.lang_name: 'units/<stem>.en.html' in English)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for unit in units:
        stem, n = file_stem(unit), 2
        name = stem
        while name.lower() in used:
            name, n = f"{stem}_{n}", n + 1
        used.add(name.lower())
        out[unit] = f"{UNITS_DIR}/{name}.html"
    return out


def href(path: str) -> str:
    """A relative link to `path` (percent-encoded: Chinese names and reserved characters are safe)."""
    return quote(path, safe="/")


# ------------------------------------------------------------------------------------------- the data


@dataclass
class UnitData:
    """One unit's page as of a month, read once from the snapshot and the store."""

    catalogue: Catalogue
    as_of: str
    unit: str
    sample: bool
    flags: pd.DataFrame  # the unit's measures' flags (perfkit.risks columns), most points at risk first
    problems: pd.DataFrame  # the unit's problems still open at as_of
    deliveries: pd.DataFrame  # perfkit.deliveries rows of the unit's measures, with name and unit
    record: pd.DataFrame  # month, received, submissions, state (on_time | late | missing)
    due_day: int


def gather(
    conn: sqlite3.Connection, as_of: str, unit: str, lang: str = "zh", fingerprint: str | None = None
) -> UnitData:
    """The unit's page from the month's snapshot (brought up to date first, as every reader does;
    `fingerprint`: the snapshot the brief's runner made current, monthly.ensure)."""
    check_lang(lang)
    month = parse_month(as_of)
    snap, submissions, sample = _month_read(conn, month, lang, fingerprint)
    catalogue = snap.catalogue
    check_unit(catalogue, unit)
    mine = catalogue.measures.loc[catalogue.measures["reporting_unit"] == unit, "measure_id"]
    flags = snap.flags[snap.flags["measure_id"].isin(mine)].reset_index(drop=True)
    problems = snap.problems[snap.problems["measure_id"].isin(mine) & snap.problems["closed"].isna()]
    info = catalogue.measures[["measure_id", "name", "unit", "target", "deadline_month"]]
    deliveries = snap.deliveries[snap.deliveries["measure_id"].isin(mine)].merge(info, on="measure_id")
    due_day = int(catalogue.plan.get("brief", {}).get("report_due_day", DEFAULT_DUE_DAY))
    return UnitData(
        catalogue=catalogue,
        as_of=str(month),
        unit=unit,
        sample=sample,
        flags=flags,
        problems=problems.sort_values("points_at_risk", ascending=False, kind="stable").reset_index(
            drop=True
        ),
        deliveries=deliveries.reset_index(drop=True),
        record=reporting_record(submissions, unit, month, due_day),
        due_day=due_day,
    )


# A brief runs this page once per unit in the same warm kernels: what every page reads (the month's snapshot,
# the submissions, the sample mark) is read once per kernel for the snapshot the runner made current (its
# fingerprint names the accepted submissions, plan and code it came from), not once per page. Without a
# fingerprint (a page run by hand) nothing is kept.
_READ: dict[tuple, tuple] = {}


def _month_read(conn: sqlite3.Connection, month: pd.Period, lang: str, fingerprint: str | None) -> tuple:
    from .monthly import snapshot
    from .store import is_sample, read_submissions

    key = (conn.execute("PRAGMA database_list").fetchone()[2], str(month), lang, fingerprint)
    if fingerprint and key in _READ:
        return _READ[key]
    read = (snapshot(conn, month, lang, fingerprint), read_submissions(conn), is_sample(conn))
    _READ.clear()
    if fingerprint and read[0].fingerprint == fingerprint:
        _READ[key] = read
    return read


def reporting_record(submissions: pd.DataFrame, unit: str, as_of: pd.Period, due_day: int) -> pd.DataFrame:
    """January..as_of for `unit`: when its ledger for each month was first received, how many were
    submitted, and on_time (by day `due_day` of the next month), late or missing."""
    subs = submissions[(submissions["kind"] == "progress") & (submissions["unit"] == unit)]
    rows = []
    for month in pd.period_range(f"{as_of.year}-01", as_of, freq="M"):
        got = subs[subs["month"] == str(month)]
        received = min((str(v)[:10] for v in got["received_at"]), default=None)
        due = f"{month + 1}-{due_day:02d}"
        state = "missing" if received is None else ("on_time" if received <= due else "late")
        rows.append((str(month), received, len(got), state))
    return pd.DataFrame(rows, columns=["month", "received", "submissions", "state"])


# --------------------------------------------------------------------------------------- page chrome


def chrome(plan: dict, as_of: str, unit: str, lang: str = "zh", sample: bool = False) -> dict:
    """The brief's page chrome (perfkit.report.page_chrome) titled for the unit."""
    base = page_chrome(plan, as_of, kind="monthly", lang=lang, sample=sample)
    title = f"{unit} · {t('unit.title', lang)}"
    footer = f"{title} · {base['as_of']}"
    return base | {
        "title": title,
        "footer": footer,
        "footer_css": css_string(f"{t('synthetic', lang)} · {footer}" if sample else footer),
    }


def section_title(key: str, lang: str = "zh") -> Html:
    n = SECTIONS.index(key)
    number = f"{ZH_NUMERALS[n]}、" if lang == "zh" else f"{n + 1}. "
    cls = "pk-section pk-first" if n == 0 else "pk-section"
    return Html(f'<h2 class="{cls}">{esc(number + t("unit.section." + key, lang))}</h2>')


def cover(data: UnitData, lang: str = "zh") -> Html:
    c = chrome(data.catalogue.plan, data.as_of, data.unit, lang, data.sample)
    return Html(
        f'<header class="pk-cover"><p class="pk-doc">{esc(data.catalogue.plan["plan"]["document"])}</p>'
        f'<h1>{esc(c["title"])}</h1><p class="pk-asof">{esc(c["as_of"])}</p></header>'
    )


# ------------------------------------------------------------------------------------------ sections


def summary_section(data: UnitData, lang: str = "zh") -> Html:
    """Key figures: measures, points at risk, open problems, months reported on time; status counts."""
    points = float(data.flags["points_at_risk"].sum()) if len(data.flags) else 0.0
    on_time = int((data.record["state"] == "on_time").sum())
    cards = [
        (t("unit.card.measures", lang), str(len(data.flags)), t("unit.count", lang)),
        (t("unit.card.points", lang), f"{points:.2f}", t("brief.points", lang)),
        (t("unit.card.open", lang), str(len(data.problems)), t("unit.count", lang)),
        (t("unit.card.on_time", lang), f"{on_time}/{len(data.record)}", t("unit.months", lang)),
    ]
    card_html = "".join(
        f'<div class="pk-card"><div class="pk-card-label">{esc(label)}</div>'
        f'<div class="pk-card-value">{esc(value)}<span class="pk-card-unit">{esc(unit)}</span></div></div>'
        for label, value, unit in cards
    )
    n = data.flags["status"].value_counts()
    counts = "".join(
        f'<span class="pk-count">{status_chip(s, lang)} <b>{int(n.get(s, 0))}</b></span>' for s in STATUSES
    )
    text = say(
        "unit.summary",
        lang,
        unit=data.unit,
        n=len(data.flags),
        points=f"{points:.2f}",
        open=len(data.problems),
    )
    return join(
        section_title("summary", lang),
        f'<div class="pk-cards">{card_html}</div>',
        paragraph(text),
        f'<div class="pk-counts">{counts}</div>',
    )


def progress_bar(done_pct: object, schedule_pct: object, status: object) -> str:
    """An inline SVG bar: done (filled, in the status colour) against the schedule (a dark line), with
    both percentages under it."""
    from .charts import STATUS_COLOURS

    def pct(v: object) -> float | None:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(x) else x

    done, due = pct(done_pct), pct(schedule_pct)
    if done is None and due is None:
        return ""
    clip = lambda x: min(max(x, 0.0), 100.0)  # noqa: E731
    colour = STATUS_COLOURS.get(str(status), "#9e9e9e")
    parts = ['<rect x="0" y="3" width="100" height="10" fill="#e6e9ee"/>']
    if done is not None:
        parts.append(f'<rect x="0" y="3" width="{clip(done):.1f}" height="10" fill="{colour}"/>')
    if due is not None:
        x = clip(due)
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="16" stroke="#1f2328" stroke-width="2"/>')
    text = " / ".join(MISSING if v is None else f"{v:.0f}%" for v in (done, due))
    return (
        '<svg class="pk-bar" width="100" height="16" viewBox="0 0 100 16" role="img">'
        + "".join(parts)
        + f'</svg><span class="pk-bar-text">{esc(text)}</span>'
    )


def _amount(value: object, unit: object, lang: str = "zh") -> str:
    """'15.0 座', '15.0 structures': a figure with the plan's unit of measure in `lang`."""
    return MISSING if _missing(value) else f"{fmt_number(value, 1)} {unit_label(unit, lang)}".strip()


def measures_section(data: UnitData, lang: str = "zh") -> Html:
    """Each measure: status, done against target, the schedule (unit plan or pro rata) and the gap,
    projected year-end value, odds and points at risk."""
    f = data.flags.copy()
    f["label"] = measure_labels(data.catalogue, f, lang)
    f["source"] = f["schedule_source"].map(
        lambda s: t(f"schedule_source.{s}", lang) if isinstance(s, str) and s else None
    )
    f["bar"] = [
        progress_bar(d, s, st)
        for d, s, st in zip(f["completion_pct"], f["time_pct"], f["status"], strict=True)
    ]
    f["done_text"] = [_amount(a, u, lang) for a, u in zip(f["actual"], f["unit"], strict=True)]
    f["target_text"] = [_amount(a, u, lang) for a, u in zip(f["target"], f["unit"], strict=True)]
    f["projected_text"] = [_amount(a, u, lang) for a, u in zip(f["projected"], f["unit"], strict=True)]
    cols = [
        Col("status", "risk.col.status", "status"),
        Col("label", "brief.col.measure"),
        Col("done_text", "unit.col.actual", "range"),
        Col("target_text", "target", "range"),
        Col("bar", "unit.col.progress", "html"),
        Col("schedule_gap_pp", "unit.col.gap", "num1"),
        Col("source", "schedule_source", "name"),
        Col("projected_text", "brief.col.projected", "range"),
        Col("p_reach", "invest.p_reach", "share"),
        Col("points_at_risk", "risk.col.points_at_risk", "num2", "points"),
    ]
    return join(
        section_title("measures", lang),
        table(f, cols, lang, css="pk-wide pk-unit-measures", row_status="status"),
    )


def deliveries_section(data: UnitData, lang: str = "zh") -> Html:
    """Per open measure, the amount to deliver in each remaining month, and which line it follows."""
    title = section_title("deliveries", lang)
    d = data.deliveries
    if d.empty:
        return join(title, paragraph(t("unit.deliveries.none", lang)))
    months = sorted(d["month"].unique())
    wide = d.pivot_table(index="measure_id", columns="month", values="deliver", aggfunc="first")
    first = d.drop_duplicates("measure_id").set_index("measure_id")
    wide = wide.reindex(first.index)  # the flags' order: most points at risk first
    rows = pd.DataFrame(
        {
            "label": measure_labels(data.catalogue, first.reset_index(), lang).to_numpy(),
            "unit": first["unit"].map(lambda u: unit_label(u, lang)).to_numpy(),
            "source": first["source"].map(lambda s: t(f"schedule_source.{s}", lang)).to_numpy(),
            "by_deadline": [d.loc[d["measure_id"] == m, "required_total"].iloc[-1] for m in wide.index],
        }
    )
    for month in months:
        rows[month] = wide[month].to_numpy()
    order = {m: i for i, m in enumerate(data.flags["measure_id"])}
    rows = rows.iloc[sorted(range(len(rows)), key=lambda i: order.get(wide.index[i], len(order)))]
    cols = [
        Col("label", "brief.col.measure"),
        Col("unit", "unit", "name"),
        Col("source", "schedule_source", "name"),
        *[Col(m, _short_month(m, lang), "num1") for m in months],
        Col("by_deadline", "unit.deliveries.by_deadline", "num1"),
    ]
    return join(
        title,
        table(rows, cols, lang, css="pk-wide pk-unit-deliveries"),
        paragraph(t("unit.deliveries.note", lang), "pk-note"),
    )


def _short_month(month: str, lang: str) -> str:
    p = pd.Period(month, freq="M")
    return f"{p.month}月" if lang == "zh" else p.strftime("%b")


def problems_section(data: UnitData, lang: str = "zh") -> Html:
    """The unit's open problems, most points at risk first, with their reasons in the reader's language."""
    title = section_title("problems", lang)
    p = data.problems.copy()
    if p.empty:
        return join(title, paragraph(t("unit.problems.none", lang)))
    p = people_text(p, lang)
    p["label"] = measure_labels(data.catalogue, p, lang)
    p["opened_text"] = p["opened"].map(lambda v: month_label(v, lang) if not pd.isna(v) else MISSING)
    cols = [
        Col("status", "risk.col.status", "status"),
        Col("points_at_risk", "risk.col.points_at_risk", "num2", "points"),
        Col("label", "brief.col.measure"),
        Col("reasons", "risk.col.reasons"),
        Col("persons", "persons", "name"),
        Col("opened_text", "risk.col.opened", "name"),
        Col("months_open", "risk.col.months_open", "int"),
    ]
    return join(title, table(p, cols, lang, css="pk-wide", row_status="status"))


def record_section(data: UnitData, lang: str = "zh") -> Html:
    """Which months the unit reported, when, and whether on time, late or not at all."""
    r = data.record.copy()
    n = r["state"].value_counts()
    text = say(
        "unit.record.summary",
        lang,
        months=len(r),
        on_time=int(n.get("on_time", 0)),
        late=int(n.get("late", 0)),
        missing=int(n.get("missing", 0)),
        day=data.due_day,
    )
    r["month_text"] = r["month"].map(lambda m: month_label(m, lang))
    r["state_text"] = r["state"].map(lambda s: "缺报" if s == "missing" else t(f"unit.record.{s}", lang))
    cols = [
        Col("month_text", "unit.record.col.month", "name"),
        Col("received", "unit.record.col.received", "name"),
        Col("submissions", "unit.record.col.submissions", "int"),
        Col("state_text", "unit.record.col.state", "reported"),
    ]
    return join(section_title("record", lang), paragraph(text), table(r, cols, lang))


# ------------------------------------------------------------------------------------ from the brief


def links(units: dict[str, str], lang: str = "zh") -> list[dict]:
    """The brief's list of unit pages: [{name, href}] for the export template (`units`: unit → path)."""
    return [{"name": unit, "href": href(path)} for unit, path in units.items()]
