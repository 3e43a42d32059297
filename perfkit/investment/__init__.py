"""Year-end projection of investment and other cumulative measures (项目投资 and 累计类指标).

For each measure, from its monthly cumulative reports: where it will stand at its deadline (with an 80%
interval), the chance of reaching the target, the shortfall, the monthly amount still needed, and the gap
to the pro-rata schedule (序时进度 = months elapsed ÷ months to deadline).

Method (docs/investment.md has the derivation and the backtest figures):
- Profile time. Construction spending is back-loaded, so time is measured on a completion profile: τ(m)
  is the share of the year's amount normally done by the end of month m, rescaled so τ(deadline) = 1.
  Investment follows a profile learned from past years when enough exist, else plan.toml's
  [investment.default_profile] (national 2019 figures); other kinds follow time linearly.
- Scale. The deadline total is estimated twice: from the year to date, (A + p·T) / (τ + p), and from the
  last few months, (ΔA + p·T) / (Δτ + p); p is a small prior weight on the plan (T, the target) so a
  measure with nothing reported yet is not projected at zero. The two are averaged with a weight from the
  plan: the year-to-date figure is steadier; the recent one notices a stall or a catch-up.
- Projection: A + scale × (1 − τ). Uncertainty: if reports scatter around the profile like a random walk
  in profile time, the estimate's error has standard deviation σ·scale·√((1−τ)/(τ+p)). σ is measured, not
  assumed: from backtests on past years (leave-one-out) or, without them, on real public series (plan.toml
  [[investment.public_series]]), and from this year's own backtests per measure; the larger is used, widened
  for few cases (Student's t). The remaining amount is lognormal around the projection (its median), so the
  interval never goes below what is done; whole-item counts use a negative binomial instead.
- Edges: no reports yet; already complete (fixed-scope items stop at the target, spending goes on); the
  deadline passed (the value at the deadline is final); a correction that lowered an earlier figure
  (earlier months are restated down to the corrected value before any pace is measured).

Layout (the arrows run one way: profile → model → calibration → projection):
- `profile`: plan.toml [investment.projection] settings; the completion profile, default or learned;
- `model`: the scale estimate, the final value's distribution, the panel of reports;
- `calibration`: backtests and the interval width σ (`calibrate`, `backtest`, `backtest_public`);
- `projection`: `project_measures` (and from the store), totals by unit and leader.
The tables people read are in perfkit.tables.
"""

from __future__ import annotations

from .calibration import (  # noqa: F401 - the package's public names
    METHODS,
    POOL_CASES,
    Calibration,
    _current_sigma,
    backtest,
    backtest_public,
    backtest_summary,
    calibrate,
    public_series,
    small_sample_factor,
)
from .model import DISCRETE_KINDS, Z80, _count_distribution  # noqa: F401
from .profile import (  # noqa: F401
    MONTHS,
    PROJECTION_KEYS,
    Settings,
    default_profile,
    learn_profiles,
    linear_profile,
    settings,
)
from .projection import (  # noqa: F401
    COLUMNS,
    EDGES,
    by_leader,
    by_unit,
    project_measures,
    project_store,
    store_inputs,
)
