"""The brief's sections: each section's HTML (tables with Chinese headers and units, formatted numbers,
status colours, the sentences leaders read) from the brief's data (perfkit.brief_data), built with the
HTML blocks of perfkit.markup; the page's chrome (title, running footer, synthetic-data label) from
`page_chrome`, used by the export template. The Word document prints the same sentences and comparison.

Notebooks and the runner call everything through this module: the data and the blocks are re-exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from . import investment, risks, trends
from .brief_data import (  # noqa: F401 - re-exported: notebooks and the runner read report.gather …
    ANALYSES,
    KINDS,
    BriefData,
    check_kind,
    check_lang,
    expected_score,
    gather,
    reporting_status,
)
from .catalogue import Catalogue
from .labels import TEXT, grade_label, paren, plan_term, say, sep, span, status_text, t, unit_label
from .markup import (
    MISSING,
    STATUS_KEYS,
    STATUSES,
    ZH_NUMERALS,
    Col,
    Html,
    _missing,
    esc,
    fmt_number,
    fmt_share,
    join,
    month_label,
    paragraph,
    status_chip,
    table,
)
from .months import parse_month, quarter_end, quarter_of
from .tables import people_text

SECTIONS = {
    "monthly": ["headline", "turnover", "investment", "risks", "notes"],
    "quarterly": ["headline", "turnover", "investment", "risks", "quarterly", "notes"],
    "annual": ["headline", "annual", "turnover", "investment", "risks", "notes"],
}


def section_title(key: str, lang: str = "zh", kind: str = "monthly") -> Html:
    """A numbered section heading; every section but the first starts a new printed page."""
    order = SECTIONS[check_kind(kind)]
    n = order.index(key) if key in order else None
    number = "" if n is None else (f"{ZH_NUMERALS[n]}、" if lang == "zh" else f"{n + 1}. ")
    cls = "pk-section pk-first" if n == 0 else "pk-section"
    return Html(f'<h2 class="{cls}">{esc(number + t("brief.section." + key, lang))}</h2>')


def subtitle(key: str, lang: str = "zh", **fmt: object) -> Html:
    return Html(f"<h3>{esc(say(key, lang, **fmt))}</h3>")


def placeholder(module: str, lang: str = "zh") -> Html:
    """Shown where a section's analysis was left out of the brief (the brief still builds)."""
    return Html(
        f'<div class="pk-placeholder" data-module="{esc(module)}">{esc(t("brief.placeholder", lang))}</div>'
    )


# ---------------------------------------------------------------------------------------- page chrome


def page_chrome(
    plan: dict, as_of: str, *, kind: str = "monthly", lang: str = "zh", sample: bool = False
) -> dict:
    """What the export template prints around the notebook's outputs (title, running footer, labels)."""
    name = plan["plan"]["title"].replace("工作方案", "")
    if lang != "zh":  # plan.toml [plan] title_en, else the plan year alone
        name = plan["plan"].get("title_en") or t("brief.plan_year", lang).format(year=plan["plan"]["year"])
    title = f"{name} · {brief_title(kind, as_of, lang)}"
    short_title = brief_title(kind, as_of, lang, short=True)  # beside the as-of month, said once
    as_of_text = t("brief.as_of", lang).format(month=month_label(as_of, lang))
    # the printed pages' running footer: short, the cover carries the full title
    footer = f"{short_title} · {as_of_text}"
    if sample:
        footer = f"{t('synthetic', lang)} · {footer}"
    return {
        "title": title,
        "as_of": as_of_text,
        "lang_code": "zh-CN" if lang == "zh" else "en",
        "synthetic": bool(sample),
        "synthetic_label": t("synthetic", lang),
        "synthetic_note": t("synthetic_note", lang),
        "footer": f"{name} · {short_title} · {as_of_text}",
        "footer_css": css_string(footer),
        "generated": f"{t('brief.generated', lang)} {datetime.now().strftime('%Y-%m-%d %H:%M')}",
    }


def plan_document(plan: dict, lang: str = "zh") -> str:
    """The plan's document number (文号) for the cover: plan.toml [plan] document, or document_en in English
    (nothing when the plan gives none)."""
    return plan["plan"]["document"] if lang == "zh" else plan["plan"].get("document_en", "")


def preliminary(kind: str, as_of: str) -> bool:
    """An annual self-assessment before the year's last month is a 预评估 (preliminary)."""
    return kind == "annual" and parse_month(as_of).month < 12


def brief_title(kind: str, as_of: str, lang: str = "zh", short: bool = False) -> str:
    """月度绩效简报 …; before December the annual kind says it is preliminary and how far its data go:
    年度绩效自评（预评估，数据截至2019年9月） (`short`: without the month, for a line that gives it)."""
    if preliminary(kind, as_of):
        key = "brief.title.annual_preliminary" + ("_short" if short else "")
        return t(key, lang).format(month=month_label(as_of, lang))
    return t("brief.title." + kind, lang)


def css_string(text: str) -> str:
    """Text for a CSS string literal inside <style>: quotes, backslashes, '<', '>' and newlines escaped."""
    return "".join(f"\\{ord(ch):x} " if ch in '"\\<>\n' else ch for ch in text)


def cover(
    catalogue: Catalogue, as_of: str, kind: str = "monthly", lang: str = "zh", sample: bool = False
) -> Html:
    """The brief's first lines: title, period, and the synthetic-data notice when it applies."""
    check_kind(kind)
    check_lang(lang)
    chrome = page_chrome(catalogue.plan, as_of, kind=kind, lang=lang, sample=sample)
    notice = ""  # the synthetic-data bar above the cover says it (export template)
    return Html(
        f'<header class="pk-cover"><p class="pk-doc">{esc(plan_document(catalogue.plan, lang))}</p>'
        f'<h1>{esc(chrome["title"])}</h1><p class="pk-asof">{esc(chrome["as_of"])}</p>{notice}</header>'
    )


