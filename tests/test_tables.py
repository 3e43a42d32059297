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


def test_rounded_tables_agree_with_the_printed_text_at_ties(cli, sample_db):
    """Sample, September: 1-3-2.2 is 9585 of 30000 (31.95%, stored as 31.9499…). Its reason and the brief
    print 31.9% and 43 points behind; numpy's round gave 32.0 and -43.0 only by luck of the tie, and the CSV and
    workbook said 32.0 beside a reason saying 31.9."""
    import csv
    import io
    import re

    code, out, err = cli("--db", sample_db, "risks", "--as-of", "2019-09", "--format", "csv")
    assert code == 0, err
    rows = {r["measure_id"]: r for r in csv.DictReader(io.StringIO(out.lstrip("\ufeff")))}
    row = rows["1-3-2.2"]
    said = re.search(r"的([\d.]+)%", row["reasons"]).group(1)
    assert said == "31.9" and float(row["completion_pct"]) == 31.9
    printed = tables.as_printed(pd.Series([31.95, -43.05, np.nan, 41.25]), 1).tolist()
    assert printed[:2] == [31.9, -43.0] and math.isnan(printed[2]) and printed[3] == float(f"{41.25:.1f}")
    totals = tables.investment_totals(
        pd.DataFrame(
            {
                "target": [1.0],
                "actual": [1.0],
                "projected": [31.95],
                "shortfall": [0.0],
                "projected_pct": [31.95],
            }
        )
    )
    assert totals.iloc[0].tolist()[2:] == [31.9, 0.0, 31.9]
