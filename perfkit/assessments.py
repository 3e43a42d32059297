"""The performance office's 考评结果 workbook: the outside parts of the score, recorded as they come.

The plan's score takes 公众评议 (×30%), 正向激励加分 and 察访核验扣分 items, grades (优/良/中/差) for the
qualitative and 行政能力 items, and an assessed score for 1-15 (泉交办〔2019〕28号). `perfkit template
--assessments` writes one protected workbook for the year, pre-filled with everything recorded so far;
the office fills it in and `perfkit ingest` checks it against the plan (plan.toml [assessments] and
[scoring]: grades in the plan's list, caps on bonus and deduction, indicators that exist) and stores it
whole or not at all. Each workbook is the complete record for its year: the latest one supersedes the
earlier ones in calculations, and every one stays in the store with its provenance.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem
from .forms import (
    META_SHEET,
    Checked,
    Field,
    FormSheet,
    Rule,
    cell_number,
    cell_text,
    date_text,
    flagged,
    form_meta,
    is_blank,
    meta_checks,
    read_form,
    safe_name,
    write_form,
)
from .labels import t

KIND = "assessment"
SHEET_KEY = "assessment.sheet"
ITEM_KINDS = ("public", "bonus", "deduction", "grade", "indicator_score")
TEXT_FIELDS = ["description", "document", "level", "unit"]


def settings(catalogue: Catalogue) -> dict:
    """plan.toml [assessments] with defaults, and the grade list from [scoring] grade_fraction."""
    s = catalogue.plan.get("assessments", {})
    low, high = s.get("public_range", [0.0, 100.0])
    return {
        "grades": list(catalogue.plan["scoring"]["grade_fraction"]),
        "bonus_cap": None if s.get("bonus_cap") is None else float(s["bonus_cap"]),
        "deduction_cap": None if s.get("deduction_cap") is None else float(s["deduction_cap"]),
        "public_range": (float(low), float(high)),
        "blank_item_rows": int(s.get("blank_item_rows", 20)),
    }


def graded_indicators(catalogue: Catalogue) -> list[str]:
    """Indicators judged by a grade: those with a qualitative measure, except the ones given a score."""
    assessed = set(catalogue.plan["scoring"].get("assessed_indicators", []))
    m = catalogue.measures
    qual = set(m.loc[m["kind"] == "qualitative", "indicator_id"])
    return [i for i in catalogue.indicators["id"] if i in qual and i not in assessed]


def fields() -> list[Field]:
    return [
        Field("item", t("assessment.item"), 14, fill_in=True),
        Field("indicator_id", t("indicator_id"), 10),
        Field("name", t("text"), 40, wrap=True),
        Field("points", t("assessment.points"), 9, fill_in=True),
        Field("grade", t("assessment.grade"), 8, fill_in=True),
        Field("description", t("assessment.description"), 36, fill_in=True, wrap=True),
        Field("document", t("assessment.document"), 20, fill_in=True),
        Field("date", t("assessment.date"), 12, fill_in=True),
        Field("level", t("assessment.level"), 8, fill_in=True),
        Field("unit", t("assessment.unit"), 14, fill_in=True),
    ]


FILL_IN = ["points", "grade", *TEXT_FIELDS, "date"]


def item_label(kind: str) -> str:
    return t(f"assessment.item.{kind}")


def template_rows(catalogue: Catalogue, recorded: pd.DataFrame | None) -> list[dict]:
    """公众评议, each assessed indicator's score, each graded indicator's grade, the recorded bonus and
    deduction items, then blank item rows; pre-filled with what is recorded (`recorded`: read_assessments)."""
    a = (
        recorded
        if recorded is not None
        else pd.DataFrame(columns=["kind", "indicator_id", "points", "grade"])
    )
    a = a.fillna({"indicator_id": "", "grade": ""})
    text = dict(zip(catalogue.indicators["id"], catalogue.indicators["text"], strict=True))

    def last(kind: str, indicator: str = "") -> dict:
        hit = a[(a["kind"] == kind) & (a["indicator_id"] == indicator)]
        return hit.iloc[-1].to_dict() if len(hit) else {}

    public = last("public")
    rows = [
        {"kind": "public", "item": item_label("public"), "name": t("public"), "points": public.get("points")}
    ]
    for ind in catalogue.plan["scoring"].get("assessed_indicators", []):
        got = last("indicator_score", ind)
        rows.append(
            {
                "kind": "indicator_score",
                "item": item_label("indicator_score"),
                "indicator_id": ind,
                "name": text.get(ind, ""),
                **{k: got.get(k) for k in ["points", *TEXT_FIELDS, "date"] if k in got},
            }
        )
    for ind in graded_indicators(catalogue):
        got = last("grade", ind)
        rows.append(
            {
                "kind": "grade",
                "item": item_label("grade"),
                "indicator_id": ind,
                "name": text.get(ind, ""),
                **{k: got.get(k) for k in ["grade", *TEXT_FIELDS, "date"] if k in got},
            }
        )
    for rec in a[a["kind"].isin(["bonus", "deduction"])].to_dict("records"):
        rows.append(
            {
                "kind": "item",
                "item": item_label(rec["kind"]),
                **{k: rec.get(k) for k in ["indicator_id", "points", *TEXT_FIELDS, "date"]},
            }
        )
    rows += [{"kind": "item"} for _ in range(settings(catalogue)["blank_item_rows"])]
    return rows


def template_file_name(year: int) -> str:
    return f"{year}_{safe_name(t('assessment.file_suffix'))}.xlsx"


def write_assessment_template(
    catalogue: Catalogue, recorded: pd.DataFrame | None, out_dir: str | Path, based_on: int | None = None
) -> Path:
    """The year's protected 考评结果 workbook, pre-filled with `recorded` (the store's assessments)."""
    cfg = settings(catalogue)
    grades = cfg["grades"]
    low, high = cfg["public_range"]
    rules = {
        "item": Rule(
            "list", "intake.error.status", "assessment.prompt.item",
            formula1='"' + ",".join(item_label(k) for k in ("bonus", "deduction")) + '"',
        ),
        "points": Rule(
            "decimal", "intake.error.number", "assessment.prompt.points", "between", str(low), str(high)
        ),
        "grade": Rule("list", "intake.error.status", "assessment.prompt.grade", formula1='"' + ",".join(grades) + '"'),
        "text": Rule("textLength", "intake.error.note", "assessment.prompt.text", "lessThanOrEqual", "500"),
        "date": Rule("date", "assessment.error.date", "assessment.prompt.date", "greaterThan", "1"),
    }  # fmt: skip

    def cell_rule(rec: dict, field: str) -> str | None:
        kind = rec["kind"]
        if field == "item":
            return "item" if kind == "item" else None
        if field == "points":
            return None if kind == "grade" else "points"
        if field == "grade":
            return "grade" if kind == "grade" else None
        if kind == "public":
            return None  # one number, nothing else
        return "date" if field == "date" else "text"

    title = t("assessment.title").format(title=catalogue.plan["plan"]["title"], year=catalogue.year)
    rows = template_rows(catalogue, recorded)
    for rec in rows:
        if isinstance(rec.get("date"), str) and rec["date"]:
            rec["date"] = date.fromisoformat(rec["date"])
    from .safe_xlsx import refuse_filled_in  # here: the snapshot's modules do not import it

    target = Path(out_dir) / template_file_name(catalogue.year)
    # pre-filled with the record: only a sign-off tells that someone filled one in
    refuse_filled_in([target], t("assessment.sheet"), {f.field: f.label for f in fields()}, "item", [])
    return write_form(
        target,
        sheet=t("assessment.sheet"),
        title=title,
        fields=fields(),
        rows=rows,
        # the record it was pre-filled from ('0': none): ingest refuses it once a later record exists
        meta=form_meta(KIND, catalogue, year=str(catalogue.year), based_on=str(based_on or 0)),
        rules=rules,
        cell_rule=cell_rule,
        freeze="D",
    )


# --------------------------------------------------------------------------------- reading it back


def read_book(book, name: str) -> FormSheet:
    labels = {f.field: f.label for f in fields()}
    return read_form(book, KIND, t("assessment.sheet"), labels, "item", list(labels), FILL_IN)


def _date_text(v: object) -> tuple[str, str | None]:
    """A date cell as 'YYYY-MM-DD', or a reason it is not one."""
    if is_blank(v):
        return "", None
    # a date cell, a serial another spreadsheet program left, or text as typed: 2019/6/30, 2019.6.30,
    # 2019年6月30日 (the sign-off's reading: 2019年6月30日 was refused here and accepted there)
    text = date_text(v)
    try:
        return date.fromisoformat(text.replace("/", "-")).isoformat(), None
    except ValueError:
        return "", f"not a date: {cell_text(v)!r} (type it as 2019-06-30)"


def check(
    conn: sqlite3.Connection, sheet: FormSheet, catalogue: Catalogue, file: str, today: date
) -> Checked:
    """Validate the workbook against the plan; (rows for the assessments table) or InputError."""
    problems = meta_checks(sheet, catalogue, file)
    year = sheet.meta.get("year", "")
    if year != str(catalogue.year):
        cell = sheet.meta_cells.get("year", "")
        problems.append(
            Problem(file, f"assessment record for year {year!r}, not the plan year {catalogue.year}",
                    "_perfkit" if cell else "", cell)
        )  # fmt: skip
    cfg = settings(catalogue)
    by_label = {item_label(k): k for k in ITEM_KINDS}
    indicators = set(catalogue.indicators["id"])
    weight = dict(zip(catalogue.indicators["id"], catalogue.indicators["weight"], strict=True))
    assessed = set(catalogue.plan["scoring"].get("assessed_indicators", []))
    graded = set(graded_indicators(catalogue))
    seen: dict[tuple[str, str], str] = {}
    totals = {"bonus": 0.0, "deduction": 0.0}
    items: dict[tuple, str] = {}  # a bonus or deduction item → its first row
    out = []

    def problem(reason: str, key: str, r: int) -> None:
        problems.append(Problem(file, reason, sheet.sheet, sheet.cell(key, r)))

    for rec in sheet.rows:
        r = rec["row"]
        bad = flagged(sheet, rec, ["item", "points", "grade", "date", *TEXT_FIELDS], file)
        if bad:
            problems.extend(bad)
            continue
        label = cell_text(rec.get("item"))
        kind = by_label.get(label)
        if kind is None:
            problem(
                f"项目 {label!r} is not one of {'/'.join(by_label)}" if label else "values without a 项目",
                "item",
                r,
            )
            continue
        ind = cell_text(rec.get("indicator_id"))
        points, reason = cell_number(rec.get("points"))
        grade = cell_text(rec.get("grade"))
        texts = {k: cell_text(rec.get(k)) for k in TEXT_FIELDS}
        when, date_reason = _date_text(rec.get("date"))
        if reason:
            problem(reason, "points", r)
            continue
        if date_reason:
            problem(date_reason, "date", r)
            continue
        if when and when > today.isoformat():
            problem(f"date {when} is in the future (today is {today:%Y-%m-%d})", "date", r)
        if ind and ind not in indicators:
            problem(f"unknown 指标编号 {ind!r}", "indicator_id", r)
            continue
        key = (kind, ind) if kind in ("public", "grade", "indicator_score") else None
        if key is not None:
            if key in seen:
                problem(f"{label} {ind} given twice (also in {seen[key]})".replace("  ", " "), "item", r)
                continue
            seen[key] = sheet.cell("item", r)
        if kind == "public":
            low, high = cfg["public_range"]
            if points is None:
                problem("公众评议 needs its score", "points", r)
            elif not low <= points <= high:
                problem(f"公众评议 {points:g} is outside {low:g}–{high:g}", "points", r)
        elif kind == "indicator_score":
            if ind not in assessed:
                problem(
                    f"{ind} is not scored by an outside assessment ({'/'.join(sorted(assessed))})",
                    "indicator_id",
                    r,
                )
            elif points is None and any(texts.values()):
                problem(f"{ind} needs its assessed score", "points", r)
            elif points is not None and not 0 <= points <= weight[ind]:
                problem(f"{points:g} is outside 0–{weight[ind]:g} (the weight of {ind})", "points", r)
        elif kind == "grade":
            if ind not in graded:
                problem(f"{ind} is not a graded (qualitative or 行政能力) indicator", "indicator_id", r)
            elif grade and grade not in cfg["grades"]:
                problem(f"等次 {grade!r} is not one of {'/'.join(cfg['grades'])}", "grade", r)
            elif not grade:
                problem(f"{ind} needs its 等次 ({'/'.join(cfg['grades'])})", "grade", r)
        else:
            if points is None or points <= 0:
                problem(f"{label} needs its points (a number above 0)", "points", r)
            if not texts["description"]:  # the 文号 and date are recorded when given (older items lack them)
                problem(f"{label} needs its {t('assessment.description')}", "description", r)
            same = (kind, points, texts["description"], texts["document"], when)
            if texts["description"] and same in items:  # a copied row: counted twice before
                problem(f"the same {label} as {items[same]} (分值, 事由, 文号 and 日期 alike)", "item", r)
                continue
            items.setdefault(same, sheet.cell("item", r))
            if points is not None and points > 0:
                totals[kind] += points
                cap = cfg[f"{kind}_cap"]
                if cap is not None and totals[kind] > cap + 1e-9:
                    problem(
                        f"{label} items add up to {totals[kind]:g}, over the plan's cap of {cap:g}"
                        f" ([assessments] {kind}_cap)",
                        "points",
                        r,
                    )
        if kind == "indicator_score" and points is None:
            continue  # nothing recorded for it yet
        out.append(
            {
                "year": catalogue.year,
                "kind": kind,
                "indicator_id": ind,
                "points": points,
                "grade": grade if kind == "grade" else "",
                **texts,
                "date": when,
            }
        )
    if not sheet.rows and not problems:
        problems.append(Problem(file, "nothing filled in", sheet.sheet))
    prior = latest_record(conn, catalogue.year)
    based_on = sheet.meta.get("based_on")  # absent from workbooks written before it was recorded
    if based_on is not None and based_on != str(prior or 0):
        cell = sheet.meta_cells.get("based_on", "")
        problems.append(
            Problem(
                file,
                f"this workbook was pre-filled from the record as of submission {based_on}, but "
                + (f"submission {prior} has been recorded since" if prior else "the store holds no record")
                + ": storing it would drop what was recorded; write a new template (perfkit template"
                " --assessments) and enter your changes there",
                META_SHEET if cell else "",
                cell,
            )
        )
    if problems:
        raise InputError(problems)
    return Checked(rows=out, unit="", month=str(catalogue.year), supersedes=prior)


def latest_record(conn: sqlite3.Connection, year: int) -> int | None:
    """The submission id of the year's latest 考评结果 workbook (the year's complete record), or None."""
    return conn.execute(
        "SELECT MAX(id) FROM submissions WHERE kind = 'assessment' AND month = ?", (str(year),)
    ).fetchone()[0]


# ------------------------------------------------------------------------------------ what is known


def coverage(catalogue: Catalogue, assessments: pd.DataFrame | None) -> dict[str, list[str]]:
    """Which outside parts are recorded and which are still assumed: 'recorded' and 'assumed' lists of
    part names (public, bonus, deduction, and 'grade <id>' / 'score <id>' per indicator)."""
    a = (
        assessments
        if assessments is not None
        else pd.DataFrame(columns=["kind", "indicator_id", "points", "grade"])
    )
    recorded, assumed = [], []
    for part in ("public", "bonus", "deduction"):
        (recorded if (a["kind"] == part).any() else assumed).append(part)
    for ind in catalogue.plan["scoring"].get("assessed_indicators", []):
        hit = (a["kind"] == "indicator_score") & (a["indicator_id"] == ind) & a["points"].notna()
        (recorded if hit.any() else assumed).append(f"score {ind}")
    for ind in graded_indicators(catalogue):
        hit = (a["kind"] == "grade") & (a["indicator_id"] == ind) & (a["grade"] != "")
        (recorded if hit.any() else assumed).append(f"grade {ind}")
    return {"recorded": recorded, "assumed": assumed}


def insert(conn: sqlite3.Connection, submission_id: int, rows: list[dict]) -> None:
    from .store import insert_assessments

    insert_assessments(conn, submission_id, pd.DataFrame(rows))