# -------------------------------------------------------------------------------------------- headline


def formula_line(totals: dict, assumed: Iterable[str], lang: str = "zh") -> str:
    """考评总得分 = 目标考评×70% + 公众评议×30% + 加分 − 扣分, with assumed parts marked."""
    assumed = set(assumed)
    mark = lambda key: paren(t("brief.assumed", lang), lang) if key in assumed else ""  # noqa: E731
    return (
        f"{t('total', lang)} = {t('target_score', lang)} {totals['target_score']:.2f}×70% + "
        f"{t('public', lang)} {totals['public']:.2f}{mark('public')}×30% + "
        f"{t('bonus', lang)} {totals['bonus']:.2f}{mark('bonus')} − "
        f"{t('deduction', lang)} {totals['deduction']:.2f}{mark('deduction')} = {totals['total']:.2f}"
    )


def change_text(
    now: float, before: float, lang: str = "zh", digits: int = 2, unit: str = "brief.trend.unit.points"
) -> str:
    """较上月 +1.22分: the change between two figures as printed (each rounded to `digits` first, so the
    change is what a reader gets by subtracting the printed figures); 持平 when they print the same."""
    d = round(float(now), digits) - round(float(before), digits)
    if abs(d) < 0.5 * 10**-digits:
        return t("brief.trend.unchanged", lang)
    return t("brief.trend.change", lang).format(change=f"{d:+.{digits}f}", unit=t(unit, lang))


def headline(
    current,
    projected=None,
    flags: pd.DataFrame | None = None,
    lang: str = "zh",
    trend: trends.Trends | None = None,
) -> Html:
    """Key figures: score now, projected year-end 目标考评 and total (formula with assumptions stated),
    points at risk and the number of measures in each status; with the year's `trend`, each figure's
    change on the month before (较上月) and the problem list's."""
    month = parse_month(current.as_of) if current.as_of else None
    now = trend.row(month) if trend is not None and month is not None else None
    before = trend.row(month - 1) if now is not None and month.month > 1 else None

    def delta(key: str, digits: int = 2, unit: str = "brief.trend.unit.points") -> str:
        return "" if before is None else change_text(now[key], before[key], lang, digits, unit)

    cards = [
        (
            t("brief.score_now", lang),
            f"{current.totals['target_score']:.2f}",
            t("brief.of_100", lang),
            delta("score_to_date"),
        ),
    ]
    if projected is not None:
        cards.append(
            (
                t("brief.score_projected", lang),
                f"{projected.totals['target_score']:.2f}",
                t("brief.of_100", lang),
                delta("projected_target_score"),
            )
        )
        cards.append((t("brief.total_projected", lang), f"{projected.totals['total']:.2f}", "", ""))
    else:
        cards.append((t("brief.total_now", lang), f"{current.totals['total']:.2f}", "", ""))
    if flags is not None and "points_at_risk" in flags:
        cards.append(
            (
                t("brief.points_at_risk", lang),
                f"{flags['points_at_risk'].sum():.2f}",
                t("brief.points", lang),
                delta("points_at_risk"),
            )
        )
    card_html = "".join(
        f'<div class="pk-card"><div class="pk-card-label">{esc(label)}</div>'
        f'<div class="pk-card-value">{esc(value)}<span class="pk-card-unit">{esc(unit)}</span></div>'
        + (f'<div class="pk-card-delta">{esc(change)}</div>' if change else "")
        + "</div>"
        for label, value, unit, change in cards
    )
    basis = projected if projected is not None else current
    lines = [f'<p class="pk-formula">{esc(formula_line(basis.totals, basis.assumed, lang))}</p>']
    if basis.assumed:
        named = sep(lang).join(t(k, lang) for k in basis.assumed)
        lines.append(f'<p class="pk-note">{esc(t("brief.assumed_note", lang).format(parts=named))}</p>')
    if projected is None:
        lines.append(f'<p class="pk-note">{esc(t("brief.no_projection", lang))}</p>')
    else:
        lines.append(f'<p class="pk-note">{esc(t("brief.expected_note", lang))}</p>')
    counts = ""
    if flags is not None and "status" in flags:
        n = flags["status"].value_counts()
        counts = (
            '<div class="pk-counts">'
            + "".join(
                f'<span class="pk-count">{status_chip(s, lang)} <b>{int(n.get(s, 0))}</b></span>'
                for s in STATUSES
            )
            + "</div>"
        )
        if now is not None:
            counts += f'<p class="pk-trend-line">{esc(problems_line(now, before, lang))}</p>'
    return Html(f'<div class="pk-cards">{card_html}</div>{"".join(lines)}{counts}')


def problems_line(now: pd.Series, before: pd.Series | None, lang: str = "zh") -> str:
    """问题清单在册18项，较上月+1项；本月新增3项（上月2项），销号2项（上月3项）。"""
    if before is None:
        return t("brief.trend.problems_first", lang).format(
            open=int(now["problems_open"]),
            opened=int(now["problems_opened"]),
            closed=int(now["problems_closed"]),
        )
    return t("brief.trend.problems", lang).format(
        open=int(now["problems_open"]),
        change=change_text(now["problems_open"], before["problems_open"], lang, 0, "brief.trend.unit.items"),
        opened=int(now["problems_opened"]),
        opened_before=int(before["problems_opened"]),
        closed=int(now["problems_closed"]),
        closed_before=int(before["problems_closed"]),
    )


