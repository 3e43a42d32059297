"""How every benchmark measures: the machine a figure was taken on, paired rounds, verdicts from medians.

- `machine()`: cores, CPU model, Python, numpy and the BLAS each loaded OpenBLAS runs (its core type and
  threads, asked from the library itself, as threadpoolctl does), OPENBLAS_CORETYPE, and the load average
  when the benchmark started. Printed first, stored in every results file.
- `rounds({name: fn, ...}, n)`: at least three rounds; each runs every function once, in reverse order every
  other round (baseline first, then subject first, ...), so a slow spell of this shared machine hits baseline
  and subject alike instead of one of them.
- `Paired`: a subject's seconds against its baseline's in the same rounds: the median and range of the
  per-round ratios (never a best-of, never one timing).
- `verdict(...)`: "met" or "NOT met" from the median against the target, printed with the range so a
  reader never has to trust prose.
"""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MIN_ROUNDS = 3


def cores() -> int:
    """CPUs this process may run on (what a worker pool would use)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas() -> list[dict]:
    """Each OpenBLAS loaded in this process (numpy's, scipy's): file, version, core type and threads.

    The core type is what the library picked at run time (OPENBLAS_CORETYPE overrides it), which is what
    decides the numbers a fit gives; numpy's build configuration only says what it was compiled with.
    """
    import numpy  # noqa: F401  (loads numpy's BLAS)

    try:
        import scipy.linalg  # noqa: F401  (loads scipy's, a separate copy)
    except ImportError:
        pass
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = sorted(
                {ln.split()[-1] for ln in f if "openblas" in ln.lower() and ln.split()[-1][0] == "/"}
            )
    except OSError:
        paths = []
    found = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                corename = getattr(lib, f"{prefix}openblas_get_corename{suffix}", None)
                if corename is None:
                    continue
                corename.restype = ctypes.c_char_p
                config = getattr(lib, f"{prefix}openblas_get_config{suffix}")
                config.restype = ctypes.c_char_p
                threads = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
                found.append(
                    {
                        "library": os.path.basename(path),
                        "version": config().decode().split()[1],
                        "core_type": corename().decode(),
                        "threads": int(threads()),
                    }
                )
                break
            else:
                continue
            break
    return found


def machine() -> dict:
    """The machine and its state now (call it when a benchmark starts)."""
    import numpy

    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "cores": cores(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": blas(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def describe_machine(m: dict) -> str:
    libs = "; ".join(
        f"{b['library'].split('-')[0].split('.so')[0]} {b['version']} core {b['core_type']}, {b['threads']} thread(s)"
        for b in m["blas"]
    )
    return (
        f"machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, numpy {m['numpy']}; "
        f"BLAS: {libs or 'no OpenBLAS found'}; OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_NUM_THREADS={m['OPENBLAS_NUM_THREADS']}; load average {' '.join(map(str, m['load_average']))} "
        f"at start; {m['date_utc']} UTC"
    )


def rounds(
    fns: dict[str, Callable[[], object]], n: int, *, self_timed: bool = False
) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Seconds of each function in each of `n` rounds (order reversed every other round); last results.

    self_timed: each function returns its own seconds (it leaves its setup and cleanup out of them)."""
    if n < MIN_ROUNDS:
        raise ValueError(f"at least {MIN_ROUNDS} paired rounds are needed for a median and a range, got {n}")
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, object] = {}
    names = list(fns)
    for r in range(n):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            results[name] = fns[name]()
            seconds[name].append(float(results[name]) if self_timed else time.perf_counter() - t0)
    return seconds, results


@dataclass
class Paired:
    """A subject's seconds against a baseline's, round by round."""

    baseline: list[float]
    subject: list[float]
    ratios: list[float] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.baseline) != len(self.subject) or not self.baseline:
            raise ValueError("paired rounds need as many baseline as subject timings")
        self.ratios = [s / b for b, s in zip(self.baseline, self.subject, strict=True)]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def low(self) -> float:
        return min(self.ratios)

    @property
    def high(self) -> float:
        return max(self.ratios)

    def as_dict(self) -> dict:
        return {
            "baseline_s": [round(x, 4) for x in self.baseline],
            "subject_s": [round(x, 4) for x in self.subject],
            "ratios": [round(x, 3) for x in self.ratios],
            "ratio_median": round(self.median, 3),
            "ratio_range": [round(self.low, 3), round(self.high, 3)],
        }

    def __str__(self) -> str:
        return f"{self.median:.2f}× ({self.low:.2f}–{self.high:.2f}×, {len(self.ratios)} rounds)"


def spread(values: list[float], fmt: str = ".2f") -> str:
    """'median (low–high)' of some seconds or ratios."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def verdict(target: str, median: float, limit: float, detail: str = "") -> dict:
    """Met when the median is at most the limit; printed, and returned for the results file."""
    ok = median <= limit
    print(
        f"target {target}: {'met' if ok else 'NOT met'} (median {median:.2f} vs ≤ {limit:g}{detail})",
        flush=True,
    )
    return {
        "target": target,
        "limit": limit,
        "median": round(median, 3),
        "verdict": "met" if ok else "not met",
    }
