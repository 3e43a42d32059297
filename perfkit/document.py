"""The bureau's Word documents: the quarterly 季度通报 and the year-end 年度绩效自评报告 as .docx.

Laid out as a Chinese government document (perfkit.docx_layout: GB/T 9704-2012 page, fonts, masthead,
ruled tables, 落款, page numbers): the issuing bureau's name in red, a 文号 line with the number left blank
for the office to fill, the title, the 主送 line, a body in 一、二、三、 sections with （一）（二） sub-levels, tables
with Chinese headers, the 落款 with the date to fill. This module says what the document says.

Presentation only: every figure is read from `report.gather` (the month's snapshot, as the HTML brief
reads it); the sentences and the quarter comparison are the brief's own (report.quarter_rows over
trends.quarter_on_quarter, report.yoy_sentences, projection_sentences, investment_summary), so the two
never disagree and nothing is computed or formatted twice. The annual kind sets each unit's 自评 beside
the computed score and grade (`report.self_assessment`), differences shaded, and before December it is titled 预评估 with its data
month. Sample data is labelled 合成示例数据 on every page, as the brief's running footer does.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from . import investment, report, risks
from .docx_layout import Column, Writer
from .exports import write_whole
from .labels import grade_label, paren, plan_term, say, span, t
from .markup import MISSING, STATUS_KEYS, STATUSES, ZH_NUMERALS, fmt_number, month_label
from .months import parse_month, quarter_of
from .tables import people_text

KINDS = ("quarterly", "annual")  # kinds that always come with a Word document (monthly: on request)


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
    """Write whole (exports.write_whole): a reader never sees half a document; one open in Word, read-only
    or in a folder that cannot be written is an OutputError and stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_whole(path, doc.save)


# ------------------------------------------------------------------------------------------ content


def build(data: report.BriefData, lang: str = "zh"):
    """The python-docx Document for `data` (quarterly, annual, or monthly on request)."""
    w = Writer(lang)
    plan = data.catalogue.plan
    head = letterhead(plan)
    month = parse_month(data.as_of)
    preliminary = data.kind == "annual" and month.month < 12
    w.setup(
        _running_header(data, lang),
        title=_title(data, head, lang, preliminary),
        author=head.issuer,
        subject=t("brief.title." + data.kind, lang),
        sample=data.sample,
    )
    w.masthead(head.issuer if lang == "zh" else head.issuer_en, head.number_prefix, month.year)
    w.title(_title(data, head, lang, preliminary))
    if preliminary:
        w.centred(t("doc.preliminary_note", lang).format(month=month_label(data.as_of, lang)))
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
        month=month_label(data.as_of, lang),
    )
    return text + (t("doc.preliminary", lang) if preliminary else "")


def _running_header(data, lang: str) -> str:
    """Sample data is labelled on every page (as the brief's running footer does); a document of real
    data has no header, as a government document has none."""
    if not data.sample:
        return ""
    as_of = t("brief.as_of", lang).format(month=month_label(data.as_of, lang))
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
        month=month_label(data.as_of, lang),
    )


def _date_line(month: pd.Period, lang: str) -> str:
    """The 成文日期 to fill in when signed: the year of the month after the data month."""
    issued = month + 1
    return f"{issued.year}年  月  日" if lang == "zh" else f"____ ____ {issued.year}"


def _status_counts(flags: pd.DataFrame) -> dict[str, int]:
    n = flags["status"].value_counts()
    return {s: int(n.get(s, 0)) for s in STATUSES}


def _status_text(s: str, lang: str) -> str:
    return t("risk.status." + STATUS_KEYS[s], lang) if s in STATUS_KEYS else s


def _listed(values, lang: str) -> str:
    return ("、" if lang == "zh" else ", ").join(str(v) for v in values)


def _headline(w: Writer, data, lang: str) -> None:
    w.heading(t("brief.section.headline", lang))
    w.subheading(t("doc.sub.score", lang))
    now, projected = data.score, data.projected
    basis = projected if projected is not None else now
    w.para(
        t("doc.score_sentence", lang).format(
            month=month_label(data.as_of, lang),
            now=f"{now.totals['target_score']:.2f}",
            projected=f"{projected.totals['target_score']:.2f}" if projected is not None else MISSING,
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
        Column("category", t("category", lang), 26, "text"),
        Column("section", t("section", lang), 32, "text"),
        Column("weight", t("weight", lang), 20, "num0"),
        Column("score", t("brief.score_now_short", lang), 26, "num2"),
    ]
    if projected is not None:
        sections["projected"] = sections["section"].map(projected.sections.set_index("section")["score"])
        sections["projected_lost"] = sections["weight"] - sections["projected"]
        cols += [
            Column("projected", t("brief.score_projected_short", lang), 26, "num2"),
            Column("projected_lost", t("brief.lost_projected", lang), 26, "num2"),
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


def _comparison(w: Writer, data, lang: str) -> None:
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
            before=month_label(cmp.previous_end, lang),
            after=month_label(cmp.end, lang),
            score=change["score_to_date"],
            risk=change["points_at_risk"],
        )
    )
    w.table(
        rows,
        [
            Column("figure", t("brief.quarter.figure", lang), 56, "text"),
            Column(
                "previous", report.quarter_column(cmp.previous_quarter, cmp.previous_end, lang), 34, "right"
            ),
            Column("current", report.quarter_column(cmp.quarter, cmp.end, lang), 34, "right"),
            Column("change", t("brief.quarter.change", lang), 32, "right"),
        ],
    )
    w.para(t("brief.quarter.note", lang))


