"""What plan.toml must hold: every setting perfkit reads, its type, in one schema checked once when read.

The plan stays data; this says which keys the code reads and what each must be, so a plan with a syntax
error or a mistyped value (`max_file_mb = "5MB"`) is refused when it is read, with one line per problem
naming the file, the line, the key and the expected type (exit 2), instead of failing later inside a
computation. Tables the code fills with defaults ([intake], [brief]) may be left out; keys the schema does
not list are ignored, so a plan may carry a new setting before the code that reads it, except in the closed
tables (CLOSED_TABLES: [brief], [document], [intake]), where every setting is known and a misspelt one is refused.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, Problem


@dataclass(frozen=True)
class Number:
    """A finite number (TOML integer or float; `whole`: integers only), optionally bounded."""

    whole: bool = False
    low: float | None = None
    high: float | None = None
    above: float | None = None  # exclusive lower bound

    def describe(self, plural: bool = False) -> str:
        kind = (
            ("whole numbers" if plural else "a whole number")
            if self.whole
            else ("numbers" if plural else "a number")
        )
        if self.low is not None and self.high is not None:
            return f"{kind} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{kind} ≥ {self.low:g}"
        if self.above is not None:
            return f"{kind} > {self.above:g}"
        return kind

    def check(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if self.whole else int | float):
            return False
        return (
            math.isfinite(value)
            and (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
            and (self.above is None or value > self.above)
        )


@dataclass(frozen=True)
class Scalar:
    """A value of one TOML type: text, or true/false."""

    kind: type
    name: str
    plural: str

    def describe(self, plural: bool = False) -> str:
        return self.plural if plural else self.name

    def check(self, value: object) -> bool:
        return isinstance(value, self.kind)


@dataclass(frozen=True)
class ListOf:
    """A list whose items all match `item`; `length`: exactly that many."""

    item: object
    length: int | None = None

    def describe(self, plural: bool = False) -> str:
        what = _describe(self.item, plural=True)
        return f"a list of {self.length} {what}" if self.length else f"a list of {what}"

    def check(self, value: object) -> bool:
        if not isinstance(value, list) or (self.length is not None and len(value) != self.length):
            return False
        return all(_matches(self.item, v) for v in value)


@dataclass(frozen=True)
class MapOf:
    """A table of names (any keys) to values matching `value`."""

    value: object

    def describe(self, plural: bool = False) -> str:
        return f"a table of {_describe(self.value, plural=True)}"

    def check(self, value: object) -> bool:
        return isinstance(value, dict) and all(_matches(self.value, v) for v in value.values())


@dataclass(frozen=True)
class Optional:
    """A key that may be left out (the code has a default); when present it must match `spec`."""

    spec: object


def _describe(spec: object, plural: bool = False) -> str:
    if isinstance(spec, dict):
        return "tables" if plural else "a table"
    return spec.describe(plural)


def _matches(spec: object, value: object) -> bool:
    if isinstance(spec, dict):  # items of a list of tables are checked key by key by `_check_table`
        return isinstance(value, dict)
    return spec.check(value)


NUMBER = Number()
WHOLE = Number(whole=True)
SHARE = Number(low=0, high=1)
POSITIVE = Number(low=0)
TEXT = Scalar(str, "text", "texts")
FLAG = Scalar(bool, "true or false", "true/false values")
TEXTS = ListOf(TEXT)
BY_MODE_NUMBER = {"road": NUMBER, "waterway": NUMBER}

# Every setting perfkit reads. A dict is a table (its keys checked in turn); ListOf(dict) an array of tables.
PLAN_SCHEMA: dict = {
    "plan": {
        "year": Number(whole=True, low=1900, high=2200),
        "title": TEXT,
        "document": TEXT,
        "title_en": Optional(TEXT),  # the plan's title and document number in English briefs
        "document_en": Optional(TEXT),
        "catalogue_version": TEXT,
        "attachment": TEXT,
        "measures": TEXT,
    },
    "formula": {"target_weight": SHARE, "public_weight": SHARE},
    "weights": {"functional": POSITIVE, "admin": POSITIVE, "total": POSITIVE, "sections": MapOf(POSITIVE)},
    "categories": {"functional": TEXT, "admin": TEXT},
    "scoring": {
        "default": TEXT,
        "growth_band": TEXT,
        "milestone_status_fraction": MapOf(SHARE),
        "qualitative_default_grade": SHARE,
        "grade_fraction": MapOf(SHARE),
        "assessed_indicators": Optional(TEXTS),
        "measure_shares": Optional(MapOf(SHARE)),
    },
    "assumptions": {"public": Number(low=0, high=100), "bonus": POSITIVE, "deduction": POSITIVE},
    "turnover": {
        "bands": {"road": ListOf(NUMBER, 2), "waterway": ListOf(NUMBER, 2)},
        "measure": {"road": TEXT, "waterway": TEXT},
        "coefficient": {"road": POSITIVE, "waterway": POSITIVE},
    },
    "investment": {
        "default_profile": {"source": Optional(TEXT), "shares": ListOf(SHARE, 12)},
        "projection": {
            "kinds": TEXTS,
            "schedules": TEXTS,
            "back_loaded_kinds": TEXTS,
            "recent_months": Number(whole=True, low=1),
            "recent_weight": SHARE,
            "prior_weight": POSITIVE,
            "min_history_series": Number(whole=True, low=0),
            "correction_words": TEXTS,
            "continue_after_target": TEXTS,
        },
        "public_series": Optional(
            ListOf(
                {
                    "name": TEXT,
                    "label": TEXT,
                    "year": WHOLE,
                    "months": ListOf(Number(whole=True, low=1, high=12)),
                    "cumulative": ListOf(NUMBER),
                    "plan": POSITIVE,
                    "final": FLAG,
                    "in_profile": FLAG,
                    "source": TEXT,
                }
            )
        ),
    },
    "risks": {
        "watch_gap_pp": POSITIVE,
        "alert_gap_pp": POSITIVE,
        "watch_months_to_alert": Number(whole=True, low=1),
        "low_probability": SHARE,
        "alert_probability": SHARE,
        "stale_months": Number(whole=True, low=1),
        "jump_factor": POSITIVE,
        "clear_gap_pp": NUMBER,
        "negative_growth_alert": FLAG,
        "rhythm_status": TEXT,
        "anomaly_status": TEXT,
        "correction_marker": TEXT,
        "unreported_schedules": TEXTS,
        "stale_schedules": TEXTS,
        "stale_only_when_behind": FLAG,
        "problem_statuses": TEXTS,
        "expected_completion": MapOf(SHARE),
    },
    "intake": Optional(
        {
            "max_file_mb": Optional(Number(above=0)),
            "max_zip_entries": Optional(Number(whole=True, low=1)),
            "max_uncompressed_mb": Optional(Number(above=0)),
            "max_compression_ratio": Optional(Number(whole=True, low=1)),
            "max_sheet_cells": Optional(Number(whole=True, low=1)),
            "max_table_rows": Optional(Number(whole=True, low=1)),
            "max_problems_per_file": Optional(Number(whole=True, low=1)),
            "statuses": Optional(TEXTS),
            "correction_prefix": Optional(TEXT),
            "max_note_chars": Optional(Number(whole=True, low=1)),
            "max_name_chars": Optional(Number(whole=True, low=1)),
            "max_target_multiple": Optional(Number(above=1)),
            "max_turnover_ratio": Optional(Number(above=1)),
        }
    ),
    "document": Optional(
        {
            "issuer": Optional(TEXT),
            "number_prefix": Optional(TEXT),
            "recipients": Optional(TEXT),
            "issuer_en": Optional(TEXT),
            "recipients_en": Optional(TEXT),
        }
    ),
    "brief": Optional(
        {
            "workers": Optional(Number(whole=True, low=1)),
            "html_from": Optional(TEXT),
            "unit_notebook": Optional(TEXT),
            "report_due_day": Optional(Number(whole=True, low=1, high=28)),
            "cell_timeout_s": Optional(Number(above=0)),
            "top_problems": Optional(Number(whole=True, low=1)),
            "notebooks": Optional(ListOf({"file": TEXT, "writes": Optional(TEXTS)})),
        }
    ),
}

MAX_PROBLEMS = 20  # a plan with more is likely not a plan at all: the first ones, then a count


def parse_plan(path: str | Path) -> dict:
    """Read and check plan.toml: InputError naming the file, line, key and expected type when it is not
    valid TOML or a setting is missing or has the wrong type."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise InputError(Problem(str(path), "the plan file is missing")) from exc
    except UnicodeDecodeError as exc:
        raise InputError(Problem(str(path), f"not UTF-8 text (byte {exc.start})")) from exc
    # Notepad's "UTF-8" puts a byte-order mark first, which TOML refuses as 'Invalid statement' at line 1
    text = text.removeprefix("\ufeff")
    try:
        plan = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        reason = "not valid TOML: " + re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise InputError(Problem(str(path), reason, cell=f"line {line.group(1)}" if line else "")) from exc
    problems = check_plan(plan, str(path), text)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(Problem(str(path), f"… and {len(problems) - MAX_PROBLEMS} more problems"))
        raise InputError(shown)
    return plan


