"""Where things live. Paths are resolved from the repository layout; the store path may be overridden."""

from __future__ import annotations

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


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The store to use: an explicit path, else $PERFKIT_DB, else data/perfkit.sqlite."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PERFKIT_DB")
    return Path(env) if env else DEFAULT_DB
