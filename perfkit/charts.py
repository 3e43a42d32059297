"""Charts for notebooks and the brief: Altair specs, static in the brief, interactive in JupyterLab.

Altair's default HTML output loads vega from a CDN (blank on an intranet with no internet), and Altair 6's
`mimetype` renderer emits `application/vnd.vegalite.v6.json`, which JupyterLab 4 does not render and which
fails nbformat's validation (a JSON value under a mimetype not ending in `+json`), so papermill refuses it.
`setup()` installs perfkit's own renderer instead, in one of two modes:

- `interactive` (a person in JupyterLab): the spec compiled by vl-convert to a Vega 5 spec under
  `application/vnd.vega.v5+json`, which JupyterLab's bundled Vega renderer draws offline, without trust,
  with tooltips and selections; plus the static SVG for nbconvert and viewers without Vega.
- `static` (the brief's kernels, `PERFKIT_CHARTS=static`): the SVG drawing itself (nbconvert keeps it, any
  browser draws it offline) plus a PNG of it, which JupyterLab shows in an untrusted notebook (it shows SVG
  only once trusted), so the kept executed copies show their charts as they are.

Chinese text is left to the reader's system fonts. Drawing it here (measuring each label, and the PNG's
glyphs) goes through a small private copy of that font when one is built (perfkit.chart_fonts): the same
drawing in a fraction of the time; the copy's name is removed from the SVG kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import altair as alt
import pandas as pd

from . import chart_fonts
from .labels import status_text, t, unit_label
from .rules import ALERT, DONE, MISSED, MISSING, OK, WATCH

FONT = chart_fonts.FONT  # fonts the reader's machine is likely to have for Simplified Chinese; no web fonts
STATUS_COLOURS = {
    "已完成": "#2e7d32",
    "正常": "#66bb6a",
    "关注": "#f9a825",
    "预警": "#c62828",
    "未完成": "#6d1b1b",
    "缺报": "#757575",
}


MODES = ("interactive", "static")
VEGA_MIME = "application/vnd.vega.v5+json"  # what JupyterLab 4's bundled renderer draws (Vega 5)
# The newest Vega-Lite in vl-convert whose compiled output is a Vega 5 spec (6.x compiles to Vega 6).
VEGA5_VEGALITE = "5.21"
LOCALE = "zh-CN"


def setup(mode: str = "") -> str:
    """Install perfkit's chart renderer with Chinese number/time formats; returns the mode used.

    `mode`: "interactive" or "static"; empty takes $PERFKIT_CHARTS, else "interactive". Call once per
    notebook.
    """
    mode = mode or os.environ.get("PERFKIT_CHARTS") or "interactive"
    if mode not in MODES:
        raise ValueError(f"chart mode must be one of {MODES}, got {mode!r}")
    alt.renderers.register("perfkit", _render)
    # one enable() call: set_embed_options() would replace the mode option
    embed = {"formatLocale": LOCALE, "timeFormatLocale": LOCALE}
    alt.renderers.enable("perfkit", perfkit_mode=mode, embed_options=embed)
    alt.data_transformers.disable_max_rows()
    return mode


# A brief draws some charts twice (the growth notebook's fan chart is the brief's turnover chart) in two
# kernels: the runner gives them one folder (this variable) where each drawing is kept under the hash of its
# spec and mode, and the second notebook reads it instead of drawing it again (0.5-1 s a chart).
CACHE_ENV = "PERFKIT_CHART_CACHE"


def _render(spec: dict, perfkit_mode: str = "interactive", **metadata) -> tuple[dict, dict]:
    """The display bundle of one chart (see the module docstring), kept in $PERFKIT_CHART_CACHE when set."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        return _draw(spec, perfkit_mode, **metadata)
    key = json.dumps([spec, perfkit_mode, metadata], sort_keys=True, ensure_ascii=False, default=str)
    path = Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()}.json"
    try:
        bundle, meta = json.loads(path.read_text(encoding="utf-8"))
        return bundle, meta
    except (OSError, ValueError):  # not drawn yet (or unreadable): drawn here
        pass
    bundle, meta = _draw(spec, perfkit_mode, **metadata)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps([bundle, meta], ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # whole or not at all: another kernel may read it at any moment
    except OSError:
        tmp.unlink(missing_ok=True)  # a folder that cannot be written keeps nothing; the chart is drawn
    return bundle, meta


def _draw(spec: dict, perfkit_mode: str = "interactive", **metadata) -> tuple[dict, dict]:
    import vl_convert as vlc

    svg, png = _drawing(spec, perfkit_mode == "static", metadata)
    bundle: dict = {"image/svg+xml": svg, "text/plain": "<perfkit chart>"}
    meta: dict = {}
    if perfkit_mode == "static":
        import base64

        bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle, meta
    try:
        vega = vlc.vegalite_to_vega(spec, vl_version=VEGA5_VEGALITE)
    except Exception:  # noqa: BLE001 - a spec Vega-Lite 5 cannot compile still shows, statically
        return bundle, meta
    bundle[VEGA_MIME] = vega
    # Locales as objects: given by name, vega-embed would fetch them from a CDN.
    embed = {
        "actions": False,
        "formatLocale": vlc.get_format_locale(LOCALE),
        "timeFormatLocale": vlc.get_time_format_locale(LOCALE),
    }
    meta[VEGA_MIME] = {"embed_options": embed}
    return bundle, meta


def _drawing(spec: dict, png: bool, metadata: dict) -> tuple[str, bytes | None]:
    """The chart's SVG (and PNG when asked), with the measuring font when it has every character of the
    spec; the SVG kept names the fonts the spec names, as drawn without it."""
    import vl_convert as vlc
    from altair.vegalite.v6.display import svg_renderer

    font = measuring_font()
    measured = _measured(spec, font) if font is not None else None
    if measured is not None:
        try:
            svg = svg_renderer(measured, **metadata)["image/svg+xml"]
            kept = svg.replace(f"{font.family}, ", "")
            if font.family not in kept:
                return kept, (vlc.svg_to_png(svg) if png else None)
        except Exception:  # noqa: BLE001 - drawn below as without the font (which raises what it raises)
            pass
    svg = svg_renderer(spec, **metadata)["image/svg+xml"]
    return svg, (vlc.svg_to_png(svg) if png else None)


_MEASURING: dict[str, chart_fonts.MeasuringFont | None] = {}  # this process's, by $PERFKIT_CHART_FONT


def measuring_font() -> chart_fonts.MeasuringFont | None:
    """This process's measuring font (perfkit.chart_fonts), registered with vl-convert: the one the
    runner names in $PERFKIT_CHART_FONT ("off": none), else the newest built here; None without one, or
    when a probe drawn with it differs from the probe drawn without it."""
    where = os.environ.get(chart_fonts.FONT_ENV, "")
    if where in _MEASURING:
        return _MEASURING[where]
    font = None
    if where.lower() != "off":
        # the runner's copy for this run; in JupyterLab, a copy of the newest built here
        font = chart_fonts.load(where) if where else chart_fonts.private_copy(chart_fonts.latest(FONT))
    if font is not None:
        try:
            import vl_convert as vlc

            vlc.register_font_directory(str(font.folder))
            font = font if _agrees(font) else None
        except Exception:  # noqa: BLE001 - a font vl-convert refuses: drawn without it
            font = None
    _MEASURING[where] = font
    return font


PROBE = "考评总得分目标投资进度 0123456789.,%—月 Ag"


def _agrees(font: chart_fonts.MeasuringFont) -> bool:
    """A title (bold) and a label drawn with and without the measuring font: the same SVG and PNG."""
    import vl_convert as vlc

    text = "".join(c for c in PROBE if c in font.chars)
    spec = {
        "data": {"values": [{"t": text}]},
        "mark": {"type": "text", "font": FONT},
        "encoding": {"text": {"field": "t"}},
        "title": text,
        "config": {"font": FONT},
    }
    plain = vlc.vegalite_to_svg(spec)
    measured = vlc.vegalite_to_svg(_measured(spec, font) or spec)
    same_svg = measured.replace(f"{font.family}, ", "") == plain
    return same_svg and vlc.svg_to_png(measured) == vlc.svg_to_png(plain)


def _measured(spec: dict, font: chart_fonts.MeasuringFont) -> dict | None:
    """`spec` with the measuring font first in every font setting that draws with the font it copies; None
    when the spec has a character the font lacks (or names the font itself)."""
    text = json.dumps(spec, ensure_ascii=False, default=str)
    if not font.covers(text) or font.family in text:
        return None

    def walk(value, key=""):
        if isinstance(value, dict):
            return {
                k: (value[k] if k in ("data", "datasets", "values") else walk(v, k)) for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and key.lower().endswith("font") and font.copies(value):
            return f"{font.family}, {value}"
        return value

    return walk(spec)


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
    if len(path) == 0:  # no turnover published yet: the words the brief prints, not an IndexError
        words = pd.DataFrame({"text": [t("brief.turnover.none", lang)]})
        return theme_config(alt.Chart(words).mark_text(size=14).encode(text="text:N"))
    if "mode" in path and path["mode"].nunique() > 1:
        parts = [
            _fan_layers(g.reset_index(drop=True), band, title, lang, t)
            for _, g in path.groupby("mode", sort=False)
        ]
        return theme_config(alt.vconcat(*parts))
    return theme_config(_fan_layers(path, band, title, lang, t))


def _fan_layers(path, band, title, lang, t) -> alt.LayerChart:
    from .labels import period_label

    df = path.copy()
    if "month" in df:
        df["month"] = df["month"].astype(str)  # Period is not JSON
    df["label"] = df["label"].map(lambda v: period_label(v, lang))  # 1—2月 … 12月, Jan–Feb … Dec
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

    def pct(col):
        return (df[col] / df["target"] * 100).clip(lower=0, upper=cap_pct)

    cut = 16 if lang == "zh" else 40

    data = pd.DataFrame(
        {
            # names cut to fit the axis: 16 characters of Chinese take the room of about 40 of English
            "measure": [f"{m} {str(n)[:cut]}" for m, n in zip(df["measure_id"], df["name"], strict=True)],
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
            "unit": df["unit"].map(lambda u: unit_label(u, lang)),
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


# ------------------------------------------------------------------------------------ drill-down views
# Charts for perfkit.explore's frames. Interactive in JupyterLab (setup's interactive mode): tooltips on
# every mark, a measure picked in the unit view's legend stands out, and hovering a month in the measure
# view marks it across the layers.


def units_chart(ranking, lang: str = "zh", top: int = 15) -> alt.Chart:
    """Points at risk per responsible unit (perfkit.explore.units_at_risk), highest first."""
    data = ranking.head(top)
    key = data.columns[0]
    chart = (
        alt.Chart(data, title=t("explore.units.title", lang))
        .mark_bar(color=STATUS_COLOURS["预警"])
        .encode(
            y=alt.Y(f"{key}:N", sort=list(data[key]), title=t("units", lang)),
            x=alt.X("points_at_risk:Q", title=t("explore.points_at_risk", lang)),
            tooltip=[
                alt.Tooltip(f"{key}:N", title=t("units", lang)),
                alt.Tooltip("points_at_risk:Q", format=".2f", title=t("explore.points_at_risk", lang)),
                "measures:Q",
                "flagged:Q",
            ],
        )
        .properties(width=480, height=alt.Step(18))
    )
    return theme_config(chart)


def unit_chart(view, unit: str = "", lang: str = "zh") -> alt.Chart:
    """One unit's measures over the months (perfkit.explore.unit_measures): % of target per measure, the
    points coloured by that month's status. Click a measure in the legend to pick it out."""
    data = view.assign(measure=view["measure_id"] + " " + view["name"].astype(str).str[:14])
    data["status"] = data["status"].map(lambda s: status_text(s, lang))
    pick = alt.selection_point(fields=["measure"], bind="legend")
    colours = {status_text(s, lang): c for s, c in STATUS_COLOURS.items()}
    domain = list(colours)
    base = alt.Chart(data).encode(
        x=alt.X("month:O", title=t("explore.month", lang), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("completion_pct:Q", title=t("explore.completion_pct", lang)),
        detail="measure:N",
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=[
            alt.Tooltip("measure:N", title=t("measure_id", lang)),
            alt.Tooltip("month:O", title=t("explore.month", lang)),
            alt.Tooltip("value:Q", format=",.1f", title=t("explore.value", lang)),
            alt.Tooltip("completion_pct:Q", format=".1f", title=t("explore.completion_pct", lang)),
            alt.Tooltip("status:N", title=t("risk.col.status", lang)),
            alt.Tooltip("points_at_risk:Q", format=".3f", title=t("explore.points_at_risk", lang)),
        ],
    )
    lines = base.mark_line(strokeWidth=1.5).encode(color=alt.Color("measure:N", title=t("measure_id", lang)))
    points = base.mark_circle(size=60).encode(
        color=alt.Color(
            "status:N",
            scale=alt.Scale(domain=domain, range=[colours[s] for s in domain]),
            title=t("risk.col.status", lang),
        )
    )
    title = t("explore.unit.title", lang).format(unit=unit or str(data["reporting_unit"].iloc[0]))
    chart = (
        alt.layer(lines, points)
        .add_params(pick)
        .resolve_scale(color="independent")
        .properties(width=520, height=280, title=title)
    )
    return theme_config(chart)


def measure_chart(series, submissions=None, measure: str = "", lang: str = "zh") -> alt.LayerChart:
    """One measure month by month (perfkit.explore.measure_series): the accepted figures (solid), the
    pro-rata schedule (grey dashes), the projection fan to the deadline (80% band, dashed centre) and every
    submission (perfkit.explore.measure_submissions: hollow grey circles for superseded ones)."""
    order = list(series["month"])
    x = alt.X("month:O", sort=order, title=t("explore.month", lang), axis=alt.Axis(labelAngle=0))
    y_title = t("explore.value", lang)
    hover = alt.selection_point(fields=["month"], on="pointerover", nearest=True, empty=False)
    tip = [
        alt.Tooltip("month:O", title=t("explore.month", lang)),
        alt.Tooltip("actual:Q", format=",.1f", title=t("explore.series.actual", lang)),
        alt.Tooltip("schedule:Q", format=",.1f", title=t("explore.series.schedule", lang)),
        alt.Tooltip("projected:Q", format=",.1f", title=t("explore.series.projected", lang)),
        alt.Tooltip("low_80:Q", format=",.1f"),
        alt.Tooltip("high_80:Q", format=",.1f"),
        alt.Tooltip("status:N", title=t("risk.col.status", lang)),
        alt.Tooltip("points_at_risk:Q", format=".3f", title=t("explore.points_at_risk", lang)),
    ]
    base = alt.Chart(series).encode(x=x)
    layers = [
        base.mark_area(color="#1565c0", opacity=0.2).encode(
            y=alt.Y("low_80:Q", title=y_title), y2="high_80:Q"
        ),
        base.mark_line(color="#1565c0", strokeDash=[6, 4]).encode(y="projected:Q"),
        base.mark_line(color="#9e9e9e", strokeDash=[2, 3]).encode(y="schedule:Q"),
        base.mark_line(color="#263238", point=alt.OverlayMarkDef(color="#263238")).encode(y="actual:Q"),
    ]
    if submissions is not None and len(submissions):
        subs = pd.DataFrame(
            {
                "month": submissions["month"].astype(str),
                "value": submissions["cumulative"],
                "kind": submissions["superseded"].map(
                    {True: t("explore.series.superseded", lang), False: t("explore.series.submitted", lang)}
                ),
                "submission_id": submissions["submission_id"],
                "received_at": submissions["received_at"],
            }
        )
        layers.append(
            alt.Chart(subs)
            .mark_point(size=90, filled=False)
            .encode(
                x=x,
                y="value:Q",
                color=alt.Color(
                    "kind:N",
                    scale=alt.Scale(
                        domain=[t("explore.series.submitted", lang), t("explore.series.superseded", lang)],
                        range=["#263238", "#9e9e9e"],
                    ),
                    title=None,
                ),
                tooltip=[
                    "month:O",
                    alt.Tooltip("value:Q", format=",.1f"),
                    "kind:N",
                    "submission_id:Q",
                    "received_at:N",
                ],
            )
        )
    # a rule under the pointer's month, with every figure of that month in its tooltip
    layers.append(
        base.mark_rule(color="#555555")
        .encode(opacity=alt.condition(hover, alt.value(0.6), alt.value(0.0)), tooltip=tip)
        .add_params(hover)
    )
    title = t("explore.measure.title", lang).format(measure=measure) if measure else ""
    return theme_config(alt.layer(*layers).properties(width=520, height=280, title=title))


def status_chart(flags: pd.DataFrame, lang: str = "zh"):
    """Stacked bars: how many measures of each status each responsible unit has (risk flags)."""
    long = flags[["units", "status", "points_at_risk"]].explode("units").rename(columns={"units": "unit"})
    counts = long.groupby(["unit", "status"], as_index=False).agg(
        measures=("status", "size"), points=("points_at_risk", "sum")
    )
    order = counts.groupby("unit")["points"].sum().sort_values(ascending=False).index.tolist()
    statuses = [s for s in (DONE, OK, WATCH, ALERT, MISSING, MISSED) if s in STATUS_COLOURS]
    counts["status"] = counts["status"].map(lambda s: status_text(s, lang))  # the legend in `lang`
    domain = [status_text(s, lang) for s in statuses]
    chart = (
        alt.Chart(counts, title=t("risk.chart.title", lang))
        .mark_bar()
        .encode(
            y=alt.Y("unit:N", sort=order, title=t("risk.col.units", lang)),
            x=alt.X("measures:Q", title=t("risk.chart.count", lang)),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=domain, range=[STATUS_COLOURS[s] for s in statuses]),
                title=t("risk.col.status", lang),
            ),
            tooltip=["unit", "status", "measures", alt.Tooltip("points:Q", format=".2f")],
        )
        .properties(width=520, height=alt.Step(16))
    )
    return theme_config(chart)


# ------------------------------------------------------------------------------------------- trends


def trend_chart(months, statuses, lang: str = "zh") -> alt.HConcatChart:
    """The year month by month (perfkit.trends): the projected year-end 目标考评 score (line) beside the
    measures in each status (stacked bars, the status colours)."""
    from .labels import t
    from .risks import STATUSES

    codes = dict(zip(STATUSES, ["done", "ok", "watch", "alert", "missed", "missing"], strict=True))

    def short(m) -> str:
        p = pd.Period(str(m), freq="M")
        return f"{p.month}月" if lang == "zh" else p.strftime("%b")

    order = [short(m) for m in months["month"]]
    x = alt.X("label:O", sort=order, title=t("brief.trend.month", lang), axis=alt.Axis(labelAngle=0))
    score = pd.DataFrame({"label": order, "projected": months["projected_target_score"].round(2).to_numpy()})
    line = (
        alt.Chart(score)
        .mark_line(color="#1f4e79", point=alt.OverlayMarkDef(color="#1f4e79"))
        .encode(
            x=x,
            y=alt.Y("projected:Q", title=t("brief.trend.chart.points", lang), scale=alt.Scale(zero=False)),
            tooltip=["label:N", alt.Tooltip("projected:Q", format=".2f")],
        )
        .properties(width=230, height=180, title=t("brief.trend.chart.score", lang))
    )
    names = [t("risk.status." + codes[s], lang) for s in STATUSES]
    counts = pd.DataFrame(
        {
            "label": [short(m) for m in statuses["month"]],
            "status": [t("risk.status." + codes[s], lang) for s in statuses["status"]],
            "order": [STATUSES.index(s) for s in statuses["status"]],
            "measures": statuses["measures"].to_numpy(),
        }
    )
    bars = (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("measures:Q", title=t("brief.trend.chart.measures", lang)),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=names, range=[STATUS_COLOURS[s] for s in STATUSES]),
                sort=names,
                title=None,
            ),
            order=alt.Order("order:Q"),
            tooltip=["label:N", "status:N", "measures:Q"],
        )
        .properties(width=230, height=180, title=t("brief.status_counts", lang))
    )
    return theme_config(alt.hconcat(line, bars))
