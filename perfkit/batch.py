"""Growth projections for many series from one long file: a province's cities and counties in one run.

Input, long format (CSV or Parquet): one row per series and month with the columns `series_id`, `month`
(2019-03, 2019年3月 or a combined 2019年1—2月) and `value` (positive). Optional per-series bands in a second
file: `series_id`, `band_low`, `band_high` (%). Every row is checked before anything runs; each problem names
the file, the cell (CSV: column letter and row; Parquet: row and column) and the reason, and nothing is
written. Each series is then checked as `growth.project_annual_growth` would (unbroken publication periods,
a complete previous year), so a bad county stops the run at the start, not an hour in.

The projections run through `growth.project_many`: on the local process pool by default (no Dask needed), on
a Dask `LocalCluster` (`scheduler="local"`) or on an existing Dask cluster (a scheduler address; its workers
need this perfkit, which is checked first). Each series is one task with its own inputs and seed, so every
way gives the same numbers as a serial run. The output is one Parquet or CSV, one row per series: the series
id, then the fields of `perfkit growth --format json` (`GrowthProjection.to_dict`), the (low, high) pairs as
`_low` / `_high` columns and the nested `backtest`, `notes` and `path` as JSON text. It is written whole
(exports.write_whole: a temporary file beside the target, renamed), so a kill mid-write leaves no half file.
See docs/scale.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import growth
from .errors import InputError, Problem, input_file

SERIES_COLUMNS = {"series_id": ("series_id", "series", "id"), "month": ("month", "月份"), "value": ("value",)}
BAND_COLUMNS = {
    "series_id": ("series_id", "series", "id"),
    "band_low": ("band_low",),
    "band_high": ("band_high",),
}
PAIRS = ("interval_80", "interval_95", "band")  # (low, high) fields of a projection, one column each
NESTED = ("backtest", "notes", "path")  # stored as JSON text
CONNECT_TIMEOUT = "20s"  # to reach an existing scheduler
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class BatchError(Exception):
    """The batch cannot run here: Dask or pyarrow missing, a scheduler out of reach, workers unfit."""


@dataclass
class Batch:
    """Validated input: values and spans per series (in file order) and each series' band."""

    source: str
    values: dict[str, pd.Series]
    spans: dict[str, pd.Series]
    bands: dict[str, tuple[float, float]]


# ------------------------------------------------------------------------------------------- reading


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            Problem(str(path), f"expected a .csv or .parquet file, not {path.suffix or 'no suffix'!r}")
        )
    return fmt


def _read_table(
    path: Path, columns: dict[str, tuple[str, ...]]
) -> tuple[pd.DataFrame, Callable[[str, int], str]]:
    """The file's rows as text with canonical column names, and `cell(column, i)` naming row i's cell."""
    fmt = _format(path)
    input_file(path)
    try:
        if fmt == "csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#", encoding="utf-8-sig")
        else:
            df = _read_parquet(path)
    except UnicodeDecodeError as exc:
        raise InputError(Problem(str(path), f"not UTF-8 text ({exc.reason}): save the CSV as UTF-8")) from exc
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(Problem(str(path), f"not a readable {fmt.upper()} file ({exc})")) from exc
    lookup = {alias: key for key, aliases in columns.items() for alias in aliases}
    found = {lookup[str(c).strip().lower()]: c for c in df.columns if str(c).strip().lower() in lookup}
    missing = [k for k in columns if k not in found]
    if missing:
        raise InputError(
            Problem(
                str(path),
                f"missing column(s): {', '.join(missing)} (have: {', '.join(map(str, df.columns))})",
                cell="row 1" if fmt == "csv" else "",
            )
        )
    letter = {key: _letter(list(df.columns).index(col)) for key, col in found.items()}
    out = pd.DataFrame({key: df[col] for key, col in found.items()})

    def cell(column: str, i: int) -> str:
        return f"{letter[column]}{i + 2}" if fmt == "csv" else f"row {i + 1} ({column})"

    return out, cell


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401 - Parquet is read by pyarrow
    except ImportError as exc:
        raise BatchError("reading Parquet needs pyarrow: pip install -e .[scale], or give a .csv") from exc
    df = pd.read_parquet(path)
    for col in df.columns:  # months may be stored as dates or periods; everything else as text
        if isinstance(df[col].dtype, pd.PeriodDtype):
            df[col] = df[col].astype(str)
        elif pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = df[col].dt.strftime("%Y-%m")
    return df


