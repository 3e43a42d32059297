"""perfkit.investment on the real sample store, on hand-built series with known answers, and end to end
through the CLI, the chart renderer and the notebook (papermill, real kernel)."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import math
from contextlib import redirect_stdout
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from perfkit import charts, investment, tables
from perfkit.cli import main
from perfkit.errors import InputError
from perfkit.exports import write_csv

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
DEFAULT = np.array([0.05, 0.11, 0.16, 0.25, 0.34, 0.43, 0.53, 0.62, 0.71, 0.82, 0.92, 1.0])
FRONT = np.array([0.12, 0.22, 0.32, 0.42, 0.50, 0.58, 0.66, 0.73, 0.80, 0.87, 0.94, 1.0])


def series(measure_id: str, values: dict[int, float], year: int = 2019, notes: dict[int, str] | None = None):
    notes = notes or {}
    return pd.DataFrame(
        {
            "measure_id": measure_id,
            "month": pd.PeriodIndex([pd.Period(f"{year}-{m:02d}", freq="M") for m in values], freq="M"),
            "cumulative": list(values.values()),
            "note": [notes.get(m, "") for m in values],
        }
    )


def row(df: pd.DataFrame, measure_id: str) -> pd.Series:
    return df.set_index("measure_id").loc[measure_id]


@pytest.fixture()
def sample_projection(sample_conn):
    return investment.project_store(sample_conn, "2019-09")


# ------------------------------------------------------------------------------------ on the sample


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


def test_count_median_by_hand(catalogue):
    """A count on a straight line (linear profile for counts): 3 of 12 items by March, so the negative
    binomial of the remaining items has mean 9; its median, added to the 3 done, is the projection, and
    P(reach 12) is the distribution's upper tail at the 9 still needed."""
    from scipy.stats import nbinom, poisson

    A, T = np.array([3.0]), np.array([12.0])
    for var in (9.0, 30.0):  # Poisson, then over-dispersed
        low, high, p, _es, median = investment._count_distribution(A, np.array([9.0]), np.array([var]), T)
        if var <= 9:
            dist = poisson(9.0)
        else:
            dist = nbinom(81 / (var - 9), 9 / var)
        assert median[0] == 3 + dist.ppf(0.5) and median[0] == round(median[0])
        assert (low[0], high[0]) == (3 + dist.ppf(0.1), 3 + dist.ppf(0.9))
        assert p[0] == pytest.approx(dist.sf(8))  # P(N ≥ 9)


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


# ------------------------------------------------------------------------- known answers by hand


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


def test_small_sample_factor_is_students_t_over_the_normal():
    # t(0.90) quantiles from a printed table: 3.078 (1 df), 1.476 (5), 1.372 (10); z(0.90) = 1.2816
    for n, t90 in ((1, 3.0777), (5, 1.4759), (10, 1.3722)):
        assert investment.small_sample_factor(n) == pytest.approx(t90 / 1.28155, abs=2e-4)
    assert investment.small_sample_factor(0) == 1.0  # no cases: nothing to widen


def test_in_its_deadline_month_a_measure_is_still_open(catalogue):
    # 1-4-1.2's deadline is September: as of September it is projected (nothing left to come), not yet
    # "deadline passed", which starts in October (test_deadline_passed_keeps_the_value_at_the_deadline)
    values = {m: 15000 * m / 9 for m in range(1, 10)}
    r = row(investment.project_measures(catalogue, series("1-4-1.2", values), "2019-09"), "1-4-1.2")
    assert r["edge"] == "" and r["method"] == "blend"
    assert r["projected"] == pytest.approx(15000) and r["p_reach"] == 0
    assert r["months_elapsed"] == r["deadline_month"] == 9


