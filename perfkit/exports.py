"""Writing tables people open: CSV with a BOM so Excel reads the Chinese, text neutralised against
formula injection (a cell starting with =, +, -, @ would be run by Excel)."""

from __future__ import annotations

import errno
import gc
import io
import os
import re
import stat
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import pandas as pd

from .errors import InputError, Problem

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# C0 controls but tab, line feed and carriage return; DEL; C1 controls (ESC, BEL, CSI… drive terminals)
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_char(text: str) -> str | None:
    """What is wrong with submitted text that holds a control character (None when it holds none):
    intake refuses such text rather than altering what a unit sent."""
    m = CONTROL_CHARS.search(text)
    if m is None:
        return None
    ch = m.group()
    name = unicodedata.name(ch, "") or {"\x1b": "ESC", "\x07": "BEL", "\x00": "NUL", "\x7f": "DEL"}.get(
        ch, ""
    )
    return (
        f"control character U+{ord(ch):04X}{f' ({name})' if name else ''} at character {m.start() + 1}:"
        " remove it (tabs and line breaks are fine)"
    )


def visible(value: object) -> object:
    """Text for a terminal: every unprintable character (controls, bidi overrides, line breaks) shown as
    its escape (\\x1b, \\u202e, \\n) so stored text can never drive the terminal; spaces stay."""
    if not isinstance(value, str) or value.isprintable():
        return value
    return "".join(
        ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else ascii(ch)[1:-1] for ch in value
    )


def neutralise(value: object) -> object:
    """Text that a spreadsheet would take as a formula gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """UTF-8 with BOM (Excel opens it with the right encoding), text neutralised; written whole. The CSV is
    encoded straight into write_whole's buffer: the file is in memory once, not also as text."""
    safe = safe_frame(df)
    return write_whole(
        path, lambda fh: safe.to_csv(fh, index=False, lineterminator="\n", encoding="utf-8-sig")
    )


# ------------------------------------------------------------------------------------ output files


class OutputError(InputError):
    """An output file perfkit cannot write where it was asked to (a folder, a missing folder, a read-only
    file, a file open in Word, Excel or LibreOffice, no permission, a full disk): one line naming the file
    and the reason, exit 2; nothing was written and the file there before is as it was."""


# what Office, WPS and LibreOffice leave beside a document while it is open
def _lock_files(path: Path) -> list[Path]:
    name = path.name
    found = [f"~${name}", f".~lock.{name}#"]
    if len(Path(name).stem) > 7:  # Word's owner file drops the first two characters of a long name
        found.append(f"~${name[2:]}")
    return [path.with_name(n) for n in found]


def check_writable(path: str | Path) -> Path:
    """`path` can be replaced by a new file: not a folder, in a folder that exists, not read-only, not open
    in another program (its lock file beside it). OutputError naming the reason otherwise."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(Problem(str(path), "is a folder, not a file"))
    if not path.parent.is_dir():
        blocker = _nearest_existing(path.parent)
        if blocker is not None and not blocker.is_dir():
            raise OutputError(Problem(str(path), f"{blocker} is a file, not a folder"))
        raise OutputError(Problem(str(path), f"the folder {path.parent} does not exist"))
    lock = next((lock for lock in _lock_files(path) if lock.exists()), None)
    if lock is not None:
        why = f"is open in another program (its lock file {lock.name} is beside it): close it and run again"
        raise OutputError(Problem(str(path), why))
    if path.exists() and not path.stat().st_mode & 0o222:
        raise OutputError(
            Problem(str(path), "is read-only: left as it is (make it writable, or write elsewhere)")
        )
    return path


def check_all_writable(paths: Iterable[str | Path]) -> list[Path]:
    """Every one of `paths` can be replaced (check_writable), checked before any is written, so a command
    writing one file per unit refuses a blocked target (open in Excel, read-only) without having written the
    others first. OutputError with one line per blocked target; a folder still to be made is left to
    make_folder, which refuses before the first file."""
    paths = [Path(p) for p in paths]
    problems = []
    for path in paths:
        if not path.parent.is_dir():
            continue
        try:
            check_writable(path)
        except OutputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise OutputError(problems)
    return paths


def folder_problem(folder: str | Path, *, named: bool = False) -> str | None:
    """Why files cannot be written into `folder` (made first if missing), or None: it, or the nearest folder
    above it that exists, is a file, or cannot be written in (no permission, a read-only disk). `named`: the
    reason names `folder` itself too (for a line that names a file inside it)."""
    folder = Path(folder)
    base = _nearest_existing(folder)
    if base is None:
        return None
    if not base.is_dir():
        return f"{base} is a file, not a folder" if named or base != folder else "is a file, not a folder"
    if not os.access(base, os.W_OK | os.X_OK):
        read_only_disk = hasattr(os, "statvfs") and os.statvfs(base).f_flag & os.ST_RDONLY
        return f"cannot write in {base}: {'Read-only file system' if read_only_disk else 'Permission denied'}"
    return None


def check_folder(folder: str | Path) -> Path:
    """OutputError naming `folder` when files cannot be written into it (folder_problem); nothing is made."""
    why = folder_problem(folder)
    if why is not None:
        raise OutputError(Problem(str(folder), why))
    return Path(folder)


def make_folder(folder: str | Path) -> Path:
    """`folder` made if missing, ready for files; OutputError naming it and the reason (folder_problem, or
    what the system said) otherwise, before anything is written."""
    folder = check_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(Problem(str(folder), f"cannot make the folder: {exc.strerror or exc}")) from None
    return folder


def _nearest_existing(path: Path) -> Path | None:
    """`path` or the nearest folder above it that exists (a file there counts)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return None


def write_whole(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file whole: `write(fh)` fills a buffer, written to a temporary file beside `path`, which then
    replaces `path` in one rename, so a reader never sees half a file and a failure (or Ctrl-C) leaves the earlier one as it
    was. What stops it from being written is an OutputError (check_writable, no permission, a full disk)."""
    path = check_writable(path)
    content = io.BytesIO()  # made in memory first: a zip writer never sees a failing disk under it
    full = ""
    try:
        write(content)
    except Exception as exc:
        if not disk_full(exc):
            raise
        full = str(exc)  # the writer's own temporary files (openpyxl's sheets) hit a full disk
    if full:
        _collect_quietly()  # its half-made writers complain again when collected: not news
        raise _output_error(path, OSError(errno.ENOSPC, full))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.getbuffer())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _output_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """The replaced file's permissions (a file kept private, 0600, stays private); 0644 for a new file
    (mkstemp makes the temporary 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644


# a full disk, a quota or a file-size limit: what an output's OutputError says, and how it is recognised
DISK_FULL = "the disk is full"
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk is full (DISK_FULL_ERRNOS, or lxml's words for them)."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    return any(code in str(exc) for code in ("IO_ENOSPC", "IO_EFBIG", "IO_EDQUOT"))  # lxml's words


def _collect_quietly() -> None:
    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _output_error(path: Path, exc: OSError) -> OutputError:
    if exc.errno in DISK_FULL_ERRNOS:
        reason = f"{DISK_FULL} (or a file-size limit was reached): nothing written"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = f"cannot write in {path.parent}: {exc.strerror}"
    else:
        reason = f"cannot write: {exc.strerror or exc}"
    return OutputError(Problem(str(path), reason))
