"""perfkit.turnover: a year-to-date table normalised to monthly values, 换算周转量 and year-to-date growth,
on a small table checked by hand. Whole files through ingest are tested in tests/test_intake.py."""

from __future__ import annotations

import pandas as pd
import pytest

from perfkit import turnover


def test_year_to_date_becomes_monthly_converted_and_grows_as_computed_by_hand():
    table = pd.DataFrame(
        {
            "月份": ["2018年1—2月", "2018年3月", "2019年1—2月", "2019年3月"],
            "运输方式": ["公路"] * 4,
            "旅客周转量": [100.0, 150.0, 110.0, 170.0],  # year to date
            "货物周转量": [1000.0, 1600.0, 1100.0, 1800.0],
            "口径": ["累计"] * 4,
        }
    )
    rows = turnover.normalise_turnover(table, "t.csv")
    assert list(rows["span_months"]) == [2, 1, 2, 1]  # 1—2月 is one period of two months
    march = rows[rows["month"] == pd.Period("2019-03", "M")].iloc[0]
    assert (march["passenger_km"], march["ton_km"]) == (60.0, 700.0)  # 170 − 110, 1800 − 1100
    series = turnover.monthly_series(rows, "road", {"road": 0.1})
    # 换算周转量 = ton-km + 0.1 × passenger-km: 2019 to March 1800 + 17 = 1817, 2018 1600 + 15 = 1615
    assert series["value"].sum() == pytest.approx(1615 + 1817)
    assert turnover.ytd_growth(series, "2019-03") == pytest.approx((1817 / 1615 - 1) * 100)
    assert turnover.ytd_growth(series, "2019-04") is None  # not published yet
    with pytest.raises(KeyError, match="no conversion coefficient for mode"):
        turnover.converted(rows, {"waterway": 1.0})
