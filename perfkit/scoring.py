"""The plan's scoring: measure completion → indicator score → section → 目标考评 (0–100) → total.

考评总得分 = 目标考评×70% + 公众评议×30% + 正向激励加分 − 察访核验扣分. Rules live in plan.toml
([scoring], [formula], [assumptions]); everything here is a pure function over tidy DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .catalogue import Catalogue

PRO_RATA_KINDS = ["investment", "amount", "count", "length", "level", "percent"]


@dataclass
class ScoreResult:
    as_of: str
    measures: pd.DataFrame
    indicators: pd.DataFrame
    sections: pd.DataFrame
    totals: dict
    assumed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        ind = self.indicators[["id", "section", "weight", "score", "lost"]].copy()
        ind[["score", "lost"]] = ind[["score", "lost"]].round(4)
        return {
            "as_of": self.as_of,
            "indicators": ind.to_dict("records"),
            "totals": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.totals.items()},
            "assumed": self.assumed,
        }


def latest_values(progress: pd.DataFrame, as_of: str | pd.Period | None = None) -> pd.DataFrame:
    """The latest report per measure up to `as_of`: measure_id, month, cumulative, status, note."""
    df = progress
    if as_of is not None:
        df = df[df["month"] <= pd.Period(as_of, freq="M")]
    if df.empty:
        return pd.DataFrame(columns=["measure_id", "month", "cumulative", "status", "note"])
    df = df.sort_values(["measure_id", "month"], kind="stable")
    return df.groupby("measure_id", sort=False).tail(1).reset_index(drop=True)


def measure_scores(
    catalogue: Catalogue,
    actual: pd.DataFrame,
    assessments: pd.DataFrame | None = None,
    growth_pct: dict[str, float | None] | None = None,
) -> pd.DataFrame:
    """Completion (0–1) and points for every measure.

    `actual`: measure_id, cumulative, status (the latest values, or projected ones for a year-end view).
    `growth_pct`: measure_id → growth (%) for growth-band measures.
    """
    rules = catalogue.plan["scoring"]
    m = catalogue.measures[
        ["measure_id", "indicator_id", "name", "kind", "unit", "target", "target_high", "weight"]
    ]
    m = m.merge(actual[["measure_id", "cumulative", "status"]], on="measure_id", how="left")
    value = m["cumulative"].astype(float)
    target = m["target"].astype(float)
    kind = m["kind"]

    pro_rata = np.clip(value / target, 0, 1)
    status_frac = m["status"].map(rules["milestone_status_fraction"]).astype(float)
    milestone = np.where(value.notna(), np.clip(value / target, 0, 1), status_frac)

    growth = m["measure_id"].map(growth_pct or {}).astype(float)
    band = np.where(growth >= target, 1.0, np.clip(growth / target, 0, 1))

    grades = _grades(catalogue, assessments)
    qualitative = m["indicator_id"].map(grades).fillna(rules["qualitative_default_grade"]).astype(float)

    completion = np.select(
        [kind.isin(PRO_RATA_KINDS), kind == "milestone", kind == "growth_band", kind == "qualitative"],
        [pro_rata, milestone, band, qualitative],
        default=np.nan,
    )
    m["actual"] = np.where(kind == "growth_band", growth, value)
    m["completion"] = np.nan_to_num(completion.astype(float), nan=0.0)
    m["score"] = m["completion"] * m["weight"]
    m["lost"] = m["weight"] - m["score"]
    return m.drop(columns=["cumulative"])


def _grades(catalogue: Catalogue, assessments: pd.DataFrame | None) -> dict[str, float]:
    """Indicator → grade fraction from the latest 'grade' assessment (优/良/中/差)."""
    if assessments is None or assessments.empty:
        return {}
    fractions = catalogue.plan["scoring"]["grade_fraction"]
    g = assessments[(assessments["kind"] == "grade") & (assessments["indicator_id"] != "")]
    latest = g.groupby("indicator_id")["grade"].last()
    return {k: fractions[v] for k, v in latest.items() if v in fractions}


def indicator_scores(
    catalogue: Catalogue, measures: pd.DataFrame, assessments: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Indicator score = Σ measure points; assessed indicators (1-15) take their assessed score."""
    ind = catalogue.indicators[
        ["id", "category", "section", "group", "weight", "leaders", "units", "persons"]
    ]
    pts = measures.groupby("indicator_id")["score"].sum()
    ind = ind.assign(score=ind["id"].map(pts).fillna(0.0).astype(float))
    assessed = set(catalogue.plan["scoring"].get("assessed_indicators", []))
    if assessments is not None and not assessments.empty:
        given = assessments[
            (assessments["kind"] == "indicator_score") & assessments["indicator_id"].isin(assessed)
        ]
        latest = given.groupby("indicator_id")["points"].last()
        override = ind["id"].map(latest)
        ind["score"] = np.where(override.notna(), np.minimum(override, ind["weight"]), ind["score"])
    ind["lost"] = ind["weight"] - ind["score"]
    ind["assessed"] = ind["id"].isin(assessed)
    return ind.reset_index(drop=True)


