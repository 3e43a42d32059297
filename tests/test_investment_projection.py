"""perfkit.investment.projection: `project_measures` on the real sample store and on hand-built series
with known answers (edges, corrections, the pinned p_reach), totals by unit and leader, bad input."""

from __future__ import annotations

import copy
import dataclasses
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from investment_cases import DEFAULT, row, series

from perfkit import investment
from perfkit.errors import InputError

REQUIRED = [
    "measure_id",
    "indicator_id",
    "name",
    "kind",
    "unit",
    "reporting_unit",
    "leaders",
    "units",
    "persons",
    "target",
    "actual",
    "projected",
    "interval_80_low",
    "interval_80_high",
    "p_reach",
    "shortfall",
    "required_monthly",
    "schedule_gap_pp",
    "deadline_month",
    "months_elapsed",
    "edge",
    "method",
]


def test_scope_covers_investment_and_cumulative_measures(sample_projection, catalogue):
    df = sample_projection
    assert set(REQUIRED) <= set(df.columns)
    inv = df[df["kind"] == "investment"]
    assert len(inv) == 13 and inv["target"].sum() == 194800  # the plan's 13 measures, 19.48亿元
    assert {"1-4-2.1", "1-1-1.2", "1-5-1.1", "1-7-1.1"} <= set(df["measure_id"])  # recurring, %, km, 万元
    kinds = catalogue.measures.set_index("measure_id")["kind"]
    assert not set(df["measure_id"]) & set(kinds[kinds.isin(["milestone", "level", "qualitative"])].index)
    assert row(df, "1-4-1.2")["deadline_month"] == 9
    assert row(df, "1-1-1.6")["leaders"] == ["黄俊杰"]


def test_behind_measure_is_projected_short_with_consistent_figures(sample_projection):
    r = row(sample_projection, "1-3-2.2")  # 国省干线 investment, the sample's worst
    assert r["p_reach"] < 0.1
    assert r["shortfall"] == pytest.approx(r["target"] - r["projected"])
    assert r["actual"] <= r["interval_80_low"] <= r["projected"] <= r["interval_80_high"]
    assert r["schedule_gap_pp"] == pytest.approx(r["actual"] / r["target"] * 100 - 75)
    assert r["required_monthly"] == pytest.approx((r["target"] - r["actual"]) / 3)
    on_track = row(sample_projection, "2-4-1.2")
    assert on_track["p_reach"] > 0.5 and on_track["shortfall"] == 0


def test_edges_on_the_sample(sample_projection):
    df = sample_projection
    hub = row(df, "1-4-1.2")  # due in September, done
    assert (hub["edge"], hub["p_reach"], hub["shortfall"], hub["required_monthly"]) == ("complete", 1, 0, 0)
    station = row(df, "1-6-2.1")  # one station: a fixed scope stops at the target
    assert station["edge"] == "complete" and station["projected"] == station["actual"] == 1
    spend = row(df, "2-4-2.2")  # spending goes on past the plan
    assert spend["edge"] == "complete" and spend["projected"] > spend["actual"]
    assert row(df, "1-8-1.1")["edge"] == "corrected"  # 更正 in the July note
    stale = row(df, "1-3-1.1")  # 局综规科 stopped reporting after June
    assert (stale["data_month"], stale["months_since_report"]) == (6, 3)


def test_counts_get_whole_number_intervals(sample_projection):
    counts = sample_projection[sample_projection["kind"] == "count"]
    bounds = counts[["interval_80_low", "interval_80_high"]].to_numpy()
    assert np.allclose(bounds, np.round(bounds))
    shares = sample_projection[sample_projection["unit"] == "%"]
    assert (shares["interval_80_high"] <= 100).all()


def test_counts_are_projected_as_whole_numbers(sample_projection):
    """Whole items are projected as the median of their distribution: a whole number inside its interval,
    at or above the target exactly when the chance of reaching it is at least one half."""
    counts = sample_projection[
        (sample_projection["kind"] == "count") & sample_projection["projected"].notna()
    ]
    assert len(counts) >= 3
    assert (counts["projected"] == np.round(counts["projected"])).all()
    assert (counts["interval_80_low"] <= counts["projected"]).all()
    assert (counts["projected"] <= counts["interval_80_high"]).all()
    reached = counts["projected"] >= counts["target"]
    assert ((counts["p_reach"] >= 0.5) == reached).all()
    assert (counts["shortfall"] == np.maximum(counts["target"] - counts["projected"], 0)).all()
    # 1-3-1.2 (one item, none done by September): the 0.06 expected items are projected at 0, not 0.1
    idle = row(sample_projection, "1-3-1.2")
    assert (idle["target"], idle["actual"], idle["projected"]) == (1, 0, 0)
    assert (idle["interval_80_low"], idle["interval_80_high"]) == (0, 0)
    assert 0 < idle["p_reach"] < 0.5 and idle["shortfall"] == 1