def _letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _numbers(text: pd.Series) -> np.ndarray:
    """Text (or numbers) as floats; anything unreadable is NaN."""
    if pd.api.types.is_numeric_dtype(text):
        return text.to_numpy(dtype=float)
    return pd.to_numeric(
        text.astype(str).str.replace(",", "", regex=False).str.strip(), errors="coerce"
    ).to_numpy(dtype=float)


def _shown(value) -> str:
    """A cell's content for a message: text quoted, numbers plain (Parquet cells are numpy scalars)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _raise(problems: list[Problem]) -> None:
    if problems:  # every one; the command line prints at most errors.MAX_PROBLEMS_PER_FILE per file
        raise InputError(problems)


def read_long(path: str | os.PathLike) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """A long file of series_id, month, value → values and spans per series (file order), each by month."""
    path = Path(path)
    src = str(path)
    df, cell = _read_table(path, SERIES_COLUMNS)
    if df.empty:
        raise InputError(Problem(src, "no data rows"))
    problems: list[Problem] = []
    ids = df["series_id"].astype(str).str.strip()
    for i in np.flatnonzero((ids == "").to_numpy() | df["series_id"].isna().to_numpy()):
        problems.append(Problem(src, "series id is empty", cell=cell("series_id", i)))
    # a province's file repeats a few hundred months: parse each distinct text once
    parsed: dict[str, tuple[pd.Period, int] | str] = {}
    for text in pd.unique(df["month"].astype(str)):
        try:
            parsed[text] = _parse_month(text)
        except ValueError as exc:
            parsed[text] = str(exc)
    month_text = df["month"].astype(str).to_numpy()
    for i, text in enumerate(month_text):
        if isinstance(parsed[text], str):
            problems.append(Problem(src, parsed[text], cell=cell("month", i)))
    values = _numbers(df["value"])
    for i in np.flatnonzero(~np.isfinite(values) | ~(values > 0)):
        problems.append(
            Problem(
                src,
                f"value must be a positive number, got {_shown(df['value'].iloc[i])}",
                cell=cell("value", i),
            )
        )
    _raise(problems)
    months = pd.PeriodIndex([parsed[t][0] for t in month_text], freq="M")
    spans = np.array([parsed[t][1] for t in month_text], dtype=int)
    codes, names = pd.factorize(ids.to_numpy())  # series in file order
    ordinal = months.asi8
    key = pd.Series(codes.astype(np.int64) * (1 << 32) + ordinal)
    first = pd.Series(np.arange(len(key))).groupby(key.to_numpy()).transform("min").to_numpy()
    for i in np.flatnonzero(first != np.arange(len(key))):
        problems.append(
            Problem(
                src,
                f"series {names[codes[i]]!r}: month {months[i]} repeated (first at {cell('month', first[i])})",
                cell=cell("month", i),
            )
        )
    _raise(problems)
    # one sort, then a slice per series (a groupby building thousands of frames took seconds)
    order = np.lexsort((ordinal, codes))
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out_values, out_spans = {}, {}
    for sid, rows in zip(names, np.split(order, bounds), strict=True):
        idx = pd.PeriodIndex.from_ordinals(ordinal[rows], freq="M")
        out_values[sid] = pd.Series(values[rows], index=idx, name=sid)
        out_spans[sid] = pd.Series(spans[rows], index=idx, name="span_months")
    return out_values, out_spans


def _parse_month(text: str) -> tuple[pd.Period, int]:
    from .turnover import parse_period

    return parse_period(text.strip())


def read_bands(
    path: str | os.PathLike, known: set[str] | list[str], data_file: str = "the series file"
) -> dict:
    """Per-series bands: series_id, band_low, band_high (%) → {series_id: (low, high)}; every id must be known."""
    path = Path(path)
    src = str(path)
    df, cell = _read_table(path, BAND_COLUMNS)
    known = set(known)
    problems, bands, first_row = [], {}, {}
    ids = df["series_id"].astype(str).str.strip().to_numpy()
    low, high = _numbers(df["band_low"]), _numbers(df["band_high"])
    for i, sid in enumerate(ids):
        if sid not in known:
            problems.append(
                Problem(src, f"unknown series id {sid!r} (not in {data_file})", cell=cell("series_id", i))
            )
            continue
        if sid in first_row:
            problems.append(
                Problem(
                    src,
                    f"series {sid!r} given twice (first at {cell('series_id', first_row[sid])})",
                    cell=cell("series_id", i),
                )
            )
            continue
        first_row[sid] = i
        bad = [c for c, v in (("band_low", low[i]), ("band_high", high[i])) if not math.isfinite(v)]
        for c in bad:
            problems.append(
                Problem(src, f"{c} must be a number (%), got {_shown(df[c].iloc[i])}", cell=cell(c, i))
            )
        if bad:
            continue
        if low[i] > high[i]:
            problems.append(
                Problem(src, f"band_low {low[i]:g} is above band_high {high[i]:g}", cell=cell("band_low", i))
            )
            continue
        bands[sid] = (float(low[i]), float(high[i]))
    _raise(problems)
    return bands


def _series_problem(values: pd.Series, spans: pd.Series, as_of: pd.Period) -> str:
    """Why `project_annual_growth` would refuse this series at `as_of` (cheap: no fitting), or ''."""
    ordinal = values.index.asi8
    keep = ordinal <= as_of.ordinal
    if not keep.any():
        return f"no data up to {as_of}"
    # the common case without pandas: whole months, none missing, the previous year's January to December
    months = np.sort(ordinal[keep])
    january = pd.Period(year=as_of.year - 1, month=1, freq="M").ordinal
    unbroken = months[-1] - months[0] + 1 == len(months) and (spans.to_numpy()[keep] == 1).all()
    if unbroken and months[0] <= january and months[-1] >= january + 11:
        return ""
    try:
        periods = growth.to_publication_periods(values[keep], spans[keep])
    except ValueError as exc:
        return str(exc)
    if (periods["year"] == as_of.year - 1).sum() != growth.PERIODS_PER_YEAR:
        return f"the previous year ({as_of.year - 1}) must be complete to project {as_of.year}'s growth"
    return ""


def load_batch(
    path: str | os.PathLike,
    as_of: str | pd.Period,
    band: tuple[float, float] | None = None,
    bands_path: str | os.PathLike | None = None,
) -> Batch:
    """Read and check everything a batch needs; raises InputError listing every problem found."""
    as_of = _month(as_of)
    values, spans = read_long(path)
    src = str(path)
    bands = read_bands(bands_path, values, data_file=src) if bands_path else {}
    problems = []
    if band is not None and not (math.isfinite(band[0]) and math.isfinite(band[1]) and band[0] <= band[1]):
        problems.append(Problem("--band", f"need LOW ≤ HIGH, finite numbers; got {band[0]:g} {band[1]:g}"))
    without = [sid for sid in values if sid not in bands]
    if band is None and without:
        where = f"not in {bands_path}" if bands_path else "give --band LOW HIGH or --bands FILE"
        problems.append(
            Problem(
                src,
                f"no band for {len(without)} series ({', '.join(without[:5])}{' …' if len(without) > 5 else ''}): {where}",
            )
        )
    for sid in values:
        why = _series_problem(values[sid], spans[sid], as_of)
        if why:
            problems.append(Problem(src, f"series {sid!r}: {why}"))
    _raise(problems)
    default = tuple(float(x) for x in band) if band is not None else None
    return Batch(src, values, spans, {sid: bands.get(sid, default) for sid in values})


def _month(as_of) -> pd.Period:
    """The batch's --as-of through the one month parser (perfkit.months): YYYY-MM or a Period, else the
    same one-line MonthError (exit 2) every other command gives. No plan year applies to a batch file,
    so check_month's year test does not either; a month past a series' data is that series' problem."""
    from .months import parse_month

    return parse_month(as_of, "--as-of")


