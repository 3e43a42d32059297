"""Errors that name where bad input is: file, sheet, cell and reason."""

from __future__ import annotations

from dataclasses import dataclass


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
        return f"{where}: {self.reason}"


class InputError(Exception):
    """Bad input: carries one Problem per thing wrong, each printed on its own line."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):  # rebuilt from its problems (e.g. when a worker process parsed the file)
        return (type(self), (self.problems,))


class StoreError(Exception):
    """The store file cannot be used (foreign, newer schema, corrupt)."""
