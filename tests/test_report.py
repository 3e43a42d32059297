"""The brief's sections as the report layer writes them (perfkit.report): each kind and language, the
changes on last month and last quarter, the turnover growth in words, who must act, the preliminary annual
view, escaped submission text, and no file or model names outside the data notes. On the real sample store;
the runner that puts them on a page is tested in tests/test_brief.py."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from perfkit import markup, report
from perfkit.store import add_submission, insert_progress, transaction


def test_sections_for_each_kind_and_language(sample_conn):
    monthly = report.gather(sample_conn, "2019-09", "monthly", analyses=())
    assert monthly.sample and monthly.turnover_month == "2019-09"
    zh = report.headline_section(monthly, "zh")
    assert "一、总体情况" in zh and "目标考评得分" in zh
    en = report.headline_section(monthly, "en")
    assert "1. Headline" in en and "Public appraisal" in en and "总体" not in en
    assert report.annual_section(monthly, "zh") == "" and report.quarterly_section(monthly, "zh") == ""
    # not run: a placeholder (naming the analysis for the analyst, not the leader), no error
    gap = report.turnover_section(monthly, "zh")
    assert 'data-module="growth"' in gap and "本节所需的分析未运行" in gap and "perfkit" not in gap
    annual = report.gather(sample_conn, "2019-09", "annual", analyses=())
    page = report.annual_section(annual, "zh")
    assert "二、年度自评" in page and "1-15" in page and "文明城市创建半年测评" in page
    assert "风险与问题清单" in report.risks_section(annual, "zh")  # the annual kind keeps the problem list
    quarterly = report.gather(sample_conn, "2019-09", "quarterly", analyses=("investment", "risks"))
    view = report.quarterly_section(quarterly, "zh")
    assert "五、季度通报" in view and "2019年第3季度" in view and "本季新增" in view
    assert "局综规科" in view  # the unit that stopped reporting has problems open at quarter end
    with pytest.raises(ValueError, match="weekly"):
        report.gather(sample_conn, "2019-09", "weekly", analyses=())


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _changed(now: float, before: float, digits: int = 2) -> str:
    """The change as the brief prints it: between the printed (rounded) figures."""
    return f"{round(now, digits) - round(before, digits):+.{digits}f}"


def test_headline_says_the_change_on_last_month(sample_conn):
    data = report.gather(sample_conn, "2019-09", analyses=("risks",))
    sep, aug = data.trends.row("2019-09"), data.trends.row("2019-08")
    page = report.headline_section(data, "zh")
    score = _changed(sep["score_to_date"], aug["score_to_date"])
    projected = _changed(sep["projected_target_score"], aug["projected_target_score"])
    points = _changed(sep["points_at_risk"], aug["points_at_risk"])
    assert score.startswith("+") and points.startswith("-") and projected.startswith("+")
    for change in (score, projected, points):
        assert f"较上月 {change}分" in page
    # the card's figure is the trend's: this month's snapshot
    assert f"{sep['score_to_date']:.2f}" in page and f"{sep['points_at_risk']:.2f}" in page
    line = (
        f"问题清单在册{sep['problems_open']}项，较上月 {_changed(sep['problems_open'], aug['problems_open'], 0)}项；"
        f"本月新增{sep['problems_opened']}项（上月{aug['problems_opened']}项），"
        f"销号{sep['problems_closed']}项（上月{aug['problems_closed']}项）。"
    )
    assert line in page
    en = report.headline_section(data, "en")
    assert f"{score} pts on last month" in en and "On the problem list: " in en
    assert report.change_text(84.231, 84.229, "zh") == "较上月持平"  # prints the same: no change
    january = report.gather(sample_conn, "2019-01", analyses=("risks",))
    first = report.headline_section(january, "zh")
    assert "较上月" not in first and "问题清单在册16项；本月新增16项" in first


def test_january_turnover_words_say_no_growth_is_published_yet(sample_conn):
    """January: statistics offices publish 1—2月 together, so there is no growth for the year yet. The brief
    and the 季度通报 said '公路：截至2018年12月累计增长—%，预计全年增长…'."""
    january = report.gather(sample_conn, "2019-01", analyses=("growth",))
    zh, en = report.projection_sentences(january, "zh"), report.projection_sentences(january, "en")
    assert len(zh) == len(en) == 2
    for line in zh + en:
        assert "—%" not in line and "2018" not in line and "nan" not in line, line
    assert zh[0].startswith("公路：本年累计增速尚未发布（统计部门1—2月数据合并发布），预计全年增长")
    assert en[0].startswith("Road: no growth for this year published yet")
    september = report.gather(sample_conn, "2019-09", analyses=("growth",))
    assert report.projection_sentences(september, "zh")[0].startswith("公路：截至2019年9月累计增长12.7%")


def test_investment_sentence_does_not_sum_unreported_measures_as_zero(sample_conn):
    """A month no ledger reported: the brief and the 通报 said '累计完成0万元（0%），预计年末完成0万元（0%）'.
    Measures without a figure are now left out of the totals, and the sentence says how many."""
    data = report.gather(sample_conn, "2019-09", analyses=("investment",))
    september = report.investment_summary(data, "zh")
    assert september.startswith("13项投资类措施年度目标合计194,800万元，累计完成") and "尚无" not in september
    money = data.investment["kind"] == "investment"
    some = money & data.investment["reporting_unit"].ne("局工程科")
    data.investment.loc[some, ["actual", "projected", "p_reach"]] = float("nan")
    partly = report.investment_summary(data, "zh")
    assert partly.startswith("4项投资类措施年度目标合计53,000万元，累计完成") and partly.endswith(
        "另有9项尚无填报数据，未计入以上合计。"
    )
    assert "not in these totals" in report.investment_summary(data, "en")
    data.investment.loc[money, ["actual", "projected", "p_reach"]] = float("nan")
    assert (
        report.investment_summary(data, "zh") == "13项投资类措施年度目标合计194,800万元，尚无填报的完成数据。"
    )


def test_trend_table_and_chart_are_the_snapshots_month_by_month(sample_conn):
    data = report.gather(sample_conn, "2019-09", analyses=())
    page = report.trend_table(data, "zh")
    rows = re.findall(r"<tr><td[^>]*>(2019年\d+月)</td>(.*?)</tr>", page)
    assert [m for m, _ in rows] == [f"2019年{m}月" for m in range(1, 10)]
    for (_, cells), row in zip(rows, data.trends.months.to_dict("records"), strict=True):
        values = re.findall(r'<td class="pk-n">([^<]*)</td>', cells)
        assert values[:3] == [
            f"{row['score_to_date']:.2f}",
            f"{row['projected_target_score']:.2f}",
            f"{row['points_at_risk']:.2f}",
        ]
        assert values[3:6] == [
            str(row["problems_open"]),
            str(row["problems_opened"]),
            str(row["problems_closed"]),
        ]
        counts = data.trends.status_counts(row["month"])
        assert values[6:] == [str(counts[s]) for s in markup.STATUSES]
    assert not CJK.search(re.sub(r"<[^>]+>", "", report.trend_table(data, "en")))
    chart = report.trend_chart(data, "zh").to_dict()
    assert len(chart["hconcat"]) == 2


def test_turnover_growth_on_the_same_period_last_year_in_words(sample_conn):
    monthly = report.gather(sample_conn, "2019-09", analyses=("growth",))
    g = monthly.trends.turnover.set_index(["month", "mode"])["ytd_growth_pct"].round(1)
    sep, aug, jun = (pd.Period(m, freq="M") for m in ("2019-09", "2019-08", "2019-06"))
    road, road_aug = g[(sep, "road")], g[(aug, "road")]
    words = "回落" if road < road_aug else "提高"
    page = report.turnover_section(monthly, "zh")
    assert (
        f"1—9月公路换算周转量同比增长{road:.1f}%，较1—8月{words}{abs(road - road_aug):.1f}个百分点，低于13%目标下限。"
        in page
    )
    assert "水路换算周转量同比增长" in page and "处于18%—19%目标区间" in page
    quarterly = report.gather(sample_conn, "2019-09", "quarterly", analyses=("growth",))
    page = report.turnover_section(quarterly, "zh")
    assert (
        f"较1—6月{'回落' if road < g[(jun, 'road')] else '提高'}{abs(road - g[(jun, 'road')]):.1f}个百分点"
        in page
    )
    en = report.turnover_words(monthly, "en")
    assert "Jan–Sep: up" in en and "lower bound" in en and not CJK.search(en)


def test_quarterly_compares_this_quarter_with_the_last(sample_conn):
    data = report.gather(sample_conn, "2019-09", "quarterly", analyses=("risks",))
    page = report.quarterly_section(data, "zh")
    assert (
        "本季度与上季度比较" in page
        and "第2季度（截至2019年6月）" in page
        and "第3季度（截至2019年9月）" in page
    )
    jun, sep = data.trends.row("2019-06"), data.trends.row("2019-09")
    score_row = re.search(r"当前目标考评得分</td>(.*?)</tr>", page).group(1)
    assert re.findall(r'<td class="pk-n">([^<]*)</td>', score_row) == [
        f"{jun['score_to_date']:.2f}",
        f"{sep['score_to_date']:.2f}",
        _changed(sep["score_to_date"], jun["score_to_date"]),
    ]
    en = report.quarter_comparison(data, "en")
    assert "Q2 (to Jun 2019)" in en and not CJK.search(re.sub(r"<[^>]+>", "", en))
    first = report.gather(sample_conn, "2019-03", "quarterly", analyses=("risks",))
    assert "无上季度可比" in report.quarterly_section(first, "zh")


def test_annual_before_december_is_a_preliminary_and_keeps_the_problem_list(sample_conn):
    data = report.gather(sample_conn, "2019-09", "annual", analyses=("investment", "risks"))
    chrome = report.page_chrome(data.catalogue.plan, "2019-09", kind="annual", sample=True)
    assert chrome["title"].endswith("年度绩效自评（预评估，数据截至2019年9月）")
    assert "预评估" in chrome["footer"] and chrome["footer"].count("数据截至") == 1
    assert "本期为预评估：数据截至2019年9月" in report.annual_section(data, "zh")
    problems = report.risks_section(data, "zh")
    assert "五、风险与问题清单" in problems and "风险分值最高的10项问题" in problems and "傅远辉" in problems
    assert "六、数据说明" in report.notes_section(data, "zh")
    en = report.page_chrome(data.catalogue.plan, "2019-09", kind="annual", lang="en")
    assert "(preliminary, data as of Sep 2019)" in en["title"] and not CJK.search(en["title"])
    december = report.page_chrome(data.catalogue.plan, "2019-12", kind="annual")
    assert december["title"].endswith("· 年度绩效自评") and "预评估" not in december["footer"]
    assert "预评估" not in report.page_chrome(data.catalogue.plan, "2019-09", kind="monthly")["title"]


@pytest.mark.parametrize("kind", report.KINDS)
def test_no_file_or_model_names_outside_the_data_notes(sample_conn, kind):
    data = report.gather(sample_conn, "2019-09", kind)
    for lang in ("zh", "en"):
        body = "".join(
            str(f(data, lang))
            for f in (
                report.headline_section,
                report.trend_table,
                report.annual_section,
                report.turnover_section,
                report.investment_section,
                report.investment_details,
                report.risks_section,
                report.quarterly_section,
            )
        )
        assert not [w for w in ("plan.toml", "ETS", "SARIMAX") if w in body], (kind, lang)
        notes = report.notes_section(data, lang)
        assert "plan.toml" in notes and "SARIMAX" in notes  # methods and settings are named there


def test_unit_table_counts_the_same_measures_in_every_column(sample_conn):
    data = report.gather(sample_conn, "2019-09", analyses=("investment",))
    page = report.investment_details(data, "zh")
    assert "其中达标概率低于50%" in page
    money = data.investment[data.investment["kind"] == "investment"]
    table = page.split("</table>")[0]
    rows = re.findall(r'<tr><td class="pk-t pk-nw">([^<]+)</td>(.*?)</tr>', table)
    counted = {}
    for unit, cells in rows:
        values = re.findall(r'<td class="pk-n">([^<]*)</td>', cells)
        n_money, n_unlikely = int(values[0]), int(values[-1])
        mine = money[money["reporting_unit"] == unit]
        assert n_money == len(mine) and n_unlikely == int((mine["p_reach"] < 0.5).sum()) <= n_money
        counted[unit] = (n_money, n_unlikely)
    assert counted["市道管处"] == (3, 1)  # was 3 investment measures beside 6 measures of every kind
    # the column adds up to the investment summary's count
    assert sum(u for _, u in counted.values()) == int((money["p_reach"] < 0.5).sum())


def test_risks_and_investment_sections_name_who_must_act(sample_conn):
    data = report.gather(sample_conn, "2019-09", analyses=("investment", "risks"))
    risks_html = report.risks_section(data, "zh")
    assert "风险分值最高的10项问题" in risks_html and "傅远辉" in risks_html and "蔡永忠" in risks_html
    assert 'data-status="missing"' in risks_html and "2019年9月新列入问题清单" in risks_html
    money = report.investment_section(data, "zh")
    assert "13项投资类措施" in money and "（万元）" in money and "1-3-2.2 普通国省干线项目建设投资" in money
    # the expected year-end score is exactly 100 less the points at risk
    assert data.projected.totals["target_score"] == pytest.approx(100 - data.flags["points_at_risk"].sum())
    assert "Points at risk" in report.headline_section(data, "en")


def test_submission_text_is_escaped(sample_conn):
    nasty = "<script>alert('x')</script>&"
    with transaction(sample_conn):
        sid = add_submission(
            sample_conn,
            kind="progress",
            file_name="evil.xlsx",
            sha256="0" * 64,
            unit="市高指",
            month="2019-09",
        )
        insert_progress(
            sample_conn,
            sid,
            pd.DataFrame(
                [
                    {
                        "measure_id": "1-1-1.1",
                        "month": "2019-09",
                        "cumulative": 80.0,
                        "status": "推进中",
                        "note": nasty,
                    }
                ]
            ),
        )
    data = report.gather(sample_conn, "2019-09", "annual", analyses=())
    page = report.annual_section(data, "zh") + report.notes_section(data, "zh")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in page


def test_reporting_status_names_the_silent_unit(sample_conn):
    data = report.gather(sample_conn, "2019-09", analyses=())
    rep = data.reporting.set_index("unit")
    assert not rep.loc["局综规科", "reported"] and rep.loc["局综规科", "last_month"] == "2019-06"
    assert rep.drop("局综规科")["reported"].all()
    notes = report.notes_section(data, "zh")
    assert "合成示例数据" in notes and "局综规科" in notes
