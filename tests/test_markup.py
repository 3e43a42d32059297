"""The brief's HTML blocks (perfkit.markup): escaped text, numbers as printed, status chips and tables."""

from __future__ import annotations

import math

import pandas as pd

from perfkit import markup, risks
from perfkit.labels import t


def test_text_is_escaped_and_missing_values_show_a_dash():
    assert markup.esc("<script>") == "&lt;script&gt;" and markup.esc(["甲", "<乙>"]) == "甲、&lt;乙&gt;"
    assert markup.esc(None) == markup.esc(math.nan) == markup.MISSING
    assert markup.paragraph("<b>", "pk-note") == '<p class="pk-note">&lt;b&gt;</p>'


def test_numbers_and_months_as_printed():
    assert markup.fmt_number(12345.678) == "12,345.68" and markup.fmt_number(12345.678, 0) == "12,346"
    assert markup.fmt_number(None) == markup.fmt_number(pd.NA) == markup.MISSING
    assert markup.fmt_number("<x>") == "&lt;x&gt;"  # text where a number was expected is shown, escaped
    assert markup.fmt_pct(13.25) == "13.2%" and markup.fmt_pct(1.0, signed=True) == "+1.0%"
    assert markup.fmt_share(0.734) == "73%" and markup.fmt_share(math.nan) == markup.MISSING
    assert markup.month_label("2019-09") == "2019年9月" and markup.month_label("2019-09", "en") == "Sep 2019"


def test_statuses_are_the_risk_rules_own_and_every_chip_has_its_label():
    assert markup.STATUSES == list(risks.STATUSES)
    for status in markup.STATUSES:
        key = markup.STATUS_KEYS[status]
        assert t(f"risk.status.{key}", "en") in markup.status_chip(status, "en")
        assert f'data-status="{key}"' in markup.status_chip(status)
    assert markup.status_chip(None) == markup.MISSING and "<i>" not in markup.status_chip("<i>")


def test_empty_table_says_so_and_headers_carry_units():
    assert "pk-empty" in markup.table(pd.DataFrame(), [markup.Col("x")], "zh")
    assert markup.Col("amount", "target", "num0", "万元").header("en") == (
        'Target<span class="pk-unit"> (10k yuan)</span>'
    )


def test_table_formats_numbers_units_and_status():
    df = pd.DataFrame({"name": ["<b>桥</b>"], "amount": [12345.678], "pct": [13.25], "status": ["预警"]})
    page = markup.table(
        df,
        [
            markup.Col("name", "name"),
            markup.Col("amount", "target", "num1", "万元"),
            markup.Col("pct", "completion", "pct"),
            markup.Col("status", "risk.col.status", "status"),
        ],
        "zh",
    )
    assert "&lt;b&gt;桥&lt;/b&gt;" in page and "12,345.7" in page and "13.2%" in page
    assert "（万元）" in page and "background:#c62828" in page
    assert "At risk" in markup.status_chip("预警", "en")
