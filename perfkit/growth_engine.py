"""The growth engine: a series' publication periods, the candidate models, their fits and forecasts, and the
backtest record that chooses among them (`perfkit.growth` is the public face; method in docs/growth.md).

- Publication periods. Statistics offices publish January and February together (1—2月), and the Spring
  Festival falls in those two months, so a year is modelled as 11 periods: 1—2月, 3月, …, 12月. A series
  with separate January and February values is summed into the same form.
- Candidates, on log values: `ets` (additive errors, damped trend, seasonal), `sarimax` (airline model
  (0,1,1)(0,1,1)₁₁ with the Spring Festival share regressor where the dates cover the series; its exact
  likelihood maximised here in numpy), `profile` (the rest-of-year to year-to-date ratio of the last three
  years, applied to this year's year-to-date) and `combined` (the geometric mean of `ets` and `profile`,
  their spreads mixed).
- Parameters are estimated once per projected year, on the complete years before it (at most ten); one
  filter pass with them gives the state at every origin, each from the periods before it only. The backtest
  that chooses the year's model runs the same parameters from the origins of the three previous years.
- A fit that raises drops that model for that year; a fit that does not converge is retried (second
  optimizer, from the previous year's parameters) and otherwise kept with its best parameters and a note,
  never dropped (whether an optimizer converges on a flat likelihood depends on the machine's BLAS).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 11  # 1—2月 is one period
CANDIDATES = ("combined", "ets", "sarimax", "profile")
COMBINED_MEMBERS = ("ets", "profile")
DEFAULT_ORDER = ("combined", "ets", "profile", "sarimax")
BACKTEST_MONTHS = range(
    2, 12
)  # as-of months a report backtests by default  # when there is no backtest to choose by
SINGLE_MODEL_MARGIN = 0.5  # a single model replaces `combined` only with under half its backtest error
MIN_BACKTEST_POINTS = 3
BASELINES = ("naive_ytd", "seasonal_naive")
BACKTEST_YEARS = 3
MAX_HISTORY_YEARS = 10
PROFILE_YEARS = 3
DISPERSION_YEARS = 8
MIN_HISTORY_MONTHS = 24
CALIBRATION_PRIOR = 1.0  # pseudo-observations pulling the interval scale towards 1
SELECTION_WINDOW = 1  # backtest origins k ± 1 choose the model …
CALIBRATION_WINDOW = 2  # … and k ± 2 calibrate its intervals (more points for a spread than for a ranking)
REPETITIONS = 1000
FIT_MAXITER = 200  # optimizer iterations of a fit …
RETRY_MAXITER = 1000  # … and of its second attempt when the first stopped unconverged
SEED = 2019
MEAN_CORRECTION = (
    1.0  # ets/sarimax points: the mean of each period's log-normal forecast (σ²/2 added), not its median
)
PERIOD_LABELS = ["1—2月"] + [f"{m}月" for m in range(3, 13)]


# ------------------------------------------------------------------------------------ input shape


def _as_month_index(index: pd.Index) -> pd.PeriodIndex:
    if isinstance(index, pd.PeriodIndex):
        return index.asfreq("M")
    if isinstance(index, pd.DatetimeIndex):
        return index.to_period("M")
    return pd.PeriodIndex([pd.Period(str(x), freq="M") for x in index], freq="M")


def monthly(series: pd.Series, spans: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Validated monthly values and their spans (2 for a 1—2月 value at February), indexed by Period[M]."""
    if not isinstance(series, pd.Series):
        raise TypeError("series must be a pandas Series indexed by month")
    idx = _as_month_index(series.index)
    values = pd.Series(pd.to_numeric(series.to_numpy(), errors="coerce"), index=idx, dtype=float)
    span = pd.Series(1, index=idx, dtype=int)
    if spans is not None:
        span = pd.Series(np.asarray(spans, dtype=int), index=idx, dtype=int)
    if idx.has_duplicates:
        dup = sorted({str(p) for p in idx[idx.duplicated()]})
        raise ValueError(f"the same month appears more than once: {', '.join(dup)}")
    bad = values[~np.isfinite(values) | (values <= 0)]
    if len(bad):
        raise ValueError(
            f"values must be positive numbers; bad at {', '.join(str(p) for p in bad.index[:5])}"
        )
    odd = span[(span != 1) & ~((span == 2) & (span.index.month == 2))]
    if len(odd):
        raise ValueError(
            f"only 1—2月 may span two months; bad span at {', '.join(str(p) for p in odd.index)}"
        )
    order = np.argsort(idx.asi8)
    return values.iloc[order], span.iloc[order]


