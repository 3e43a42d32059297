"""perfkit.turnover: a year-to-date table normalised to monthly values, 换算周转量 and year-to-date growth,
on a small table checked by hand. Whole files through ingest are tested in tests/test_intake.py."""

from __future__ import annotations

import pandas as pd
import pytest

from perfkit import turnover
from perfkit.errors import InputError
from perfkit.turnover import normalise_turnover


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


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([("2019年10月", "累计", 76000, 280000)], "figure with no earlier month of 2019"),
        ([("2019年1—10月", "当月", 76000, 280000)], "a period of 10 months"),
        (
            [("2019年1—2月", "累计", 10, 20), ("2019年3月", "累计", 20, 40), ("2019年5月", "累计", 30, 60)],
            "after 2019-03: 2019-04 missing",
        ),
        ([("2019年3月", "当月", 0, 0)], "both 0"),
        ([("2019年1—2月", "累计", 10, 20), ("2019年3月", "累计", 10, 20)], "unchanged from the month before"),
    ],
)
def test_a_period_the_growth_models_cannot_take_is_refused_naming_its_row(rows, reason):
    # stored, a lone 累计 month (span 10) made `perfkit score` fail until a corrected table came
    frame = pd.DataFrame(
        [{"月份": m, "运输方式": "公路", "口径": f, "旅客周转量": p, "货物周转量": t} for m, f, p, t in rows]
    )
    with pytest.raises(InputError) as err:
        normalise_turnover(frame, "t.csv")
    [problem] = err.value.problems
    assert problem.cell == f"row {len(rows) + 1}" and reason in problem.reason, problem.reason


def test_a_month_written_2019_1_is_refused_as_january_or_october():
    # Excel writes 2019.10 typed as a number as 2019.1; a float month column in Parquet holds the same
    with pytest.raises(ValueError, match="'2019.1' is January or October"):
        turnover.parse_period("2019.1")
    assert turnover.parse_period("2019.11") == (pd.Period("2019-11", freq="M"), 1)
    assert turnover.parse_period("2019.3") == (pd.Period("2019-03", freq="M"), 1)
    # 10月份 and 1—2月份, as the office's tables often write them, were 'not a month'
    assert turnover.parse_period("2019年10月份") == (pd.Period("2019-10", freq="M"), 1)
    assert turnover.parse_period("2019年1—2月份") == (pd.Period("2019-02", freq="M"), 2)
    frame = pd.DataFrame([{"月份": "2019.1", "运输方式": "公路", "旅客周转量": 1, "货物周转量": 2}])
    with pytest.raises(InputError) as err:
        normalise_turnover(frame, "t.csv", cell_of={"month": "A"})
    assert err.value.problems[0].cell == "A2"


def test_a_yoy_with_a_full_width_percent_sign_is_read():
    # 12.7％ typed with a Chinese input method was refused as 'YoY is not a finite number'
    frame = pd.DataFrame(
        [{"月份": "2019年3月", "运输方式": "公路", "旅客周转量": 1, "货物周转量": 2, "同比增长": "12.7％"}]
    )
    assert normalise_turnover(frame, "t.csv")["official_yoy_pct"].tolist() == [12.7]


def test_year_to_date_figures_without_a_stated_form_are_refused_not_read_as_months():
    # the office's 累计 release sent without a 口径 column went in as months each holding the year so far
    ytd = [
        ("2019年1—2月", 60984.5, 221215.7),
        ("2019年3月", 92142.4, 373337.6),
        ("2019年4月", 123126.5, 530923.4),
    ]
    frame = pd.DataFrame(
        [{"月份": m, "运输方式": "公路", "旅客周转量": p, "货物周转量": t} for m, p, t in ytd]
    )
    with pytest.raises(InputError) as err:
        normalise_turnover(frame, "t.csv")
    [problem] = err.value.problems
    assert problem.cell == "row 4" and "add a 口径 column saying 累计" in problem.reason
    stated = normalise_turnover(frame.assign(口径="累计"), "t.csv")  # said so: read as 累计
    assert stated["ton_km"].round(1).tolist() == [221215.7, 152121.9, 157585.8]
    months = frame.assign(货物周转量=[221215.7, 120000.0, 118000.0])  # the months' own figures: as before
    assert normalise_turnover(months, "t.csv")["span_months"].tolist() == [2, 1, 1]
