"""Where things live. Paths are resolved from the repository layout; the store path may be overridden."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
PLAN_DIR = DATA_DIR / "plan" / "2019"
SAMPLE_DIR = DATA_DIR / "sample"
REFERENCE_DIR = DATA_DIR / "reference"
OUTPUTS_DIR = ROOT / "outputs"
NOTEBOOKS_DIR = ROOT / "notebooks"
DEFAULT_DB = DATA_DIR / "perfkit.sqlite"


# One BLAS/OpenMP thread per process wherever perfkit runs work in parallel processes (brief kernels, growth
# workers): threads that spin-wait on a core another process needs made fits ~15× slower on 2 cores.
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def outputs_dir() -> Path:
    """Where briefs and hand runs write: $PERFKIT_OUTPUTS, else outputs/ in the repository."""
    env = os.environ.get("PERFKIT_OUTPUTS")
    return Path(env) if env else OUTPUTS_DIR


@contextlib.contextmanager
def single_thread_env():
    """SINGLE_THREAD_ENV in this process's environment while worker processes start, then restored: a
    spawned worker reads it when it first imports numpy, before any initializer could run."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The store to use: an explicit path, else $PERFKIT_DB, else data/perfkit.sqlite."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PERFKIT_DB")
    return Path(env) if env else DEFAULT_DB