def _turnover(w: Writer, data, lang: str) -> None:
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
            Column("mode_name", t("growth.col.mode", lang), 18, "text"),
            Column("ytd_growth_pct", _unit(t("brief.col.ytd_growth", lang), "%", lang), 24, "num1"),
            Column("band", _unit(t("brief.col.band", lang), "%", lang), 24, "right"),
            Column(
                "projected_growth_pct", _unit(t("brief.col.projected_growth", lang), "%", lang), 24, "num1"
            ),
            Column("interval_80", _unit(t("brief.col.interval_80", lang), "%", lang), 28, "right"),
            Column("p_reach_low", t("growth.col.p_reach_low", lang), 38, "share"),
        ],
    )


def _investment(w: Writer, data, lang: str) -> None:
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
            Column("reporting_unit", t("reporting_unit", lang), 30, "text"),
            Column("n_money", t("invest.n_money", lang), 18, "int"),
            Column("target", _unit(t("target", lang), "万元", lang), 24, "num0"),
            Column("actual", _unit(t("brief.col.actual", lang), "万元", lang), 24, "num0"),
            Column("projected", _unit(t("brief.col.projected", lang), "万元", lang), 24, "num0"),
            Column("projected_pct", _unit(t("brief.col.projected_pct", lang), "%", lang), 18, "num1"),
            Column("shortfall", _unit(t("invest.shortfall", lang), "万元", lang), 18, "num0"),
        ],
        bold_last=False,
    )


def _problems(w: Writer, data, lang: str) -> None:
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
            month=month_label(data.as_of, lang),
            n=len(flagged),
            points=fmt_number(flagged["points_at_risk"].sum(), 2),
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
            Column("no", t("doc.col.no", lang), 10, "int"),
            Column("measure", t("brief.col.measure", lang), 34, "text"),
            Column("status_text", t("risk.col.status", lang), 14, "centre"),
            Column("points_at_risk", _unit(t("risk.col.points_at_risk", lang), "points", lang), 16, "num2"),
            Column("owners", t("doc.col.owners", lang), 28, "text"),
            Column("reasons", t("risk.col.reasons", lang), 54, "text"),
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
        Column("opened_in_quarter", t("doc.col.opened", lang), 22, "int"),
        Column("closed_in_quarter", t("doc.col.closed", lang), 22, "int"),
        Column("still_open", t("risk.col.still_open", lang), 26, "int"),
        Column("points_at_risk", _unit(t("risk.col.points_at_risk", lang), "points", lang), 26, "num2"),
    ]
    w.table(view.by_unit, [Column("unit_name", t("risk.col.unit_name", lang), 60, "text"), *numbers])


def _owner(units: str, persons: str, lang: str) -> str:
    """局工程科（刘善辉）: the units with their persons in brackets."""
    if not persons:
        return units
    return f"{units}（{persons}）" if lang == "zh" else f"{units} ({persons})"


def _synthetic(lang: str) -> str:
    return t("doc.labelled", lang).format(label=t("synthetic", lang), text=t("synthetic_note", lang))


def _self_assessment(w: Writer, data, lang: str) -> None:
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
                list=_listed(
                    [r["id"] + paren(_differs(r, lang), lang) for r in differ.to_dict("records")], lang
                )
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
        # the plan's grades in the reader's language, as the brief's table shows them (优 → Excellent)
        computed_grade=rows["computed_grade"].map(lambda g: grade_label(g, lang)),
        self_grade=rows["self_grade"].map(lambda g: grade_label(g, lang)),
    )
    w.table(
        shown,
        [
            Column("indicator", t("doc.col.indicator", lang), 50, "text"),
            Column("weight", t("weight", lang), 11, "num1"),
            Column("score", t("score", lang), 13, "num2"),
            Column("computed_grade", t("brief.computed_grade", lang), 12, "centre"),
            Column("self_grade", t("brief.self_grade", lang), 14, "centre"),
            Column("differs_shown", t("brief.self_differs", lang), 20, "mark"),
            Column("self_statement", t("brief.self_statement", lang), 36, "text"),
        ],
        mark_rows="differs",
        whole_rows=False,
    )


def _differs(row: dict, lang: str) -> str:
    own, computed = grade_label(row["self_grade"], lang), grade_label(row["computed_grade"], lang)
    return t("brief.self_differs_text", lang).format(own=own, computed=computed)


def _outside_items(w: Writer, data, lang: str) -> None:
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
            Column("kind_text", t("brief.item", lang), 30, "text"),
            Column("description", t("brief.description", lang), 66, "text"),
            Column("level", t("brief.level", lang), 16, "centre"),
            Column("unit", t("units", lang), 28, "text"),
            Column("points", t("brief.points_col", lang), 16, "num2"),
        ],
    )


def _notes(w: Writer, data, lang: str) -> None:
    w.heading(t("brief.section.notes", lang))
    missing = data.reporting.loc[~data.reporting["reported"], "unit"].tolist()
    w.para(
        say(
            "brief.reported_summary",
            lang,
            month=month_label(data.as_of, lang),
            reported=int(data.reporting["reported"].sum()),
            expected=len(data.reporting),
            missing=_listed(missing, lang) if missing else t("brief.none_short", lang),
        )
    )
    w.para(report.turnover_note(data.turnover_month, lang))
    w.para(t("doc.method_note", lang))
    if data.sample:
        w.para(_synthetic(lang))
    w.para(f"{t('brief.generated', lang)} {datetime.now().strftime('%Y-%m-%d %H:%M')}")


def _unit(label: str, unit: str, lang: str) -> str:
    shown = t("unit." + unit, lang)
    return f"{label}（{shown}）" if lang == "zh" else f"{label} ({shown})"
