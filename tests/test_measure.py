"""benchmarks.measure: paired rounds alternate their order, ratios are summarised by median and range, the
verdict comes from the median, and the machine header names the BLAS the process really runs."""

from __future__ import annotations

import os

import pytest

from benchmarks import measure


def test_rounds_alternate_the_order_and_need_three():
    order = []
    fns = {"baseline": lambda: order.append("b"), "subject": lambda: order.append("s")}
    seconds, _ = measure.rounds(fns, 4)
    assert order == ["b", "s", "s", "b", "b", "s", "s", "b"]
    assert {k: len(v) for k, v in seconds.items()} == {"baseline": 4, "subject": 4}
    with pytest.raises(ValueError, match="at least 3"):
        measure.rounds(fns, 2)


def test_self_timed_functions_report_their_own_seconds():
    seconds, results = measure.rounds({"a": lambda: 1.5, "b": lambda: 3.0}, 3, self_timed=True)
    assert seconds == {"a": [1.5] * 3, "b": [3.0] * 3} and results == {"a": 1.5, "b": 3.0}


def test_paired_ratios_median_range_and_verdict(capsys):
    p = measure.Paired(baseline=[1.0, 2.0, 4.0], subject=[1.5, 2.0, 8.0])
    assert p.ratios == [1.5, 1.0, 2.0]
    assert (p.median, p.low, p.high) == (1.5, 1.0, 2.0)
    assert str(p) == "1.50× (1.00–2.00×, 3 rounds)"
    assert p.as_dict()["ratio_range"] == [1.0, 2.0]
    assert measure.verdict("x ≤ 1.5×", p.median, 1.5)["verdict"] == "met"
    assert measure.verdict("x ≤ 1.4×", p.median, 1.4)["verdict"] == "not met"
    assert "target x ≤ 1.4×: NOT met (median 1.50" in capsys.readouterr().out
    with pytest.raises(ValueError):
        measure.Paired(baseline=[1.0], subject=[1.0, 2.0])


def test_machine_names_cores_load_and_the_blas_core_type():
    m = measure.machine()
    assert m["cores"] == measure.cores() >= 1
    assert len(m["load_average"]) == 3
    assert m["blas"], "numpy's OpenBLAS should be found in this process"
    assert all(b["core_type"] and b["threads"] >= 1 for b in m["blas"])
    # the override is stated beside what the library picked (OpenBLAS runs Zen on its Haswell kernels)
    assert m["OPENBLAS_CORETYPE"] == os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    line = measure.describe_machine(m)
    assert "load average" in line and m["blas"][0]["core_type"] in line
