"""The brief's data (perfkit.brief_data): read once from the store and the month's snapshot."""

from __future__ import annotations

import pytest

from perfkit import brief_data, monthly


def test_gather_reads_the_months_snapshot_and_leaves_out_what_is_not_asked(sample_conn):
    data = brief_data.gather(sample_conn, "2019-09", "quarterly", "en", analyses=("risks",))
    snap = monthly.snapshot(sample_conn, "2019-09")
    assert data.score.totals == snap.score.totals and len(data.flags) == len(snap.flags)
    assert data.missing == ["growth", "investment"] and data.growth is None and data.investment is None
    assert data.trends is not None and str(data.trends.months["month"].iloc[-1]) == "2019-09"
    # the expected year-end 目标考评 is the measures' weights less their points at risk
    weight = data.catalogue.measures["weight"].sum()
    assert data.projected.totals["target_score"] == pytest.approx(weight - data.flags["points_at_risk"].sum())


def test_kind_and_language_are_checked():
    with pytest.raises(ValueError, match="unknown brief kind 'weekly'"):
        brief_data.check_kind("weekly")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        brief_data.check_lang("fr")
