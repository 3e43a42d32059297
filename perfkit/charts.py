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


def fan_chart(
    path, band: tuple[float, float] | None = None, title: str | None = None, lang: str = "zh"
) -> alt.TopLevelMixin:
    """Cumulative (year-to-date) growth through the year against the target band (growth).

    `path`: `GrowthReport.paths` (several modes: one chart each, stacked) or one mode's path, with label,
    observed, growth_pct, p2_5, p10, p90, p97_5 (and mode, band_low, band_high, used when `band`/`title`
    are not given). The fan starts at the last observed period: 80% and 95% intervals shaded, the band a
    green strip.
    """
    from .labels import t

    if "mode" in path and path["mode"].nunique() > 1:
        parts = [
            _fan_layers(g.reset_index(drop=True), band, title, lang, t)
            for _, g in path.groupby("mode", sort=False)
        ]
        return theme_config(alt.vconcat(*parts))
    return theme_config(_fan_layers(path, band, title, lang, t))


def _fan_layers(path, band, title, lang, t) -> alt.LayerChart:
    import pandas as pd

    df = path.copy()
    if "month" in df:
        df["month"] = df["month"].astype(str)  # Period is not JSON
    if band is None:
        band = (float(df["band_low"].iloc[0]), float(df["band_high"].iloc[0]))
    if title is None:
        name = t(f"growth.mode.{df['mode'].iloc[0]}", lang) if "mode" in df else ""
        title = t("growth.chart.title", lang).format(name=name).lstrip("：: ")
    order = list(df["label"])
    n_obs = int(df["observed"].sum())
    fan = df.iloc[max(n_obs - 1, 0) :]  # the fan and the dashed line start at the last actual figure
    x = alt.X("label:O", sort=order, title=t("growth.period", lang), axis=alt.Axis(labelAngle=0))
    y_title = t("growth.cumulative_growth", lang)
    strip = pd.DataFrame(
        {"low": [float(band[0])], "high": [float(band[1])], "name": [t("growth.band", lang)]}
    )
    tip = ["label:N", alt.Tooltip("growth_pct:Q", format=".1f")]
    layers = [
        alt.Chart(strip)
        .mark_rect(color="#2e7d32", opacity=0.15)
        .encode(
            y=alt.Y("low:Q", title=y_title, scale=alt.Scale(zero=False)),
            y2="high:Q",
            tooltip=["name:N", "low:Q", "high:Q"],
        ),
        alt.Chart(fan).mark_area(color="#1565c0", opacity=0.15).encode(x=x, y="p2_5:Q", y2="p97_5:Q"),
        alt.Chart(fan).mark_area(color="#1565c0", opacity=0.3).encode(x=x, y="p10:Q", y2="p90:Q"),
        alt.Chart(fan)
        .mark_line(color="#1565c0", strokeDash=[6, 4])
        .encode(x=x, y="growth_pct:Q", tooltip=tip),
    ]
    if n_obs:
        observed = df[df["observed"]]
        layers.append(
            alt.Chart(observed)
            .mark_line(color="#263238", point=alt.OverlayMarkDef(color="#263238"))
            .encode(x=x, y="growth_pct:Q", tooltip=tip)
        )
    return alt.layer(*layers).properties(width=520, height=260, title=title)


def bullet_chart(df, lang: str = "zh", cap_pct: float = 150.0) -> alt.LayerChart:
    """Bullet chart per measure (investment), on a common scale of % of target: done to date (dark bar),
    the 80% interval (light band), the projection (diamond: green at or above target, red below), the
    pro-rata schedule (black tick) and the target (100%). `df`: perfkit.investment.project_measures
    output. Values beyond `cap_pct` are drawn at the cap (the tooltip keeps the real figures)."""
    import pandas as pd

    from .labels import t

    def pct(col):
        return (df[col] / df["target"] * 100).clip(lower=0, upper=cap_pct)

    data = pd.DataFrame(
        {
            "measure": [f"{m} {str(n)[:16]}" for m, n in zip(df["measure_id"], df["name"], strict=True)],
            "actual_pct": pct("actual"),
            "projected_pct": pct("projected"),
            "low_pct": pct("interval_80_low"),
            "high_pct": pct("interval_80_high"),
            "pro_rata_pct": (df["months_elapsed"] / df["deadline_month"]).clip(upper=1.0) * 100,
            "reaches": (df["projected"] >= df["target"] - 1e-9).map({True: "yes", False: "no"}),
            "target": df["target"],
            "actual": df["actual"].round(1),
            "projected": df["projected"].round(1),
            "low": df["interval_80_low"].round(1),
            "high": df["interval_80_high"].round(1),
            "p_reach": (df["p_reach"] * 100).round(0),
            "unit": df["unit"],
            "zero": 0.0,
            "full": 100.0,
        }
    )
    order = list(data["measure"])
    y = alt.Y("measure:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    tooltip = [
        alt.Tooltip("measure:N", title=t("invest.chart.measure", lang)),
        alt.Tooltip("target:Q", title=t("invest.target", lang), format=",.1f"),
        alt.Tooltip("actual:Q", title=t("invest.chart.actual", lang), format=",.1f"),
        alt.Tooltip("projected:Q", title=t("invest.chart.projected", lang), format=",.1f"),
        alt.Tooltip("low:Q", title=t("invest.interval_80_low", lang), format=",.1f"),
        alt.Tooltip("high:Q", title=t("invest.interval_80_high", lang), format=",.1f"),
        alt.Tooltip("p_reach:Q", title=t("invest.p_reach", lang) + " %"),
        alt.Tooltip("unit:N", title=t("invest.unit", lang)),
    ]
    x_scale = alt.Scale(domain=[0, cap_pct], nice=False)
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    band = base.mark_bar(color="#eeeeee", size=14).encode(
        x=alt.X("zero:Q", scale=x_scale, title=t("invest.chart.pct", lang)), x2="full:Q"
    )
    interval = base.mark_bar(color="#90caf9", size=10).encode(x="low_pct:Q", x2="high_pct:Q")
    actual = base.mark_bar(color="#1f4e79", size=5).encode(x="zero:Q", x2="actual_pct:Q")
    projected = base.mark_point(shape="diamond", filled=True, size=70).encode(
        x="projected_pct:Q",
        color=alt.Color(
            "reaches:N",
            scale=alt.Scale(domain=["yes", "no"], range=[STATUS_COLOURS["正常"], STATUS_COLOURS["预警"]]),
            legend=None,
        ),
    )
    pro_rata = base.mark_tick(color="black", thickness=2, size=16).encode(x="pro_rata_pct:Q")
    target_line = alt.Chart(pd.DataFrame({"x": [100.0]})).mark_rule(color="#555555", strokeDash=[4, 3])
    target = target_line.encode(x="x:Q")
    chart = alt.layer(band, interval, actual, projected, pro_rata, target).properties(
        title=alt.TitleParams(t("invest.chart.title", lang), subtitle=[t("invest.chart.legend", lang)]),
        width=520,
        height=alt.Step(20),
    )
    return theme_config(chart)