def test_this_years_sigma_is_robust_per_kind_and_pooled_per_measure():
    """docs/investment.md: a kind's σ is 1.4826 × median |z| of its backtest errors (all kinds pooled when
    it has under POOL_CASES = 10 cases); a measure's σ is its own RMS z pooled toward its kind's with
    10 pseudo-cases. Computed here by hand from hand-made z values."""
    za = [0.5, -1.0, 1.5, -2.0, 1.0, -0.5, 2.5, -1.5, 0.0, 3.0, -1.0, 1.0]  # 12 cases: its own kind σ
    zb = [1.0, -3.0]  # 2 cases: the pooled σ
    bt = pd.DataFrame(
        {
            "method": ["blend"] * 14 + ["run_rate"] * 2,  # only the projection's own errors count
            "measure_id": ["A"] * 12 + ["B"] * 2 + ["A", "B"],
            "kind": ["investment"] * 12 + ["count"] * 2 + ["investment", "count"],
            "z": za + zb + [50.0, 50.0],
        }
    )
    kind_sigma, kind_cases, measure_sigma, measure_cases = investment._current_sigma(
        bt, ("investment", "count")
    )
    assert investment.POOL_CASES == 10
    inv = 1.4826 * float(np.median(np.abs(za)))  # median |z| of A = 1.0
    pooled = 1.4826 * float(np.median(np.abs(za + zb)))
    assert kind_sigma == pytest.approx({"investment": inv, "count": pooled})
    assert kind_cases == {"investment": 12, "count": 2}
    assert measure_cases == {"A": 12, "B": 2}
    assert measure_sigma["A"] == pytest.approx(math.sqrt((sum(z * z for z in za) + 10 * inv**2) / (12 + 10)))
    assert measure_sigma["B"] == pytest.approx(math.sqrt((1 + 9 + 10 * pooled**2) / (2 + 10)))


def test_whole_item_counts_poisson_and_negative_binomial_by_hand():
    """5 items done, 8 needed, 3 more expected. Variance 3 (= the mean): Poisson(3), so
    P(N ≥ 3) = 1 − e⁻³(1 + 3 + 4.5) and E[(3 − N)+] = P(N ≤ 0) + P(N ≤ 1) + P(N ≤ 2) = e⁻³(1 + 4 + 8.5).
    Variance 6: negative binomial with n = 3² / (6 − 3) = 3, p = 3 / 6 = ½, pmf 1/8, 3/16, 3/16, …, so
    P(N ≥ 3) = 1 − (1/8 + 3/16 + 3/16) = ½ and the 80% interval is 5 + [0, 6] (cdf 0.125 … 0.855, 0.910)."""
    one = np.array([1.0])
    low, high, p, es, median = investment._count_distribution(5 * one, 3 * one, 3 * one, 8 * one)
    assert p[0] == pytest.approx(1 - math.exp(-3) * 8.5)
    assert es[0] == pytest.approx(math.exp(-3) * 13.5)
    assert median[0] == 8.0  # Poisson(3): P(N ≤ 2) = 0.42 < ½ ≤ P(N ≤ 3) = 0.65, so 5 + 3
    low, high, p, es, median = investment._count_distribution(5 * one, 3 * one, 6 * one, 8 * one)
    assert p[0] == pytest.approx(0.5)
    assert (low[0], high[0]) == (5.0, 11.0)
    assert es[0] == pytest.approx(0.125 + 0.3125 + 0.5)
    assert median[0] == 7.0  # P(N ≤ 2) = ½ exactly: the median is 2, so 5 + 2


def test_profile_learned_from_past_years(catalogue):
    rng = np.random.default_rng(7)
    ids = catalogue.measures.loc[catalogue.measures["kind"] == "investment", "measure_id"]
    past = [
        series(mid, {m: total * FRONT[m - 1] for m in range(1, 13)}, year=year)
        for year in (2017, 2018)
        for mid in ids
        for total in [rng.uniform(500, 5000)]
    ]
    history = pd.concat(past, ignore_index=True)
    now = series("1-5-1.2", {m: 20000 * FRONT[m - 1] for m in range(1, 7)})
    learned = row(investment.project_measures(catalogue, now, "2019-06", history), "1-5-1.2")
    default = row(investment.project_measures(catalogue, now, "2019-06"), "1-5-1.2")
    assert learned["profile_source"] == "history" and default["profile_source"] == "default"
    assert abs(learned["projected"] / 20000 - 1) < 0.02
    assert default["projected"] / 20000 - 1 > 0.15  # the default profile expects less by June
    cal = investment.calibrate(catalogue, now, "2019-06", history)
    assert cal.reference == "history" and cal.history_series == 2 * len(ids)


def test_calibration_reuses_a_prior_months_reference(catalogue):
    """Month after month (the risk backfill) the history's profiles and reference σ are taken from the
    previous calibration; the result is the same as calibrating from scratch."""
    now = series("1-5-1.2", {m: 20000 * DEFAULT[m - 1] for m in range(1, 8)})
    june = investment.calibrate(catalogue, now, "2019-06")
    july = investment.calibrate(catalogue, now, "2019-07", prior=june)
    fresh = investment.calibrate(catalogue, now, "2019-07")
    assert dataclasses.asdict(july).keys() == dataclasses.asdict(fresh).keys()
    for key, value in dataclasses.asdict(fresh).items():
        if key == "profiles":
            assert all(np.array_equal(value[k], july.profiles[k]) for k in value)
        else:
            assert getattr(july, key) == value, key