def to_publication_periods(series: pd.Series, spans: pd.Series | None = None) -> pd.DataFrame:
    """One row per publication period (1—2月, 3月, …, 12月): year, season (0–10), month (last), value.

    January and February are summed when given apart; a leading incomplete period is dropped; a lone
    January at the end (the year's first release not out yet) is left out; any other gap is an error.
    """
    values, span = monthly(series, spans)
    rows = []
    pending_jan: tuple[pd.Period, float] | None = None
    for p, v, s in zip(values.index, values.to_numpy(), span.to_numpy(), strict=True):
        if p.month == 1:
            pending_jan = (p, v)
            continue
        if p.month == 2:
            jan = pending_jan if pending_jan and pending_jan[0].year == p.year else None
            pending_jan = None
            if s == 2:
                if jan is not None:
                    raise ValueError(f"{p.year}: January given both alone and inside 1—2月")
                rows.append((p.year, 0, p, v))
            elif jan is not None:
                rows.append((p.year, 0, p, jan[1] + v))
            else:
                rows.append((p.year, -1, p, v))  # February without January: incomplete period
            continue
        rows.append((p.year, p.month - 2, p, v))
    out = pd.DataFrame(rows, columns=["year", "season", "month", "value"])
    if pending_jan is not None and (out.empty or pending_jan[0] < out["month"].iloc[-1]):
        raise ValueError(f"{pending_jan[0]}: January without February")
    # drop leading incomplete periods, then require an unbroken run of periods
    while len(out) and out["season"].iloc[0] < 0:
        out = out.iloc[1:]
    if (out["season"] < 0).any():
        raise ValueError(f"January missing before {out.loc[out['season'] < 0, 'month'].iloc[0]}")
    key = out["year"].to_numpy() * PERIODS_PER_YEAR + out["season"].to_numpy()
    gaps = np.nonzero(np.diff(key) != 1)[0]
    if len(gaps):
        i = gaps[0]
        raise ValueError(f"months missing between {out['month'].iloc[i]} and {out['month'].iloc[i + 1]}")
    return out.reset_index(drop=True)


def _holiday_by_period(periods: pd.DataFrame, future_year: int) -> np.ndarray | None:
    """Spring Festival window share per period (1—2月 sums both months), through `future_year`'s end;
    None when the festival dates do not cover the series."""
    from .holidays import holiday_share

    first = periods["month"].iloc[0]
    months = pd.period_range(pd.Period(year=first.year, month=1, freq="M"), f"{future_year}-12", freq="M")
    try:
        share = holiday_share(months)
    except KeyError:
        return None
    df = pd.DataFrame({"year": months.year, "season": np.maximum(months.month - 2, 0), "s": share.to_numpy()})
    by = df.groupby(["year", "season"])["s"].sum()
    return by


# --------------------------------------------------------------------------------------- the engine


class _Forecast:
    """One method's forecast of the rest of a year from an origin (k periods of the year observed).

    `point`: (h,) remaining periods, levels. `draws`: (R, h) simulated remaining periods, levels, or None (no
    interval); computed on first use (`make_draws`), since the backtest that chooses a model reads points only.
    """

    def __init__(self, point: np.ndarray, draws: np.ndarray | None = None, make_draws=None):
        self.point = point
        self._draws = draws
        self._make = make_draws

    @property
    def draws(self) -> np.ndarray | None:
        if self._make is not None:
            make, self._make = self._make, None
            self._draws = make()
        return self._draws


