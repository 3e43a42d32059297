"""Dump every month's snapshot outputs on the bundled sample, to compare code before and after a refactor.

    python -m benchmarks.snapshot_dump OUT.json              # write the dump
    python -m benchmarks.snapshot_dump OUT.json --compare BEFORE.json [--skip-growth]

A fresh temporary store is made from the sample and January..September are computed; for each month the
dump holds the stored parts exactly as the store keeps them (score, investment, flags with their rule codes
and reason numbers, problems; growth apart, as `growth`, since issue 16 may change it on purpose), the
reasons rendered in Chinese and English, and what people read from them: `perfkit score|invest|risks`
(json, csv, table) and the report layer's tables (totals by unit and leader, the quarterly view, the
investment tables). Floats are kept as JSON's shortest round-trip form, so equal dumps mean equal numbers.
`--compare` exits 1 and names the first differing keys when the two dumps differ; sections and growth
parts the earlier dump does not have (kept only by the later code) are named and left out of the check.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

MONTHS = [f"2019-{m:02d}" for m in range(1, 10)]
GROWTH_PARTS = ("growth_projections", "growth_paths", "growth_backtest")
# what the investment notebook shows, kept with the month since issue 13's last step (before it, computed in
# the notebook): dumped apart, under "notebook_parts", with the keys of the parts reused across months
# (and, since issue 13's speed step, this year's interval widths each month keeps for later backtests)
NOTEBOOK_PARTS = (
    "investment_calibration",
    "investment_backtest",
    "investment_public",
    "part_keys",
    "investment_sigma",
)


def _find(*names: str):
    """A presentation or domain function wherever it lives now, under its old or new name (the refactor
    moves and renames some)."""
    import importlib

    modules = ("perfkit.tables", "perfkit.charts", "perfkit.risks", "perfkit.investment")
    for module in modules:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        for name in names:
            if hasattr(mod, name):
                return getattr(mod, name)
    raise LookupError(names)


def _frame(df) -> object:
    from perfkit.monthly import encode_frame

    return json.loads(encode_frame(df.reset_index(drop=True)))


def _cli(db: Path, *argv: str) -> str:
    from perfkit.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--db", str(db), *argv])
    return f"exit {code}\n{out.getvalue()}"


def dump(workdir: Path) -> dict:
    import pandas as pd

    from perfkit.config import PLAN_DIR, SAMPLE_DIR
    from perfkit.monthly import ensure, snapshot
    from perfkit.store import create_store, open_store

    db = workdir / "dump.sqlite"
    create_store(db, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
    conn = open_store(db)
    ensure(conn, MONTHS[-1])
    out: dict = {}
    for month in MONTHS:
        parts = {}
        for name, payload in conn.execute(
            "SELECT part, payload FROM snapshot_parts WHERE month = ? ORDER BY part", (month,)
        ).fetchall():
            parts[name] = json.loads(payload)
        entry: dict = {"parts": {k: v for k, v in parts.items() if k not in GROWTH_PARTS + NOTEBOOK_PARTS}}
        entry["notebook_parts"] = {k: v for k, v in parts.items() if k in NOTEBOOK_PARTS}
        entry["growth"] = {k: v for k, v in parts.items() if k in GROWTH_PARTS}
        entry["growth"]["cli_json"] = _cli(db, "growth", "--as-of", month, "--format", "json")
        for lang in ("zh", "en"):
            snap = snapshot(conn, month, lang)
            flags, problems, inv = snap.flags, snap.problems, snap.investment
            view = {
                "flags_reasons": flags["reasons"].tolist(),
                "problems_reasons": problems["reasons"].tolist(),
                "flags_table": _frame(_find("flags_table")(flags, lang)),
                "people_problems": _frame(_find("people_table")(problems, lang=lang)),
                "invest_display": _frame(_find("investment_table", "display_table")(inv, lang)),
            }
            for column in ("units", "leaders"):
                totals = _find("totals_by")(flags, column)
                view[f"totals_{column}"] = _frame(_find("people_table")(totals, lang=lang))
            by_unit, by_leader = _find("by_unit")(inv), _find("by_leader")(inv)
            view["invest_by_unit"] = _frame(_find("investment_totals", "aggregate_display")(by_unit, lang))
            view["invest_by_leader"] = _frame(
                _find("investment_totals", "aggregate_display")(by_leader, lang)
            )
            end = pd.Period(month, freq="M")
            quarter = _find("quarter_summary")(problems, end.year, (end.month + 2) // 3, end)
            view["quarter"] = {
                "title": quarter.title(lang),
                "problems": _frame(quarter.problems),
                "by_unit": _frame(quarter.by_unit),
                "by_leader": _frame(quarter.by_leader),
            }
            view["status_chart"] = _find("status_chart")(flags, lang).to_dict()
            entry[lang] = view
        for command in ("score", "invest", "risks"):
            for fmt in ("json", "csv", "table"):
                entry[f"cli_{command}_{fmt}"] = _cli(db, command, "--as-of", month, "--format", fmt)
        out[month] = entry
    conn.close()
    return out


def differences(before, after, path: str = "", limit: int = 20) -> list[str]:
    """Keys where the dumps differ (first `limit`)."""
    found: list[str] = []

    def walk(a, b, p):
        if len(found) >= limit:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if k not in a or k not in b:
                    found.append(f"{p}/{k}: only in {'after' if k not in a else 'before'}")
                else:
                    walk(a[k], b[k], f"{p}/{k}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{p}[{i}]")
        elif a != b and not (a != a and b != b):  # NaN equals NaN here
            found.append(f"{p}: {str(a)[:120]!r} != {str(b)[:120]!r}")

    walk(before, after, path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshot_dump")
    parser.add_argument("out")
    parser.add_argument("--compare", metavar="BEFORE")
    parser.add_argument(
        "--skip-growth", action="store_true", help="leave the growth figures out of the check"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = dump(Path(tmp))
    Path(args.out).write_text(
        json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1), encoding="utf-8"
    )
    if not args.compare:
        print(f"wrote {args.out}")
        return 0
    before = json.loads(Path(args.compare).read_text(encoding="utf-8"))
    after = json.loads(Path(args.out).read_text(encoding="utf-8"))
    if args.skip_growth:
        for d in (before, after):
            for entry in d.values():
                entry.pop("growth", None)
    # a section (or a growth part) the earlier code did not keep yet is new, not a moved figure
    new: set[str] = set()
    for month, entry in after.items():
        old = before.get(month, {})
        new |= {k for k in entry if k not in old}
        for section in ("growth", "notebook_parts"):
            if section in entry and section in old:
                new |= {f"{section}/{k}" for k in entry[section] if k not in old[section]}
    for entry in after.values():
        for k in new:
            section, _, part = k.partition("/")
            (entry.get(section, {}) if part else entry).pop(part or section, None)
    if new:
        print(f"new in {args.out}, not compared: {', '.join(sorted(new))}")
    diff = differences(before, after)
    if diff:
        print("DIFFERENT:\n" + "\n".join(diff))
        return 1
    print(f"identical: {args.out} == {args.compare} ({len(after)} months)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
