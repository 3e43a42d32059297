"""Each unit's year-end 自评 (自查自评, 泉交办〔2019〕28号 四(六)): per indicator it answers for, a completion
statement and a self-assessed grade (优/良/中/差, plan.toml [scoring] grade_fraction).

`perfkit template --self-eval` writes one protected workbook per unit (the indicators whose measures it
reports), sent with the December ledger; `perfkit ingest` checks it (indicators of that unit, grades from
the plan's list, a statement with every grade) and stores it whole or not at all, a later file for the
unit superseding the earlier one. The annual brief shows the self-assessed grade beside the computed
score and its grade, and marks where they differ.
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
    cell_text,
    flagged,
    form_meta,
    meta_checks,
    read_form,
    safe_name,
    write_form,
)
from .labels import t

KIND = "selfeval"
SHEET_KEY = "selfeval.sheet"
MAX_STATEMENT = 2000


def fields() -> list[Field]:
    return [
        Field("indicator_id", t("indicator_id"), 10),
        Field("section", t("section"), 12),
        Field("text", t("text"), 44, wrap=True),
        Field("weight", t("weight"), 7),
        Field("statement", t("selfeval.statement"), 50, fill_in=True, wrap=True),
        Field("grade", t("selfeval.grade"), 10, fill_in=True),
    ]


FILL_IN = ["statement", "grade"]


def grades(catalogue: Catalogue) -> list[str]:
    return list(catalogue.plan["scoring"]["grade_fraction"])


def units(catalogue: Catalogue) -> list[str]:
    """Units answering for at least one indicator (every measure's reporting unit), in catalogue order."""
    return list(dict.fromkeys(catalogue.measures["reporting_unit"]))


def unit_indicators(catalogue: Catalogue, unit: str) -> list[str]:
    """The indicators `unit` reports a measure of, in catalogue order."""
    m = catalogue.measures
    mine = set(m.loc[m["reporting_unit"] == unit, "indicator_id"])
    return [i for i in catalogue.indicators["id"] if i in mine]


def template_file_name(unit: str, year: int) -> str:
    return f"{safe_name(unit)}_{year}_{safe_name(t('selfeval.file_suffix'))}.xlsx"


def write_self_eval_templates(
    catalogue: Catalogue, current: pd.DataFrame | None, out_dir: str | Path, chosen: list[str] | None = None
) -> list[Path]:
    """One workbook per unit (or `chosen`), pre-filled with its stored 自评 (`current`: read_self_evaluations)."""
    known = units(catalogue)
    unknown = [u for u in chosen or [] if u not in known]
    if unknown:
        raise InputError([Problem("--unit", f"not a unit of the catalogue: {u!r}") for u in unknown])
    cur = (
        current
        if current is not None
        else pd.DataFrame(columns=["unit", "indicator_id", "statement", "grade"])
    )
    ind = catalogue.indicators.set_index("id")
    from .safe_xlsx import check_template_targets  # here: the snapshot's modules do not import it

    targets = (Path(out_dir) / template_file_name(u, catalogue.year) for u in chosen or known)
    # pre-filled with the stored 自评: only a sign-off tells that someone filled one in
    check_template_targets(targets, t(SHEET_KEY), {f.field: f.label for f in fields()}, "indicator_id", [])
    rules = {
        "statement": Rule("textLength", "intake.error.note", "selfeval.prompt.statement", "lessThanOrEqual", str(MAX_STATEMENT)),
        "grade": Rule("list", "intake.error.status", "selfeval.prompt.grade", formula1='"' + ",".join(grades(catalogue)) + '"'),
    }  # fmt: skip
    out = []
    for unit in chosen or known:
        mine = cur[cur["unit"] == unit].set_index("indicator_id")
        rows = [
            {
                "indicator_id": i,
                "section": ind.loc[i, "section"],
                "text": ind.loc[i, "text"],
                "weight": float(ind.loc[i, "weight"]),
                "statement": mine["statement"].get(i, ""),
                "grade": mine["grade"].get(i, ""),
            }
            for i in unit_indicators(catalogue, unit)
        ]
        title = t("selfeval.title").format(
            title=catalogue.plan["plan"]["title"], unit=unit, year=catalogue.year
        )
        out.append(
            write_form(
                Path(out_dir) / template_file_name(unit, catalogue.year),
                sheet=t(SHEET_KEY),
                title=title,
                fields=fields(),
                rows=rows,
                meta=form_meta(KIND, catalogue, unit=unit, year=str(catalogue.year)),
                rules=rules,
                cell_rule=lambda rec, field: field,
                freeze="D",
            )
        )
    return out


def read_book(book, name: str) -> FormSheet:
    labels = {f.field: f.label for f in fields()}
    return read_form(book, KIND, t(SHEET_KEY), labels, "indicator_id", ["indicator_id", *FILL_IN], FILL_IN)


def check(
    conn: sqlite3.Connection, sheet: FormSheet, catalogue: Catalogue, file: str, today: date
) -> Checked:
    """Validate a unit's 自评: rows (indicator_id, statement, grade) or InputError."""
    problems = meta_checks(sheet, catalogue, file)
    unit, year = sheet.meta.get("unit", ""), sheet.meta.get("year", "")
    for key, bad, reason in (
        ("unit", unit not in units(catalogue), f"{unit!r} is not a unit of the catalogue"),
        ("year", year != str(catalogue.year), f"自评 for year {year!r}, not the plan year {catalogue.year}"),
    ):
        if bad:
            cell = sheet.meta_cells.get(key, "")
            problems.append(Problem(file, reason, META_SHEET if cell else "", cell))
    mine = set(unit_indicators(catalogue, unit))
    known = set(catalogue.indicators["id"])
    allowed = grades(catalogue)
    seen: dict[str, str] = {}
    out = []

    def problem(reason: str, key: str, r: int) -> None:
        problems.append(Problem(file, reason, sheet.sheet, sheet.cell(key, r)))

    for rec in sheet.rows:
        r = rec["row"]
        ind = cell_text(rec.get("indicator_id"))
        bad = flagged(sheet, rec, FILL_IN, file)
        if bad:
            problems.extend(bad)
            continue
        if not ind:
            problem("values without a 指标编号", "indicator_id", r)
            continue
        if ind in seen:
            problem(f"duplicate 指标编号 {ind} (also in {seen[ind]})", "indicator_id", r)
            continue
        seen[ind] = sheet.cell("indicator_id", r)
        if ind not in known:
            problem(f"unknown 指标编号 {ind!r}", "indicator_id", r)
            continue
        if ind not in mine:
            problem(f"{ind} is not an indicator {unit} reports on", "indicator_id", r)
            continue
        statement, grade = cell_text(rec.get("statement")), cell_text(rec.get("grade"))
        if grade and grade not in allowed:
            problem(f"自评等次 {grade!r} is not one of {'/'.join(allowed)}", "grade", r)
        elif not grade:
            problem(f"{ind} needs its 自评等次 ({'/'.join(allowed)})", "grade", r)
        if not statement:
            problem(f"{ind} needs its 完成情况", "statement", r)
        elif len(statement) > MAX_STATEMENT:
            problem(f"完成情况 is {len(statement)} characters, over {MAX_STATEMENT}", "statement", r)
        out.append({"indicator_id": ind, "statement": statement, "grade": grade})
    if not sheet.rows and not problems:
        problems.append(Problem(file, "nothing filled in", sheet.sheet))
    if problems:
        raise InputError(problems)
    prior = conn.execute(
        "SELECT MAX(id) FROM submissions WHERE kind = 'selfeval' AND unit = ? AND month = ?", (unit, year)
    ).fetchone()[0]
    return Checked(rows=out, unit=unit, month=year, supersedes=prior)


def insert(conn: sqlite3.Connection, submission_id: int, rows: list[dict]) -> None:
    conn.executemany(
        "INSERT INTO self_evaluation (submission_id, indicator_id, statement, grade) VALUES (?,?,?,?)",
        [(submission_id, r["indicator_id"], r["statement"], r["grade"]) for r in rows],
    )


def read_self_evaluations(conn: sqlite3.Connection, year: int) -> pd.DataFrame:
    """Each unit's latest 自评 of `year`: unit, indicator_id, statement, grade, submission_id."""
    return pd.read_sql_query(
        """
        WITH latest AS (
            SELECT unit, MAX(id) AS id FROM submissions WHERE kind = 'selfeval' AND month = ? GROUP BY unit
        )
        SELECT l.unit, e.indicator_id, e.statement, e.grade, e.submission_id
        FROM self_evaluation e JOIN latest l ON e.submission_id = l.id
        ORDER BY l.unit, e.indicator_id
        """,
        conn,
        params=(str(year),),
    )


def computed_grade(completion: float, fractions: dict[str, float]) -> str:
    """The plan's grade a computed completion (score ÷ weight) reaches: the best grade whose fraction it
    meets, else the lowest."""
    ranked = sorted(fractions.items(), key=lambda kv: -kv[1])
    for grade, fraction in ranked:
        if completion >= fraction - 1e-9:
            return grade
    return ranked[-1][0]


def beside_score(catalogue: Catalogue, indicators: pd.DataFrame, evaluations: pd.DataFrame) -> pd.DataFrame:
    """Per indicator (score rows: id, score, weight): the units' self-assessed grades and statements joined
    ('单位：…' when several units answer), the computed grade, and `differs` where a self grade is not it."""
    fractions = catalogue.plan["scoring"]["grade_fraction"]
    out = indicators[["id", "score", "weight"]].copy()
    completion = (out["score"] / out["weight"]).where(out["weight"] > 0)
    out["computed_grade"] = [computed_grade(c, fractions) if pd.notna(c) else "" for c in completion]
    ev = (
        evaluations
        if evaluations is not None
        else pd.DataFrame(columns=["unit", "indicator_id", "statement", "grade"])
    )
    several = (
        ev.groupby("indicator_id")["unit"].transform("nunique") > 1 if len(ev) else pd.Series(dtype=bool)
    )
    ev = ev.assign(
        shown_grade=[
            f"{u}：{g}" if s else g for u, g, s in zip(ev["unit"], ev["grade"], several, strict=True)
        ],
        shown_statement=[
            f"{u}：{x}" if s else x for u, x, s in zip(ev["unit"], ev["statement"], several, strict=True)
        ],
    )
    grades_by = ev.groupby("indicator_id")["shown_grade"].agg("；".join)
    statements_by = ev.groupby("indicator_id")["shown_statement"].agg("；".join)
    own = ev.groupby("indicator_id")["grade"].agg(set)
    out["self_grade"] = [grades_by.get(i, "") for i in out["id"]]
    out["self_statement"] = [statements_by.get(i, "") for i in out["id"]]
    differs = [
        bool(own.get(i)) and own.get(i) != {g} for i, g in zip(out["id"], out["computed_grade"], strict=True)
    ]
    out["differs"] = differs
    return out.drop(columns=["score", "weight"])
