"""Screen changes to the growth model on a tuning set, with a bootstrap over series for the difference.

Step 1 (`dump`, ~2 min a 100 series on one core): for each series, the last four complete years, as of March,
June and September (the issue-16 protocol), the full-year growth point of every member (`ets`, `profile`,
`sarimax`, `combined`, `naive_ytd`, `seasonal_naive`), each one's backtest MAE at origins k ± 1 of the three
previous years (what `select` compares), the model `select` chose, and today's projection (`selected`),
from perfkit's own engine. Step 2 (`screen`): variants of the point computed from those figures (points only;
a variant worth keeping is then built in the engine and run through `eval_growth` for its intervals), each
one's pooled MAE ÷ naive YTD, series worse than naive, and the difference to today's ratio with a 90%
bootstrap interval over series (2,000 resamples of whole series, the same resamples for every variant).

Run: `python -m benchmarks.screen_growth --set tune-large` (results/growth_screen_<set>.csv, then the table).
Where a variant re-weights `combined` it does so only where `select` chose `combined` today, and combines
the members' remainders of the year geometrically (per year, not per period as the engine would).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import eval_growth

MEMBERS = ("ets", "profile", "sarimax", "combined", "naive_ytd", "seasonal_naive")
RESAMPLES = 2000


def load_set(name: str) -> dict[str, pd.Series]:
    from perfkit import growth

    if name == "tune-large":
        return growth.reference_series(path=eval_growth.TUNE_LARGE_FILE)
    ref = growth.reference_series()
    return {n: ref[n] for n in eval_growth.split(list(ref))[name]}


def dump(series: dict[str, pd.Series]) -> pd.DataFrame:
    from perfkit import growth_engine as ge

    rows = []
    for name, s in series.items():
        _, _, _, periods = ge._prepare(s, "2262-01", None)
        eng = ge._Engine(periods, ge.CANDIDATES, False, ge.REPETITIONS, ge.SEED, int(periods["year"].max()))
        for y in sorted(eng.complete)[-eval_growth.LAST_YEARS :]:
            actual = eng.actual_growth(y)
            if actual is None:
                continue
            for month in eval_growth.ORIGINS:
                k = month - 1  # 1—2月 is one period
                chosen, _, _ = eng.select(y, k)
                rec = {"series": name, "year": y, "month": month, "actual": actual * 100, "chosen": chosen}
                rec["ytd"] = float(eng.year_values(y)[:k].sum())
                rec["previous"] = float(eng.totals[y - 1])
                for m in MEMBERS:
                    fc = eng.forecast(m, y, k)
                    rec[f"g_{m}"] = eng.growth_point(fc, y, k) * 100 if fc is not None else np.nan
                    errs = [abs(p["error"]) for p in eng.backtest_points(m, y, k) if p["near"]] if fc else []
                    rec[f"mae_{m}"] = float(np.mean(errs) * 100) if errs else np.nan
                rec["g_today"] = rec[f"g_{chosen}"] if chosen else rec["g_naive_ytd"]
                rows.append(rec)
    return pd.DataFrame(rows)


def geometric(d: pd.DataFrame, growths: list[pd.Series], weights: list) -> np.ndarray:
    """Full-year growth (%) of the weighted geometric mean of the members' rest-of-year totals (a member
    without a point, or weight, is left out and the others re-weighted)."""
    logs, wsum = np.zeros(len(d)), np.zeros(len(d))
    for g, w in zip(growths, weights, strict=True):
        rest = (1 + np.asarray(g, dtype=float) / 100) * d["previous"].to_numpy() - d["ytd"].to_numpy()
        w = np.broadcast_to(np.asarray(w, dtype=float), rest.shape)
        ok = np.isfinite(rest) & (rest > 0) & np.isfinite(w)
        logs += np.where(ok, w * np.log(np.where(ok, rest, 1.0)), 0.0)
        wsum += np.where(ok, w, 0.0)
    return ((d["ytd"].to_numpy() + np.exp(logs / wsum)) / d["previous"].to_numpy() - 1) * 100


def profile_growth(d: pd.DataFrame, series: dict[str, pd.Series], years: int) -> pd.Series:
    """`profile` with the rest-to-YTD ratio of `years` past years instead of three (from the data)."""
    out = []
    for r in d.itertuples():
        s = series[r.series]
        k = r.month
        ratios = []
        for y in range(r.year - years, r.year):
            v = s[s.index.year == y].to_numpy()
            ratios.append(np.log(v[k:].sum() / v[:k].sum()))
        out.append(((r.ytd + r.ytd * np.exp(np.mean(ratios))) / r.previous - 1) * 100)
    return pd.Series(out, index=d.index)


def level_update_growth(d: pd.DataFrame, series: dict[str, pd.Series], months: int) -> pd.Series:
    """Last year's rest of the year × the YoY growth of the latest `months` months (a level update)."""
    out = []
    for r in d.itertuples():
        s = series[r.series]
        k = r.month
        now, prev = s[s.index.year == r.year].to_numpy(), s[s.index.year == r.year - 1].to_numpy()
        lo = max(k - months, 0)
        growth = now[lo:k].sum() / prev[lo:k].sum()
        out.append(((r.ytd + prev[k:].sum() * growth) / r.previous - 1) * 100)
    return pd.Series(out, index=d.index)


