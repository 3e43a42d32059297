"""The tables people read, from hand-made frames (the CLI, notebook and brief outputs built on them are
tested end to end in test_cli, test_risks, test_investment and test_notebooks)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perfkit import tables
from perfkit.rules import ALERT, WATCH


def flags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "status": [ALERT, WATCH],
            "points_at_risk": [1.23456, 0.0],
            "measure_id": ["1-1-1.1", "1-1-1.2"],
            "units": [["市公路局", "市港口局"], []],
            "reasons": [["落后", "预计不达标"], []],
            "opened": ["2019-05", ""],
            "p_reach": [0.123456, np.nan],
            "as_of": "2019-06",
        }
    )


def test_status_labels_follow_the_readers_language():
    assert tables.status_label(ALERT, "en") != ALERT and tables.status_label(ALERT) == ALERT
    assert tables.status_label("not a status", "en") == "not a status"


def test_people_table_joins_lists_rounds_and_labels():
    out = tables.people_table(flags(), labels=False, reason_sep="；")
    assert out.loc[0, "units"] == "市公路局、市港口局" and out.loc[0, "reasons"] == "落后；预计不达标"
    assert out.loc[0, "points_at_risk"] == 1.235 and out.loc[0, "p_reach"] == 0.12
    en = tables.people_table(flags(), lang="en")
    assert "status" not in en.columns and en.iloc[0, 0] == tables.status_label(ALERT, "en")


def test_people_text_joins_in_the_readers_language():
    """The brief, the Word document and the unit pages join people and reasons through this one helper."""
    zh, en = tables.people_text(flags(), "zh"), tables.people_text(flags(), "en")
    assert zh.loc[0, "units"] == "市公路局、市港口局" and zh.loc[0, "reasons"] == "落后预计不达标"
    assert en.loc[0, "units"] == "市公路局, 市港口局" and en.loc[0, "reasons"] == "落后 预计不达标"
    assert zh.loc[0, "points_at_risk"] == 1.23456 and list(zh.columns) == list(flags().columns)


def test_flags_records_are_json_ready():
    records = tables.flags_records(flags())
    assert records[0]["units"] == ["市公路局", "市港口局"] and records[0]["points_at_risk"] == 1.2346
    assert records[1]["p_reach"] is None and records[1]["opened"] is None


def test_investment_records_give_the_interval_as_a_pair():
    df = pd.DataFrame(
        {
            "measure_id": ["x"],
            "interval_80_low": [1.0],
            "interval_80_high": [np.nan],
            "p_reach": [np.float64(0.5)],
        }
    )
    (record,) = tables.investment_records(df)
    assert record["interval_80"] == [1.0, None] and record["p_reach"] == 0.5
    assert not any(isinstance(v, float) and math.isnan(v) for v in record.values())