def section_table(current, projected=None, lang: str = "zh") -> Html:
    """Scores by section (重点工作目标 … 管理创新): weight, now, projected."""
    df = current.sections[["category", "section", "weight", "score", "lost"]].copy()
    cols = [
        Col("category", "category"),
        Col("section", "section"),
        Col("weight", "weight", "num0"),
        Col("score", "brief.score_now_short", "num2"),
    ]
    if projected is not None:
        df["projected"] = df["section"].map(projected.sections.set_index("section")["score"])
        df["projected_lost"] = df["weight"] - df["projected"]
        cols += [
            Col("projected", "brief.score_projected_short", "num2"),
            Col("projected_lost", "brief.lost_projected", "num2"),
        ]
    else:
        cols.append(Col("lost", "lost", "num2"))
    total = {
        "category": t("brief.sum", lang),
        "section": "",
        "weight": df["weight"].sum(),
        "score": df["score"].sum(),
    }
    if projected is not None:
        total["projected"] = df["projected"].sum()
        total["projected_lost"] = df["projected_lost"].sum()
    else:
        total["lost"] = df["lost"].sum()
    rows = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    for col in ("category", "section"):  # the plan's names in the reader's language
        rows[col] = rows[col].map(lambda v: plan_term(v, lang))
    return table(rows, cols, lang, css="pk-sum-last")


# ------------------------------------------------------------------------------------------ data notes


def data_notes(
    catalogue: Catalogue,
    reporting: pd.DataFrame,
    as_of: str,
    *,
    turnover_month: str | None,
    sample: bool,
    lang: str = "zh",
    models: pd.DataFrame | None = None,
) -> Html:
    """Who reported, data as of when, where the data come from, how each figure is computed (with the
    models this month's projections used, `models`: the growth projections' mode and model) and where
    the assumptions and thresholds are set, and the synthetic-data label. File and model names are
    named here, never in the brief's body."""
    missing = reporting.loc[~reporting["reported"], "unit"].tolist()
    summary = say(
        "brief.reported_summary",
        lang,
        month=month_label(as_of, lang),
        reported=int(reporting["reported"].sum()),
        expected=len(reporting),
        missing=sep(lang).join(missing) if missing else t("brief.none_short", lang),
    )
    shown = reporting.assign(
        reported_text=reporting["reported"].map(lambda b: t("brief.yes", lang) if b else "缺报"),
        last_month_text=reporting["last_month"].map(
            lambda v: month_label(v, lang) if isinstance(v, str) else None
        ),
    )
    tbl = table(
        shown,
        [
            Col("unit", "reporting_unit"),
            Col("measures", "brief.measures_count", "int"),
            Col("reported_text", "brief.reported_this_month", "reported"),
            Col("last_month_text", "brief.last_month"),
            Col("received_at", "brief.received_at"),
        ],
        lang,
    )
    turnover = turnover_note(turnover_month, lang)
    cfg = catalogue.plan
    methods = [
        t("brief.method.scoring", lang).format(public=cfg["assumptions"]["public"]),
        t("brief.method.growth", lang).format(
            road=f"{cfg['turnover']['bands']['road'][0]:g}–{cfg['turnover']['bands']['road'][1]:g}%",
            waterway=f"{cfg['turnover']['bands']['waterway'][0]:g}–{cfg['turnover']['bands']['waterway'][1]:g}%",
        ),
        t("brief.method.investment", lang),
        t("brief.method.risks", lang).format(
            watch=f"{cfg['risks']['watch_gap_pp']:g}", alert=f"{cfg['risks']['alert_gap_pp']:g}"
        ),
    ]
    if models is not None and len(models):
        used = [
            t("brief.method.model_used", lang).format(
                mode=t(f"brief.mode.{m}", lang), model=t(f"growth.method.{model}", lang)
            )
            for m, model in zip(models["mode"], models["model"], strict=True)
            if isinstance(model, str) and model
        ]
        if used:
            methods.append(
                t("brief.method.models", lang).format(models=("；" if lang == "zh" else "; ").join(used))
            )
    methods += [t("brief.method.trends", lang), t("brief.method.settings", lang)]
    parts = [
        f"<p>{esc(summary)}</p>",
        tbl,
        f"<p>{esc(turnover)}</p>",
        f"<p>{esc(t('brief.sources', lang))}</p>",
        subtitle("brief.methods", lang),
        "".join(f"<p>{esc(m)}</p>" for m in methods),
    ]
    if sample:
        parts.append(
            f'<p class="pk-synthetic-notice"><strong>{esc(t("synthetic", lang))}</strong> '
            f"{esc(t('synthetic_note', lang))}</p>"
        )
    return join(*parts)


# --------------------------------------------------------------------------------------- year-end view


