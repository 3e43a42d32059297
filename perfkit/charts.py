"""Charts for notebooks and the brief: Altair specs rendered as inline SVG.

Altair's default HTML output loads vega from a CDN (blank on an intranet with no internet); the `svg`
renderer (vl-convert) puts the drawing itself into the notebook, which nbconvert keeps and any browser
draws offline. Chinese text is left to the reader's system fonts.
"""

from __future__ import annotations

import altair as alt

# Fonts the reader's machine is likely to have for Simplified Chinese; no web fonts are loaded.
FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, SimHei, sans-serif"
STATUS_COLOURS = {
    "已完成": "#2e7d32",
    "正常": "#66bb6a",
    "关注": "#f9a825",
    "预警": "#c62828",
    "未完成": "#6d1b1b",
    "缺报": "#757575",
}


def setup() -> None:
    """Render charts as inline SVG with Chinese number/time formats. Call once per notebook."""
    alt.renderers.enable("svg")
    alt.renderers.set_embed_options(format_locale="zh-CN", time_format_locale="zh-CN")
    alt.data_transformers.disable_max_rows()


def theme_config(chart: alt.Chart) -> alt.Chart:
    """Common look: system CJK fonts, no chart border."""
    return (
        chart.configure(font=FONT)
        .configure_view(stroke=None)
        .configure_axis(labelFont=FONT, titleFont=FONT)
        .configure_legend(labelFont=FONT, titleFont=FONT)
    )


# fan_chart (growth) and bullet_chart (investment) are added by their modules' issues.
