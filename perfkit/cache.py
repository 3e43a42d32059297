"""A small on-disk memo beside the store, so notebooks in different kernels share one expensive result.

The brief runs several notebooks that each need the same growth projection; fitting it is most of a brief's
compute. Results are keyed on the inputs' content and the computing module's source, so a changed store
or a new perfkit version never reads a stale entry. A file lock makes a second kernel wait for the first
one's result instead of fitting the same models again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")


def _digest(part: Any, h) -> None:
    if isinstance(part, pd.DataFrame):
        h.update(repr(list(part.columns)).encode())
        h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    elif isinstance(part, (list, tuple)):
        h.update(b"(")
        for item in part:
            _digest(item, h)
        h.update(b")")
    elif isinstance(part, dict):
        _digest(sorted(part.items(), key=lambda kv: str(kv[0])), h)
    else:
        h.update(repr(part).encode())
        h.update(b"|")


def key_of(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        _digest(part, h)
    return h.hexdigest()[:32]


def source_version(module_file: str) -> str:
    """The module's own source bytes: editing the code invalidates what it cached."""
    return hashlib.sha256(Path(module_file).read_bytes()).hexdigest()[:16]


def memo(cache_dir: str | os.PathLike | None, namespace: str, key: str, compute: Callable[[], T]) -> T:
    """`compute()` once per key; later calls (from any process) read the pickled result."""
    if cache_dir is None:
        return compute()
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{namespace}-{key}.pkl"
    with open(folder / f"{namespace}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent kernel waits here for the first one's result
        if path.exists():
            try:
                with open(path, "rb") as fh:
                    return pickle.load(fh)
            except Exception:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
                path.unlink(missing_ok=True)
        value = compute()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        return value
