"""The deterministic scale generator shared by the benchmarks.

One copy is the plan's 87 measures with synthetic monthly reports for 2019-01..2019-12 (a random pace per
measure from a fixed seed; every 7th measure's unit stops reporting in the autumn). Synthetic, not real.
N copies are N × 87 measures under renamed indicators: 1, 10, 100 and 1000 copies give about 10^3 … 10^6
progress rows. The same seed always gives the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfkit.catalogue import Catalogue

MONTHS = 12


def scaled_catalogue(base: Catalogue, copies: int) -> Catalogue:
    """All the plan's measures `copies` times, each copy under its own indicator ids."""
    ms, inds = [], []
    for k in range(copies):
        ms.append(
            base.measures.assign(
                measure_id=base.measures["measure_id"] + f"#{k}",
                indicator_id=base.measures["indicator_id"] + f"#{k}",
            )
        )
        inds.append(base.indicators.assign(id=base.indicators["id"] + f"#{k}"))
    return Catalogue(
        plan=base.plan,
        indicators=pd.concat(inds, ignore_index=True),
        measures=pd.concat(ms, ignore_index=True),
        plan_dir=base.plan_dir,
    )


def synthetic_progress(catalogue: Catalogue, seed: int = 11) -> pd.DataFrame:
    """Tidy reports (measure × month) for every unit-reported measure, built with array operations."""
    rng = np.random.default_rng(seed)
    m = catalogue.measures[catalogue.measures["schedule"] != "statistic"].reset_index(drop=True)
    n = len(m)
    months = np.arange(1, MONTHS + 1)
    target = m["target"].to_numpy(dtype=float)
    deadline = m["deadline_month"].to_numpy(dtype=float)
    pace = rng.uniform(0.5, 1.15, n)
    share = np.minimum(months[None, :] / deadline[:, None] * pace[:, None], 1.0)
    value = np.round(target[:, None] * share, 1)
    value[m["kind"].to_numpy() == "qualitative"] = np.nan
    silent = (np.arange(n) % 7 == 0)[:, None] & (months[None, :] > 9)
    keep = ~silent
    rows = np.repeat(np.arange(n), MONTHS).reshape(n, MONTHS)[keep]
    month = np.tile(months, n).reshape(n, MONTHS)[keep]
    done = value >= target[:, None]
    return pd.DataFrame(
        {
            "measure_id": m["measure_id"].to_numpy()[rows],
            "month": pd.PeriodIndex.from_fields(year=np.full(len(rows), 2019), month=month, freq="M"),
            "cumulative": value[keep],
            "status": np.where(done[keep], "已完成", "推进中"),
            "note": "按计划推进",
        }
    )


def latest_report(progress: pd.DataFrame) -> pd.DataFrame:
    """The baseline: each measure's latest report."""
    return progress.sort_values(["measure_id", "month"], kind="stable").groupby("measure_id").tail(1)


def row_verdicts(rows: list[dict], key: str) -> list[dict]:
    """The targets for a per-row cost: 10^6 rows in at most 5 s (median of the rounds at the largest size
    near 10^6), and linear (median µs per row at the largest size at most 1.5× that at a tenth of it)."""
    from .measure import verdict

    out = []
    big = [r for r in rows if r["rows"] >= 900_000]
    if big:
        out.append(verdict("10^6 rows ≤ 5 s", big[-1][f"{key}_s"], 5, f" s for {big[-1]['rows']:,} rows"))
    if len(rows) >= 2 and rows[-1]["rows"] >= 5 * rows[-2]["rows"]:
        a, b = rows[-2], rows[-1]
        out.append(
            verdict(
                "linear (µs/row at the largest size ÷ at the size before ≤ 1.5)",
                b["us_per_row"] / a["us_per_row"],
                1.5,
                f"; {a['us_per_row']:.2f} µs/row at {a['rows']:,} rows, {b['us_per_row']:.2f} at {b['rows']:,}",
            )
        )
    return out