def _ets_model(y: np.ndarray):
    """The `ets` candidate on log values: additive errors, damped trend, additive seasonal.

    Its results skip the complex-step Hessian statsmodels computes for standard errors whenever a results
    object is made (every fit and every re-smoothing at a new origin): nothing here reads standard errors,
    and the Hessian was 40% of a growth report's time. Fits, forecasts and simulations are unchanged.
    """
    return _ets_class()(
        y, error="add", trend="add", damped_trend=True, seasonal="add", seasonal_periods=PERIODS_PER_YEAR
    )


@functools.cache
def _ets_class():
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # imported on first use: ~1 s

    class ETSWithoutStandardErrors(ETSModel):
        def hessian(self, params, *args, **kwargs):
            return np.zeros((len(params), len(params)))

    return ETSWithoutStandardErrors


def _converged(res) -> bool:
    return bool((getattr(res, "mle_retvals", None) or {}).get("converged", True))


def _sarimax_model(y: np.ndarray, exog: np.ndarray | None):
    from statsmodels.tsa.statespace.sarimax import SARIMAX  # imported on first use

    return SARIMAX(y, exog=exog, order=(0, 1, 1), seasonal_order=(0, 1, 1, PERIODS_PER_YEAR))


@dataclass
class _Fit:
    """A model's parameters for one projected year, estimated on the complete years before it."""

    params: np.ndarray  # in statsmodels' order (ETSModel / SARIMAX param_names)
    start: int  # position of the first period they were estimated on (the state starts there)
    llf: float
    converged: bool
    sigma2: float = math.nan  # one-step error variance (log scale)


# ------------------------------------------------------------------------------- the airline model

AIRLINE_BOUND = 0.99  # |θ|, |Θ| at most this: invertible, and a seasonal MA root at 1 is approached, not hit
AIRLINE_GRID = np.linspace(-0.9, 0.9, 10)  # starting points tried before the local search


def _airline_nll(x: np.ndarray, w: np.ndarray, X: np.ndarray | None) -> tuple[float, np.ndarray, float]:
    """−log-likelihood of the airline model at (θ, Θ) = x, with the regression β and σ² concentrated out.

    w = ΔΔ₁₁ log y is an MA(12) with coefficients (1 + θB)(1 + ΘB¹¹): its exact Gaussian likelihood from the
    banded Cholesky factor of its autocovariance matrix (O(n) work). This is the likelihood statsmodels'
    SARIMAX maximises with its diffuse initialisation of the differences (checked to 1e-5 in the tests).
    """
    from scipy.linalg import cho_solve_banded, cholesky_banded

    s = PERIODS_PER_YEAR
    psi = np.zeros(s + 2)
    psi[0], psi[1], psi[s], psi[s + 1] = 1.0, x[0], x[1], x[0] * x[1]
    q, n = s + 1, len(w)
    ab = np.empty((q + 1, n))
    for h in range(q + 1):
        ab[q - h, :] = psi[: q + 1 - h] @ psi[h:]
    c = cholesky_banded(ab, lower=False)
    beta = np.zeros(0)
    resid = w
    if X is not None:
        ax = cho_solve_banded((c, False), X)
        beta = np.linalg.solve(X.T @ ax, ax.T @ w)
        resid = w - X @ beta
    ss = float(resid @ cho_solve_banded((c, False), resid))
    sigma2 = max(ss / n, 1e-300)
    nll = 0.5 * (n * math.log(2 * math.pi * sigma2) + 2 * float(np.sum(np.log(c[q]))) + n)
    return nll, beta, sigma2


