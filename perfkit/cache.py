"""A small on-disk memo beside the store, so notebooks in different kernels share one expensive result.

The brief runs several notebooks that each need the same growth projection; fitting it is most of a brief's
compute. Results are keyed on the inputs' content and the computing module's source, so a changed store
or a new perfkit version never reads a stale entry. A file lock makes a second kernel wait for the first
one's result instead of fitting the same models again, and `memo_many` lets two kernels asking for the
same entries split them (each computes what the other is not already computing).
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
    return memo_many(cache_dir, namespace, [(key, compute)])[0]


_MISSING = object()


def memo_many(
    cache_dir: str | os.PathLike | None, namespace: str, items: list[tuple[str, Callable[[], Any]]]
) -> list[Any]:
    """Values for several (key, compute) pairs, sharing the work with other processes asking at once.

    Entries another process is computing right now (its lock is held) are skipped at first and waited for
    at the end, so two kernels asking for the same two entries compute one each instead of one waiting
    for both (the brief's two kernels split the road and waterway growth fits this way).
    """
    if cache_dir is None:
        return [compute() for _key, compute in items]
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    values: list[Any] = [_MISSING] * len(items)
    busy = []
    for i, (key, compute) in enumerate(items):
        got = _get_or_compute(folder, namespace, key, compute, wait=False)
        if got is _MISSING:
            busy.append(i)
        values[i] = got
    for i in busy:  # another process has these in hand: wait for its result (or compute if it gave up)
        key, compute = items[i]
        values[i] = _get_or_compute(folder, namespace, key, compute, wait=True)
    return values


def _get_or_compute(folder: Path, namespace: str, key: str, compute: Callable[[], Any], wait: bool) -> Any:
    path = folder / f"{namespace}-{key}.pkl"
    with open(folder / f"{namespace}-{key}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _MISSING
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