def test_aggregates_by_unit_and_leader(sample_projection):
    df = sample_projection
    units = investment.by_unit(df)
    assert units["target"].sum() == 194800
    assert units["n_measures"].sum() == len(df)
    highway = units.set_index("reporting_unit").loc["市高指"]
    assert highway["target"] == 80000 and highway["shortfall"] == pytest.approx(
        row(df, "1-1-1.6")["shortfall"]
    )
    leaders = investment.by_leader(df).set_index("leader")
    assert leaders.loc["黄俊杰", "target"] == 80000 + 9000 + 200
    assert leaders.loc["杨琦伟", "n_complete"] >= 3


def test_back_loaded_series_is_projected_where_run_rate_is_not(catalogue):
    target, total = 20000.0, 24000.0  # 1-5-1.2: 2亿; this series ends at 120% of plan
    values = {m: total * DEFAULT[m - 1] for m in range(1, 10)}
    r = row(investment.project_measures(catalogue, series("1-5-1.2", values), "2019-09"), "1-5-1.2")
    assert abs(r["projected"] / total - 1) < 0.01
    run_rate = values[9] / 9 * 12
    assert abs(run_rate / total - 1) > 0.04
    assert r["p_reach"] > 0.9 and r["shortfall"] == 0
    assert r["schedule_gap_pp"] == pytest.approx(total * 0.71 / target * 100 - 75)
    assert r["profile_gap_pp"] == pytest.approx(total * 0.71 / target * 100 - 71)


def test_interval_narrows_as_the_year_goes_on(catalogue):
    values = {m: 20000 * DEFAULT[m - 1] for m in range(1, 12)}
    widths = []
    for month in (3, 6, 9, 11):
        r = row(
            investment.project_measures(catalogue, series("1-5-1.2", values), f"2019-{month:02d}"), "1-5-1.2"
        )
        widths.append(r["interval_80_high"] - r["interval_80_low"])
        assert 0 <= r["p_reach"] <= 1
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0


def test_correction_restates_earlier_months(catalogue):
    dropped = series("1-5-1.1", {1: 10, 2: 20, 3: 30, 4: 40, 5: 50, 6: 45})
    restated = series("1-5-1.1", {1: 10, 2: 20, 3: 30, 4: 40, 5: 45, 6: 45})
    a = row(investment.project_measures(catalogue, dropped, "2019-06"), "1-5-1.1")
    b = row(investment.project_measures(catalogue, restated, "2019-06"), "1-5-1.1")
    assert a["edge"] == "corrected" and b["edge"] == ""
    assert a["actual"] == 45 and a["projected"] == pytest.approx(b["projected"])
    noted = series("1-5-1.1", {1: 10, 2: 20}, notes={2: "更正：1月多报"})
    assert row(investment.project_measures(catalogue, noted, "2019-02"), "1-5-1.1")["edge"] == "corrected"


def test_no_data_is_said_not_guessed(catalogue):
    empty = pd.DataFrame({"measure_id": [], "month": [], "cumulative": []})
    df = investment.project_measures(catalogue, empty, "2019-03")
    assert (df["edge"] == "no_data").all()
    assert df[["actual", "projected", "p_reach", "shortfall", "schedule_gap_pp"]].isna().all().all()
    r = row(df, "1-1-1.6")
    assert r["required_monthly"] == pytest.approx(80000 / 9)


def test_deadline_passed_keeps_the_value_at_the_deadline(catalogue):
    values = {m: 15000 * m / 9 for m in range(1, 10)} | {10: 19000}  # month 10 is after 1-4-1's deadline
    r = row(investment.project_measures(catalogue, series("1-4-1.2", values), "2019-10"), "1-4-1.2")
    assert r["edge"] == "deadline_passed" and r["method"] == "at_deadline"
    assert r["projected"] == pytest.approx(15000) and r["shortfall"] == pytest.approx(4000)
    assert r["p_reach"] == 0 and np.isnan(r["required_monthly"])


