"""perfkit.holidays: the Spring Festival regressor, checked against the calendar by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from perfkit import holidays


def test_window_share_by_month_counted_by_hand():
    """春节 2019 was 5 February: the window [26 Jan, 25 Feb) has 6 days in January and 24 in February;
    2020's (25 January) runs 15 Jan to 13 Feb: 17 days in January, 13 in February."""
    assert holidays.spring_festival_dates()[2019] == date(2019, 2, 5)
    months = pd.period_range("2019-01", "2020-03", freq="M")
    share = holidays.holiday_share(months)
    assert share["2019-01"] == pytest.approx(6 / 30) and share["2019-02"] == pytest.approx(24 / 30)
    assert share["2020-01"] == pytest.approx(17 / 30) and share["2020-02"] == pytest.approx(13 / 30)
    assert share["2019-03":"2019-12"].eq(0).all() and share["2020-03"] == 0


def test_a_month_without_a_festival_date_is_refused_not_guessed():
    with pytest.raises(KeyError, match="no Spring Festival date for 1999"):
        holidays.holiday_share(pd.PeriodIndex(["1999-01"], freq="M"))
