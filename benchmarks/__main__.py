"""Run every benchmarks/bench_*.py module's main([]) in name order: `python -m benchmarks [NAME ...]`.

NAME (e.g. `growth` or `bench_growth`) limits the run to those modules. A failing benchmark is reported and
the others still run; the exit status is 1 when any failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    """Names of the bench_* modules beside this file."""
    here = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    wanted = set(sys.argv[1:] if argv is None else argv)
    names = [n for n in discover() if not wanted or n in wanted or n.removeprefix("bench_") in wanted]
    unknown = sorted(w for w in wanted if w not in names and f"bench_{w}" not in names)
    if unknown:
        print(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(discover())})", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"{__package__ or 'benchmarks'}.{name}").main([])
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(
            f"== {name}: {time.perf_counter() - t0:.1f}s{' (failed)' if name in failed else ''}", flush=True
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
