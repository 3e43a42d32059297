"""The brief's data: what a brief of a kind and language shows, read once from the store and the month's
snapshot (`gather` → `BriefData`), with the two things the brief derives from them: each reporting unit's
reporting status and the expected year-end score (`expected_score`). perfkit.report presents it; the Word
document (perfkit.document) and the notebooks read the same `BriefData`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from . import trends
from .catalogue import Catalogue
from .months import parse_month

KINDS = ("monthly", "quarterly", "annual")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown brief kind {kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def check_lang(lang: str) -> str:
    if lang not in ("zh", "en"):
        raise ValueError(f"unknown language {lang!r}: expected 'zh' or 'en'")
    return lang


def expected_score(catalogue: Catalogue, flags: pd.DataFrame, assessments: pd.DataFrame | None, **outside):
    """The expected year-end score: each measure's weight less its points at risk (perfkit.risks: weight ×
    (1 − expected completion)), so the projected 目标考评 is exactly 100 − the points at risk."""
    from . import scoring

    ms = catalogue.measures[["measure_id", "indicator_id", "weight"]].merge(
        flags[["measure_id", "points_at_risk"]], on="measure_id", how="left"
    )
    ms["score"] = ms["weight"] - ms["points_at_risk"].fillna(0.0)
    ind = catalogue.indicators[
        ["id", "category", "section", "group", "weight", "leaders", "units", "persons"]
    ]
    ind = ind.assign(score=ind["id"].map(ms.groupby("indicator_id")["score"].sum()).fillna(0.0))
    ind["lost"] = ind["weight"] - ind["score"]
    parts, assumed = scoring.outside_parts(catalogue, assessments, **outside)
    return scoring.ScoreResult(
        as_of=str(flags["as_of"].iloc[0]) if len(flags) else "",
        measures=ms,
        indicators=ind,
        sections=scoring.section_scores(ind),
        totals=scoring.totals(catalogue, ind, parts),
        assumed=assumed,
    )


def reporting_status(catalogue: Catalogue, submissions: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """Per reporting unit: measures it reports, whether it reported for `as_of`, last month and when received.

    Units with only statistic measures (turnover comes from the statistics office) are not expected."""
    m = catalogue.measures
    expected = m[m["schedule"] != "statistic"].groupby("reporting_unit").size().rename("measures")
    subs = submissions[(submissions["kind"] == "progress") & (submissions["month"] <= as_of)]
    last = (
        subs.sort_values("id")
        .groupby("unit")
        .agg(last_month=("month", "max"), received_at=("received_at", "last"))
    )
    this = set(subs.loc[subs["month"] == as_of, "unit"])
    df = expected.reset_index().rename(columns={"reporting_unit": "unit"})
    df["reported"] = df["unit"].isin(this)
    df = df.merge(last, left_on="unit", right_index=True, how="left")
    df["received_at"] = df["received_at"].map(lambda v: str(v)[:10] if isinstance(v, str) else None)
    return df.sort_values(["reported", "unit"], ascending=[True, True], kind="stable").reset_index(drop=True)


@dataclass
class BriefData:
    """Everything the brief shows, read and computed once. Parts whose module is not installed are None."""

    catalogue: Catalogue
    as_of: str
    kind: str
    sample: bool
    progress: pd.DataFrame
    assessments: pd.DataFrame
    submissions: pd.DataFrame
    turnover_month: str | None
    score: object  # scoring.ScoreResult, to date
    reporting: pd.DataFrame
    growth: object | None = None  # growth.GrowthReport (projections and paths)
    investment: pd.DataFrame | None = None  # investment.project_measures
    flags: pd.DataFrame | None = None  # risks.flag_measures for as_of, with the problem's age
    problems: pd.DataFrame | None = None  # risks.problems_from_flags: the year's 问题清单
    projected: object | None = None  # expected year-end scoring.ScoreResult
    missing: list[str] = field(default_factory=list)  # analyses left out of this brief (`analyses`)
    self_evaluations: pd.DataFrame | None = None  # selfeval.read_self_evaluations (annual kind)
    trends: trends.Trends | None = None  # January..as_of month by month, from the snapshots


ANALYSES = ("growth", "investment", "risks")


def gather(
    conn,
    as_of: str,
    kind: str = "monthly",
    lang: str = "zh",
    analyses: Iterable[str] = ANALYSES,
    fingerprint: str | None = None,
) -> BriefData:
    """Read the store and the month's snapshot (perfkit.monthly: score, growth, investment, flags and
    problems computed once, the same snapshot `perfkit score|growth|invest|risks` read). `analyses` limits
    what the brief shows (a section whose analysis is left out shows a placeholder); `fingerprint`: the
    snapshot the brief's runner made current (monthly.ensure)."""
    from .monthly import snapshot
    from .store import is_sample, read_assessments, read_progress, read_submissions, read_turnover

    check_kind(kind)
    check_lang(lang)
    month = parse_month(as_of)
    snap = snapshot(conn, month, lang, fingerprint)
    catalogue = snap.catalogue
    turnover = read_turnover(conn)
    published = turnover.loc[turnover["month"] <= month, "month"]
    data = BriefData(
        catalogue=catalogue,
        as_of=str(month),
        kind=kind,
        sample=is_sample(conn),
        progress=read_progress(conn, str(month)),
        assessments=read_assessments(conn, month.year),
        submissions=read_submissions(conn),
        turnover_month=str(published.max()) if len(published) else None,
        score=snap.score,
        reporting=pd.DataFrame(),
    )
    data.reporting = reporting_status(catalogue, data.submissions, data.as_of)
    data.trends = trends.read(conn, month)  # snapshot() made January..as_of current
    if kind == "annual":
        from .selfeval import read_self_evaluations

        data.self_evaluations = read_self_evaluations(conn, month.year)
    wanted = set(analyses)
    data.missing = [name for name in ANALYSES if name not in wanted]
    if "growth" in wanted:
        data.growth = snap.growth
    if "investment" in wanted:
        data.investment = snap.investment
    if "risks" in wanted:
        data.flags = snap.flags
        data.problems = snap.problems
        data.projected = expected_score(catalogue, data.flags, data.assessments)
    return data
