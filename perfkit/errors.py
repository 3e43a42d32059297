"""Errors that name where bad input is: file, sheet, cell and reason."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

REASON_ENDS = 300  # characters of a long reason kept at each end when it is printed


@dataclass(frozen=True)
class Problem:
    file: str
    reason: str
    sheet: str = ""
    cell: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.sheet:
            where += f" [{self.sheet}]"
        if self.cell:
            where += f" {self.cell}"
        reason = self.reason
        if len(reason) > 3 * REASON_ENDS:  # a 32,767-character cell quoted whole made a 90 KB line
            cut = len(reason) - 2 * REASON_ENDS
            reason = f"{reason[:REASON_ENDS]} … ({cut:,} characters left out) … {reason[-REASON_ENDS:]}"
        return f"{where}: {reason}"


class InputError(Exception):
    """Bad input: carries one Problem per thing wrong, each printed on its own line."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):  # rebuilt from its problems (e.g. when a worker process parsed the file)
        return (type(self), (self.problems,))


class StoreError(Exception):
    """The store file cannot be used (foreign, newer schema, corrupt, read-only for a write, disk full): one
    line naming it, exit 3."""


def input_file(path: str | os.PathLike) -> Path:
    """`path` as a file perfkit may read: InputError naming it when it is missing, a folder, or not a regular
    file (a device such as /dev/zero is read until memory runs out, a named pipe blocks forever)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputError(Problem(str(path), f"cannot read the file ({exc.strerror or exc})")) from None
    if stat.S_ISDIR(mode):
        raise InputError(Problem(str(path), "is a folder, not a file"))
    if not stat.S_ISREG(mode):
        raise InputError(
            Problem(str(path), "not a regular file (a device, pipe or socket): give a saved file")
        )
    return path


MAX_PROBLEMS_PER_FILE = 50  # plan.toml [intake] max_problems_per_file overrides it for ingest


def problem_lines(problems: list[Problem], limit: int = MAX_PROBLEMS_PER_FILE) -> list[str]:
    """One line per problem, at most `limit` per file, then '<file>: … and K more problems' (a table
    with 100,000 bad rows must not print 100,000 lines). Files keep their order."""
    by_file: dict[str, list[Problem]] = {}
    for p in problems:
        by_file.setdefault(p.file, []).append(p)
    out = []
    for file, items in by_file.items():
        out.extend(str(p) for p in items[:limit])
        if len(items) > limit:
            out.append(f"{file}: … and {len(items) - limit} more problems")
    return out


def listed(items: list[str], limit: int = 20) -> str:
    """Names in a line: the first `limit` joined, then how many more ('a, b … and 12 more')."""
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def times(ratio: float) -> str:
    """A ratio in a problem's reason as a reader counts it: '7,483', or '3.3e+304' where the digits would
    fill the line."""
    return f"{ratio:,.0f}" if ratio < 1e9 else f"{ratio:.1e}"