# ------------------------------------------------------------------------------------------- running


def _dask():
    try:
        import distributed
    except ImportError as exc:
        raise BatchError(
            "--scheduler needs Dask: pip install -e .[scale] (dask[distributed]); without it the batch runs on"
            " the local process pool"
        ) from exc
    return distributed


def worker_version() -> str:
    """What a worker must match: perfkit's version and the growth code's own source."""
    import hashlib

    from . import __version__

    h = hashlib.sha256()
    for name in ("growth", "growth_engine", "growth_projection", "growth_backtest"):
        h.update((Path(growth.__file__).with_name(f"{name}.py")).read_bytes())
    return f"{__version__}+{h.hexdigest()[:16]}"


@contextlib.contextmanager
def executor_for(scheduler: str | None, workers: int | None = None) -> Iterator[object | None]:
    """None (the default local process pool, `workers` processes), a Dask client on a new LocalCluster of
    `workers` one-thread worker processes (`scheduler="local"`), or one connected to a scheduler address.
    A client's workers are checked to run this perfkit before anything is sent."""
    if not scheduler:
        yield None
        return
    distributed = _dask()
    from .config import SINGLE_THREAD_ENV

    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,  # logging.ERROR: the worker chatter would bury the result line
                    env=dict(SINGLE_THREAD_ENV),  # one BLAS thread per worker, as the local pool does
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=CONNECT_TIMEOUT))
            except (OSError, TimeoutError, ValueError) as exc:
                raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from exc
        check_workers(client)
        yield client