def check_plan(plan: dict, file: str, text: str = "") -> list[Problem]:
    """Every way `plan` departs from PLAN_SCHEMA (empty when it fits); `text`, the file's content, lets
    each problem name its line."""
    problems: list[Problem] = []
    lines = text.splitlines()
    _check_table(PLAN_SCHEMA, plan, [], file, lines, problems)
    formula = plan.get("formula")
    weights = (
        [formula.get(k) for k in ("target_weight", "public_weight")] if isinstance(formula, dict) else []
    )
    if len(weights) == 2 and all(SHARE.check(w) for w in weights) and abs(sum(weights) - 1) > 1e-9:
        # 考评总得分 is out of 100 only when the two shares add up to 1 (70% + 30%)
        what = f"and target_weight must add up to 1, got {_show(weights[0])} + {_show(weights[1])}"
        problems.append(_problem(file, lines, ["formula", "public_weight"], what, ["formula"]))
    for name in CLOSED_TABLES:  # a misspelt key there would quietly give the default instead
        table, spec = plan.get(name), PLAN_SCHEMA[name]
        spec = spec.spec if isinstance(spec, Optional) else spec
        for key in sorted(set(table) - set(spec)) if isinstance(table, dict) else []:
            what = f"is not a setting (the settings are {', '.join(spec)})"
            problems.append(_problem(file, lines, [name, key], what, [name]))
        # the arrays of tables inside a closed table are closed too: [brief] notebooks' { write = [...] }
        # (meant: writes) left the brief without its check that the notebook wrote its files
        for key, sub in spec.items() if isinstance(table, dict) else []:
            sub = sub.spec if isinstance(sub, Optional) else sub
            items = table.get(key)
            if not (isinstance(sub, ListOf) and isinstance(sub.item, dict) and isinstance(items, list)):
                continue
            for i, item in enumerate(items, start=1):
                for extra in sorted(set(item) - set(sub.item)) if isinstance(item, dict) else []:
                    what = (
                        f"entry {i}: {extra} is not a setting (an entry's settings are {', '.join(sub.item)})"
                    )
                    problems.append(_problem(file, lines, [name, key], what, [name]))
    return problems