def self_assessment(
    catalogue: Catalogue,
    result,
    progress: pd.DataFrame,
    assessments: pd.DataFrame | None,
    evaluations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Final score per indicator with its evidence: the latest report notes of its measures and any
    assessment recorded for it; beside it the units' 自评 (`evaluations`: selfeval.read_self_evaluations),
    the grade the score reaches, and `differs_text` where a unit's own grade is not that grade."""
    from .scoring import latest_values
    from .selfeval import beside_score

    latest = latest_values(progress, result.as_of)
    notes = latest.merge(catalogue.measures[["measure_id", "indicator_id"]], on="measure_id")
    notes = notes[notes["note"].fillna("").str.strip() != ""]
    evidence = notes.groupby("indicator_id")["note"].agg(lambda s: "；".join(dict.fromkeys(s)))
    if assessments is not None and not assessments.empty:
        a = assessments[(assessments["indicator_id"] != "") & (assessments["description"] != "")]
        extra = a.groupby("indicator_id")["description"].agg(lambda s: "；".join(dict.fromkeys(s)))
        evidence = pd.concat([evidence, extra]).groupby(level=0).agg("；".join)
    ind = result.indicators.merge(catalogue.indicators[["id", "text"]], on="id")
    ind["evidence"] = ind["id"].map(evidence)
    ind["completion"] = ind["score"] / ind["weight"]
    ind = ind.merge(beside_score(catalogue, ind, evaluations), on="id", how="left")
    ind["differs_text"] = [
        t("brief.self_differs_text").format(own=own, computed=computed) if differs else ""
        for own, computed, differs in zip(
            ind["self_grade"], ind["computed_grade"], ind["differs"], strict=True
        )
    ]
    cols = ["id", "section", "text", "weight", "score", "lost", "completion", "evidence", "persons"]
    return ind[[*cols, "computed_grade", "self_grade", "self_statement", "differs", "differs_text"]]


def self_assessment_table(rows: pd.DataFrame, lang: str = "zh") -> Html:
    """The rows of `self_assessment`; the plan's words (sections, grades) and the comparison in `lang`; what
    units wrote (statements, evidence) stays as written."""
    shown = rows.assign(
        section=rows["section"].map(lambda v: plan_term(v, lang)),
        computed_grade=rows["computed_grade"].map(lambda g: grade_label(g, lang)),
        self_grade=rows["self_grade"].map(lambda g: grade_label(g, lang)),
        evidence=rows["evidence"].map(
            lambda v: v.replace("；", "; ") if lang != "zh" and isinstance(v, str) else v
        ),
        persons=rows["persons"].map(lambda v: sep(lang).join(v) if isinstance(v, list | tuple) else v),
        differs_text=[
            t("brief.self_differs_text", lang).format(
                own=grade_label(own, lang), computed=grade_label(c, lang)
            )
            if differs
            else ""
            for own, c, differs in zip(
                rows["self_grade"], rows["computed_grade"], rows["differs"], strict=True
            )
        ],
    )
    return table(
        shown,
        [
            Col("id", "id"),
            Col("section", "section"),
            Col("text", "text"),
            Col("weight", "weight", "num1"),
            Col("score", "score", "num2"),
            Col("completion", "completion", "share"),
            Col("computed_grade", "brief.computed_grade", "name"),
            Col("self_grade", "brief.self_grade", "name"),
            Col("differs_text", "brief.self_differs", "mark"),
            Col("self_statement", "brief.self_statement"),
            Col("evidence", "brief.evidence"),
            Col("persons", "persons"),
        ],
        lang,
        css="pk-wide",
    )


def outside_items(assessments: pd.DataFrame | None, lang: str = "zh") -> Html:
    """正向激励 and 察访核验 items as recorded (each with unit, level and points)."""
    if assessments is None or assessments.empty:
        return table(pd.DataFrame(), [], lang)
    a = assessments[assessments["kind"].isin(["bonus", "deduction", "public"])].copy()
    a["kind_text"] = a["kind"].map(lambda k: t(k, lang))
    a["level"] = a["level"].map(lambda v: t(f"level.{v}", lang) if f"level.{v}" in TEXT else v)
    return table(
        a,
        [
            Col("kind_text", "brief.item"),
            Col("description", "brief.description"),
            Col("level", "brief.level"),
            Col("unit", "units"),
            Col("points", "brief.points_col", "num2"),
        ],
        lang,
    )


# ---------------------------------------------------------------------------------------- the sections


def headline_section(data: BriefData, lang: str = "zh") -> Html:
    return join(
        section_title("headline", lang, data.kind),
        headline(data.score, data.projected, data.flags, lang, data.trends),
        section_table(data.score, data.projected, lang),
    )


def trend_rows(trend: trends.Trends) -> pd.DataFrame:
    """One row per month: the trend figures and the measures in each status (`status:<status>` columns)."""
    counts = trend.statuses.pivot(index="month", columns="status", values="measures")
    counts = counts.reindex(columns=list(risks.STATUSES), fill_value=0).add_prefix("status:")
    return trend.months.merge(counts, left_on="month", right_index=True, how="left")


def trend_table(data: BriefData, lang: str = "zh") -> Html:
    """逐月走势: January to the as-of month, the score to date and projected, points at risk, the problem
    list and the measures in each status (the printed companion of `trend_chart`)."""
    if data.trends is None or not len(data.trends.months):
        return Html("")
    rows = trend_rows(data.trends)
    rows["month_text"] = rows["month"].map(lambda m: month_label(m, lang))
    cols = [
        Col("month_text", "brief.trend.month", "name"),
        Col("score_to_date", "brief.score_now_short", "num2"),
        Col("projected_target_score", "brief.score_projected_short", "num2"),
        Col("points_at_risk", "brief.trend.points_at_risk", "num2", "points"),
        Col("problems_open", "brief.trend.problems_open", "int"),
        Col("problems_opened", "brief.trend.problems_opened", "int"),
        Col("problems_closed", "brief.trend.problems_closed", "int"),
        *[Col(f"status:{s}", "risk.status." + STATUS_KEYS[s], "int") for s in STATUSES],
    ]
    first, last = data.trends.months["month"].iloc[[0, -1]]
    return join(
        subtitle("brief.trend.title", lang, first=month_label(first, lang), last=month_label(last, lang)),
        table(rows, cols, lang, css="pk-wide pk-trend"),
        paragraph(t("brief.trend.note", lang), "pk-note"),
    )


def trend_chart(data: BriefData, lang: str = "zh"):
    """The projected year-end 目标考评 score and the measures in each status, month by month."""
    if data.trends is None or not len(data.trends.months):
        return Html("")
    from .charts import trend_chart as chart

    return chart(data.trends.months, data.trends.statuses, lang=lang)


def turnover_section(data: BriefData, lang: str = "zh") -> Html:
    """Road and waterway growth to date against their bands, the projection, its odds, and what the rest
    of the year must deliver."""
    title = section_title("turnover", lang, data.kind)
    if "growth" in data.missing:
        return join(title, placeholder("growth", lang))
    if data.growth is None:
        return join(title, paragraph(t("brief.turnover.none", lang)))
    p = data.growth.projections.copy()
    p["mode_name"] = p["mode"].map(lambda m: t(f"brief.mode.{m}", lang))
    p["band"] = [f"{lo:g}–{hi:g}" for lo, hi in zip(p["band_low"], p["band_high"], strict=True)]
    p["interval_80"] = [
        _range(lo, hi, lang) for lo, hi in zip(p["interval_80_low"], p["interval_80_high"], strict=True)
    ]
    p["interval_95"] = [
        _range(lo, hi, lang) for lo, hi in zip(p["interval_95_low"], p["interval_95_high"], strict=True)
    ]
    tbl = table(
        p,
        [
            Col("mode_name", "growth.col.mode", "name"),
            Col("ytd_growth_pct", "brief.col.ytd_growth", "num1", "%"),
            Col("band", "brief.col.band", "range", "%"),
            Col("projected_growth_pct", "brief.col.projected_growth", "num1", "%"),
            Col("interval_80", "brief.col.interval_80", "range", "%"),
            Col("interval_95", "brief.col.interval_95", "range", "%"),
            Col("p_reach_low", "growth.col.p_reach_low", "share"),
            Col("p_reach_high", "growth.col.p_reach_high", "share"),
            Col("required_growth_low_pct", "brief.col.required_low", "num1", "%"),
        ],
        lang,
    )
    words = [*yoy_sentences(data, lang), *projection_sentences(data, lang)]
    return join(title, "".join(f"<p>{esc(x)}</p>" for x in words), tbl)


def projection_sentences(data: BriefData, lang: str = "zh") -> list[str]:
    """Each mode's growth to date, its projection with the 80% interval, the odds of each bound and what
    the rest of the year needs, one sentence per mode (the brief and the Word document print these)."""
    if data.growth is None:
        return []
    return [
        t(
            "brief.turnover.sentence" if pd.notna(r["ytd_growth_pct"]) else "brief.turnover.sentence_no_ytd",
            lang,
        ).format(
            mode=t(f"brief.mode.{r['mode']}", lang),
            through=month_label(r["data_through"] or data.turnover_month, lang),
            ytd=_num1(r["ytd_growth_pct"]),
            projected=_num1(r["projected_growth_pct"]),
            low80=_num1(r["interval_80_low"]),
            high80=_num1(r["interval_80_high"]),
            band_low=f"{r['band_low']:g}",
            band_high=f"{r['band_high']:g}",
            p_low=fmt_share(r["p_reach_low"]),
            p_high=fmt_share(r["p_reach_high"]),
            required=_num1(r["required_growth_low_pct"]),
        )
        for r in data.growth.projections.to_dict("records")
    ]


def turnover_note(turnover_month, lang: str = "zh") -> str:
    """The data note on turnover: the month it runs to, or that none is published yet (it read
    '运输周转量数据截至—（统计部门发布口径）')."""
    if not turnover_month:
        return t("brief.turnover.none", lang)
    return t("brief.turnover_as_of", lang).format(month=month_label(turnover_month, lang))


def ytd_label(through: pd.Period, lang: str = "zh") -> str:
    """The months a year-to-date figure covers: 1—9月 (1月 alone), Jan–Sep."""
    through = parse_month(through)
    if lang == "zh":
        return f"1—{through.month}月" if through.month > 1 else "1月"
    return "Jan" if through.month == 1 else f"Jan–{through.strftime('%b')}"


def turnover_earlier(data: BriefData) -> pd.Period | None:
    """The snapshot the turnover words compare with: the quarter before's last month in the quarterly
    brief, else the month before (None when the plan year has none)."""
    month = parse_month(data.as_of)
    if data.kind == "quarterly":
        year, q = quarter_of(month)
        return quarter_end(year, q - 1) if q > 1 else None
    return month - 1 if month.month > 1 else None


def yoy_sentences(data: BriefData, lang: str = "zh") -> list[str]:
    """同期: each mode's growth on the same period last year in words, against the earlier period and
    the band (1—9月公路换算周转量同比增长12.7%，较1—8月回落0.1个百分点，低于13%目标下限)."""
    if data.trends is None:
        return []
    earlier = turnover_earlier(data)
    rows = trends.turnover_against(data.trends, data.as_of, earlier)
    out = []
    for r in rows.to_dict("records"):
        if _missing(r["ytd_growth_pct"]):
            continue
        growth = round(float(r["ytd_growth_pct"]), 1)
        words = t("brief.yoy." + ("up" if growth >= 0 else "down"), lang).format(
            period=ytd_label(r["data_through"], lang),
            mode=t(f"brief.mode.{r['mode']}", lang),
            growth=f"{abs(growth):.1f}",
        )
        if earlier is not None and not _missing(r["earlier_growth_pct"]):
            change = growth - round(float(r["earlier_growth_pct"]), 1)
            key = "flat" if abs(change) < 0.05 else ("higher" if change > 0 else "lower")
            words += t("brief.yoy." + key, lang).format(
                earlier=ytd_label(r["earlier_through"], lang), change=f"{abs(change):.1f}"
            )
        words += t("brief.yoy." + r["position"], lang).format(
            low=f"{r['band_low']:g}", high=f"{r['band_high']:g}"
        )
        out.append(words)
    return out


def turnover_words(data: BriefData, lang: str = "zh") -> Html:
    """`yoy_sentences` as the brief's paragraphs."""
    return Html("".join(f"<p>{esc(x)}</p>" for x in yoy_sentences(data, lang)))


def turnover_chart(data: BriefData, lang: str = "zh"):
    """Fan charts of year-to-date growth against the band (one per mode, stacked), or nothing."""
    if data.growth is None:
        return Html("")
    from .charts import fan_chart

    return fan_chart(data.growth.paths, lang=lang)


def measure_names(catalogue: Catalogue, frame: pd.DataFrame, lang: str = "zh") -> pd.Series:
    """The measure names of `frame`'s rows in `lang`: English where the plan gives one (measures.csv
    name_en), else the Chinese name the frame has."""
    names = frame["name"].astype(str)
    if lang == "zh" or not catalogue.names_en:
        return names
    english = frame["measure_id"].map(catalogue.names_en)
    return english.where(english.notna(), names)


def measure_labels(catalogue: Catalogue, frame: pd.DataFrame, lang: str = "zh") -> pd.Series:
    """'1-3-2.2 普通国省干线项目建设投资': id and name (`measure_names`) for each row of `frame`."""
    return frame["measure_id"] + " " + measure_names(catalogue, frame, lang)


def _range(lo: object, hi: object, lang: str = "zh") -> str:
    return MISSING if _missing(lo) or _missing(hi) else span(f"{float(lo):.1f}", f"{float(hi):.1f}", lang)


def _num1(v: object) -> str:
    return MISSING if _missing(v) else f"{float(v):.1f}"


def investment_section(data: BriefData, lang: str = "zh") -> Html:
    """Per measure: target, done, the pro-rata schedule, projected with its 80% interval and odds; other
    cumulative measures in their own units; investment totals by reporting unit."""
    title = section_title("investment", lang, data.kind)
    if "investment" in data.missing:
        return join(title, placeholder("investment", lang))
    df = data.investment.copy()
    df["label"] = measure_labels(data.catalogue, df, lang)
    money = df[df["kind"] == "investment"]
    money_cols = [
        Col("label", "brief.col.measure"),
        Col("reporting_unit", "reporting_unit", "name"),
        Col("target", "target", "num0", "万元"),
        Col("actual", "brief.col.actual", "num0", "万元"),
        Col("actual_pct", "brief.col.actual_pct", "num1", "%"),
        Col("schedule_pct", "brief.col.schedule_pct", "num1", "%"),
        Col("projected", "brief.col.projected", "num0", "万元"),
        Col("p_reach", "invest.p_reach", "share"),
        Col("required_monthly", "brief.col.required_monthly", "num0", "万元"),
    ]
    return join(
        title,
        paragraph(investment_summary(data, lang)),
        table(money, money_cols, lang, css="pk-wide"),
        paragraph(t("brief.investment.schedule_note", lang), "pk-note"),
    )


def investment_summary(data: BriefData, lang: str = "zh") -> str:
    """The investment measures in one sentence: targets, done and projected totals with their shares of the
    target, and how many are unlikely to reach it (the brief and the Word document print it)."""
    money = data.investment[data.investment["kind"] == "investment"]
    # a measure no ledger has reported yet has no actual and no projection: summed as 0 it read
    # '累计完成0万元（0%），预计年末完成0万元（0%）' for a month with no reports at all
    reported = money["actual"].notna()
    if not reported.any():
        return say(
            "brief.investment.summary_none", lang, n=len(money), target=fmt_number(money["target"].sum(), 0)
        )
    target, actual, projected = (money.loc[reported, c].sum() for c in ("target", "actual", "projected"))
    line = say(
        "brief.investment.summary",
        lang,
        n=int(reported.sum()),
        target=fmt_number(target, 0),
        actual=fmt_number(actual, 0),
        actual_pct=fmt_share(actual / target if target else None),
        projected=fmt_number(projected, 0),
        projected_pct=fmt_share(projected / target if target else None),
        unlikely=int((money["p_reach"] < 0.5).sum()),
    )
    return line + (
        say("brief.investment.unreported", lang, n=int((~reported).sum())) if not reported.all() else ""
    )


def investment_details(data: BriefData, lang: str = "zh") -> Html:
    """Investment totals by reporting unit, then the other cumulative measures in their own units."""
    if data.investment is None:
        return Html("")
    df = data.investment.assign(label=measure_labels(data.catalogue, data.investment, lang))
    other = df[df["kind"] != "investment"]
    other = other.assign(unit=other["unit"].map(lambda u: unit_label(u, lang)))
    # every column counts the same measures: the investment ones its sums (万元) cover
    units = investment.by_unit(data.investment[data.investment["kind"] == "investment"])
    other_cols = [
        Col("label", "brief.col.measure"),
        Col("unit", "unit", "name"),
        Col("target", "target", "num1"),
        Col("actual", "brief.col.actual", "num1"),
        Col("schedule_pct", "brief.col.schedule_pct", "num1", "%"),
        Col("projected", "brief.col.projected", "num1"),
        Col("p_reach", "invest.p_reach", "share"),
        Col("reporting_unit", "reporting_unit", "name"),
    ]
    parts = [
        subtitle("brief.investment.by_unit", lang),
        table(
            units,
            [
                Col("reporting_unit", "reporting_unit", "name"),
                Col("n_money", "invest.n_money", "int"),
                Col("target", "target", "num0", "万元"),
                Col("actual", "brief.col.actual", "num0", "万元"),
                Col("projected", "brief.col.projected", "num0", "万元"),
                Col("projected_pct", "brief.col.projected_pct", "num1", "%"),
                Col("shortfall", "invest.shortfall", "num0", "万元"),
                Col("n_unlikely", "brief.col.n_unlikely_money", "int"),
            ],
            lang,
        ),
    ]
    if len(other):
        parts += [subtitle("brief.investment.other", lang), table(other, other_cols, lang, css="pk-wide")]
    return join(*parts)


def investment_chart(data: BriefData, lang: str = "zh"):
    """Bullet chart of the investment measures: done, projected with its interval, pro-rata mark, target."""
    if data.investment is None:
        return Html("")
    from .charts import bullet_chart

    money = data.investment[data.investment["kind"] == "investment"]
    money = money.assign(name=measure_names(data.catalogue, money, lang))
    return bullet_chart(money.reset_index(drop=True), lang=lang) if len(money) else Html("")


PROBLEM_STATUSES_DEFAULT = ["关注", "预警", "未完成", "缺报"]


def _problem_statuses(data: BriefData) -> list[str]:
    return list(data.catalogue.plan.get("risks", {}).get("problem_statuses", PROBLEM_STATUSES_DEFAULT))


def risks_section(data: BriefData, lang: str = "zh") -> Html:
    """The top problems by points at risk with who must act; problems opened and closed this month;
    points at risk by lead leader."""
    if "risks" not in SECTIONS[data.kind]:
        return Html("")
    title = section_title("risks", lang, data.kind)
    if "risks" in data.missing:
        return join(title, placeholder("risks", lang))
    top_n = int(data.catalogue.plan.get("brief", {}).get("top_problems", 10))
    statuses = _problem_statuses(data)
    flags = people_text(data.flags, lang)
    flagged = flags[flags["status"].isin(statuses)].sort_values(
        "points_at_risk", ascending=False, kind="stable"
    )
    flagged = flagged.assign(label=measure_labels(data.catalogue, flagged, lang))
    month = parse_month(data.as_of)
    problems = people_text(data.problems, lang)
    opened = problems[problems["opened"] == month]
    closed = problems[problems["closed"] == month]
    opened = opened.assign(label=measure_labels(data.catalogue, opened, lang))
    closed = closed.assign(label=measure_labels(data.catalogue, closed, lang))
    summary = say(
        "brief.risks.summary",
        lang,
        flagged=len(flagged),
        points=fmt_number(flagged["points_at_risk"].sum(), 2),
        total=fmt_number(data.flags["points_at_risk"].sum(), 2),
        opened=len(opened),
        closed=len(closed),
        month=month_label(data.as_of, lang),
    )
    top_cols = [
        Col("status", "risk.col.status", "status"),
        Col("points_at_risk", "risk.col.points_at_risk", "num2", "points"),
        Col("label", "brief.col.measure"),
        Col("reasons", "risk.col.reasons"),
        Col("leaders", "leaders", "name"),
        Col("units", "units"),
        Col("persons", "persons"),
        Col("months_open", "risk.col.months_open", "int"),
    ]
    short_cols = [
        Col("status", "risk.col.status", "status"),
        Col("label", "brief.col.measure"),
        Col("points_at_risk", "risk.col.points_at_risk", "num2", "points"),
        Col("units", "units"),
        Col("persons", "persons"),
    ]
    closed_cols = [
        Col("label", "brief.col.measure"),
        Col("worst_status", "risk.col.worst_status", "status"),
        Col("opened", "risk.col.opened"),
        Col("units", "units"),
        Col("persons", "persons"),
    ]
    leaders = risks.totals_by(data.flags, "leaders", statuses)
    leader_cols = [
        Col("leader_name", "risk.col.leader_name", "name"),
        Col("measures", "risk.col.measures", "int"),
        Col("flagged", "risk.col.flagged", "int"),
        Col("points_at_risk", "risk.col.points_at_risk", "num2", "points"),
    ]
    return join(
        title,
        paragraph(summary),
        subtitle("brief.risks.top", lang, n=min(top_n, len(flagged))),
        table(flagged.head(top_n), top_cols, lang, css="pk-wide", row_status="status"),
        subtitle("brief.risks.opened", lang, month=month_label(data.as_of, lang)),
        table(opened, short_cols, lang, row_status="status"),
        subtitle("brief.risks.closed", lang, month=month_label(data.as_of, lang)),
        table(closed, closed_cols, lang),
        subtitle("brief.risks.by_leader", lang),
        table(leaders, leader_cols, lang),
    )


def quarterly_section(data: BriefData, lang: str = "zh") -> Html:
    """The 季度通报 view (quarterly kind only): problems opened, closed and still open over the quarter,
    by unit and by lead leader."""
    if data.kind != "quarterly":
        return Html("")
    title = section_title("quarterly", lang, data.kind)
    if "risks" in data.missing:
        return join(title, placeholder("risks", lang))
    month = parse_month(data.as_of)
    view = risks.quarter_summary(data.problems, *quarter_of(month), month)
    cols = [
        Col("opened_in_quarter", "risk.col.opened_in_quarter", "int"),
        Col("closed_in_quarter", "risk.col.closed_in_quarter", "int"),
        Col("still_open", "risk.col.still_open", "int"),
        Col("points_at_risk", "risk.col.points_at_risk", "num2", "points"),
    ]
    return join(
        title,
        paragraph(view.title(lang)),
        quarter_comparison(data, lang),
        subtitle("risk.sheet.by_unit", lang),
        table(view.by_unit, [Col("unit_name", "risk.col.unit_name"), *cols], lang),
        subtitle("risk.sheet.by_leader", lang),
        table(view.by_leader, [Col("leader_name", "risk.col.leader_name"), *cols], lang),
    )


QUARTER_FIGURES = {
    "score_to_date": ("brief.score_now", 2),
    "projected_target_score": ("brief.score_projected", 2),
    "points_at_risk": ("brief.points_at_risk", 2),
    "problems_open": ("brief.quarter.problems_open", 0),
    "problems_opened": ("brief.quarter.problems_opened", 0),
    "problems_closed": ("brief.quarter.problems_closed", 0),
}


def quarter_rows(data: BriefData, lang: str = "zh") -> tuple[trends.QuarterComparison, pd.DataFrame] | None:
    """本季度与上季度比较 as printed (trends.quarter_on_quarter, the brief's and the Word document's one
    comparison): per figure its key, label, the previous and current quarter's figures and the change, each
    formatted; the change is that of the printed figures. None without the year's trends."""
    if data.trends is None:
        return None
    cmp = trends.quarter_on_quarter(data.trends, data.as_of)
    rows = []
    for r in cmp.table.to_dict("records"):
        key = r["figure"]
        if key.startswith("status:"):
            status = status_text(key.split(":", 1)[1], lang)
            label, digits = t("brief.quarter.status", lang).format(status=status), 0
        else:
            label_key, digits = QUARTER_FIGURES[key]
            label = t(label_key, lang)
        d = round(r["current"], digits) - round(r["previous"], digits)
        rows.append(
            {
                "key": key,
                "figure": label,
                "previous": fmt_number(r["previous"], digits),
                "current": fmt_number(r["current"], digits),
                "change": "0" if abs(d) < 0.5 * 10**-digits else f"{d:+,.{digits}f}",
            }
        )
    return cmp, pd.DataFrame(rows, columns=["key", "figure", "previous", "current", "change"])


def quarter_column(quarter: int, end: pd.Period, lang: str = "zh") -> str:
    """第2季度（截至2019年6月）: a quarter's column in the comparison."""
    return t("brief.quarter.column", lang).format(quarter=quarter, month=month_label(end, lang))


def quarter_comparison(data: BriefData, lang: str = "zh") -> Html:
    """本季度与上季度比较: score, points at risk, problems and statuses, this quarter against the last."""
    found = quarter_rows(data, lang)
    if found is None:
        return Html("")
    cmp, rows = found
    head = subtitle("brief.quarter.compare", lang)
    if cmp.previous_quarter is None:
        return join(head, paragraph(t("brief.quarter.first", lang), "pk-note"))
    return join(
        head,
        table(
            rows,
            [
                Col("figure", "brief.quarter.figure", "name"),
                Col("previous", quarter_column(cmp.previous_quarter, cmp.previous_end, lang), "range"),
                Col("current", quarter_column(cmp.quarter, cmp.end, lang), "range"),
                Col("change", "brief.quarter.change", "range"),
            ],
            lang,
        ),
        paragraph(t("brief.quarter.note", lang), "pk-note"),
    )


def annual_section(data: BriefData, lang: str = "zh") -> Html:
    """The year-end 自评 summary (annual kind only): final score per indicator with its evidence."""
    if data.kind != "annual":
        return Html("")
    from .assessments import coverage

    rows = self_assessment(data.catalogue, data.score, data.progress, data.assessments, data.self_evaluations)
    assumed = [p.split(" ", 1)[1] for p in coverage(data.catalogue, data.assessments)["assumed"] if " " in p]
    note = (
        paragraph(say("brief.assessed_assumed", lang, ids=sep(lang).join(assumed), n=len(assumed)), "pk-note")
        if assumed
        else ""
    )
    notice = (
        paragraph(
            t("brief.annual.preliminary_note", lang).format(month=month_label(data.as_of, lang)),
            "pk-preliminary",
        )
        if preliminary(data.kind, data.as_of)
        else ""
    )
    return join(
        section_title("annual", lang, data.kind),
        notice,
        self_assessment_table(rows, lang),
        note,
        subtitle("brief.outside_items", lang),
        outside_items(data.assessments, lang),
    )


def notes_section(data: BriefData, lang: str = "zh") -> Html:
    return join(
        section_title("notes", lang, data.kind),
        data_notes(
            data.catalogue,
            data.reporting,
            data.as_of,
            turnover_month=data.turnover_month,
            sample=data.sample,
            lang=lang,
            models=data.growth.projections if data.growth is not None else None,
        ),
    )


def score_rows(data_or_result, catalogue: Catalogue | None = None, lang: str = "zh") -> pd.DataFrame:
    """Per indicator for scores.csv: as_of, ids, section, text, weight, score, lost, completion, owners
    (category and section in `lang`; the indicator's text and the names as the plan writes them)."""
    result = data_or_result.score if isinstance(data_or_result, BriefData) else data_or_result
    catalogue = catalogue if catalogue is not None else data_or_result.catalogue
    ind = result.indicators.merge(catalogue.indicators[["id", "text"]], on="id")
    out = pd.DataFrame(
        {
            "as_of": result.as_of,
            "indicator_id": ind["id"],
            "category": ind["category"].map(lambda v: plan_term(v, lang)),
            "section": ind["section"].map(lambda v: plan_term(v, lang)),
            "text": ind["text"],
            "weight": ind["weight"],
            "score": ind["score"].round(4),
            "lost": ind["lost"].round(4),
            "completion": (ind["score"] / ind["weight"]).round(4),
            "assessed": ind["assessed"],
        }
    )
    for col in ("leaders", "units", "persons"):
        out[col] = ind[col].map(lambda v: sep(lang).join(v) if isinstance(v, list) else "")
    return out