def _fit_airline(
    y: np.ndarray, exog: np.ndarray | None, maxiter: int, start=None, retry: bool = False
) -> _Fit:
    """Maximum likelihood for the `sarimax` candidate: the best of a 10×10 grid of (θ, Θ), then L-BFGS-B
    (Nelder–Mead on `retry`) within ±AIRLINE_BOUND. The grid makes the optimum reached the same on every
    machine (a local search from one start can stop in another basin of this often flat likelihood);
    `converged` is the local search's own report, and the better of it and the grid point is kept."""
    from scipy.optimize import minimize

    s = PERIODS_PER_YEAR

    def diff(a):
        a = a[s:] - a[:-s]
        return a[1:] - a[:-1]

    w = diff(y)
    X = None if exog is None else diff(np.asarray(exog, dtype=float))
    f = lambda x: _airline_nll(x, w, X)[0]  # noqa: E731
    if start is None:
        grid = [(f(np.array([a, b])), a, b) for a in AIRLINE_GRID for b in AIRLINE_GRID]
        best = min(grid)
        start = np.array(best[1:])
    start = np.clip(np.asarray(start, dtype=float), -AIRLINE_BOUND, AIRLINE_BOUND)
    bounds = [(-AIRLINE_BOUND, AIRLINE_BOUND)] * 2
    opt = minimize(
        f, start, method="Nelder-Mead" if retry else "L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
    )
    x = opt.x if np.isfinite(opt.fun) and opt.fun <= f(start) else start
    nll, beta, sigma2 = _airline_nll(x, w, X)
    params = np.concatenate([beta, x, [sigma2]])
    return _Fit(params=params, start=0, llf=-nll, converged=bool(opt.success), sigma2=sigma2)


