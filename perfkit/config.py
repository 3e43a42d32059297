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


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The store to use: an explicit path, else $PERFKIT_DB, else data/perfkit.sqlite."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PERFKIT_DB")
    return Path(env) if env else DEFAULT_DB
