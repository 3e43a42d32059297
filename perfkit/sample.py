"""Synthetic sample data, generated deterministically by code and labelled as such wherever it appears.

Story for 2019-01..2019-09: a few measures complete (the railway-station hub by its September deadline),
most on track, some behind (the 城市联盟路 investment, 国省干线 investment well behind, trailers, bridges),
one unit stopped reporting after June (局综规科: stale), one cumulative value corrected (更正).
Turnover 2014-01..2019-09 is published as the statistics office does: year-to-date, first release 1—2月.

Magnitudes: Fujian 2019 road 962.48亿吨公里 and 189.99亿人公里 (Fujian Statistical Yearbook 2020, table
13-2); Quanzhou is taken as about a fifth of that (its GDP share, 9946.66亿元 in 2019). Quanzhou's share of
Fujian's waterway ton-km (7135.60亿) is much smaller, since ocean shipping is registered in Fuzhou and
Xiamen; 360亿 is an assumption. Investment targets are the plan's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import Catalogue, load_catalogue, load_plan
from .config import PLAN_DIR, SAMPLE_DIR
from .holidays import holiday_share

SEED = 2019
YEAR = 2019
LAST_MONTH = 9
FIRST_TURNOVER_YEAR = 2014

# Annual converted-turnover growth (%) used to build the synthetic history; 2019 is the year being judged.
GROWTH = {
    "road": {2015: 10.5, 2016: 11.8, 2017: 9.6, 2018: 12.4, 2019: 12.1},
    "waterway": {2015: 15.1, 2016: 17.3, 2017: 14.8, 2018: 16.6, 2019: 18.7},
}
# 2019 annual level (万吨公里 for ton-km, 万人公里 for passenger-km), see module docstring.
LEVEL_2019 = {
    "road": {"ton_km": 1_900_000.0, "passenger_km": 380_000.0},
    "waterway": {"ton_km": 3_600_000.0, "passenger_km": 5_000.0},
}
# Seasonal shape by calendar month (before the holiday effect) and the Spring Festival effect.
SEASON = {
    "road": [0.92, 0.80, 1.00, 1.01, 1.03, 1.02, 1.00, 1.01, 1.03, 1.05, 1.06, 1.07],
    "waterway": [0.97, 0.85, 0.98, 1.00, 1.02, 1.01, 1.03, 1.02, 1.01, 1.03, 1.04, 1.04],
}
HOLIDAY_EFFECT = {
    "road": {"ton_km": -0.30, "passenger_km": 0.35},
    "waterway": {"ton_km": -0.20, "passenger_km": 0.25},
}
# The comparable basis differs slightly from recomputed levels (re-based sample surveys): offset in points.
OFFICIAL_OFFSET = {"road": 0.4, "waterway": -0.2}

# Pace against schedule for 2019 progress: 1.0 on schedule; below behind; completion month for done ones.
PACE = {
    "1-1-1.6": 0.72,
    "1-1-1.2": 0.8,
    "1-3-2.2": 0.45,
    "1-5-2.1": 0.6,
    "1-8-2.2": 0.55,
    "1-13-1.1": 0.8,
    "1-7-1.1": 0.9,
    "1-5-1.2": 1.1,
    "2-4-1.2": 1.05,
    "1-2-1.2": 0.85,
    "1-8-2.3": 0.7,
}
DONE_BY = {
    "1-4-1.1": 8,
    "1-4-1.2": 9,
    "1-6-2.1": 5,
    "1-9-1.1": 6,
    "1-10-1.3": 4,
    "2-4-2.2": 8,
    "2-3-2.1": 6,
}
STALE_UNIT = "局综规科"
STALE_AFTER = 6
MISSED_RHYTHM = {"1-4-2.1": (7, 8)}  # recurring actions missed in these months
CORRECTION = ("1-8-1.1", 7, "更正：6月误报，含已报废冷链车辆2辆，予以扣除")
NOTES_BEHIND = "受征地拆迁和资金拨付影响，进度滞后，已列入问题清单督促整改"
NOTES_ON_TRACK = "按计划推进"


def _profile(plan: dict) -> np.ndarray:
    return np.asarray(plan["investment"]["default_profile"]["shares"], dtype=float)


def turnover_table(plan: dict | None = None) -> pd.DataFrame:
    """Year-to-date turnover as the statistics office publishes it (1—2月 first), 2014-01..2019-09."""
    rng = np.random.default_rng(SEED)
    months = pd.period_range(f"{FIRST_TURNOVER_YEAR}-01", f"{YEAR}-{LAST_MONTH:02d}", freq="M")
    share = holiday_share(months)
    rows = []
    for mode in ("road", "waterway"):
        # annual levels backwards from 2019
        levels = {YEAR: 1.0}
        for y in range(YEAR, FIRST_TURNOVER_YEAR, -1):
            levels[y - 1] = levels[y] / (1 + GROWTH[mode][y] / 100)
        monthly = {}
        for kind in ("ton_km", "passenger_km"):
            season = np.asarray(SEASON[mode])
            effect = HOLIDAY_EFFECT[mode][kind]
            vals = []
            for p in months:
                base = LEVEL_2019[mode][kind] * levels[p.year] / 12
                # smooth within-year growth so that year-on-year by month is close to the annual rate
                within = (1 + GROWTH[mode].get(p.year, 10.0) / 100) ** ((p.month - 6.5) / 12)
                noise = rng.normal(1.0, 0.012)
                vals.append(
                    base * within * season[p.month - 1] * (1 + effect * share[p]) / season.mean() * noise
                )
            monthly[kind] = pd.Series(vals, index=months)
        for year in range(FIRST_TURNOVER_YEAR, YEAR + 1):
            sel = [p for p in months if p.year == year]
            cum = {k: monthly[k][sel].cumsum() for k in monthly}
            for p in sel:
                if p.month == 1:
                    continue  # Jan is published together with Feb (1—2月)
                yoy = None
                if year == YEAR:
                    prev = [q for q in months if q.year == year - 1 and q.month <= p.month]
                    coef = plan["turnover"]["coefficient"][mode] if plan else (0.1 if mode == "road" else 1.0)
                    now = cum["ton_km"][p] + coef * cum["passenger_km"][p]
                    before = monthly["ton_km"][prev].sum() + coef * monthly["passenger_km"][prev].sum()
                    yoy = round((now / before - 1) * 100 + OFFICIAL_OFFSET[mode], 1)
                rows.append(
                    {
                        "月份": f"{year}年1—2月" if p.month == 2 else f"{year}年{p.month}月",
                        "运输方式": "公路" if mode == "road" else "水路",
                        "口径": "累计",
                        "旅客周转量（万人公里）": round(cum["passenger_km"][p], 1),
                        "货物周转量（万吨公里）": round(cum["ton_km"][p], 1),
                        "总周转量累计同比（%）": yoy,
                    }
                )
    return pd.DataFrame(rows)


def progress_table(catalogue: Catalogue) -> pd.DataFrame:
    """Monthly cumulative progress for every unit-reported measure, 2019-01..2019-09."""
    rng = np.random.default_rng(SEED + 1)
    profile = _profile(catalogue.plan)
    rows = []
    for m in catalogue.measures.to_dict("records"):
        if m["schedule"] == "statistic":
            continue
        deadline = int(m["deadline_month"])
        pace = PACE.get(m["measure_id"], float(rng.uniform(0.93, 1.06)))
        done_by = DONE_BY.get(m["measure_id"])
        target = m["target"]
        prev = 0.0
        for month in range(1, LAST_MONTH + 1):
            if m["reporting_unit"] == STALE_UNIT and month > STALE_AFTER:
                continue
            kind = m["kind"]
            frac_time = min(month / deadline, 1.0)
            status, note = "推进中", NOTES_ON_TRACK
            if kind == "qualitative":
                value = np.nan
            elif done_by is not None:
                share = 1.0 if month >= done_by else min(0.97, month / done_by * 0.95)
                value = target * share
            elif kind == "investment":
                value = target * min(profile[month - 1] / profile[deadline - 1] * pace, 1.0)
            elif m["schedule"] == "recurring":
                missed = sum(1 for x in MISSED_RHYTHM.get(m["measure_id"], ()) if x <= month)
                value = m["per_month"] * month - missed
            elif kind == "level" and m["unit"] != "%":
                value = target * (0.88 + 0.11 * frac_time * pace)
            elif kind == "percent" and m["schedule"] == "level":
                value = min(target, target * (0.6 + 0.4 * frac_time * pace))
            else:
                value = target * min(frac_time * pace, 1.0)
            if kind in ("count",) and not np.isnan(value):
                value = float(np.floor(value))
            corrected = m["measure_id"] == CORRECTION[0] and month == CORRECTION[1]
            if corrected:
                value = prev - 2  # the unit found last month's count included scrapped vehicles
            if not np.isnan(value):
                value = round(value if corrected else max(value, prev), 1)
                prev = value
                if value >= target:
                    status = "已完成"
                    note = "已完成年度目标"
                elif value == 0:
                    status = "未启动"
                if pace < 0.9 and status != "已完成":
                    note = NOTES_BEHIND
            if corrected:
                note = CORRECTION[2]
            rows.append(
                {
                    "month": f"{YEAR}-{month:02d}",
                    "unit": m["reporting_unit"],
                    "measure_id": m["measure_id"],
                    "cumulative": value,
                    "status": status,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def assessments_table() -> pd.DataFrame:
    """Outside assessments recorded so far in 2019 (公众评议 comes after year end, so none yet)."""
    return pd.DataFrame(
        [
            {
                "year": YEAR,
                "kind": "bonus",
                "indicator_id": "",
                "points": 0.5,
                "grade": "",
                "description": "安溪县获评省级“四好农村路”示范县",
                "level": "省级",
                "unit": "局工程科",
            },
            {
                "year": YEAR,
                "kind": "deduction",
                "indicator_id": "",
                "points": 0.2,
                "grade": "",
                "description": "察访核验：部分工作台账更新不及时，限期一个月整改",
                "level": "",
                "unit": "局办公室",
            },
            {
                "year": YEAR,
                "kind": "indicator_score",
                "indicator_id": "1-15",
                "points": 9.2,
                "grade": "",
                "description": "文明城市创建半年测评",
                "level": "",
                "unit": "局文明办",
            },
            {
                "year": YEAR,
                "kind": "grade",
                "indicator_id": "5-3",
                "points": None,
                "grade": "良",
                "description": "一般性支出压减进度偏慢",
                "level": "",
                "unit": "局财审科",
            },
        ]
    )


def generate(out_dir: str | Path = SAMPLE_DIR, plan_dir: str | Path = PLAN_DIR) -> dict[str, Path]:
    """Write the sample files; the same code and seed always give the same bytes. Each file is written whole
    (exports.write_whole); a folder that cannot hold them is one OutputError line before any is written."""
    from .exports import check_all_writable, make_folder, write_whole

    out_dir = make_folder(out_dir)
    catalogue = load_catalogue(plan_dir)
    tables = {
        "turnover": (out_dir / "turnover.csv", turnover_table(load_plan(plan_dir))),
        "progress": (out_dir / "progress.csv", progress_table(catalogue)),
        "assessments": (out_dir / "assessments.csv", assessments_table()),
    }
    # a folder or a read-only file in the way: refused before any is written
    check_all_writable(path for path, _ in tables.values())
    for path, table in tables.values():
        write_whole(path, lambda fh, table=table: table.to_csv(fh, index=False, lineterminator="\n"))
    return {name: path for name, (path, _) in tables.items()}