# ------------------------------------------------------------------------------------- backtests


def test_backtest_on_public_series(catalogue):
    bt = investment.backtest_public(catalogue)
    nat18 = bt[(bt["series"] == "national_2018") & (bt["as_of_month"] == 9)].set_index("method")
    assert nat18.loc["run_rate", "forecast"] == pytest.approx(16500 / 9 * 12)
    assert nat18.loc["run_rate", "error_pct"] == pytest.approx((22000 / 23000 - 1) * 100)
    assert nat18.loc["pro_rata", "forecast"] == 18000
    assert abs(nat18.loc["blend", "error_pct"]) < 2
    # Honest about the weak case: Guangdong 2019 was front-loaded and the back-loaded profile overshoots.
    gd = bt[(bt["series"] == "guangdong_2019") & (bt["as_of_month"] == 3)].set_index("method")
    assert gd.loc["blend", "error_pct"] > abs(gd.loc["run_rate", "error_pct"])
    cal = investment.calibrate(catalogue, series("1-5-1.2", {1: 1000}), "2019-01")
    assert cal.reference == "public" and cal.n_reference == 3 and 0.02 < cal.sigma_reference < 0.5


def test_backtest_on_the_sample(sample_conn):
    catalogue, progress, history = investment.store_inputs(sample_conn, "2019-09")
    detail = investment.backtest(catalogue, progress, "2019-09", history)
    assert set(detail["method"]) == set(investment.METHODS)
    assert detail["as_of_month"].between(1, 8).all()
    summary = investment.backtest_summary(detail, kinds=("investment",))
    wide = tables.backtest_wide(summary).set_index("as_of_month")
    assert (wide["blend"] < wide["run_rate"]).all()  # the sample is back-loaded by construction
    coverage = investment.backtest_summary(detail).query("method == 'blend'")["coverage_80"]
    assert coverage.between(0.5, 1.0).all()


# ----------------------------------------------------------------------------------- bad input


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


# ------------------------------------------------------------------------------- outputs, end to end


def test_cli_json_csv_and_table(sample_db):
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(sample_db), "invest", "--as-of", "2019-09", "--format", "json"]) == 0
    records = json.loads(out.getvalue())
    keys = {"measure_id", "indicator_id", "unit", "target", "actual", "projected", "interval_80", "p_reach"}
    keys |= {"shortfall", "required_monthly", "schedule_gap_pp", "deadline_month"}
    assert keys <= set(records[0])
    hub = next(r for r in records if r["measure_id"] == "1-4-1.2")
    assert hub["interval_80"] == [19000.0, 19000.0] and hub["p_reach"] == 1.0

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(sample_db), "invest", "--as-of", "2019-09", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(out.getvalue()))
    assert len(frame) == len(records) and frame.loc[0, "leaders"] == "黄俊杰"

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(sample_db), "invest", "--as-of", "2019-09"]) == 0
    assert "达标概率" in out.getvalue() and "已完成" in out.getvalue()
    assert main(["--db", str(sample_db), "invest", "--as-of", "2019-9x"]) == 2


def test_csv_written_and_read_back(sample_projection, tmp_path):
    path = write_csv(tables.investment_csv(sample_projection), tmp_path / "investment.csv")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert list(back.columns) == investment.COLUMNS
    assert back.set_index("measure_id").loc["1-1-1.6", "units"] == "市高指、中交泉州高速公路有限责任公司"


def test_bullet_chart_renders_svg(sample_projection):
    import vl_convert as vlc

    chart = charts.bullet_chart(sample_projection)
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert svg.startswith("<svg") and "各项措施预计完成情况" in svg
    assert len(chart.to_dict()["layer"]) == 6


@pytest.mark.slow
def test_notebook_runs_on_the_sample(sample_db, tmp_path, run_notebook):
    out_dir = tmp_path / "out"
    nb = run_notebook("investment.ipynb", as_of="2019-09", db=str(sample_db), out_dir=str(out_dir))
    csv = pd.read_csv(out_dir / "investment.csv", encoding="utf-8-sig")
    assert len(csv) == 39 and csv["measure_id"].is_unique
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)
