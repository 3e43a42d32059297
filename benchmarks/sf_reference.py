"""statsforecast reference forecasts for the growth evaluation, run in a separate environment.

statsforecast cannot share perfkit's lock (it needs pandas < 3), so `benchmarks/eval_growth.py` runs this
file with the reference venv's Python (`.venv-ref`, see docs/growth.md) as a subprocess: a JSON job on
stdin, a JSON answer on stdout. It imports nothing from perfkit.

Job: {"series": {name: [monthly values]}, "tasks": [[name, cutoff, h], ...], "models": ["AutoETS", ...],
"paths": 1000, "seed": 2019}. For each task and model: the model is fitted on values[:cutoff] with
season_length 12 (once), and gives its mean forecast of the next h months and `paths` simulated paths, summarised
as the quantiles of their h-month sum (for full-year growth intervals). Answer: {"version", "results":
[[name, cutoff, model, mean_sum, {quantile: sum}], ...], "seconds": {model: total fit+forecast+simulate
seconds}}, written as JSON lines as it goes: one {"result": [...]} line per task and model, then one
{"version", "seconds"} line (a long run on a busy machine leaves what it finished).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)


def main() -> None:
    import numpy as np
    import statsforecast
    from statsforecast.models import AutoARIMA, AutoETS

    job = json.load(sys.stdin)
    make = {"AutoETS": lambda: AutoETS(season_length=12), "AutoARIMA": lambda: AutoARIMA(season_length=12)}
    series = {k: np.asarray(v, dtype=float) for k, v in job["series"].items()}
    paths, seed = int(job.get("paths", 1000)), int(job.get("seed", 2019))
    results, seconds = [], {}
    for model in job["models"]:
        first = next(iter(series.values()))
        with warnings.catch_warnings():  # warm-up: numba compiles on the first call
            warnings.simplefilter("ignore")
            warm = make[model]().fit(first[:48])
            warm.predict(h=6), warm.simulate(h=6, n_paths=10, seed=seed)
        t0 = time.perf_counter()
        for name, cutoff, h in job["tasks"]:
            y = series[name][:cutoff]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = make[model]().fit(y)  # one fit, then its forecast and simulated paths
                mean = float(np.sum(fitted.predict(h=h)["mean"]))
                sims = np.asarray(fitted.simulate(h=h, n_paths=paths, seed=seed), dtype=float)
            sums = sims.reshape(paths, h).sum(axis=1)
            qs = {str(q): float(np.quantile(sums, q)) for q in QUANTILES}
            results.append([name, cutoff, model, mean, qs])
            print(json.dumps({"result": results[-1]}), flush=True)
        seconds[model] = time.perf_counter() - t0
    print(json.dumps({"version": statsforecast.__version__, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
