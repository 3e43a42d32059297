"""Growth at province and national scale: serially, on the local process pool and on a two-worker Dask
LocalCluster, in series per second, with Dask's overhead against the pool.

Series: synthetic county turnover from `bench_growth.city_series` (the sample store's seasonal shape per
mode with a seeded level, growth, amplitude, January/February split and noise per county; 2012-01..2019-12),
projected as of 2019-06 with `perfkit batch`'s defaults (every candidate, Spring Festival regressor). The
issue's national scale is 5,600 series (2,800 counties × road/waterway); this runs a SAMPLE of them
(`--series`, default 20) and extrapolates the measured rate to 5,600, stated as such in the output. Reading
and checking the full 5,600-series long file (`batch.load_batch`, no fitting) is timed for real.

Legs, all with one BLAS/OpenMP thread per process (SINGLE_THREAD_ENV, checked inside each worker):
- serial: `growth.project_many` on a one-process spawned pool (not this process, whose BLAS may be threaded);
- pool: `growth.project_many` on a two-process spawned pool (what `perfkit batch` uses without --scheduler);
- dask: `growth.project_many` on a `LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` client.
Each leg's workers are started and warmed (perfkit and statsmodels imported) once before timing, and the
start-up is reported apart. `--rounds` (default 3, at least 3) paired rounds run the three legs, in reverse
order every other round (`benchmarks/measure.py`, which also prints the machine and its load first); the
figures are the median and range over rounds. Dask's overhead is dask ÷ pool − 1, per round, median, in wall time and in CPU
time (this process and all its child processes, psutil): the machine is shared, so wall times swing with
other users' load while CPU time per series stays put, and the 100-worker figure is given both ways. Every leg's results
are compared with the serial leg's (they must be identical).

Run: `python -m benchmarks.bench_scale [--series N] [--rounds R]`. Results: benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from . import bench_growth

RESULTS = Path(__file__).resolve().parent / "results"
NATIONAL = 5600  # about 2,800 counties × road and waterway (issue 17)
WORKERS = 2
BIG_CLUSTER = 100
AS_OF = "2019-06"
BAND = (10.0, 11.0)
DEFAULT_SERIES, DEFAULT_ROUNDS = 20, 3


def county_series(n: int) -> dict[str, pd.Series]:
    """The first `n` synthetic county series (road and waterway of n/2 counties), ids like 'county0007:road'."""
    sample = bench_growth.sample_series()
    shapes = {mode: bench_growth.seasonal_shape(*sample[f"sample:{mode}"]) for mode in bench_growth.MODES}
    cities = bench_growth.city_series((n + 1) // 2, shapes)
    return {name.replace("city", "county0"): s for name, s in list(cities.items())[:n]}


def warm(_=None) -> dict[str, str | None]:
    """Import what a projection needs (so start-up is not timed) and report the BLAS thread settings."""
    from perfkit import growth, growth_engine  # noqa: F401 - growth imported so start-up is not timed
    from perfkit.config import SINGLE_THREAD_ENV

    growth_engine._ets_class()
    time.sleep(0.2)  # keep this worker busy so the pool warms its other worker too
    return {k: os.environ.get(k) for k in SINGLE_THREAD_ENV} | {"pid": str(os.getpid())}


def _pool(workers: int) -> tuple[ProcessPoolExecutor, float, list]:
    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    envs = list(pool.map(warm, range(4 * workers)))
    return pool, time.perf_counter() - t0, envs


def _cluster(workers: int):
    from distributed import Client, LocalCluster

    from perfkit.config import SINGLE_THREAD_ENV

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
        env=dict(SINGLE_THREAD_ENV),
    )
    client = Client(cluster)
    envs = list(client.run(warm).values())
    return cluster, client, time.perf_counter() - t0, envs


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and every process below it: the pools' workers, the
    LocalCluster's nannies and workers (its scheduler runs in this process). Unlike wall time, it does not
    grow while other users' processes hold the cores."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # gone between listing and reading
            continue
        total += times.user + times.system
    return total


def load_check(n: int) -> dict:
    """Write a long Parquet of `n` county series and time `batch.load_batch` on it (read + every check)."""
    from perfkit import batch

    series = county_series(n)
    frame = pd.concat(
        [
            pd.DataFrame({"series_id": k, "month": s.index.astype(str), "value": s.to_numpy()})
            for k, s in series.items()
        ],
        ignore_index=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counties.parquet"
        frame.to_parquet(path, index=False)
        t0 = time.perf_counter()
        loaded = batch.load_batch(path, AS_OF, BAND)
        seconds = time.perf_counter() - t0
    assert len(loaded.values) == n
    return {"series": n, "rows": len(frame), "seconds": seconds}


def summary(times: list[float], n: int) -> dict:
    med = float(np.median(times))
    return {
        "seconds": times,
        "median_s": med,
        "min_s": min(times),
        "max_s": max(times),
        "series_per_s": n / med,
        "national_extrapolated_s": NATIONAL / (n / med),
    }


def main(argv: list[str] | None = None) -> dict:
    from perfkit import growth
    from perfkit.config import single_thread_env

    parser = argparse.ArgumentParser(prog="bench_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=DEFAULT_SERIES, help="sample size (default 20)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds (default 3)")
    args = parser.parse_args(argv)
    try:
        import distributed
    except ImportError:
        print("bench_scale skipped: Dask is not installed (pip install -e .[scale])")
        return {}

    with single_thread_env():  # read by every worker process started in the run
        return _run(args, growth, distributed)


def _run(args, growth, distributed) -> dict:
    from .measure import Paired, describe_machine, machine, rounds

    host = machine()
    print(describe_machine(host), flush=True)
    n = args.series
    series = county_series(n)
    print(
        f"scale: a SAMPLE of {n} synthetic county series (of the issue's {NATIONAL:,}; rates extrapolated to"
        f" {NATIONAL:,}), 2012-01..2019-12, projected as of {AS_OF}; one BLAS thread"
        f" per process; {args.rounds} rounds",
        flush=True,
    )
    load = load_check(NATIONAL)
    print(
        f"  read + check {NATIONAL:,} series ({load['rows']:,} rows, Parquet, no fitting): {load['seconds']:.1f} s",
        flush=True,
    )
    one, start_one, env_one = _pool(1)
    two, start_two, env_two = _pool(WORKERS)
    cluster, client, start_dask, env_dask = _cluster(WORKERS)
    envs = env_one + env_two + env_dask
    single = all(e[k] == "1" for e in envs for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
    print(
        f"  start-up (spawn + imports): 1-process pool {start_one:.1f} s, {WORKERS}-process pool {start_two:.1f} s,"
        f" {WORKERS}-worker LocalCluster {start_dask:.1f} s; every worker one BLAS thread: {single}",
        flush=True,
    )
    legs = {"serial": one, "pool": two, "dask": client}
    cpu: dict[str, list[float]] = {leg: [] for leg in legs}
    outcomes: list[dict] = []

    def leg_fn(leg: str, executor):
        def run() -> float:  # self-timed: wall seconds of the projections alone; CPU and results kept aside
            c0, t0 = cpu_seconds(), time.perf_counter()
            got = growth.project_many(series, AS_OF, BAND, executor=executor)
            seconds = time.perf_counter() - t0
            cpu[leg].append(cpu_seconds() - c0)
            outcomes.append({k: p.to_dict() for k, p in got.items()})
            print(f"  {leg}: {seconds:.1f} s (CPU {cpu[leg][-1]:.1f} s)", flush=True)
            return seconds

        return run

    try:
        # paired rounds, the legs' order reversed every other round (benchmarks/measure.py)
        times, _ = rounds({leg: leg_fn(leg, ex) for leg, ex in legs.items()}, args.rounds, self_timed=True)
    finally:
        one.shutdown()
        two.shutdown()
        client.close()
        cluster.close()
    same = all(o == outcomes[0] for o in outcomes)
    load_avg = os.getloadavg()[0]  # other engineers share this machine: how busy it was
    stats = {leg: summary(t, n) for leg, t in times.items()}
    for leg, c in cpu.items():
        stats[leg]["cpu_s"] = c
        stats[leg]["cpu_per_series_s"] = float(np.median(c)) / n
    dask_vs_pool, dask_vs_pool_cpu = Paired(times["pool"], times["dask"]), Paired(cpu["pool"], cpu["dask"])
    overhead, cpu_overhead = dask_vs_pool.median - 1, dask_vs_pool_cpu.median - 1
    pool_vs_serial = Paired(times["serial"], times["pool"])
    speedup = 1 / pool_vs_serial.median  # median of the rounds' serial ÷ pool (odd rounds: exactly)
    per_worker = stats["dask"]["series_per_s"] / WORKERS
    big = NATIONAL / (per_worker * BIG_CLUSTER)
    big_cpu = NATIONAL * stats["dask"]["cpu_per_series_s"] / BIG_CLUSTER  # each worker on a core of its own
    for leg, s in stats.items():
        print(
            f"  {leg:<6} median {s['median_s']:6.1f} s (range {s['min_s']:.1f}–{s['max_s']:.1f}) ="
            f" {s['series_per_s']:.2f} series/s; {NATIONAL:,} series extrapolated:"
            f" {s['national_extrapolated_s'] / 60:.0f} min; CPU {s['cpu_per_series_s']:.2f} s per series"
        )
    print(
        f"  pool speedup over serial {speedup:.2f}×; Dask against the pool: wall {dask_vs_pool}, CPU"
        f" {dask_vs_pool_cpu}, i.e. overhead {overhead * 100:+.1f}% wall, {cpu_overhead * 100:+.1f}% CPU"
        f" (median of rounds); identical results on every leg: {same}; load average at the end {load_avg:.1f}"
        f" on {os.cpu_count()} cores"
    )
    print(
        f"  {BIG_CLUSTER}-worker cluster, extrapolated at the measured {per_worker:.2f} series/s per Dask worker:"
        f" {NATIONAL:,} series in about {big / 60:.1f} min ({big:.0f} s), assuming linear scaling; at the"
        f" measured CPU per series with a core per worker: {big_cpu / 60:.1f} min"
    )
    result = {
        "machine": host,
        "sample_series": n,
        "national_series": NATIONAL,
        "extrapolated": True,
        "as_of": AS_OF,
        "workers": WORKERS,
        "rounds": args.rounds,
        "dask": distributed.__version__,
        "single_blas_thread_everywhere": single,
        "startup_s": {"pool_1": start_one, f"pool_{WORKERS}": start_two, "local_cluster": start_dask},
        "load_check_national": load,
        "legs": stats,
        "pool_vs_serial_wall": pool_vs_serial.as_dict(),
        "pool_speedup": speedup,
        "dask_vs_pool_wall": dask_vs_pool.as_dict(),
        "dask_vs_pool_cpu": dask_vs_pool_cpu.as_dict(),
        "dask_overhead_vs_pool": overhead,
        "dask_cpu_overhead_vs_pool": cpu_overhead,
        f"cluster_{BIG_CLUSTER}_workers_cpu_extrapolated_s": big_cpu,
        "identical_results": same,
        "load_average_1min_at_end": load_avg,
        "per_dask_worker_series_per_s": per_worker,
        f"cluster_{BIG_CLUSTER}_workers_extrapolated_s": big,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
