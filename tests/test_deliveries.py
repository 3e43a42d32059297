"""What each open measure must deliver in each remaining month: the unit's plan where it has one, else the
rest of the target spread evenly to the deadline. Pinned by hand on one measure of the sample plan:
1-1-1.2 梁片完成比例, target 60 (%), deadline December, as of 2019-09."""

from __future__ import annotations

import pandas as pd
import pytest

from perfkit import deliveries

MEASURE = "1-1-1.2"


def _flags(catalogue, actual: float, status: str = "关注") -> pd.DataFrame:
    ids = catalogue.measures["measure_id"]
    return pd.DataFrame(
        {
            "measure_id": ids,
            "actual": [actual if m == MEASURE else float("nan") for m in ids],
            "status": [status if m == MEASURE else "缺报" for m in ids],
        }
    )


def _plan(**months: float) -> pd.DataFrame:
    rows = [(1, "市高指", pd.Period("2019-01", freq="M"), MEASURE, m, v, "", "") for m, v in months.items()]
    return pd.DataFrame(
        rows,
        columns=["submission_id", "unit", "revision", "measure_id", "month", "planned", "person", "note"],
    )


def _mine(frame: pd.DataFrame) -> list[tuple]:
    rows = frame[frame["measure_id"] == MEASURE]
    return [(r.month, round(r.required_total, 6), round(r.deliver, 6), r.source) for r in rows.itertuples()]


def test_pro_rata_spreads_what_remains_evenly_to_the_deadline(catalogue):
    # 36 done of 60, three months left: 8 a month, totals 44, 52, 60
    out = deliveries.remaining(catalogue, _flags(catalogue, 36.0), "2019-09")
    assert _mine(out) == [
        ("2019-10", 44.0, 8.0, "pro_rata"),
        ("2019-11", 52.0, 8.0, "pro_rata"),
        ("2019-12", 60.0, 8.0, "pro_rata"),
    ]
    assert list(out.columns) == deliveries.COLUMNS


def test_unit_plan_months_with_the_gap_made_up_next_month(catalogue):
    plan = _plan(**{"2019-09": 38.0, "2019-10": 40.0, "2019-11": 50.0, "2019-12": 60.0})
    # behind the plan (36 against 38): October carries the gap, 40 − 36 = 4
    out = deliveries.remaining(catalogue, _flags(catalogue, 36.0), "2019-09", plan)
    assert _mine(out) == [
        ("2019-10", 40.0, 4.0, "unit_plan"),
        ("2019-11", 50.0, 10.0, "unit_plan"),
        ("2019-12", 60.0, 10.0, "unit_plan"),
    ]
    # ahead of it (45): nothing in October, the plan catches up in November
    ahead = deliveries.remaining(catalogue, _flags(catalogue, 45.0), "2019-09", plan)
    assert _mine(ahead) == [
        ("2019-10", 45.0, 0.0, "unit_plan"),
        ("2019-11", 50.0, 5.0, "unit_plan"),
        ("2019-12", 60.0, 10.0, "unit_plan"),
    ]


@pytest.mark.parametrize(
    ("actual", "status", "as_of"),
    [(60.0, "已完成", "2019-09"), (61.0, "正常", "2019-09"), (36.0, "预警", "2019-12")],
)
def test_done_or_past_the_deadline_has_nothing_left(catalogue, actual, status, as_of):
    out = deliveries.remaining(catalogue, _flags(catalogue, actual, status), as_of)
    assert _mine(out) == []


def test_the_snapshot_keeps_them(sample_conn):
    from perfkit import monthly

    snap = monthly.snapshot(sample_conn, "2019-09")
    d = snap.deliveries
    assert len(d) and set(d["source"]) == {"pro_rata"}  # the sample has no unit plans
    assert set(d["month"]) == {"2019-10", "2019-11", "2019-12"}
    # each measure reaches its target by its deadline, and never asks for less than nothing
    last = d.groupby("measure_id").tail(1).merge(snap.catalogue.measures[["measure_id", "target"]])
    assert (last["required_total"] >= last["target"] - 1e-9).all() and (d["deliver"] >= 0).all()
    assert monthly.load(sample_conn, "2019-09").deliveries.equals(d)  # read back as stored