def variants(d: pd.DataFrame, series: dict[str, pd.Series]) -> dict[str, np.ndarray]:
    today = d["g_today"].to_numpy()
    comb = (d["chosen"] == "combined").to_numpy()
    g = {m: d[f"g_{m}"] for m in MEMBERS}
    one = np.ones(len(d))

    def inverse(members, power):
        maes = [d[f"mae_{m}"].to_numpy() for m in members]
        none = np.all([~np.isfinite(x) for x in maes], axis=0)  # no backtest: equal weights
        ws = [np.where(none, 1.0, 1 / np.maximum(np.nan_to_num(x, nan=np.inf), 1e-6) ** power) for x in maes]
        return np.where(comb, geometric(d, [g[m] for m in members], ws), today)

    out = {"today": today}
    out["1/MAE: ets, profile, naive"] = inverse(["ets", "profile", "naive_ytd"], 1)
    out["1/MAE: + sarimax"] = inverse(["ets", "profile", "naive_ytd", "sarimax"], 1)
    out["1/MAE²: ets, profile, naive"] = inverse(["ets", "profile", "naive_ytd"], 2)
    out["1/MAE²: + sarimax"] = inverse(["ets", "profile", "naive_ytd", "sarimax"], 2)
    for extra in ("seasonal_naive", "naive_ytd", "sarimax"):
        out[f"equal: ets, profile, {extra}"] = np.where(
            comb, geometric(d, [g["ets"], g["profile"], g[extra]], [one] * 3), today
        )
    out["median: ets, profile, sarimax, naive"] = np.where(
        comb, np.nanmedian(d[["g_ets", "g_profile", "g_sarimax", "g_naive_ytd"]].to_numpy(), axis=1), today
    )
    out["combined always (no single model)"] = np.where(np.isfinite(g["combined"]), g["combined"], today)
    mae_chosen = np.array(
        [r[f"mae_{r['chosen']}"] if isinstance(r["chosen"], str) else np.nan for _, r in d.iterrows()]
    )
    has_naive = np.isfinite(g["naive_ytd"].to_numpy())
    for f in (1.0, 0.7, 0.5):
        switch = np.isfinite(mae_chosen) & (d["mae_naive_ytd"].to_numpy() < f * mae_chosen)
        out[f"naive when its backtest MAE < {f}× the chosen's"] = np.where(switch, g["naive_ytd"], today)
    departure = today - g["naive_ytd"].to_numpy()
    for c in (1, 2, 3, 4, 6):
        bound = c * np.where(np.isfinite(mae_chosen), mae_chosen, np.inf)
        out[f"guard: within naive ± {c}× chosen's backtest MAE"] = np.where(
            has_naive, g["naive_ytd"].to_numpy() + np.clip(departure, -bound, bound), today
        )
    for c in (2, 3, 4):
        bound = c * np.nan_to_num(d["mae_naive_ytd"].to_numpy(), nan=np.inf)
        out[f"guard: within naive ± {c}× naive's backtest MAE"] = np.where(
            has_naive, g["naive_ytd"].to_numpy() + np.clip(departure, -bound, bound), today
        )
    for years in (2, 4, 5):
        prof = profile_growth(d, series, years)
        out[f"profile from {years} years"] = np.where(comb, geometric(d, [g["ets"], prof], [one] * 2), today)
    for months in (3, 6):
        level = level_update_growth(d, series, months)
        out[f"equal: ets, profile, level update ({months} months)"] = np.where(
            comb, geometric(d, [g["ets"], g["profile"], level], [one] * 3), today
        )
    out["naive YTD"] = g["naive_ytd"].to_numpy()
    return out


