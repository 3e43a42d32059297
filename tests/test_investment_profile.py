"""perfkit.investment.profile: the completion profile, default from plan.toml or learned from past years."""

from __future__ import annotations

import numpy as np
import pandas as pd
from investment_cases import FRONT, row, series

from perfkit import investment


def test_profile_learned_from_past_years(catalogue):
    rng = np.random.default_rng(7)
    ids = catalogue.measures.loc[catalogue.measures["kind"] == "investment", "measure_id"]
    past = [
        series(mid, {m: total * FRONT[m - 1] for m in range(1, 13)}, year=year)
        for year in (2017, 2018)
        for mid in ids
        for total in [rng.uniform(500, 5000)]
    ]
    history = pd.concat(past, ignore_index=True)
    now = series("1-5-1.2", {m: 20000 * FRONT[m - 1] for m in range(1, 7)})
    learned = row(investment.project_measures(catalogue, now, "2019-06", history), "1-5-1.2")
    default = row(investment.project_measures(catalogue, now, "2019-06"), "1-5-1.2")
    assert learned["profile_source"] == "history" and default["profile_source"] == "default"
    assert abs(learned["projected"] / 20000 - 1) < 0.02
    assert default["projected"] / 20000 - 1 > 0.15  # the default profile expects less by June
    cal = investment.calibrate(catalogue, now, "2019-06", history)
    assert cal.reference == "history" and cal.history_series == 2 * len(ids)