# tables whose every key perfkit knows and each has a default: an unknown key is a typo, not an extension
# ([intake] max_fle_mb = 50 quietly left the 5 MB limit in force; [brief] worker = 4 left 2 kernels). The
# [brief] keys are every one the code reads: brief.settings (workers, html_from, unit_notebook,
# cell_timeout_s, notebooks), unitpage (report_due_day), report and document (top_problems).
CLOSED_TABLES = ("brief", "document", "intake")


def _check_table(schema: dict, table: dict, at: list[str], file: str, lines: list[str], out: list) -> None:
    for key, spec in schema.items():
        where = [*at, key]
        optional = isinstance(spec, Optional)
        spec = spec.spec if optional else spec
        if key not in table:
            if not optional:
                out.append(_problem(file, lines, where, "is missing", at))
            continue
        value = table[key]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                out.append(_problem(file, lines, where, f"must be a table, got {_show(value)}", at))
            else:
                _check_table(spec, value, where, file, lines, out)
        elif isinstance(spec, ListOf) and isinstance(spec.item, dict):
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                out.append(
                    _problem(file, lines, where, f"must be an array of tables, got {_show(value)}", at)
                )
                continue
            for i, item in enumerate(value, start=1):
                _check_table(spec.item, item, [*at, f"{key}[{i}]"], file, lines, out)
        elif isinstance(spec, MapOf) and isinstance(value, dict):
            for name, item in value.items():  # the entry that is wrong, not the whole table
                if not _matches(spec.value, item):
                    what = f"must be {_describe(spec.value)}, got {_show(item)}"
                    out.append(_problem(file, lines, [*where, str(name)], what, where))
        elif not spec.check(value):
            out.append(_problem(file, lines, where, f"must be {_describe(spec)}, got {_show(value)}", at))


def _problem(file: str, lines: list[str], where: list[str], what: str, table: list[str]) -> Problem:
    name = where[-1]
    section = ".".join(table)
    reason = f"[{section}] {name} {what}" if section else f"[{name}] {what}"
    line = _line_of(lines, table, name)
    return Problem(file, reason, cell=f"line {line}" if line else "")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _line_of(lines: list[str], table: list[str], key: str) -> int | None:
    """The line that sets `key` in `table` (else the nearest enclosing line): for the message only."""
    span = _table_span(lines, table)
    if span is None:
        return _line_of(lines, table[:-1], table[-1]) if table else None
    start, end = span
    assign = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
    for n in range(start, end):
        if assign.match(lines[n]):
            return n + 1
    sub = _table_span(lines, [*table, key])
    if sub is not None:
        return sub[0]  # the sub-table's header line (1-based: the line before its first key)
    return start if table else None


def _table_span(lines: list[str], table: list[str]) -> tuple[int, int] | None:
    """(index after the table's header, index of the next header); `name[i]`: the i-th [[name]]."""
    headers = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _HEADER.match(line))]
    if not table:
        return 0, headers[0][0] if headers else len(lines)
    nth = re.search(r"\[(\d+)\]$", table[-1])
    name = ".".join(re.sub(r"\[\d+\]$", "", t) for t in table)
    seen = 0
    for k, (i, header) in enumerate(headers):
        if header.replace('"', "").replace(" ", "") == name:
            seen += 1
            if seen == (int(nth.group(1)) if nth else 1):
                return i + 1, headers[k + 1][0] if k + 1 < len(headers) else len(lines)
    return None
