"""Synthetic monthly series shared by the growth tests (test_growth*.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# the fast settings: one candidate, few draws
FAST = {"models": ("profile",), "repetitions": 400}


def steady(years: int = 6, growth_pct: float = 10.0, noise: float = 0.01, start: int = 2013, seed: int = 1):
    """Monthly series with a seasonal shape and steady growth (synthetic, for tests)."""
    rng = np.random.default_rng(seed)
    months = pd.period_range(f"{start}-01", f"{start + years - 1}-12", freq="M")
    season = np.array([0.9, 0.8, 1.0, 1.0, 1.05, 1.0, 1.0, 1.02, 1.03, 1.05, 1.05, 1.1])
    t = np.arange(len(months)) / 12
    values = 100 * (1 + growth_pct / 100) ** t * season[months.month - 1] * rng.normal(1, noise, len(months))
    return pd.Series(values, index=months)
