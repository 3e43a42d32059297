"""Growth evaluation on real series: perfkit against naive YTD, statsforecast AutoETS and AutoARIMA.

Series: data/reference/growth_eval_series.csv (61 real monthly series, tourism and M3 competitions, cited in
data/README.md and docs/growth.md), split once by a fixed rule into a tuning set (every third series in
file order, 21) and a held-out set (the other 40), so figures on the held-out set come from series no
choice was tuned on.

Protocol (issue 16): for each series the last four complete years, as of March, June and September
(as if live: data to the end of that month), error of full-year growth in percentage points; 80% and 95%
interval coverage. perfkit: `growth.backtest` (nested selection, calibrated intervals), rows of those
years; naive YTD: the statisticians' method. statsforecast (when the reference Python is found, default
.venv-ref/bin/python): AutoETS and AutoARIMA with season_length 12 fitted on the monthly data to the
origin, mean forecast of the rest of the year, 1,000 simulated paths for intervals (benchmarks/sf_reference.py,
run as a subprocess because statsforecast cannot share perfkit's lock).

Speed (`--rounds`, default 3 paired rounds): per round, `project_annual_growth` (one live projection with its
whole backtest selection) on the first `--timing-series` held-out series at the three origins of their last
year, then AutoETS (fit, forecast, 1,000 paths) on the same tasks in the reference Python; both on one core
(one BLAS/OpenMP/numba thread). Reported: seconds per projection and the ratio, median and range.

`--set tune-large`: 211 further tourism and M3 series of the same package, none of the 61 (written by
benchmarks/make_tuning_series.py by a fixed rule into benchmarks/growth_tune_series.csv), for choosing
changes with more power than 21 series give; the held-out 40 stay as they are.

Run: `python -m benchmarks.eval_growth [--set holdout|tune|all|tune-large] [--models AutoETS AutoARIMA]
[--rounds 3] [--timing-series 6] [--ref PYTHON]`; results in benchmarks/results/growth_eval_<set>.json.
On a busy machine the work can be split: `--shard I N` evaluates every N-th series from the I-th (perfkit
and naive; `--models` none skips statsforecast, `--only-reference` does only statsforecast), each writing
its rows to results/growth_eval_rows_<set>_<part>.csv; `--merge` then summarises every rows file of the set.
"""

from __future__ import annotations

import os

from perfkit.config import SINGLE_THREAD_ENV

os.environ.update(SINGLE_THREAD_ENV)  # one core for every method, before numpy loads its BLAS
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks import measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
TUNE_LARGE_FILE = Path(__file__).resolve().parent / "growth_tune_series.csv"  # make_tuning_series.py
ORIGINS = (3, 6, 9)
LAST_YEARS = 4
BAND = (3.0, 4.0)


def split(names: list[str]) -> dict[str, list[str]]:
    """Tuning set: every third series in file order; held out: the rest, sources interleaved (tourism, M3,
    tourism, …) so that a shard cut short still covers both."""
    holdout = [n for i, n in enumerate(names) if i % 3]
    by_source = [[n for n in holdout if n.startswith(src)] for src in ("tourism:", "m3:")]
    longest = max(len(g) for g in by_source)
    mixed = [g[i] for i in range(longest) for g in by_source if i < len(g)]
    return {"tune": names[::3], "holdout": mixed + [n for n in holdout if n not in mixed]}


def tasks_for(series: dict[str, pd.Series], years_of: dict[str, list[int]]) -> list[list]:
    """[name, cutoff, h] per series × evaluated year × origin: data to the origin's month end."""
    out = []
    for name, s in series.items():
        first = s.index[0].year
        for y in years_of[name]:
            for m in ORIGINS:
                out.append([name, (y - first) * 12 + m, 12 - m])
    return out


