"""The raw-file archive: every accepted file kept as it came, read-only, under its content address
(<sha256><suffix>) next to the store. A copy appears whole or not at all (written under a temporary name,
fsynced, renamed), and the folder is fsynced so the new name is durable; an existing copy is kept, or
refused when its bytes do not match its name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import StoreError


def default_archive(db: str | os.PathLike | None = None) -> Path:
    """Next to the store: data/archive for the default data/perfkit.sqlite."""
    from .config import db_path

    return db_path(db).parent / "archive"


def archive_raw(data: bytes, sha: str, suffix: str, archive_dir: Path, *, sync_dir: bool = True) -> Path:
    """Copy the raw bytes to archive_dir/<sha256><suffix>, read-only; an existing copy is kept as is.

    The copy is fsynced before it is renamed into place; with `sync_dir` the directory is fsynced too, so
    the new name is durable when this returns (`ingest_files` passes False and fsyncs the directory itself).
    """
    archive_dir.mkdir(parents=True, exist_ok=True)
    dest = archive_dir / f"{sha}{suffix.lower()}"
    if dest.exists():
        if hashlib.sha256(dest.read_bytes()).hexdigest() != sha:
            raise StoreError(f"archive file {dest} does not match its name: refusing to overwrite it")
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, dest)  # appears whole or not at all
    finally:
        if tmp.exists():
            tmp.unlink()
    if sync_dir:
        fsync_dir(archive_dir)
    return dest


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` to `path`, fsync it and make it read-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.fchmod(fd, 0o444)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make renames and new names in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows: directory entries are written through
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_unsynced(path: Path, data: bytes, folder: Path) -> int:
    """Create `path` read-only with `data`, and return its open descriptor for the fsync to come."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o444)  # the mode applies to the new file; this descriptor may write
    except FileNotFoundError:  # the first copy: make the folder (not per file: it is a syscall more)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        discard(path)
        raise
    return fd


def discard(tmp: Path | None) -> None:
    if tmp is not None:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def shown(path: Path) -> str:
    """Archive paths inside the repository are recorded relative to it."""
    from .config import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())
