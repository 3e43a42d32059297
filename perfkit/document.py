"""The bureau's Word documents: the quarterly 季度通报 and the year-end 年度绩效自评报告 as .docx.

Laid out as a Chinese government document (after GB/T 9704-2012): the issuing bureau's name in red as the
发文机关标志, a 文号 line with the number left blank for the office to fill, a red rule, the title, the
主送 line, a body in 一、二、三、 sections with （一）（二） sub-levels, tables with Chinese headers (ruled,
the header row repeated on every page), the 落款 with the date to fill, and page numbers "— 1 —". A4
portrait; margins 37/35/28/26 mm; 三号 (16 pt) 仿宋_GB2312 body, 方正小标宋简体 title, 黑体 and 楷体_GB2312
headings, each named in the eastAsia font attribute with fallbacks in the font table (仿宋/FangSong,
宋体/SimSun …) so Word, WPS and LibreOffice each find a face.

Presentation only: every figure is read from `report.gather` (the month's snapshot, as the HTML brief
reads it); the sentences and the quarter comparison are the brief's own (report.quarter_rows over
trends.quarter_on_quarter, report.yoy_sentences, projection_sentences, investment_summary), so the two
never disagree and nothing is computed or formatted twice. The annual kind sets each unit's 自评 beside the computed score and grade
(`report.self_assessment`), differences shaded, and before December it is titled 预评估 with its data
month. Sample data is labelled 合成示例数据 on every page, as the brief's running footer does.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from . import investment, report, risks
from .labels import plan_term, say, span, t
from .months import parse_month, quarter_of
from .tables import people_text

KINDS = ("quarterly", "annual")  # kinds that always come with a Word document (monthly: on request)
ZH_NUMERALS = report.ZH_NUMERALS

# Faces: the name Word/WPS look for first (eastAsia), then what the font table offers as alternatives.
FONT_BODY = "仿宋_GB2312"
FONT_TITLE = "方正小标宋简体"
FONT_HEADING = "黑体"
FONT_SUBHEADING = "楷体_GB2312"
FONT_LATIN = "Times New Roman"
FALLBACKS = {
    FONT_BODY: ("仿宋", "FangSong"),
    FONT_TITLE: ("宋体", "SimSun"),
    FONT_HEADING: ("SimHei",),
    FONT_SUBHEADING: ("楷体", "KaiTi"),
    "宋体": ("SimSun",),
}
RED = "C00000"
MARK_FILL = "FFE699"  # shading of a 自评 that differs from the computed grade
HEAD_FILL = "F2F2F2"
BODY_PT = 16  # 三号
TABLE_PT = 10.5  # 五号
LINE_PT = 28.95  # GB/T 9704: 22 lines on the 225 mm type area

PAGE_MM = (210, 297)
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
TYPE_WIDTH_MM = PAGE_MM[0] - MARGINS_MM["left"] - MARGINS_MM["right"]  # 156


def file_name(kind: str, lang: str = "zh") -> str:
    """quarterly.docx / annual.docx (monthly.docx on request); English: quarterly.en.docx."""
    report.check_kind(kind)
    return f"{kind}{'.en' if report.check_lang(lang) == 'en' else ''}.docx"


@dataclass(frozen=True)
class Letterhead:
    """plan.toml [document]: who issues the documents, the 文号 prefix, who they are addressed to."""

    issuer: str
    number_prefix: str
    recipients: str
    issuer_en: str
    recipients_en: str


def letterhead(plan: dict) -> Letterhead:
    cfg = plan.get("document", {})
    title = plan["plan"]["title"]
    issuer = cfg.get("issuer") or title.split(str(plan["plan"]["year"]))[0]
    return Letterhead(
        issuer=issuer,
        number_prefix=cfg.get("number_prefix") or plan["plan"]["document"].split("〔")[0],
        recipients=cfg.get("recipients", ""),
        issuer_en=cfg.get("issuer_en", issuer),
        recipients_en=cfg.get("recipients_en", ""),
    )


# ------------------------------------------------------------------------------------------- entry


def write_document(
    conn: sqlite3.Connection, as_of: str, kind: str, lang: str, path: str | os.PathLike
) -> Path:
    """Build the month's document of `kind` from the store's snapshot and save it atomically at `path`."""
    return save(build(report.gather(conn, as_of, kind, lang), lang), path)


def save(doc, path: str | os.PathLike) -> Path:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a document."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            doc.save(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ------------------------------------------------------------------------------------------ content


def build(data: report.BriefData, lang: str = "zh"):
    """The python-docx Document for `data` (quarterly, annual, or monthly on request)."""
    w = _Writer(lang)
    plan = data.catalogue.plan
    head = letterhead(plan)
    month = parse_month(data.as_of)
    preliminary = data.kind == "annual" and month.month < 12
    w.setup(data, head, _running_header(data, lang))
    w.masthead(head, month.year)
    w.title(_title(data, head, lang, preliminary))
    if preliminary:
        w.centred(t("doc.preliminary_note", lang).format(month=report.month_label(data.as_of, lang)))
    if data.sample:
        w.notice(_synthetic(lang))
    w.recipients(head.recipients if lang == "zh" else head.recipients_en)
    w.para(_opening(data, lang))
    if preliminary:
        w.para(t("doc.preliminary_opening", lang))

    _headline(w, data, lang)
    if data.kind == "annual":
        _self_assessment(w, data, lang)
    if data.kind == "quarterly":
        _comparison(w, data, lang)
    _turnover(w, data, lang)
    _investment(w, data, lang)
    _problems(w, data, lang)
    if data.kind == "annual":
        w.heading(t("doc.section.outside", lang))
        _outside_items(w, data, lang)
    w.heading(t("doc.section.requirements", lang))
    w.para(t(f"doc.requirements.{data.kind}", lang))
    _notes(w, data, lang)
    w.signature(head.issuer if lang == "zh" else head.issuer_en, _date_line(month, lang))
    return w.doc


def _title(data, head: Letterhead, lang: str, preliminary: bool) -> str:
    month = parse_month(data.as_of)
    text = t(f"doc.title.{data.kind}", lang).format(
        issuer=head.issuer if lang == "zh" else head.issuer_en,
        year=month.year,
        quarter=_quarter(month, lang),
        month=report.month_label(data.as_of, lang),
    )
    return text + (t("doc.preliminary", lang) if preliminary else "")


def _running_header(data, lang: str) -> str:
    """Sample data is labelled on every page (as the brief's running footer does); a document of real
    data has no header, as a government document has none."""
    if not data.sample:
        return ""
    as_of = t("brief.as_of", lang).format(month=report.month_label(data.as_of, lang))
    return f"{t('synthetic', lang)} · {t('brief.title.' + data.kind, lang)} · {as_of}"


def _quarter(month: pd.Period, lang: str) -> str:
    """三 in Chinese (第三季度), 3 in English (Q3)."""
    _, q = quarter_of(month)
    return ZH_NUMERALS[q - 1] if lang == "zh" else str(q)


def _opening(data, lang: str) -> str:
    plan = data.catalogue.plan["plan"]
    month = parse_month(data.as_of)
    return t(f"doc.opening.{data.kind}", lang).format(
        plan=plan["title"],
        document=report.plan_document(data.catalogue.plan, lang) or plan["document"],
        year=month.year,
        quarter=_quarter(month, lang),
        month=report.month_label(data.as_of, lang),
    )


def _date_line(month: pd.Period, lang: str) -> str:
    """The 成文日期 to fill in when signed: the year of the month after the data month."""
    issued = month + 1
    return f"{issued.year}年  月  日" if lang == "zh" else f"____ ____ {issued.year}"


def _status_counts(flags: pd.DataFrame) -> dict[str, int]:
    n = flags["status"].value_counts()
    return {s: int(n.get(s, 0)) for s in report.STATUSES}


def _status_text(s: str, lang: str) -> str:
    return t("risk.status." + report.STATUS_KEYS[s], lang) if s in report.STATUS_KEYS else s


def _listed(values, lang: str) -> str:
    return ("、" if lang == "zh" else ", ").join(str(v) for v in values)


def _headline(w: _Writer, data, lang: str) -> None:
    w.heading(t("brief.section.headline", lang))
    w.subheading(t("doc.sub.score", lang))
    now, projected = data.score, data.projected
    basis = projected if projected is not None else now
    w.para(
        t("doc.score_sentence", lang).format(
            month=report.month_label(data.as_of, lang),
            now=f"{now.totals['target_score']:.2f}",
            projected=f"{projected.totals['target_score']:.2f}" if projected is not None else report.MISSING,
            total=f"{basis.totals['total']:.2f}",
        )
    )
    w.para(report.formula_line(basis.totals, basis.assumed, lang))
    if basis.assumed:
        w.para(t("doc.assumed_note", lang).format(parts=_listed([t(k, lang) for k in basis.assumed], lang)))
    if projected is not None:
        w.para(t("brief.expected_note", lang))
    sections = now.sections[["category", "section", "weight", "score"]].copy()
    cols = [
        _C("category", t("category", lang), 26, "text"),
        _C("section", t("section", lang), 32, "text"),
        _C("weight", t("weight", lang), 20, "num0"),
        _C("score", t("brief.score_now_short", lang), 26, "num2"),
    ]
    if projected is not None:
        sections["projected"] = sections["section"].map(projected.sections.set_index("section")["score"])
        sections["projected_lost"] = sections["weight"] - sections["projected"]
        cols += [
            _C("projected", t("brief.score_projected_short", lang), 26, "num2"),
            _C("projected_lost", t("brief.lost_projected", lang), 26, "num2"),
        ]
    for col in (
        "category",
        "section",
    ):  # the plan's names in the reader's language (matched above in Chinese)
        sections[col] = sections[col].map(lambda v: plan_term(v, lang))
    total = {"category": t("brief.sum", lang), "section": ""}
    total.update({c.name: sections[c.name].sum() for c in cols[2:]})
    w.table(pd.concat([sections, pd.DataFrame([total])], ignore_index=True), cols, bold_last=True)
    if data.flags is not None:
        w.subheading(t("doc.sub.statuses", lang))
        counts = _status_counts(data.flags)
        w.para(
            say(
                "doc.status_sentence",
                lang,
                n=len(data.flags),
                counts=_listed(
                    [
                        t("doc.status_item", lang).format(status=_status_text(s, lang), n=counts[s])
                        for s in counts
                    ],
                    lang,
                ),
            )
        )


def _comparison(w: _Writer, data, lang: str) -> None:
    """This quarter against the last: the brief's comparison (report.quarter_rows), its figures as printed."""
    w.heading(t("doc.section.comparison", lang))
    found = report.quarter_rows(data, lang)
    if found is None:
        w.para(t("brief.none", lang))
        return
    cmp, rows = found
    if cmp.previous_quarter is None:
        w.para(t("brief.quarter.first", lang))
        return
    change = rows.set_index("key")["change"]
    w.para(
        t("doc.comparison.sentence", lang).format(
            before=report.month_label(cmp.previous_end, lang),
            after=report.month_label(cmp.end, lang),
            score=change["score_to_date"],
            risk=change["points_at_risk"],
        )
    )
    w.table(
        rows,
        [
            _C("figure", t("brief.quarter.figure", lang), 56, "text"),
            _C("previous", report.quarter_column(cmp.previous_quarter, cmp.previous_end, lang), 34, "right"),
            _C("current", report.quarter_column(cmp.quarter, cmp.end, lang), 34, "right"),
            _C("change", t("brief.quarter.change", lang), 32, "right"),
        ],
    )
    w.para(t("brief.quarter.note", lang))


def _turnover(w: _Writer, data, lang: str) -> None:
    w.heading(t("brief.section.turnover", lang))
    if data.growth is None:
        w.para(t("brief.turnover.none", lang))
        return
    for sentence in (*report.yoy_sentences(data, lang), *report.projection_sentences(data, lang)):
        w.para(sentence)
    p = data.growth.projections.copy()
    p["mode_name"] = p["mode"].map(lambda m: t(f"brief.mode.{m}", lang))
    p["band"] = [
        span(f"{lo:g}", f"{hi:g}", lang) for lo, hi in zip(p["band_low"], p["band_high"], strict=True)
    ]
    p["interval_80"] = [
        report._range(a, b, lang) for a, b in zip(p["interval_80_low"], p["interval_80_high"], strict=True)
    ]
    w.table(
        p,
        [
            _C("mode_name", t("growth.col.mode", lang), 18, "text"),
            _C("ytd_growth_pct", _unit(t("brief.col.ytd_growth", lang), "%", lang), 24, "num1"),
            _C("band", _unit(t("brief.col.band", lang), "%", lang), 24, "right"),
            _C("projected_growth_pct", _unit(t("brief.col.projected_growth", lang), "%", lang), 24, "num1"),
            _C("interval_80", _unit(t("brief.col.interval_80", lang), "%", lang), 28, "right"),
            _C("p_reach_low", t("growth.col.p_reach_low", lang), 38, "share"),
        ],
    )


def _investment(w: _Writer, data, lang: str) -> None:
    w.heading(t("doc.section.investment", lang))
    if data.investment is None:
        w.para(t("brief.none", lang))
        return
    w.para(report.investment_summary(data, lang))
    units = investment.by_unit(data.investment)
    units = units[units["n_money"] > 0]
    w.table(
        units,
        [
            _C("reporting_unit", t("reporting_unit", lang), 30, "text"),
            _C("n_money", t("invest.n_money", lang), 18, "int"),
            _C("target", _unit(t("target", lang), "万元", lang), 24, "num0"),
            _C("actual", _unit(t("brief.col.actual", lang), "万元", lang), 24, "num0"),
            _C("projected", _unit(t("brief.col.projected", lang), "万元", lang), 24, "num0"),
            _C("projected_pct", _unit(t("brief.col.projected_pct", lang), "%", lang), 18, "num1"),
            _C("shortfall", _unit(t("invest.shortfall", lang), "万元", lang), 18, "num0"),
        ],
        bold_last=False,
    )


def _problems(w: _Writer, data, lang: str) -> None:
    w.heading(t("doc.section.problems", lang))
    if data.flags is None:
        w.para(t("brief.none", lang))
        return
    statuses = report._problem_statuses(data)
    top_n = int(data.catalogue.plan.get("brief", {}).get("top_problems", 10))
    flagged = people_text(data.flags, lang)
    flagged = flagged[flagged["status"].isin(statuses)].sort_values(
        "points_at_risk", ascending=False, kind="stable"
    )
    w.para(
        say(
            "doc.problems_sentence",
            lang,
            month=report.month_label(data.as_of, lang),
            n=len(flagged),
            points=report.fmt_number(flagged["points_at_risk"].sum(), 2),
            shown=min(top_n, len(flagged)),
        )
    )
    w.subheading(say("brief.risks.top", lang, n=min(top_n, len(flagged))))
    top = flagged.head(top_n).reset_index(drop=True)
    top = top.assign(
        no=range(1, len(top) + 1),
        measure=report.measure_labels(data.catalogue, top, lang),
        status_text=top["status"].map(lambda s: _status_text(s, lang)),
        owners=[_owner(u, p, lang) for u, p in zip(top["units"], top["persons"], strict=True)],
    )
    w.table(
        top,
        [
            _C("no", t("doc.col.no", lang), 10, "int"),
            _C("measure", t("brief.col.measure", lang), 34, "text"),
            _C("status_text", t("risk.col.status", lang), 14, "centre"),
            _C("points_at_risk", _unit(t("risk.col.points_at_risk", lang), "points", lang), 16, "num2"),
            _C("owners", t("doc.col.owners", lang), 28, "text"),
            _C("reasons", t("risk.col.reasons", lang), 54, "text"),
        ],
        whole_rows=False,  # long reasons: a row may run onto the next page rather than leave a gap
    )
    if data.problems is None:
        return
    month = parse_month(data.as_of)
    if data.kind == "quarterly":
        view = risks.quarter_summary(data.problems, *quarter_of(month), month)
        w.subheading(t("doc.sub.quarter_by_unit", lang).format(quarter=view.title(lang)))
    else:
        view = risks.quarter_summary(data.problems, month.year, 1, month)  # the year so far
        w.subheading(t("doc.sub.year_by_unit", lang))
    numbers = [
        _C("opened_in_quarter", t("doc.col.opened", lang), 22, "int"),
        _C("closed_in_quarter", t("doc.col.closed", lang), 22, "int"),
        _C("still_open", t("risk.col.still_open", lang), 26, "int"),
        _C("points_at_risk", _unit(t("risk.col.points_at_risk", lang), "points", lang), 26, "num2"),
    ]
    w.table(view.by_unit, [_C("unit_name", t("risk.col.unit_name", lang), 60, "text"), *numbers])


def _owner(units: str, persons: str, lang: str) -> str:
    """局工程科（刘善辉）: the units with their persons in brackets."""
    if not persons:
        return units
    return f"{units}（{persons}）" if lang == "zh" else f"{units} ({persons})"


def _synthetic(lang: str) -> str:
    return t("doc.labelled", lang).format(label=t("synthetic", lang), text=t("synthetic_note", lang))


def _self_assessment(w: _Writer, data, lang: str) -> None:
    """Each unit's 自评 beside the computed score and grade (report.self_assessment), differences shaded."""
    from .assessments import coverage

    w.heading(t("doc.section.self", lang))
    rows = report.self_assessment(
        data.catalogue, data.score, data.progress, data.assessments, data.self_evaluations
    )
    evaluated = rows[rows["self_grade"].fillna("") != ""]
    differ = rows[rows["differs"].fillna(False).astype(bool)]
    if len(evaluated):
        w.para(
            say(
                "doc.self_sentence",
                lang,
                n=len(rows),
                evaluated=len(evaluated),
                differ=len(differ),
                list=_listed([f"{r['id']}（{_differs(r, lang)}）" for r in differ.to_dict("records")], lang)
                or t("brief.none_short", lang),
            )
        )
    else:
        w.para(say("doc.self_none", lang, n=len(rows)))
    assumed = [p.split(" ", 1)[1] for p in coverage(data.catalogue, data.assessments)["assumed"] if " " in p]
    if assumed:
        w.para(say("doc.assessed_assumed", lang, ids=_listed(assumed, lang), n=len(assumed)))
    shown = rows.assign(
        differs_shown=[_differs(r, lang) if r["differs"] else "" for r in rows.to_dict("records")],
        indicator=rows["id"] + " " + rows["text"].astype(str),
    )
    w.table(
        shown,
        [
            _C("indicator", t("doc.col.indicator", lang), 50, "text"),
            _C("weight", t("weight", lang), 11, "num1"),
            _C("score", t("score", lang), 13, "num2"),
            _C("computed_grade", t("brief.computed_grade", lang), 12, "centre"),
            _C("self_grade", t("brief.self_grade", lang), 14, "centre"),
            _C("differs_shown", t("brief.self_differs", lang), 20, "mark"),
            _C("self_statement", t("brief.self_statement", lang), 36, "text"),
        ],
        mark_rows="differs",
        whole_rows=False,
    )


def _differs(row: dict, lang: str) -> str:
    return t("brief.self_differs_text", lang).format(own=row["self_grade"], computed=row["computed_grade"])


def _outside_items(w: _Writer, data, lang: str) -> None:
    a = data.assessments
    if a is None or a.empty:
        w.para(t("brief.none", lang))
        return
    a = a[a["kind"].isin(["bonus", "deduction", "public"])].copy()
    if a.empty:
        w.para(t("brief.none", lang))
        return
    a["kind_text"] = a["kind"].map(lambda k: t(k, lang))
    w.table(
        a,
        [
            _C("kind_text", t("brief.item", lang), 30, "text"),
            _C("description", t("brief.description", lang), 66, "text"),
            _C("level", t("brief.level", lang), 16, "centre"),
            _C("unit", t("units", lang), 28, "text"),
            _C("points", t("brief.points_col", lang), 16, "num2"),
        ],
    )


def _notes(w: _Writer, data, lang: str) -> None:
    w.heading(t("brief.section.notes", lang))
    missing = data.reporting.loc[~data.reporting["reported"], "unit"].tolist()
    w.para(
        say(
            "brief.reported_summary",
            lang,
            month=report.month_label(data.as_of, lang),
            reported=int(data.reporting["reported"].sum()),
            expected=len(data.reporting),
            missing=_listed(missing, lang) if missing else t("brief.none_short", lang),
        )
    )
    w.para(
        t("brief.turnover_as_of", lang).format(
            month=report.month_label(data.turnover_month, lang) if data.turnover_month else report.MISSING
        )
    )
    w.para(t("doc.method_note", lang))
    if data.sample:
        w.para(_synthetic(lang))
    w.para(f"{t('brief.generated', lang)} {datetime.now().strftime('%Y-%m-%d %H:%M')}")


def _unit(label: str, unit: str, lang: str) -> str:
    shown = t("unit." + unit, lang)
    return f"{label}（{shown}）" if lang == "zh" else f"{label} ({shown})"


# ------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _C:
    """A table column: data column, header text, width in mm, format."""

    name: str
    header: str
    width_mm: float
    fmt: str  # text, centre, right, int, num0-num2, share, mark

    def text(self, value: object) -> str:
        if isinstance(value, str) and value == "":
            return "" if self.fmt in ("mark", "text", "centre") else report.MISSING
        if report._missing(value):
            return report.MISSING
        if self.fmt == "int":
            return report.fmt_number(value, 0)
        if self.fmt.startswith("num"):
            return report.fmt_number(value, int(self.fmt[3:]))
        if self.fmt == "share":
            return report.fmt_share(value)
        if isinstance(value, list | tuple):
            return "、".join(str(v) for v in value)
        return str(value)

    @property
    def align(self) -> str:
        return "left" if self.fmt == "text" else "centre" if self.fmt in ("centre", "mark") else "right"


class _Writer:
    """A python-docx Document with the government-document styles and the few blocks the body uses."""

    def __init__(self, lang: str):
        from docx import Document

        self.lang = lang
        self.doc = Document()
        self.n_heading = 0
        self.n_sub = 0

    # -- set-up: page, styles, fonts, header and footer
    def setup(self, data, head: Letterhead, running: str) -> None:
        from docx.shared import Mm

        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(PAGE_MM[0]), Mm(PAGE_MM[1])
        section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
        section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
        section.header_distance, section.footer_distance = Mm(15), Mm(22)
        self._styles()
        self._font_table()
        self._header(section, running)
        self._page_numbers(section)
        props = self.doc.core_properties
        props.title = _title(
            data, head, self.lang, data.kind == "annual" and parse_month(data.as_of).month < 12
        )
        props.author = head.issuer
        props.last_modified_by = "perfkit"
        props.subject = t("brief.title." + data.kind, self.lang)
        props.keywords = t("synthetic", self.lang) if data.sample else ""
        props.comments = t("synthetic_note", self.lang) if data.sample else ""
        props.created = props.modified = datetime.now()
        props.revision = 1
        props.language = "zh-CN" if self.lang == "zh" else "en-GB"

    def _styles(self) -> None:
        from docx.enum.text import WD_LINE_SPACING
        from docx.shared import Pt, RGBColor

        styles = self.doc.styles
        normal = styles["Normal"]
        _fonts(normal.element, FONT_BODY)
        normal.font.size = Pt(BODY_PT)
        normal.font.color.rgb = RGBColor(0, 0, 0)
        pf = normal.paragraph_format
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(LINE_PT)
        pf.space_before = pf.space_after = Pt(0)
        pf.first_line_indent = Pt(2 * BODY_PT)
        pf.widow_control = True
        # the document's defaults too: Word's and LibreOffice's fallbacks for text outside any style
        rpr = self.doc.styles.element.find(_qn("w:docDefaults")).find(_qn("w:rPrDefault")).find(_qn("w:rPr"))
        _rfonts(rpr, FONT_BODY)
        for name, face in (("Heading 1", FONT_HEADING), ("Heading 2", FONT_SUBHEADING)):
            st = styles[name]
            _fonts(st.element, face)
            st.font.size = Pt(BODY_PT)
            st.font.bold = False
            st.font.italic = False
            st.font.color.rgb = RGBColor(0, 0, 0)
            f = st.paragraph_format
            f.space_before = f.space_after = Pt(0)
            f.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            f.line_spacing = Pt(LINE_PT)
            f.first_line_indent = Pt(2 * BODY_PT)
            f.keep_with_next = True
        from docx.enum.style import WD_STYLE_TYPE

        cell = styles.add_style("PK Table Text", WD_STYLE_TYPE.PARAGRAPH)
        cell.base_style = normal
        cell.font.size = Pt(TABLE_PT)
        cf = cell.paragraph_format
        cf.first_line_indent = Pt(0)
        cf.line_spacing_rule = WD_LINE_SPACING.SINGLE
        cf.space_before = cf.space_after = Pt(1)
        for name in ("Header", "Footer"):
            st = styles[name]
            _fonts(st.element, "宋体")
            st.paragraph_format.first_line_indent = Pt(0)
            st.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE

    def _font_table(self) -> None:
        """Alternatives for each Chinese face, so Word and WPS substitute an installed one of its kind."""
        from lxml import etree

        part = next(p for p in self.doc.part.package.iter_parts() if str(p.partname) == "/word/fontTable.xml")
        root = etree.fromstring(part.blob)
        for name, alternatives in FALLBACKS.items():
            font = etree.SubElement(root, _qn("w:font"), {_qn("w:name"): name})
            etree.SubElement(font, _qn("w:altName"), {_qn("w:val"): ",".join(alternatives)})
            etree.SubElement(font, _qn("w:charset"), {_qn("w:val"): "86"})  # GB2312
            etree.SubElement(
                font, _qn("w:family"), {_qn("w:val"): "modern" if name != FONT_TITLE else "roman"}
            )
            etree.SubElement(font, _qn("w:pitch"), {_qn("w:val"): "fixed"})
        part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

    def _header(self, section, running: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt, RGBColor

        if not running:
            return
        p = section.header.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        run = p.add_run(running)
        run.font.size = Pt(9)
        run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)

    def _page_numbers(self, section) -> None:
        """ "— 1 —" centred in the footer: a PAGE field between em dashes (四号 宋体)."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml import OxmlElement
        from docx.shared import Pt

        p = section.footer.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run("— ").font.size = Pt(14)
        for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), (None, "1"), ("end", None)):
            run = p.add_run()
            run.font.size = Pt(14)
            if kind:
                fld = OxmlElement("w:fldChar")
                fld.set(_qn("w:fldCharType"), kind)
                run._r.append(fld)
            elif text == "PAGE":
                instr = OxmlElement("w:instrText")
                instr.set(_qn("xml:space"), "preserve")
                instr.text = " PAGE "
                run._r.append(instr)
            else:
                run.text = text
        p.add_run(" —").font.size = Pt(14)

    # -- blocks
    def masthead(self, head: Letterhead, year: int) -> None:
        """发文机关标志 in red, the 文号 line with its number left blank, and the red rule under it."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt, RGBColor

        p = self._plain(WD_ALIGN_PARAGRAPH.CENTER, line=None)
        p.paragraph_format.space_before = Pt(12)
        run = p.add_run(head.issuer if self.lang == "zh" else head.issuer_en)
        _run_font(run, FONT_TITLE)
        run.font.size = Pt(36 if self.lang == "zh" else 24)
        run.font.color.rgb = RGBColor.from_string(RED)
        p = self._plain(WD_ALIGN_PARAGRAPH.CENTER)
        p.paragraph_format.space_before = Pt(2 * LINE_PT)
        p.add_run(f"{head.number_prefix}〔{year}〕　　号")
        _bottom_rule(p, RED)
        self._plain(WD_ALIGN_PARAGRAPH.CENTER)  # the blank line above the title

    def title(self, text: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        p = self._plain(WD_ALIGN_PARAGRAPH.CENTER, line=None)
        p.paragraph_format.line_spacing = Pt(36)
        run = p.add_run(text)
        _run_font(run, FONT_TITLE)
        run.font.size = Pt(22)  # 二号

    def centred(self, text: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH

        self._plain(WD_ALIGN_PARAGRAPH.CENTER).add_run(text)

    def notice(self, text: str) -> None:
        """The synthetic-data notice: bold, boxed, under the title."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt, RGBColor

        p = self._plain(WD_ALIGN_PARAGRAPH.LEFT, line=None)
        p.paragraph_format.space_before = Pt(6)
        run = p.add_run(text)
        run.bold = True
        run.font.size = Pt(12)
        run.font.color.rgb = RGBColor.from_string(RED)
        _box(p)

    def recipients(self, text: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH

        self._plain(WD_ALIGN_PARAGRAPH.CENTER)
        if text:
            self._plain(WD_ALIGN_PARAGRAPH.LEFT).add_run(text + ("：" if self.lang == "zh" else ":"))

    def para(self, text: str) -> None:
        self.doc.add_paragraph(text)

    def heading(self, text: str) -> None:
        number = f"{ZH_NUMERALS[self.n_heading]}、" if self.lang == "zh" else f"{self.n_heading + 1}. "
        self.n_heading += 1
        self.n_sub = 0
        self.doc.add_paragraph(number + text, style="Heading 1")

    def subheading(self, text: str) -> None:
        number = f"（{ZH_NUMERALS[self.n_sub]}）" if self.lang == "zh" else f"({self.n_sub + 1}) "
        self.n_sub += 1
        self.doc.add_paragraph(number + text, style="Heading 2")

    def table(
        self,
        df: pd.DataFrame,
        cols: list[_C],
        *,
        bold_last: bool = False,
        mark_rows: str = "",
        whole_rows: bool = True,
    ) -> None:
        """A ruled table with the header row repeated on each page; `whole_rows`: no row split across
        pages. `mark_rows`: a boolean column whose rows get their 'mark' cells shaded and in red."""
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Mm, RGBColor

        if df is None or df.empty:
            self.para(t("brief.none", self.lang))
            return
        align = {
            "left": WD_ALIGN_PARAGRAPH.LEFT,
            "centre": WD_ALIGN_PARAGRAPH.CENTER,
            "right": WD_ALIGN_PARAGRAPH.RIGHT,
        }
        scale = TYPE_WIDTH_MM / sum(c.width_mm for c in cols)
        widths = [Mm(c.width_mm * scale) for c in cols]
        records = df.to_dict("records")
        tbl = self.doc.add_table(rows=1 + len(records), cols=len(cols))
        tbl.style = self.doc.styles["Table Grid"]
        tbl.alignment = WD_TABLE_ALIGNMENT.CENTER
        tbl.autofit = False
        for col, width in zip(tbl.columns, widths, strict=True):
            col.width = width
        for i, row in enumerate(tbl.rows):
            tr_pr = row._tr.get_or_add_trPr()
            if whole_rows or i == 0:
                tr_pr.append(_el("w:cantSplit"))
            if i == 0:
                tr_pr.append(_el("w:tblHeader"))  # repeated at the top of each page
            rec = records[i - 1] if i else None
            last = bold_last and i == len(records)
            marked = bool(rec and mark_rows and rec.get(mark_rows))
            for cell, c, width in zip(row.cells, cols, widths, strict=True):
                cell.width = width
                p = cell.paragraphs[0]
                p.style = self.doc.styles["PK Table Text"]
                if rec is None:
                    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    run = p.add_run(c.header)
                    run.bold = True
                    _shade(cell, HEAD_FILL)
                    continue
                p.alignment = align[c.align]
                run = p.add_run(c.text(rec.get(c.name)))
                if last:
                    run.bold = True
                if marked and c.fmt == "mark":
                    run.bold = True
                    run.font.color.rgb = RGBColor.from_string(RED)
                    _shade(cell, MARK_FILL)
                elif marked and c.name == "self_grade":
                    _shade(cell, MARK_FILL)
        self._plain(WD_ALIGN_PARAGRAPH.LEFT)  # a blank line after the table

    def signature(self, issuer: str, date: str) -> None:
        """落款: the bureau's name and the date to fill, right-aligned four characters from the margin."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        self._plain(WD_ALIGN_PARAGRAPH.LEFT)
        self._plain(WD_ALIGN_PARAGRAPH.LEFT)
        for text in (issuer, date):
            p = self._plain(WD_ALIGN_PARAGRAPH.RIGHT)
            p.paragraph_format.right_indent = Pt(4 * BODY_PT)
            p.add_run(text)

    def _plain(self, alignment, line: float | None = LINE_PT):
        """A paragraph without the body's first-line indent."""
        from docx.shared import Pt

        p = self.doc.add_paragraph()
        p.alignment = alignment
        p.paragraph_format.first_line_indent = Pt(0)
        if line is None:
            from docx.enum.text import WD_LINE_SPACING

            p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
        return p


# ------------------------------------------------------------------------------------ xml helpers


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def _el(tag: str, **attrs: str):
    from docx.oxml import OxmlElement

    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(_qn(f"w:{key}"), value)
    return el


def _rfonts(rpr, east_asia: str) -> None:
    """ascii/hAnsi in Times New Roman, eastAsia in the Chinese face (what WPS and Word read for CJK)."""
    fonts = rpr.get_or_add_rFonts() if hasattr(rpr, "get_or_add_rFonts") else rpr.find(_qn("w:rFonts"))
    if fonts is None:  # docDefaults' rPr is a plain element
        fonts = _el("w:rFonts")
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        if attr.endswith("Theme"):
            del fonts.attrib[attr]  # a theme font would override the names below
    for key, face in (
        ("ascii", FONT_LATIN),
        ("hAnsi", FONT_LATIN),
        ("eastAsia", east_asia),
        ("cs", FONT_LATIN),
    ):
        fonts.set(_qn(f"w:{key}"), face)


def _fonts(style_element, east_asia: str) -> None:
    _rfonts(style_element.get_or_add_rPr(), east_asia)


def _run_font(run, east_asia: str) -> None:
    _rfonts(run._r.get_or_add_rPr(), east_asia)


def _shade(cell, fill: str) -> None:
    cell._tc.get_or_add_tcPr().append(_el("w:shd", val="clear", color="auto", fill=fill))


def _border(side: str, colour: str, size: int) -> object:
    return _el(f"w:{side}", val="single", sz=str(size), space="1", color=colour)


def _bottom_rule(paragraph, colour: str) -> None:
    """The red rule under the 文号 line (a 2.25 pt paragraph border)."""
    bdr = _el("w:pBdr")
    bdr.append(_border("bottom", colour, 18))
    _insert_ppr(paragraph, bdr)


def _box(paragraph) -> None:
    bdr = _el("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        bdr.append(_border(side, RED, 6))
    _insert_ppr(paragraph, bdr)


def _insert_ppr(paragraph, element) -> None:
    """pBdr goes before spacing/ind/jc in pPr (the schema's order, which Word enforces)."""
    ppr = paragraph._p.get_or_add_pPr()
    later = [ppr.find(_qn(f"w:{n}")) for n in ("shd", "tabs", "spacing", "ind", "jc", "rPr")]
    later = [e for e in later if e is not None]
    if later:
        later[0].addprevious(element)
    else:
        ppr.append(element)
