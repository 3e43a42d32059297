"""Hand-built progress series shared by the investment tests (test_investment*.py): monthly cumulative
reports for one measure, and the completion profiles they are built on."""

from __future__ import annotations

import numpy as np
import pandas as pd

# the default (back-loaded) completion profile of plan.toml, and a front-loaded one to learn from history
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