class _Engine:
    """Fits, caches and forecasts the candidate models on one series' publication periods."""

    def __init__(
        self,
        periods: pd.DataFrame,
        models: tuple[str, ...],
        holiday: bool | None,
        repetitions: int,
        seed: int,
        last_year: int,
    ):
        self.p = periods
        self.models = tuple(models)
        self.repetitions = repetitions
        self.seed = seed
        self.years = periods["year"].to_numpy()
        self.seasons = periods["season"].to_numpy()
        self.values = periods["value"].to_numpy(dtype=float)
        self.logs = np.log(self.values)
        complete = periods.groupby("year")["season"].count()
        self.complete = set(complete[complete == PERIODS_PER_YEAR].index)
        self.totals = periods.groupby("year")["value"].sum()
        self.holiday = None
        if holiday is not False and "sarimax" in self.models:
            by = _holiday_by_period(periods, last_year)
            if by is None and holiday:
                raise ValueError("Spring Festival dates do not cover the series (data/reference, 2000–2035)")
            self.holiday = by
        self._fits: dict[tuple[str, int], _Fit | None] = {}
        self._tracks: dict[tuple, object] = {}  # filter passes by (model, year), and their ψ weights
        self.notes: dict[tuple[str, int], str] = {}
        self._forecasts: dict[tuple, _Forecast | None] = {}

    # ---- data access
    def _index(self, year: int, k: int) -> int:
        """Position just after the k-th period of `year` (periods before it are known at that origin)."""
        pos = np.searchsorted(self.years * PERIODS_PER_YEAR + self.seasons, year * PERIODS_PER_YEAR + k)
        return int(pos)

    def year_values(self, year: int) -> np.ndarray:
        return self.values[self.years == year]

    def history_years(self, year: int) -> int:
        """Complete years before `year`."""
        return sum(1 for y in self.complete if y < year)

    def exog(self, start: int, stop: int) -> np.ndarray:
        keys = list(zip(self.years[start:stop], self.seasons[start:stop], strict=True))
        return np.array([[self.holiday.get(key, 0.0)] for key in keys])

    def exog_future(self, year: int, k: int) -> np.ndarray:
        return np.array([[self.holiday.get((year, s), 0.0)] for s in range(k, PERIODS_PER_YEAR)])

    # ---- fitting
    def fit(self, model: str, year: int) -> _Fit | None:
        """Parameters from complete years before `year` (at most MAX_HISTORY_YEARS); None if unusable.

        A fit whose optimizer stops without reporting convergence is not dropped (whether it converges on a
        flat likelihood depends on the CPU's BLAS kernels, so dropping it made the candidate set differ by
        machine): it is refitted from the previous year's parameters (or where it stopped) with a second
        optimizer, and if that does not converge either the better of the two by likelihood is kept and a
        note says so. Only a fit that raises drops the model for that year.
        """
        key = (model, year)
        if key in self._fits:
            return self._fits[key]
        end = self._index(year, 0)
        start = self._index(year - MAX_HISTORY_YEARS, 0)
        res = None
        if end - start < 2 * PERIODS_PER_YEAR:
            self.notes[key] = "short history"
        else:
            try:
                res = self._fit(model, start, end)
            except Exception as exc:  # statsmodels raises many kinds on degenerate data
                self.notes[key] = f"fit failed ({type(exc).__name__})"
                res = None
            if res is not None and not res.converged:
                res = self._refit(model, year, start, end, res)
        self._fits[key] = res
        return res

    def _refit(self, model: str, year: int, start: int, end: int, first: _Fit) -> _Fit:
        """A second attempt after `first` stopped unconverged: the second optimizer from the previous year's
        converged parameters, else from where `first` stopped. Returns a converged fit, else the better of
        the attempts (recorded in `notes`)."""
        previous = self.fit(model, year - 1)
        origin = "where the first attempt stopped"
        start_params = first.params
        if previous is not None and previous.converged and len(previous.params) == len(start_params):
            origin, start_params = "the previous year's parameters", previous.params
        try:
            second = self._fit(model, start, end, start_params=start_params, retry=True)
        except Exception:  # statsmodels raises many kinds on degenerate data
            second = None
        if second is not None and second.converged:
            return second
        tried = [r for r in (first, second) if r is not None and np.isfinite(r.llf)]
        best = max(tried, key=lambda r: r.llf) if tried else first
        self.notes[(model, year)] = (
            f"optimizer did not converge (second start from {origin} neither); best parameters kept"
        )
        return best

    def _fit(self, model: str, start: int, end: int, start_params=None, retry: bool = False) -> _Fit:
        y = self.logs[start:end]
        maxiter = RETRY_MAXITER if retry else FIT_MAXITER
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if model == "ets":
                res = _ets_model(y).fit(start_params=start_params, disp=False, maxiter=maxiter)
                params = np.asarray(res.params, dtype=float)
                return _Fit(params, start, float(res.llf), _converged(res), float(res.mse))
            if model == "sarimax":
                exog = self.exog(start, end) if self.holiday is not None else None
                if start_params is not None:
                    start_params = np.asarray(start_params)[-3:-1]  # (θ, Θ): β and σ² are concentrated out
                fitted = _fit_airline(y, exog, maxiter, start=start_params, retry=retry)
                fitted.start = start
                return fitted
        raise ValueError(f"unknown model {model!r}")

    def _track(self, model: str, year: int):
        """The model with `year`'s parameters run over every period from their start (cached): its state at
        any position uses only the periods before it, so one pass serves every origin of every year."""
        key = (model, year)
        if key not in self._tracks:
            fitted = self.fit(model, year)
            track = None
            if fitted is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    y = self.logs[fitted.start :]
                    if model == "ets":
                        track = _ets_model(y).smooth(fitted.params)
                    else:
                        exog = self.exog(fitted.start, len(self.logs)) if self.holiday is not None else None
                        track = _sarimax_model(y, exog).filter(fitted.params)
            self._tracks[key] = track
        return self._tracks[key]

    # ---- forecasting
    def forecast(self, method: str, year: int, k: int, params_year: int | None = None) -> _Forecast | None:
        """Forecast of periods k..10 of `year` from the origin after its k-th period (cached), with the
        parameters fitted for `params_year` (default `year`: as live; a backtest of a later year's choice
        passes that year, so one fit per model serves the projection and its whole backtest)."""
        if method not in ("ets", "sarimax", "combined"):
            params_year = None
        elif params_year is None:
            params_year = year
        key = (method, year, k, params_year)
        if key not in self._forecasts:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    self._forecasts[key] = self._forecast(method, year, k, params_year)
                except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                    self.notes[(method, year)] = "forecast failed"
                    self._forecasts[key] = None
        return self._forecasts[key]

    def _rng(self, method: str, year: int, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, year, k, sum(map(ord, method))])

    def _forecast(self, method: str, year: int, k: int, params_year: int | None) -> _Forecast | None:
        h = PERIODS_PER_YEAR - k
        if method == "combined":
            return self._combined(year, k, params_year)
        if method in ("profile", "naive_ytd", "seasonal_naive"):
            return getattr(self, f"_{method}")(year, k)
        fitted = self.fit(method, params_year)
        track = self._track(method, params_year)
        if fitted is None or track is None:
            return None
        stop = self._index(year, k)
        pos = stop - fitted.start  # first unobserved period, counted from the track's start
        if method == "ets":
            phi = float(fitted.params[3])
            level, trend, season = np.asarray(track.states, dtype=float)[pos - 1]
            del season
            seasonal = np.asarray(track.states, dtype=float)[pos + np.arange(h) - PERIODS_PER_YEAR, 2]
            mean = level + np.cumsum(phi ** np.arange(1, h + 1)) * trend + seasonal
            make = functools.partial(self._ets_draws, fitted, stop, h, self._rng(method, year, k))
            alpha, beta, gamma = (float(v) for v in fitted.params[:3])
            steps = np.arange(1, h)
            c = (
                alpha
                + beta * np.cumsum(phi ** np.arange(1, h))[: h - 1]
                + gamma * (steps % PERIODS_PER_YEAR == 0)
            )
            variance = fitted.sigma2 * (1 + np.concatenate([[0.0], np.cumsum(c**2)]))
        else:
            ssm = track.model.ssm
            state = np.asarray(track.filter_results.predicted_state[:, pos], dtype=float)
            T, Z = (
                np.asarray(ssm["transition"]).reshape(len(state), len(state)),
                np.asarray(ssm["design"]).ravel(),
            )
            n_beta = len(fitted.params) - 3
            shift = self.exog_future(year, k) @ fitted.params[:n_beta] if n_beta else np.zeros(h)
            mean = np.empty(h)
            for j in range(h):
                mean[j] = Z @ state + shift[j]
                state = T @ state
            make = functools.partial(self._sarimax_draws, track, mean, h, self._rng(method, year, k))
            variance = float(fitted.params[-1]) * np.cumsum(self._psi(method, params_year)[:h] ** 2)
        if not np.all(np.isfinite(mean)) or np.max(np.abs(mean)) > 700:
            self.notes[(method, year)] = "forecast not finite"
            return None
        if np.all(np.isfinite(variance)):
            mean = mean + MEAN_CORRECTION * variance / 2
        return _Forecast(point=np.exp(mean), make_draws=make)

    def _ets_draws(self, fitted: _Fit, stop: int, h: int, rng) -> np.ndarray | None:
        res = _ets_model(self.logs[fitted.start : stop]).smooth(fitted.params)
        sims = np.asarray(res.simulate(h, anchor="end", repetitions=self.repetitions, rng=rng), dtype=float)
        return self._finite_draws(sims.reshape(h, -1).T)

    def _psi(self, model: str, year: int) -> np.ndarray:
        """The MA(∞) weights ψ₀ = 1, ψ₁, … of `year`'s fit, for a year's periods (cached with the engine)."""
        key = ("psi", model, year)
        if key not in self._tracks:
            track = self._track(model, year)
            self._tracks[key] = np.asarray(track.impulse_responses(PERIODS_PER_YEAR - 1), dtype=float).ravel()
        return self._tracks[key]

    def _sarimax_draws(self, track, mean: np.ndarray, h: int, rng) -> np.ndarray | None:
        # Paths from the model's MA(∞) weights: the same joint law as res.simulate, which loops in Python
        # over repetitions (a thousand times slower here).
        psi = np.asarray(track.impulse_responses(h - 1), dtype=float).ravel()[:h]
        lower = np.array([[psi[i - j] if j <= i else 0.0 for j in range(h)] for i in range(h)])
        shocks = rng.standard_normal((self.repetitions, h)) * math.sqrt(float(track.params[-1]))
        return self._finite_draws(mean[None, :] + shocks @ lower.T)

    @staticmethod
    def _finite_draws(sims: np.ndarray) -> np.ndarray | None:
        return np.exp(np.clip(sims, -700, 700)) if np.all(np.isfinite(sims)) else None

    def _past_years(self, year: int, n: int) -> list[int]:
        return sorted(y for y in self.complete if y < year)[-n:]

    def _profile(self, year: int, k: int) -> _Forecast | None:
        """Rest of year = YTD × the rest-to-YTD ratio of recent years (log-normal spread from more years)."""
        years = self._past_years(year, DISPERSION_YEARS)
        if len(years) < 2:
            return None
        if k == 0:
            # nothing of the year yet: last year's total grown at the recent average rate
            tot = np.array([self.totals[y] for y in years])
            growth = np.diff(np.log(tot))
            if len(growth) < 2:
                return None
            q = np.log(tot[-1]) + growth[-(PROFILE_YEARS):].mean()
            sd = growth.std(ddof=1)
            base = np.exp(q)
        else:
            ytd = np.array([self.year_values(y)[:k].sum() for y in years])
            rest = np.array([self.year_values(y)[k:].sum() for y in years])
            ratio = np.log(rest / ytd)
            q = ratio[-PROFILE_YEARS:].mean()
            sd = ratio.std(ddof=1)
            base = self.year_values(year)[:k].sum() * np.exp(q)
        shares = np.array(
            [self.year_values(y)[k:] / self.year_values(y)[k:].sum() for y in years[-PROFILE_YEARS:]]
        )
        shares = shares.mean(axis=0)
        n_recent = min(PROFILE_YEARS, len(years))
        z = self._rng("profile", year, k).standard_normal(self.repetitions)
        totals = base * np.exp(z * sd * math.sqrt(1 + 1 / n_recent))
        return _Forecast(point=base * shares, draws=totals[:, None] * shares[None, :])

    def _combined(self, year: int, k: int, params_year: int | None) -> _Forecast | None:
        """Geometric mean of the members' forecasts. Simulated paths average the members' log deviations,
        rescaled so the spread of the year's remainder is the members' average spread (a plain mixture of
        paths would be heavy-tailed and give too-narrow 80% intervals)."""
        parts = [fc for m in COMBINED_MEMBERS if (fc := self.forecast(m, year, k, params_year)) is not None]
        if len(parts) < 2:
            return None
        point = np.exp(np.mean([np.log(fc.point) for fc in parts], axis=0))

        def draws():
            if any(fc.draws is None for fc in parts):
                return None
            devs = [np.log(fc.draws) - np.log(fc.point)[None, :] for fc in parts]
            spread = [np.var(np.log(fc.draws.sum(axis=1))) for fc in parts]
            avg = np.mean(devs, axis=0)
            got = np.var(np.log((point[None, :] * np.exp(avg)).sum(axis=1)))
            c = math.sqrt(np.mean(spread) / got) if got > 0 else 1.0
            return point[None, :] * np.exp(c * avg)

        return _Forecast(point=point, make_draws=draws)

    def _naive_ytd(self, year: int, k: int) -> _Forecast | None:
        """What statisticians do: the rest of the year grows at the year-to-date rate."""
        if year - 1 not in self.complete or k == 0:
            return None
        now, prev = self.year_values(year)[:k], self.year_values(year - 1)
        growth = now.sum() / prev[:k].sum()
        point = prev[k:] * growth
        draws = None
        if k >= 2:  # spread of the periods' own year-on-year growth around the YTD rate
            sd = np.log(now / prev[:k]).std(ddof=1)
            z = self._rng("naive_ytd", year, k).standard_normal(self.repetitions)
            draws = point[None, :] * np.exp(z * sd)[:, None]
        return _Forecast(point=point, draws=draws)

    def _seasonal_naive(self, year: int, k: int) -> _Forecast | None:
        """The rest of the year repeats last year's periods (no growth)."""
        if year - 1 not in self.complete:
            return None
        return _Forecast(point=self.year_values(year - 1)[k:].copy(), draws=None)

    # ---- growth of a forecast
    def growth_point(self, fc: _Forecast, year: int, k: int) -> float:
        """Full-year growth (ratio − 1, levels basis) of the forecast's point (its draws are not made)."""
        return float((self.year_values(year)[:k].sum() + fc.point.sum()) / self.totals[year - 1] - 1)

    def growth(self, fc: _Forecast, year: int, k: int) -> tuple[float, np.ndarray | None]:
        """Full-year growth (ratio − 1, levels basis): point and draws."""
        ytd = self.year_values(year)[:k].sum()
        prev = self.totals[year - 1]
        point = (ytd + fc.point.sum()) / prev - 1
        draws = None if fc.draws is None else (ytd + fc.draws.sum(axis=1)) / prev - 1
        return float(point), draws

    def actual_growth(self, year: int) -> float | None:
        if year not in self.complete or year - 1 not in self.complete:
            return None
        return float(self.totals[year] / self.totals[year - 1] - 1)

    # ---- selection
    def backtest_points(self, method: str, year: int, k: int) -> list[dict]:
        """The method's record on up to BACKTEST_YEARS previous years at origins k ± CALIBRATION_WINDOW
        (`near`: within k ± SELECTION_WINDOW, the points that choose the model)."""
        out = []
        for y in self._past_years(year, BACKTEST_YEARS):
            if self.history_years(y) < 2 or self.actual_growth(y) is None:
                continue
            for kk in range(k - CALIBRATION_WINDOW, k + CALIBRATION_WINDOW + 1):
                if not 0 <= kk < PERIODS_PER_YEAR:
                    continue
                fc = self.forecast(method, y, kk, params_year=year)
                if fc is None:
                    continue
                g = self.growth_point(fc, y, kk)
                actual = self.actual_growth(y)
                out.append(
                    {
                        "year": y,
                        "k": kk,
                        "near": abs(kk - k) <= SELECTION_WINDOW,
                        "error": g - actual,
                        "log_error": math.log1p(g) - math.log1p(actual),
                    }
                )
        return out

    def select(self, year: int, k: int) -> tuple[str | None, dict[str, dict], str]:
        """Choose a model for (year, k) by the backtest on past years: `combined` unless a single model
        has under SINGLE_MODEL_MARGIN of its error; without `combined`, the lowest error."""
        record: dict[str, dict] = {}
        usable = []
        for m in self.models:
            if self.forecast(m, year, k) is None:
                continue
            usable.append(m)
            pts = self.backtest_points(m, year, k)
            errs = [abs(p["error"]) for p in pts if p["near"]]
            record[m] = {
                "mae_pp": float(np.mean(errs) * 100) if errs else math.nan,
                "n": len(errs),
                "mse_log": float(np.mean([p["log_error"] ** 2 for p in pts])) if pts else math.nan,
                "n_cal": len(pts),
            }
        if not usable:
            return None, record, "no candidate model could be fitted"
        scored = [m for m in usable if record[m]["n"] >= MIN_BACKTEST_POINTS]
        if not scored:
            best = next((m for m in DEFAULT_ORDER if m in usable), usable[0])
            return best, record, "no backtest (too few past years): default model"
        mae = {m: record[m]["mae_pp"] for m in scored}
        singles = [m for m in scored if m != "combined"]
        best = min(singles or scored, key=lambda m: (mae[m], self.models.index(m)))
        if "combined" in scored and not (singles and mae[best] < (1 - SINGLE_MODEL_MARGIN) * mae["combined"]):
            best = "combined"
        return best, record, ""

    @staticmethod
    def scale(record: dict, draws: np.ndarray | None) -> float:
        """How much to widen the intervals: the backtest's squared log errors against the spread the
        model now claims, pooled with CALIBRATION_PRIOR pseudo-errors of that spread; never narrower."""
        n = record.get("n_cal", 0)
        if not n or draws is None:
            return 1.0
        sd = float(np.std(np.log1p(draws)))
        if not sd > 0:
            return 1.0
        mse = (n * record["mse_log"] + CALIBRATION_PRIOR * sd**2) / (n + CALIBRATION_PRIOR)
        return float(max(1.0, math.sqrt(mse) / sd))


def _widen(point: float, draws: np.ndarray, scale: float) -> np.ndarray:
    """Stretch draws of a ratio-like quantity (>0) around the point on the log scale."""
    if scale == 1.0:
        return draws
    lp = math.log(point)
    return np.exp(lp + scale * (np.log(draws) - lp))


def _prepare(series, as_of, spans):
    as_of = pd.Period(as_of, freq="M")
    values, span = monthly(series, spans)
    keep = values.index <= as_of
    values, span = values[keep], span[keep]
    if values.empty:
        raise ValueError(f"no data up to {as_of}")
    periods = to_publication_periods(values, span)
    return as_of, values, span, periods