def section_scores(indicators: pd.DataFrame) -> pd.DataFrame:
    return (
        indicators.groupby(["category", "section"], sort=False)[["weight", "score", "lost"]]
        .sum()
        .reset_index()
    )


def outside_parts(
    catalogue: Catalogue,
    assessments: pd.DataFrame | None,
    public: float | None = None,
    bonus: float | None = None,
    deduction: float | None = None,
) -> tuple[dict[str, float], list[str]]:
    """公众评议, 正向激励加分, 察访核验扣分: given, else stored, else the plan's stated assumption."""
    assumptions = catalogue.plan["assumptions"]
    a = assessments if assessments is not None else pd.DataFrame(columns=["kind", "points"])
    assumed: list[str] = []
    if public is None:
        stored = a.loc[a["kind"] == "public", "points"].dropna()
        if len(stored):
            public = float(stored.iloc[-1])
        else:
            public = float(assumptions["public"])
            assumed.append("public")
    if bonus is None:
        stored = a.loc[a["kind"] == "bonus", "points"].dropna()
        bonus = float(stored.sum()) if len(stored) else float(assumptions["bonus"])
        if not len(stored):
            assumed.append("bonus")
        cap = assumptions.get("bonus_cap")
        if cap is not None:
            bonus = min(bonus, float(cap))
    if deduction is None:
        stored = a.loc[a["kind"] == "deduction", "points"].dropna()
        deduction = float(stored.sum()) if len(stored) else float(assumptions["deduction"])
        if not len(stored):
            assumed.append("deduction")
    return {"public": public, "bonus": bonus, "deduction": deduction}, assumed


def totals(catalogue: Catalogue, indicators: pd.DataFrame, outside: dict[str, float]) -> dict:
    cats = catalogue.plan["categories"]
    formula = catalogue.plan["formula"]
    functional = float(indicators.loc[indicators["category"] == cats["functional"], "score"].sum())
    admin = float(indicators.loc[indicators["category"] == cats["admin"], "score"].sum())
    target_score = functional + admin
    total = (
        target_score * formula["target_weight"]
        + outside["public"] * formula["public_weight"]
        + outside["bonus"]
        - outside["deduction"]
    )
    return {
        "functional": functional,
        "admin": admin,
        "target_score": target_score,
        "public": outside["public"],
        "bonus": outside["bonus"],
        "deduction": outside["deduction"],
        "total": total,
    }


def score(
    catalogue: Catalogue,
    progress: pd.DataFrame,
    as_of: str,
    assessments: pd.DataFrame | None = None,
    growth_pct: dict[str, float | None] | None = None,
    public: float | None = None,
    bonus: float | None = None,
    deduction: float | None = None,
) -> ScoreResult:
    """The score as of a month from tidy progress (measure × month rows)."""
    actual = latest_values(progress, as_of)
    ms = measure_scores(catalogue, actual, assessments, growth_pct)
    ind = indicator_scores(catalogue, ms, assessments)
    outside, assumed = outside_parts(catalogue, assessments, public, bonus, deduction)
    return ScoreResult(
        as_of=str(as_of),
        measures=ms,
        indicators=ind,
        sections=section_scores(ind),
        totals=totals(catalogue, ind, outside),
        assumed=assumed,
    )


def growth_to_date(catalogue: Catalogue, turnover: pd.DataFrame, as_of: str) -> dict[str, float | None]:
    """Growth-band measure → year-to-date growth (%) at `as_of` (official comparable figure when given)."""
    from .turnover import monthly_series, ytd_growth

    cfg = catalogue.plan["turnover"]
    out: dict[str, float | None] = {}
    for mode, measure_id in cfg["measure"].items():
        series = monthly_series(turnover, mode, cfg["coefficient"])
        # Before a month is published (January), the latest published month stands in.
        published = series[series["month"] <= pd.Period(as_of, freq="M")]
        out[measure_id] = ytd_growth(series, published["month"].max()) if len(published) else None
    return out


def score_store(conn, as_of: str | None = None, **outside: float | None) -> ScoreResult:
    """Score straight from the store (as-of defaults to the latest month with data)."""
    from .store import latest_month, read_assessments, read_catalogue, read_progress, read_turnover

    catalogue = read_catalogue(conn)
    as_of = as_of or latest_month(conn)
    if as_of is None:
        raise ValueError("the store has no progress data yet: give --as-of or ingest submissions")
    year = int(as_of[:4])
    assessments = read_assessments(conn, year)
    growth = growth_to_date(catalogue, read_turnover(conn), as_of)
    return score(catalogue, read_progress(conn, as_of), as_of, assessments, growth, **outside)
