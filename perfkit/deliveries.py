"""What each measure must still deliver, month by month to its deadline (the unit pages show it).

For every scheduled measure (cumulative, recurring or level) that is not done and whose deadline is after
the month: the total it must stand at by the end of each remaining month (`required_total`) and the amount
to deliver in that month (`deliver`). Which line it follows is said in `source`:

- `unit_plan`: the unit's own 分月计划 in force that month (perfkit.workplan): its month-end totals; a unit
  behind its plan makes the gap up in the next month, one ahead of it delivers nothing until the plan
  catches up;
- `pro_rata`: no plan: the rest of the target spread evenly over the months left to the deadline (the
  straight line from where the measure stands now).

Computed once with the month's snapshot (perfkit.monthly), from the month's flags (the value accepted to
date, the target, which line the measure is judged against); the report layer only shows it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .months import parse_month

COLUMNS = ["measure_id", "month", "required_total", "deliver", "source"]
SCHEDULED = ("cumulative", "recurring", "level")
EPS = 1e-9


def empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "measure_id": pd.Series([], dtype=object),
            "month": pd.Series([], dtype=object),
            "required_total": pd.Series([], dtype=float),
            "deliver": pd.Series([], dtype=float),
            "source": pd.Series([], dtype=object),
        }
    )


def remaining(
    catalogue: Catalogue,
    flags: pd.DataFrame,
    as_of: str | pd.Period,
    unit_plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per open measure and remaining month (after `as_of`, up to its deadline): COLUMNS.

    `flags`: the month's risk flags (perfkit.risks.flag_measures: measure_id, actual, target, status);
    `unit_plan`: the plans in force (perfkit.workplan.in_force), None when no unit has one."""
    from .workplan import planned_at

    as_of = parse_month(as_of)
    m = catalogue.measures
    m = m[m["schedule"].isin(SCHEDULED)].reset_index(drop=True)
    if m.empty:
        return empty()
    f = flags.set_index("measure_id").reindex(m["measure_id"])
    ids = pd.Index(m["measure_id"])
    target = m["target"].to_numpy(dtype=float)
    deadline = m["deadline_month"].to_numpy(dtype=int)
    actual = f["actual"].to_numpy(dtype=float)
    level = (m["schedule"] == "level").to_numpy()
    # never reported: nothing done yet (a level measure's starting point is unknown: left out)
    actual = np.where(np.isnan(actual) & ~level, 0.0, actual)
    done = (f["status"].fillna("").to_numpy(dtype=object) == "已完成") | (actual >= target - EPS)
    open_ = ~done & ~np.isnan(actual) & ~np.isnan(target) & (deadline > as_of.month)
    if not open_.any():
        return empty()
    has_plan = np.zeros(len(m), dtype=bool)
    plan_at: dict[int, np.ndarray] = {}
    if unit_plan is not None and len(unit_plan):
        for month_no in range(as_of.month, 13):
            plan_at[month_no] = planned_at(
                unit_plan, ids, pd.Period(year=as_of.year, month=month_no, freq="M")
            )
        has_plan = ~np.isnan(plan_at[as_of.month])
    rows = []
    for i in np.flatnonzero(open_):
        left = int(deadline[i]) - as_of.month
        before = actual[i]
        step = (target[i] - actual[i]) / left
        for k in range(1, left + 1):
            month_no = as_of.month + k
            if has_plan[i]:
                total = max(min(plan_at[month_no][i], target[i]), actual[i])
                source = "unit_plan"
            else:
                total = actual[i] + step * k
                source = "pro_rata"
            if k == left:
                total = max(target[i], actual[i])  # by the deadline the whole target
            rows.append(
                (
                    ids[i],
                    str(pd.Period(year=as_of.year, month=month_no, freq="M")),
                    float(total),
                    float(max(total - before, 0.0)),
                    source,
                )
            )
            before = max(before, total)
    return pd.DataFrame(rows, columns=COLUMNS)