def run_reference(python: Path, series: dict, tasks: list, models: list[str]) -> dict | None:
    if not python.exists():
        print(f"statsforecast reference skipped: {python} not found (see docs/growth.md)")
        return None
    job = {"series": {k: s.tolist() for k, s in series.items()}, "tasks": tasks, "models": models}
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("sf_reference.py"))],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env={**os.environ, **SINGLE_THREAD_ENV, "NUMBA_NUM_THREADS": "1"},
        check=False,
    )
    if proc.returncode:
        print(f"statsforecast reference failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return read_reference(proc.stdout)


def read_reference(text: str) -> dict:
    """sf_reference.py's JSON lines → {"version", "seconds", "results"} (version/seconds None if cut short)."""
    out = {"version": None, "seconds": None, "results": []}
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            break  # a line cut off by a kill
        if "result" in rec:
            out["results"].append(rec["result"])
        else:
            out.update(rec)
    return out


def interval_score(low, high, actual, alpha: float):
    """Interval score of a central (1 − alpha) interval (Gneiting & Raftery 2007), in the data's units:
    its width, plus 2/alpha times how far the actual value falls outside it. Lower is better; works on
    numbers and on arrays."""
    low, high, actual = (np.asarray(x, dtype=float) for x in (low, high, actual))
    below = np.maximum(low - actual, 0.0)
    above = np.maximum(actual - high, 0.0)
    out = (high - low) + 2 / alpha * (below + above)
    return float(out) if out.ndim == 0 else out


def reference_rows(series: dict, ref: dict) -> pd.DataFrame:
    rows = []
    for name, cutoff, model, mean_sum, qs in ref["results"]:
        s = series[name].to_numpy()
        m = cutoff % 12  # origins are months 3, 6, 9: the months of the year observed
        y0 = cutoff - m  # the origin's year starts here
        prev, ytd, actual_total = s[y0 - 12 : y0].sum(), s[y0:cutoff].sum(), s[y0 : y0 + 12].sum()
        actual = (actual_total / prev - 1) * 100

        def g(x, ytd=ytd, prev=prev):
            return ((ytd + x) / prev - 1) * 100

        lo80, hi80, lo95, hi95 = (g(qs[q]) for q in ("0.1", "0.9", "0.025", "0.975"))
        rows.append(
            {
                "series": name,
                "year": int(series[name].index[y0].year),
                "month": m,
                "method": model,
                "error_pp": g(mean_sum) - actual,
                "in_80": float(lo80 <= actual <= hi80),
                "in_95": float(lo95 <= actual <= hi95),
                "is_80": interval_score(lo80, hi80, actual, 0.20),
                "is_95": interval_score(lo95, hi95, actual, 0.05),
            }
        )
    return pd.DataFrame(rows)


def perfkit_rows(series: dict, years_of: dict, sink: Path | None = None) -> pd.DataFrame:
    """perfkit and naive YTD rows; each series' rows are appended to `sink` as soon as they are known."""
    from perfkit import growth

    frames = []
    for name, s in series.items():
        bt = growth.backtest(s, as_of_months=ORIGINS, holiday=False)
        bt = bt[bt["year"].isin(years_of[name]) & bt["method"].isin(["selected", "naive_ytd"])]
        bt = bt.assign(
            series=name,
            method=bt["method"].replace({"selected": "perfkit"}),
            is_80=interval_score(
                bt["interval_80_low"], bt["interval_80_high"], bt["actual_growth_pct"], 0.20
            ),
            is_95=interval_score(
                bt["interval_95_low"], bt["interval_95_high"], bt["actual_growth_pct"], 0.05
            ),
        )
        bt = bt[["series", "year", "month", "method", "error_pp", "in_80", "in_95", "is_80", "is_95"]]
        if sink is not None:
            bt.to_csv(sink, mode="a", header=not sink.exists(), index=False)
        frames.append(bt)
    return pd.concat(frames, ignore_index=True)


def merged_rows(files: list[Path]) -> pd.DataFrame:
    """perfkit's rows files of a set, stacked; where two files hold the same projection (a full run beside an
    older shard run, say) the newest file's row is kept and the overlap is named, so a merge never mixes
    in figures of an older perfkit unnoticed."""
    files = sorted(files, key=lambda f: f.stat().st_mtime, reverse=True)
    key = ["series", "year", "month", "method"]
    frames, seen = [], None
    for f in files:
        rows = pd.read_csv(f)
        if seen is not None:
            old = rows.set_index(key).index.isin(seen)
            if old.any():
                print(f"{f.name}: {int(old.sum())} rows also in a newer rows file; the newer kept")
            rows = rows[~old]
        frames.append(rows)
        idx = rows.set_index(key).index
        seen = idx if seen is None else seen.append(idx)
    return pd.concat(frames, ignore_index=True)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.assign(abs_error=rows["error_pp"].abs())
    per = rows.pivot_table(index="series", columns="method", values="abs_error", aggfunc="mean")
    naive = rows.loc[rows["method"] == "naive_ytd", "abs_error"].mean()
    out = []
    for method, g in rows.groupby("method", sort=False):
        ratio = per[method] / per["naive_ytd"]
        out.append(
            {
                "method": method,
                "n": len(g),
                "mae_pp": g["abs_error"].mean(),
                "mae_vs_naive": g["abs_error"].mean() / naive,
                "median_series_ratio": float(ratio.median()),
                "series_worse_than_naive": int((ratio > 1).sum()),
                "coverage_80": g["in_80"].mean(),
                "coverage_95": g["in_95"].mean(),
                # rows files written before interval scores were kept have none
                "interval_score_80": g["is_80"].mean() if "is_80" in g else np.nan,
                "interval_score_95": g["is_95"].mean() if "is_95" in g else np.nan,
            }
        )
    order = {"perfkit": 0, "AutoETS": 1, "AutoARIMA": 2, "naive_ytd": 3}
    return pd.DataFrame(out).sort_values("method", key=lambda c: c.map(order)).reset_index(drop=True)


def speed(series: dict, years_of: dict, names: list[str], rounds: int, python: Path) -> dict:
    from perfkit import growth

    chosen = {n: series[n] for n in names}
    last = {n: [years_of[n][-1]] for n in names}
    tasks = tasks_for(chosen, last)
    first = next(iter(chosen.values())).index[0].year
    growth.project_annual_growth(chosen[names[0]], f"{first + 3}-06", BAND, holiday=False)  # imports, warm-up
    out = {"perfkit_s": [], "autoets_s": [], "ratio": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for name, cutoff, _h in tasks:
            s = chosen[name]
            growth.project_annual_growth(s, str(s.index[cutoff - 1]), BAND, holiday=False)
        per_perfkit = (time.perf_counter() - t0) / len(tasks)
        ref = run_reference(python, chosen, tasks, ["AutoETS"])
        if ref is None:
            out["perfkit_s"].append(per_perfkit)
            continue
        per_ets = ref["seconds"]["AutoETS"] / len(tasks)
        out["perfkit_s"].append(per_perfkit)
        out["autoets_s"].append(per_ets)
        out["ratio"].append(per_perfkit / per_ets)
    out["projections_per_round"] = len(tasks)
    return out


def verdicts(table: pd.DataFrame) -> list[dict]:
    """Issue 16's accuracy and calibration targets, met or not, from the pooled figures."""
    t = table.set_index("method")
    if "perfkit" not in t.index:
        return []
    p = t.loc["perfkit"]

    def target(name: str, value: float, limit: float, what: str) -> dict:
        ok = value <= limit
        print(f"target {name}: {'met' if ok else 'NOT met'} ({what} {value:.3g})", flush=True)
        return {"target": name, "value": float(value), "limit": limit, "verdict": "met" if ok else "not met"}

    out = [
        target("pooled MAE ≤ 0.70× naive YTD", p["mae_vs_naive"], 0.70, "pooled"),
        target("series worse than naive on average = 0", p["series_worse_than_naive"], 0, "series"),
    ]
    for ref in ("AutoETS", "AutoARIMA"):
        if ref in t.index:
            out.append(target(f"MAE below {ref}", p["mae_pp"] / t.loc[ref, "mae_pp"], 0.9999, "perfkit ÷ it"))
    for level, lo, hi in (("80", 0.78, 0.88), ("95", 0.90, 0.97)):
        cov = p[f"coverage_{level}"]
        ok = lo <= cov <= hi
        print(f"target {level}% coverage in {lo:.0%}–{hi:.0%}: {'met' if ok else 'NOT met'} ({cov:.1%})")
        out.append({"target": f"{level}% coverage", "value": cov, "verdict": "met" if ok else "not met"})
    return out


def med_range(xs: list[float]) -> str:
    return measure.spread(xs, ".3g") if xs else "n/a"


def main(argv: list[str] | None = None) -> dict:
    from perfkit import growth

    parser = argparse.ArgumentParser(prog="eval_growth", description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("holdout", "tune", "all", "tune-large"), default="holdout")
    parser.add_argument("--models", nargs="*", default=["AutoETS", "AutoARIMA"])
    parser.add_argument("--rounds", type=int, default=3, help="paired speed rounds (0 skips)")
    parser.add_argument("--timing-series", type=int, default=6)
    parser.add_argument("--ref", type=Path, default=REF_PYTHON, help="the reference venv's Python")
    parser.add_argument("--limit", type=int, default=0, help="first N series of the set only (a quick look)")
    parser.add_argument(
        "--shard", type=int, nargs=2, metavar=("I", "N"), help="every N-th series from the I-th"
    )
    parser.add_argument("--only-reference", action="store_true", help="statsforecast rows only")
    parser.add_argument("--merge", action="store_true", help="summarise the rows files of the set")
    parser.add_argument("--speed-only", action="store_true", help="only the paired speed rounds")
    parser.add_argument("--exclude", nargs="*", default=[], help="methods left out of the merged comparison")
    args = parser.parse_args(argv)
    info = measure.machine()
    print(measure.describe_machine(info), flush=True)
    if args.set == "tune-large":  # 211 other series of the same sources, none of the 61 (tuning only)
        allref = growth.reference_series(path=TUNE_LARGE_FILE)
        groups = {"tune-large": list(allref)}
    else:
        allref = growth.reference_series()
        groups = split(list(allref))
    names = list(allref) if args.set == "all" else groups[args.set]
    names = names[: args.limit] if args.limit else names
    part = "all"
    if args.shard:
        names, part = names[args.shard[0] :: args.shard[1]], f"{args.shard[0]}of{args.shard[1]}"
    if args.only_reference:
        part = "reference"
    series = {n: allref[n] for n in names}
    years_of = {}
    for n, s in series.items():
        complete = [y for y, c in s.groupby(s.index.year).size().items() if c == 12]
        years_of[n] = complete[-LAST_YEARS:]
    tasks = tasks_for(series, years_of)
    if args.speed_only:
        timing = speed(series, years_of, names[: args.timing_series], max(args.rounds, 1), args.ref)
        print(
            f"speed, one core, {timing['projections_per_round']} projections × {len(timing['perfkit_s'])}"
            f" rounds: perfkit {med_range(timing['perfkit_s'])} s, AutoETS {med_range(timing['autoets_s'])} s"
            f" per projection; perfkit ÷ AutoETS {med_range(timing['ratio'])}",
            flush=True,
        )
        RESULTS.mkdir(exist_ok=True)
        out = {"machine": info, "series": names[: args.timing_series], "speed": timing}
        (RESULTS / "growth_eval_speed.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        return out
    print(f"{len(series)} series ({args.set}), {len(tasks)} projections per method", flush=True)
    t0 = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    # statsforecast's lines as they come, one file per model list (two can run side by side)
    ref_file = RESULTS / f"growth_eval_reference_{args.set}_{'-'.join(args.models)}.jsonl"
    ref_proc = None
    if args.merge or (args.shard and not args.only_reference):
        args.models = []
    if args.models and args.ref.exists():  # statsforecast runs beside perfkit (accuracy only, not timed)
        job = {"series": {k: s.tolist() for k, s in series.items()}, "tasks": tasks, "models": args.models}
        with ref_file.open("w", encoding="utf-8") as sink:
            ref_proc = subprocess.Popen(
                [str(args.ref), str(Path(__file__).with_name("sf_reference.py"))],
                stdin=subprocess.PIPE,
                stdout=sink,
                text=True,
                env={**os.environ, "NUMBA_NUM_THREADS": "1"},
            )
        ref_proc.stdin.write(json.dumps(job))
        ref_proc.stdin.close()
    elif args.models:
        print(f"statsforecast reference skipped: {args.ref} not found (see docs/growth.md)")
    if args.merge:
        rows = merged_rows(sorted(RESULTS.glob(f"growth_eval_rows_{args.set}_*.csv")))
        rows = rows[rows["series"].isin(names)]
        print(f"merged {rows['series'].nunique()} series, {len(rows)} rows", flush=True)
    elif args.only_reference:
        rows = pd.DataFrame(
            columns=["series", "year", "month", "method", "error_pp", "in_80", "in_95", "is_80", "is_95"]
        )
    else:
        sink = RESULTS / f"growth_eval_rows_{args.set}_{part}.csv"
        sink.unlink(missing_ok=True)
        rows = perfkit_rows(series, years_of, sink)
        print(f"perfkit and naive: {time.perf_counter() - t0:.0f} s", flush=True)
    if ref_proc is not None and ref_proc.wait():
        print(f"statsforecast reference exited with {ref_proc.returncode}; its finished lines are used")
    version = None
    ref_files = [ref_file] if ref_proc is not None else []
    if args.merge:
        ref_files = sorted(RESULTS.glob(f"growth_eval_reference_{args.set}_*.jsonl"))
    for f in ref_files:
        ref = read_reference(f.read_text(encoding="utf-8"))
        version = ref["version"] or version
        done = reference_rows(series, ref)
        print(
            f"statsforecast rows from {f.name}: {len(done)} ({done['series'].nunique() if len(done) else 0} series)"
        )
        rows = pd.concat([rows, done], ignore_index=True)
    # two reference runs may have answered the same task (one per model list): each answer counts once
    rows = rows.drop_duplicates(["series", "year", "month", "method"])
    rows = rows[~rows["method"].isin(args.exclude)]
    if args.only_reference or (args.shard and not args.merge):
        return {"rows": len(rows)}
    if args.merge:  # a cut-short run: compare on the projections every method has
        key = ["series", "year", "month"]
        counts = rows.groupby(key)["method"].nunique()
        full = counts[counts == counts.max()].index
        rows = rows.set_index(key).loc[lambda d: d.index.isin(full)].reset_index()
        print(f"compared on {len(full)} projections that every method made", flush=True)
    table = summary(rows)
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(table.to_string(index=False))
    result_verdicts = verdicts(table)
    by_month = rows.assign(a=rows["error_pp"].abs()).pivot_table(
        index="method", columns="month", values="a", aggfunc="mean"
    )
    print(by_month.round(2).to_string())
    result = {
        "machine": info,
        "set": args.set,
        "series": names,
        "statsforecast": version,
        "summary": table.to_dict("records"),
        "verdicts": result_verdicts,
        "mae_by_month": {str(k): v for k, v in by_month.round(3).to_dict("index").items()},
    }
    if args.rounds > 0:
        timing = speed(series, years_of, names[: args.timing_series], args.rounds, args.ref)
        print(
            f"speed, one core, {timing['projections_per_round']} projections × {args.rounds} rounds: perfkit"
            f" {med_range(timing['perfkit_s'])} s, AutoETS {med_range(timing['autoets_s'])} s per projection;"
            f" perfkit ÷ AutoETS {med_range(timing['ratio'])}"
            + (
                f" → target ≤ 1.5×: {'met' if np.median(timing['ratio']) <= 1.5 else 'not met'}"
                if timing["ratio"]
                else ""
            ),
            flush=True,
        )
        result["speed"] = timing
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"growth_eval_{args.set}.json").write_text(
        json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8"
    )
    return result


if __name__ == "__main__":
    main()