def check_workers(client) -> dict[str, str]:
    """Every worker's perfkit version; BatchError when none are connected or one differs from ours."""
    want = worker_version()
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError as exc:
        raise BatchError(
            f"no Dask worker joined the scheduler within 60 s ({client.scheduler.address})"
        ) from exc
    try:
        got = client.run(worker_version)
    except Exception as exc:  # the worker side raises whatever failed there (e.g. no perfkit installed)
        raise BatchError(
            f"the Dask workers cannot run perfkit ({type(exc).__name__}: {exc}); install perfkit {want} on every worker"
        ) from exc
    wrong = {w: v for w, v in got.items() if v != want}
    if wrong:
        w, v = next(iter(wrong.items()))
        raise BatchError(f"{len(wrong)} Dask worker(s) run another perfkit (e.g. {w}: {v}); this is {want}")
    return got


def project_batch(batch: Batch, as_of, executor=None, workers: int | None = None, **kw) -> pd.DataFrame:
    """One row per series (OUTPUT order: file order): the series id and its projection's fields."""
    as_of = _month(as_of)
    first = next(iter(batch.bands.values()))
    bands = {sid: b for sid, b in batch.bands.items() if b != first}
    results = growth.project_many(
        batch.values,
        as_of,
        first,
        spans_by_name=batch.spans,
        bands_by_name=bands,
        workers=workers,
        executor=executor,
        **kw,
    )
    return projections_frame(results)


def projections_frame(results: dict[str, growth.GrowthProjection]) -> pd.DataFrame:
    """Projections as flat rows: series_id, the JSON fields, pairs as _low/_high, nested fields as JSON."""
    rows = []
    for sid, proj in results.items():
        d = proj.to_dict()
        row = {"series_id": sid}
        for key, value in d.items():
            if key in PAIRS:
                row[f"{key}_low"], row[f"{key}_high"] = value
            elif key in NESTED:
                row[key] = json.dumps(value, ensure_ascii=False, sort_keys=True)
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def write_projections(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Written whole (exports.write_whole: one temporary file beside the target, renamed over it), so readers
    never see a half-written file; what stops it is one OutputError line naming the file (exit 2)."""
    from .exports import write_csv, write_whole

    out = Path(out)
    if _format(out) == "parquet":
        return write_whole(out, lambda fh: frame.to_parquet(fh, index=False))
    return write_csv(frame, out)


def check_output(out: str | os.PathLike, *inputs) -> Path:
    """Refuse before any work: an unknown suffix, Parquet without pyarrow, an input as the target, or a
    target that cannot be written (exports.check_writable, a folder without write permission)."""
    out = Path(out)
    if _format(out) == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise BatchError(
                "writing Parquet needs pyarrow: pip install -e .[scale], or write a .csv"
            ) from exc
    for path in inputs:
        if path and out.resolve() == Path(path).resolve():
            raise InputError(Problem(str(out), "is an input file: raw inputs are never overwritten"))
    # what write_projections would meet an hour later: a folder there, no folder, a read-only file or folder
    from .exports import OutputError, check_writable, folder_problem

    check_writable(out)
    why = folder_problem(out.parent, named=True)
    if why is not None:
        raise OutputError(Problem(str(out), why))
    return out


@dataclass
class BatchRun:
    out: Path
    series: int
    seconds: float
    models: dict[str, int]


def run_batch(
    path,
    as_of,
    out,
    *,
    band: tuple[float, float] | None = None,
    bands_path=None,
    scheduler: str | None = None,
    workers: int | None = None,
    **kw,
) -> BatchRun:
    """Read, check, project every series and write `out`: the whole `perfkit batch` command."""
    as_of = _month(as_of)
    if workers is not None and workers < 1:
        raise InputError(Problem("--workers", f"need 1 or more, got {workers}"))
    out = check_output(out, path, bands_path)
    batch = load_batch(path, as_of, band, bands_path)
    t0 = time.perf_counter()
    with executor_for(scheduler, workers) as executor:
        frame = project_batch(batch, as_of, executor, workers, **kw)
    seconds = time.perf_counter() - t0
    write_projections(frame, out)
    return BatchRun(out, len(frame), seconds, frame["model"].value_counts().to_dict())
