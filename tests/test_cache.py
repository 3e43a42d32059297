"""The on-disk memo that lets notebooks in different kernels share one growth fit."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from perfkit.cache import key_of, memo, memo_many
from perfkit.store import cache_dir


def test_computes_once_per_key_and_keys_follow_content(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    df = pd.DataFrame({"month": ["2019-01"], "value": [1.0]})
    k1 = key_of("v1", df, "2019-09")
    assert memo(tmp_path, "x", k1, compute) == {"value": 1}
    assert memo(tmp_path, "x", k1, compute) == {"value": 1}
    assert len(calls) == 1
    changed = key_of("v1", df.assign(value=[2.0]), "2019-09")
    assert changed != k1
    assert memo(tmp_path, "x", changed, compute) == {"value": 2}
    assert memo(None, "x", k1, compute) == {"value": 3}  # no cache folder: always computed


def test_damaged_entry_is_recomputed(tmp_path):
    key = key_of("k")
    memo(tmp_path, "x", key, lambda: 1)
    (tmp_path / f"x-{key}.pkl").write_bytes(b"not a pickle")
    assert memo(tmp_path, "x", key, lambda: 2) == 2


def test_two_processes_compute_once(tmp_path):
    log = tmp_path / "calls.txt"
    code = (
        "import sys, time\n"
        "from perfkit.cache import memo\n"
        "def compute():\n"
        f"    open({str(log)!r}, 'a').write('x\\n')\n"
        "    time.sleep(1.0)\n"
        "    return 42\n"
        f"print(memo({str(tmp_path / 'c')!r}, 'g', 'k', compute))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate()[0].strip() for p in procs]
    assert outs == ["42", "42"]
    assert log.read_text() == "x\n"  # the second process waited and read the first one's result


def test_two_processes_split_the_entries_they_both_need(tmp_path):
    """Both ask for [a, b] at once: each entry is computed once, by different processes, and both get
    both values (the brief's kernels split the road and waterway fits this way)."""
    log, gate = tmp_path / "calls.txt", tmp_path / "gate"
    gate.mkdir()
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from perfkit.cache import memo_many\n"
        f"gate = Path({str(gate)!r})\n"
        "(gate / str(os.getpid())).touch()\n"
        "while len(list(gate.iterdir())) < 2: time.sleep(0.01)\n"  # start together
        "def compute(name):\n"
        f"    open({str(log)!r}, 'a').write(f'{{name}} {{os.getpid()}}\\n')\n"
        "    time.sleep(1.0)\n"
        "    return name.upper()\n"
        f"items = [(k, lambda k=k: compute(k)) for k in ('a', 'b')]\n"
        f"print(os.getpid(), memo_many({str(tmp_path / 'c')!r}, 'g', items))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=60)[0].split(maxsplit=1)[1].strip() for p in procs]
    assert outs == ["['A', 'B']", "['A', 'B']"]
    calls = dict(line.split() for line in log.read_text().splitlines())
    assert sorted(calls) == ["a", "b"]  # each computed once ...
    assert calls["a"] != calls["b"]  # ... by different processes


def test_memo_many_without_a_folder_computes_each(tmp_path):
    assert memo_many(None, "g", [("a", lambda: 1), ("b", lambda: 2)]) == [1, 2]


def test_store_cache_folder_sits_beside_the_store(sample_conn, sample_db):
    assert cache_dir(sample_conn) == sample_db.parent / (sample_db.name + ".cache")
