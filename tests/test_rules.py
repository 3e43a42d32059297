"""Each risk rule on its own, over a hand-made standing of one measure (the flags they compose into are tested
end to end in test_risks)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from perfkit import risks, rules
from perfkit.rules import ALERT, LEVEL, MISSED, MISSING, WATCH, Standing


@pytest.fixture(scope="module")
def plan_rules(catalogue):
    return risks.rules_from(catalogue)


def one(**given) -> Standing:
    """A cumulative measure (target 100 by December) in June, reported this month, on schedule; `given`
    replaces any field (scalars become one-element arrays)."""
    base = {
        "as_of": pd.Period("2019-06", freq="M"),
        "ids": pd.Index(["m"]),
        "kind": "amount",
        "schedule": "cumulative",
        "target": 100.0,
        "per_month": np.nan,
        "deadline": 12,
        "weight": 2.0,
        "unit": "万元",
        "actual": 50.0,
        "baseline": 10.0,
        "prev_value": 40.0,
        "increment": 10.0,
        "unchanged": 0,
        "reported": True,
        "has_report": True,
        "last_report": "2019-06",
        "note": "",
        "first_no": 1.0,
        "is_growth": False,
        "is_qual": False,
        "recurring": False,
        "level_sched": False,
        "cumulative": True,
        "past": False,
        "months_left": 6,
        "time_pct": 50.0,
        "completion_pct": 50.0,
        "expected_rec": np.nan,
        "own_plan": False,
        "gap": 0.0,
        "schedule_source": "pro_rata",
        "projected": np.nan,
        "sigma": np.nan,
        "p_reach": np.nan,
        "shortfall": np.nan,
        "required_monthly": np.nan,
        "expected_shortfall": np.nan,
        "ytd": np.nan,
        "g_proj": np.nan,
        "g_sigma": np.nan,
        "p_low": np.nan,
        "band_low": np.nan,
        "band_high": np.nan,
        "done": False,
        "expects_report": True,
    }
    base.update(given)
    fields = {f.name for f in dataclasses.fields(Standing)}
    assert set(base) == fields
    arrays = {k: np.array([v], dtype=object if isinstance(v, str) else None) for k, v in base.items()}
    return Standing(**{**arrays, "as_of": base["as_of"], "ids": base["ids"]})


def fired(results) -> list[tuple[str, str, int]]:
    """(code, key, level) of every rule result that fired on the one measure."""
    return [(f.code, f.key, int(np.broadcast_to(f.level, f.mask.shape)[0])) for f in results if f.mask[0]]


def test_behind_schedule_watches_then_alerts_by_the_plans_thresholds(plan_rules):
    watch, alert = plan_rules["watch_gap_pp"], plan_rules["alert_gap_pp"]
    assert fired(rules.behind_schedule(one(gap=-(watch - 1)), plan_rules)) == []
    assert fired(rules.behind_schedule(one(gap=-watch), plan_rules)) == [
        ("behind_schedule", "behind_schedule", LEVEL[WATCH])
    ]
    assert fired(rules.behind_schedule(one(gap=-(alert + 1)), plan_rules)) == [
        ("behind_schedule", "behind_schedule", LEVEL[ALERT])
    ]
    assert (
        fired(rules.behind_schedule(one(gap=-(alert + 1), own_plan=True), plan_rules))[0][1] == "behind_plan"
    )
    assert fired(rules.behind_schedule(one(gap=-(alert + 1), done=True), plan_rules)) == []


def test_past_deadline_and_missing_report(plan_rules):
    late = one(past=True, deadline=6, months_left=0)
    assert fired(rules.past_deadline(late, plan_rules)) == [
        ("deadline_missed", "deadline_missed", LEVEL[MISSED])
    ]
    assert fired(rules.past_deadline(one(), plan_rules)) == []
    silent = one(reported=False, last_report="2019-04")
    result = rules.missing_report(silent, plan_rules)
    assert fired(result) == [("not_reported", "not_reported", LEVEL[MISSING])]
    assert result[0].fields["last"][0] == "2019-04"


def test_anomaly_a_fall_unless_marked_as_a_correction(plan_rules):
    fell = one(actual=30.0, prev_value=40.0, increment=-10.0)
    assert [c for c, _, _ in fired(rules.anomaly(fell, plan_rules))] == ["fell"]
    marked = one(
        actual=30.0, prev_value=40.0, increment=-10.0, note=f"{plan_rules['correction_marker']}：更正"
    )
    assert fired(rules.anomaly(marked, plan_rules)) == []


def test_persistence_turns_months_at_watch_into_alert(plan_rules):
    n = plan_rules["watch_months_to_alert"]
    previous = pd.DataFrame(
        {
            "as_of": pd.PeriodIndex([pd.Period("2019-06", freq="M") - k for k in range(1, n)], freq="M"),
            "measure_id": "m",
            "status": WATCH,
        }
    )
    result = rules.persistence(one(), np.array([LEVEL[WATCH]]), previous, plan_rules)
    assert fired(result) == [("streak", "streak", LEVEL[ALERT])]
    assert result[0].fields["n"][0] == n
    assert fired(rules.persistence(one(), np.array([LEVEL[WATCH]]), previous.iloc[1:], plan_rules)) == []


def test_an_alert_held_says_behind_schedule_only_when_it_is(plan_rules):
    """At risk last month; this month on schedule (gap 0) but a jump to check keeps it at watch: it stays at
    risk, and its reason said 'not yet back on schedule' beside a table showing 0.0 points behind."""
    previous = pd.DataFrame(
        {"as_of": pd.PeriodIndex(["2019-05"], freq="M"), "measure_id": "m", "status": ALERT}
    )
    watch = np.array([LEVEL[WATCH]])
    caught_up = rules.persistence(one(gap=0.0), watch, previous, plan_rules)
    assert fired(caught_up) == [("alert_held", "alert_held_other", LEVEL[ALERT])]
    behind = -(plan_rules["clear_gap_pp"] + 5)
    still = rules.persistence(one(gap=behind), watch, previous, plan_rules)
    assert fired(still) == [("alert_held", "alert_held", LEVEL[ALERT])]
    unscheduled = rules.persistence(one(gap=np.nan), watch, previous, plan_rules)
    assert fired(unscheduled) == [("alert_held", "alert_held_other", LEVEL[ALERT])]


def test_points_at_risk_from_the_pace_without_a_projection(plan_rules):
    # half done in June, no projection: the pace reaches the target exactly; certain, so nothing at risk
    risk = rules.points_at_risk(one(), np.array(["正常"], dtype=object), plan_rules, np.array([np.nan]))
    assert risk.projected[0] == pytest.approx(100.0) and risk.points[0] == 0.0
    slow = one(actual=25.0, completion_pct=25.0)
    risk = rules.points_at_risk(slow, np.array([WATCH], dtype=object), plan_rules, np.array([np.nan]))
    assert risk.expected[0] == pytest.approx(0.5) and risk.points[0] == pytest.approx(1.0)


def test_a_share_of_a_whole_is_not_projected_past_100(plan_rules):
    """A milestone done by June (100% of 100%) was projected at 200% by its pace (133.3% in September) on
    the unit pages and in risk_flags.csv; a quantity keeps its pace, and no points move."""
    status = np.array(["已完成"], dtype=object)
    done = one(kind="milestone", unit="%", actual=100.0, completion_pct=100.0, done=True)
    risk = rules.points_at_risk(done, status, plan_rules, np.array([np.nan]))
    assert risk.projected[0] == 100.0 and risk.points[0] == 0.0
    ahead = one(kind="percent", unit="%", target=60.0, actual=55.0, completion_pct=91.7)
    risk = rules.points_at_risk(ahead, np.array(["正常"], dtype=object), plan_rules, np.array([np.nan]))
    assert risk.projected[0] == 100.0 and risk.points[0] == 0.0
    slow = one(kind="milestone", unit="%", actual=30.0, completion_pct=30.0)
    risk = rules.points_at_risk(slow, np.array(["关注"], dtype=object), plan_rules, np.array([np.nan]))
    assert risk.projected[0] == pytest.approx(60.0)
    amount = one(actual=100.0, completion_pct=100.0)
    risk = rules.points_at_risk(amount, np.array(["正常"], dtype=object), plan_rules, np.array([np.nan]))
    assert risk.projected[0] == pytest.approx(200.0)


def test_every_rule_is_listed_where_a_newcomer_looks():
    for rule in (*rules.RULES, rules.plan_lowered, rules.persistence, rules.points_at_risk):
        assert f"`{rule.__name__}`" in rules.__doc__