def paired_bootstrap(abs_errors: pd.DataFrame, baseline: str, naive: str, seed: int = 1) -> pd.DataFrame:
    """Per method: pooled MAE ÷ naive's minus the baseline's, over resamples of whole series (the same
    resamples for every method): 5%, 95% quantiles and the share of resamples where the method is better; and
    the 5%, 95% quantiles of the change in the number of series worse than naive."""
    sums = abs_errors.groupby("series").sum()  # pooled MAE ratios: the counts cancel within a resample
    per = abs_errors.groupby("series").mean()
    cols = list(sums.columns)
    worse = (per.div(per[naive], axis=0) > 1).to_numpy(dtype=float)
    pick = np.random.default_rng(seed).integers(0, len(sums), (RESAMPLES, len(sums)))
    totals = sums.to_numpy()[pick].sum(axis=1)
    ratio = totals / totals[:, [cols.index(naive)]]
    diff = ratio - ratio[:, [cols.index(baseline)]]
    worse_diff = (worse - worse[:, [cols.index(baseline)]])[pick].sum(axis=1)  # series worse than naive
    return pd.DataFrame(
        {
            "diff_q05": np.quantile(diff, 0.05, axis=0),
            "diff_q95": np.quantile(diff, 0.95, axis=0),
            "share_better": (diff < 0).mean(axis=0),
            "worse_diff_q05": np.quantile(worse_diff, 0.05, axis=0),
            "worse_diff_q95": np.quantile(worse_diff, 0.95, axis=0),
        },
        index=cols,
    )


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(prog="screen_growth", description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("tune-large", "tune"), default="tune-large")
    parser.add_argument("--reuse", action="store_true", help="screen the stored dump, do not recompute it")
    args = parser.parse_args(argv)
    series = load_set(args.set)
    store = eval_growth.RESULTS / f"growth_screen_{args.set}.csv"
    if args.reuse and store.exists():
        d = pd.read_csv(store)
    else:
        d = dump(series)
        eval_growth.RESULTS.mkdir(exist_ok=True)
        d.to_csv(store, index=False)
    errors = pd.DataFrame({k: np.abs(v - d["actual"].to_numpy()) for k, v in variants(d, series).items()})
    errors["series"] = d["series"].to_numpy()
    per = errors.groupby("series").mean()
    boot = paired_bootstrap(errors, "today", "naive YTD")
    naive = errors["naive YTD"].mean()
    today = errors["today"].mean() / naive
    table = pd.DataFrame(
        {
            "mae_pp": errors.drop(columns="series").mean(),
            "mae_vs_naive": errors.drop(columns="series").mean() / naive,
            "series_worse": (per.div(per["naive YTD"], axis=0) > 1).sum(),
        }
    )
    table["diff_vs_today"] = table["mae_vs_naive"] - today
    table = table.join(boot)
    print(f"{d['series'].nunique()} series ({args.set}), {len(d)} projections; {Path(store).name}")
    with pd.option_context("display.width", 200, "display.precision", 4, "display.max_colwidth", 60):
        print(table.to_string())
    return table


if __name__ == "__main__":
    main()
