"""A unit's page: read from the month's snapshot, in both languages, names made safe for files and links."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pandas as pd
import pytest

from perfkit import brief, unitpage
from perfkit.store import add_submission, transaction


def _page(data, lang: str) -> str:
    return "".join(
        str(f(data, lang))
        for f in (
            unitpage.cover,
            unitpage.summary_section,
            unitpage.measures_section,
            unitpage.deliveries_section,
            unitpage.problems_section,
            unitpage.record_section,
        )
    )


def test_the_silent_units_page_from_the_snapshot(sample_conn):
    from perfkit import monthly

    data = unitpage.gather(sample_conn, "2019-09", "局综规科", "zh")
    snap = monthly.snapshot(sample_conn, "2019-09")
    # its measures are the ones it reports, with the snapshot's own flags and problems
    mine = set(snap.catalogue.measures.query("reporting_unit == '局综规科'")["measure_id"])
    assert set(data.flags["measure_id"]) == mine
    pd.testing.assert_frame_equal(
        data.flags.reset_index(drop=True),
        snap.flags[snap.flags["measure_id"].isin(mine)].reset_index(drop=True),
    )
    assert data.problems["closed"].isna().all() and len(data.problems) == 2
    # it stopped reporting after June: three months missing, the rest on time
    assert list(data.record["state"]) == ["on_time"] * 6 + ["missing"] * 3
    page = _page(data, "zh")
    assert "局综规科 · 单位绩效页" in page and "数据截至2019年9月" in page
    for heading in ("一、总体情况", "二、措施进度", "三、剩余月份应完成", "四、未销号问题", "五、报送记录"):
        assert heading in page
    assert "9月未报送进度，最近一次报送为2019-06。" in page  # reasons rendered from the rule codes
    assert "9个月中按时报送6个月，逾期0个月，缺报3个月" in page
    assert "序时进度" in page and page.count('class="pk-bar"') == len(mine)
    # what remains: 1-3-1.1 has 2 of 4, three months left: 0.7 a month (2/3)
    assert re.search(r"1-3-1\.1 生成公路项目.*?0\.7</td>", page)


def test_english_page_has_no_chinese_outside_names(sample_conn):
    data = unitpage.gather(sample_conn, "2019-09", "市道管处", "en")
    page = _page(data, "en")
    assert "1. Summary" in page and "Reporting record" in page and "Pro rata" in page
    text = re.sub(r"<[^>]+>", " ", page)
    # measure names, units of measure and reasons are English; only the names of the unit, its people and
    # measures the plan gives no English name stay as the plan writes them
    untranslated = data.flags[~data.flags["measure_id"].isin(list(data.catalogue.names_en))]
    names = set(untranslated["name"]) | {data.unit}
    names |= {p for ps in data.problems["persons"] for p in ps}
    names |= {data.catalogue.plan["plan"]["document"]}
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(str(name), " ")
    assert not re.findall(r"[\u4e00-\u9fff]+", text)
    assert not re.search(r"[.;][A-Z]", text)  # reasons are sentences with a space between them
    assert not re.search(r"(?<![\d.,])1 (items|routes|months|measures|problems)\b", text)


def test_late_and_missing_months_in_the_record():
    subs = pd.DataFrame(
        {
            "kind": ["progress"] * 4 + ["workplan"],
            "unit": ["甲"] * 5,
            "month": ["2019-01", "2019-02", "2019-02", "2019-03", "2019-04"],
            "received_at": [
                "2019-02-10T18:00:00+08:00",  # the due day itself: on time
                "2019-03-11T09:00:00+08:00",  # a day late
                "2019-03-01T09:00:00+08:00",  # an earlier one for the same month: on time after all
                "2019-04-12T09:00:00+08:00",
                "2019-04-01T09:00:00+08:00",  # a work plan is not a ledger
            ],
        }
    )
    record = unitpage.reporting_record(subs, "甲", pd.Period("2019-04", freq="M"), 10)
    assert list(record["state"]) == ["on_time", "on_time", "late", "missing"]
    assert list(record["submissions"]) == [1, 2, 1, 0]
    assert record.loc[1, "received"] == "2019-03-01"


def test_unknown_unit_names_the_known_ones(sample_conn):
    with pytest.raises(
        ValueError, match="unknown unit '不存在'.*市道管处"
    ):  # a UnitError (exit 2 in the CLI)
        unitpage.gather(sample_conn, "2019-09", "不存在")


@pytest.mark.parametrize("name", ["", "../../etc", "局工程科/../x", "..", "单" * 3000])
def test_odd_unit_names_on_the_command_line(sample_db, tmp_path, name):
    """`perfkit brief --unit NAME` in a real process: an empty name, path tricks or a 3000-character name is
    one short line naming --unit and the known units, exit 2, and nothing is made under --out."""
    from test_cli import one_line, perfkit

    out = tmp_path / "out"
    run = perfkit("--db", str(sample_db), "brief", "--unit", name, "--out", str(out))
    line = one_line(run.stderr)
    assert run.returncode == 2 and line.startswith("--unit: unknown unit ") and "市道管处" in line
    assert len(line) < 400 and not out.exists()
    assert all(p.name.startswith(sample_db.name) for p in tmp_path.iterdir())  # the store, nothing else


def test_file_names_are_safe_readable_and_distinct():
    names = unitpage.file_names(
        ["市道管处", "../etc/passwd", ".hidden", 'a:b*?"<>|c', "a b", "a_b", "   ", "x" * 200]
    )
    assert names["市道管处"] == "units/市道管处.html"
    assert brief.lang_name(unitpage.file_names(["市道管处"])["市道管处"], "en") == "units/市道管处.en.html"
    stems = [p.split("/", 1)[1] for p in names.values()]
    assert len(set(stems)) == len(stems)  # "a b" and "a_b" do not collide
    for stem in stems:
        assert "/" not in stem and "\\" not in stem and not stem.startswith(".")
        assert not re.search(r'[:*?"<>|\s]', stem) and len(stem) <= 90
    assert unitpage.href("units/市道管处.html") == "units/%E5%B8%82%E9%81%93%E7%AE%A1%E5%A4%84.html"
    assert unquote(unitpage.href("units/a#b?.html")) == "units/a#b?.html"


def test_unit_name_is_escaped_in_the_page(sample_conn, catalogue):
    chrome = unitpage.chrome(catalogue.plan, "2019-09", "<b>单位</b>", "zh", sample=True)
    assert chrome["title"] == "<b>单位</b> · 单位绩效页"
    assert "<" not in chrome["footer_css"] and "合成示例数据" in chrome["footer_css"]
    with transaction(sample_conn):
        add_submission(
            sample_conn,
            kind="progress",
            file_name="x.xlsx",
            sha256="1" * 64,
            unit="局综规科",
            month="2019-09",
        )
    data = unitpage.gather(sample_conn, "2019-09", "局综规科")
    data.unit = "<script>x</script>"
    page = _page(data, "zh")
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_pages_of_one_brief_read_the_month_once_and_stay_right(sample_conn):
    """The brief's kernels keep what the pages read for the fingerprint the runner made current: a second
    unit's page, and the same unit's again, equal the pages read afresh (no fingerprint: nothing kept)."""
    from perfkit import monthly

    fp = monthly.ensure(sample_conn, "2019-09").fingerprint
    for unit in ("局综规科", "局工程科", "局综规科"):
        kept = unitpage.gather(sample_conn, "2019-09", unit, "zh", fp)
        fresh = unitpage.gather(sample_conn, "2019-09", unit, "zh")
        assert _page(kept, "zh") == _page(fresh, "zh")
    # the other language is its own reading (reasons are rendered per language)
    en = unitpage.gather(sample_conn, "2019-09", "局工程科", "en", fp)
    assert _page(en, "en") == _page(unitpage.gather(sample_conn, "2019-09", "局工程科", "en"), "en")
    # a fingerprint the store does not hold is brought up to date, and what was kept for it is not used
    stale = unitpage.gather(sample_conn, "2019-09", "局工程科", "zh", "0" * 32)
    assert _page(stale, "zh") == _page(unitpage.gather(sample_conn, "2019-09", "局工程科", "zh"), "zh")