@pytest.mark.parametrize("recent_weight", [None, 0.25])
def test_p_reach_interval_and_shortfall_pinned_by_hand(catalogue, recent_weight):
    """An investment measure at 80% of the default profile's pace, as of June, with σ fixed at 0.5 (a
    reference from no cases, so no small-sample widening, and no σ of its own): every figure follows from
    the method in the module docstring, computed here by hand. The remaining amount R is lognormal with
    median `remaining` and sd σ·unit_sd, so P(A + R ≥ T) = Φ((ln remaining − ln(T − A)) / s).
    Run with the plan's recent_weight (0.5) and with 0.25, where swapping the two weights would show."""
    if recent_weight is not None:
        plan = copy.deepcopy(catalogue.plan)
        plan["investment"]["projection"]["recent_weight"] = recent_weight
        catalogue = dataclasses.replace(catalogue, plan=plan)
    cfg = investment.settings(catalogue)
    p, w = cfg.prior_weight, cfg.recent_weight
    assert (p, w, cfg.recent_months) == (0.05, recent_weight or 0.5, 3)  # plan.toml [investment.projection]
    target, pace, sigma = 20000.0, 0.8, 0.5
    tau = DEFAULT / DEFAULT[-1]  # 1-5-1.2's deadline is December
    prog = series("1-5-1.2", {m: target * pace * tau[m - 1] for m in range(1, 7)})
    fitted = investment.calibrate(catalogue, prog, "2019-06")
    cal = dataclasses.replace(
        fitted, sigma_reference=sigma, n_reference=0, kind_sigma={}, measure_sigma={}, measure_cases={}
    )
    assert cal.sigma("1-5-1.2", "investment") == sigma
    r = row(investment.project_measures(catalogue, prog, "2019-06", calibration=cal), "1-5-1.2")
    assert r["deadline_month"] == 12 and r["method"] == "blend"

    a, a_back = tau[5], tau[2]  # profile time now (June) and three months back (March)
    done, done_back = target * pace * a, target * pace * a_back
    whole = (done + p * target) / (a + p)  # the deadline total from the year to date …
    recent = (done - done_back + p * target) / (a - a_back + p)  # … and from the last three months
    scale = (1 - w) * whole + w * recent
    remaining = scale * (1 - a)
    sd = sigma * scale * math.sqrt((1 - a) / (a + p))
    s = math.sqrt(math.log1p((sd / remaining) ** 2))  # lognormal log-sd with that sd around the median
    z80 = NormalDist().inv_cdf(0.9)
    need = target - done
    phi = NormalDist().cdf
    assert r["actual"] == pytest.approx(done)
    assert r["projected"] == pytest.approx(done + remaining)
    assert r["interval_80_low"] == pytest.approx(done + remaining * math.exp(-z80 * s))
    assert r["interval_80_high"] == pytest.approx(done + remaining * math.exp(z80 * s))
    assert r["p_reach"] == pytest.approx(phi((math.log(remaining) - math.log(need)) / s))
    assert 0.05 < r["p_reach"] < 0.5  # a real probability, not a clipped 0 or 1
    # E[(need − R)+] for a lognormal R (the put formula): need·Φ(−d2) − E[R]·Φ(−d1), d2 = d1 − s
    d1 = (math.log(remaining) + s * s - math.log(need)) / s
    mean_r = remaining * math.exp(s * s / 2)
    assert r["expected_shortfall"] == pytest.approx(need * phi(-(d1 - s)) - mean_r * phi(-d1))
    assert r["shortfall"] == pytest.approx(target - done - remaining)
    assert r["required_monthly"] == pytest.approx(need / 6)


def test_in_its_deadline_month_a_measure_is_still_open(catalogue):
    # 1-4-1.2's deadline is September: as of September it is projected (nothing left to come), not yet
    # "deadline passed", which starts in October (test_deadline_passed_keeps_the_value_at_the_deadline)
    values = {m: 15000 * m / 9 for m in range(1, 10)}
    r = row(investment.project_measures(catalogue, series("1-4-1.2", values), "2019-09"), "1-4-1.2")
    assert r["edge"] == "" and r["method"] == "blend"
    assert r["projected"] == pytest.approx(15000) and r["p_reach"] == 0
    assert r["months_elapsed"] == r["deadline_month"] == 9


def test_bad_input_names_the_problem(catalogue):
    with pytest.raises(InputError, match="expected a month as YYYY-MM, got '2019-13'"):
        investment.project_measures(catalogue, series("1-5-1.2", {1: 1.0}), "2019-13")
    with pytest.raises(InputError, match="missing columns: cumulative"):
        investment.project_measures(
            catalogue, pd.DataFrame({"measure_id": ["x"], "month": ["2019-01"]}), "2019-01"
        )
    bad = pd.DataFrame({"measure_id": ["1-5-1.2"], "month": ["2019/Q1"], "cumulative": [1.0]})
    with pytest.raises(InputError, match=r"progress row 2, month: month '2019/Q1' is not YYYY-MM"):
        investment.project_measures(catalogue, bad, "2019-01")
    plan = copy.deepcopy(catalogue.plan)
    del plan["investment"]["projection"]["recent_weight"]
    broken = dataclasses.replace(catalogue, plan=plan)
    with pytest.raises(
        InputError, match=r"plan.toml recent_weight: \[investment.projection\] recent_weight is missing"
    ):
        investment.project_measures(broken, series("1-5-1.2", {1: 1.0}), "2019-01")
