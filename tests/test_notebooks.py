"""Every notebook: committed clean (no outputs, no execution counts, the perfkit kernel, one parameters cell of
literals, no `def`), and run by hand twice with papermill in a real kernel (its defaults, then other
parameters) without changing a published month's folder: hand runs write to outputs/scratch/."""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from perfkit.config import NOTEBOOKS_DIR, PLAN_DIR, SAMPLE_DIR
from perfkit.lab import DISPLAY_NAME, KERNEL_NAME
from perfkit.store import create_store

NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
# The second run of each notebook: another month (and for the drill-down, another unit and measure).
OTHER = {
    "brief.ipynb": {"as_of": "2019-08", "lang": "en"},
    "explore.ipynb": {"as_of": "2019-08", "unit": "市道管处", "measure": "1-8-2.2"},
    "growth.ipynb": {"as_of": "2019-08"},
    "investment.ipynb": {"as_of": "2019-08"},
    "risks.ipynb": {"as_of": "2019-08"},
    "scores.ipynb": {"as_of": "2019-08", "lang": "en"},
    "unit.ipynb": {"as_of": "2019-08", "unit": "市道管处", "lang": "en"},
}
LATEST = "2019-09"  # the sample's latest month: what an empty `as_of` must take


# ------------------------------------------------------------------------------------------- hygiene


def notebook_problems(nb, name: str) -> list[str]:
    """What is wrong with a notebook as committed; empty when clean."""
    problems = []
    spec = nb.metadata.get("kernelspec", {})
    if spec.get("name") != KERNEL_NAME or spec.get("display_name") != DISPLAY_NAME:
        problems.append(f"{name}: kernelspec {spec!r} is not the {KERNEL_NAME} kernel")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        problems.append(f"{name}: {len(params)} cells tagged `parameters` (one expected)")
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{name}: cell {i} carries outputs (commit notebooks without outputs)")
        if cell.get("execution_count") is not None:
            problems.append(f"{name}: cell {i} carries execution count {cell.execution_count}")
        tree = ast.parse(cell.source)
        if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in ast.walk(tree)):
            problems.append(f"{name}: cell {i} defines a function or class (that belongs in perfkit)")
        if cell in params:
            for stmt in tree.body:
                ok = (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                )
                try:
                    ast.literal_eval(stmt.value) if ok else None
                except ValueError:
                    ok = False
                if not ok:
                    problems.append(
                        f"{name}: cell {i} (parameters) line {stmt.lineno} is not `name = literal`"
                    )
    return problems


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean(name):
    assert notebook_problems(nbformat.read(NOTEBOOKS_DIR / name, as_version=4), name) == []


def test_the_check_catches_outputs_counts_logic_and_another_kernel():
    nb = new_notebook(
        cells=[
            new_code_cell('as_of = ""\nunit = "x".upper()', metadata={"tags": ["parameters"]}),
            new_code_cell(
                "def f():\n    return 1\nf()",
                execution_count=3,
                outputs=[new_output("execute_result", data={"text/plain": "1"}, execution_count=3)],
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    found = "\n".join(notebook_problems(nb, "dirty.ipynb"))
    for expected in (
        "kernelspec",
        "cell 2 carries outputs",
        "execution count 3",
        "defines a function",
        "line 2",
    ):
        assert expected in found


def test_every_notebook_has_a_second_set_of_parameters():
    assert set(OTHER) == set(NOTEBOOKS)


# --------------------------------------------------------------------------------------- hand runs


def _digest(folder: Path, skip: str = "scratch") -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] != skip
    } | {p.name + "/": "dir" for p in folder.iterdir() if p.is_dir() and p.name != skip}


@pytest.fixture(scope="module")
def hand_db(tmp_path_factory) -> Path:
    """The sample with turnover from 2017 only: the growth models fit on two years instead of five (what the
    runs check is where they write, not the fits, which test_growth covers)."""
    root = tmp_path_factory.mktemp("hand_db")
    sample = root / "sample"
    sample.mkdir()
    for name in ("progress.csv", "assessments.csv"):
        shutil.copy(SAMPLE_DIR / name, sample / name)
    lines = (SAMPLE_DIR / "turnover.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    recent = [ln for ln in lines[1:] if ln[:4] >= "2017"]
    assert 0 < len(recent) < len(lines) - 1
    (sample / "turnover.csv").write_text(lines[0] + "".join(recent), encoding="utf-8")
    db = root / "perfkit.sqlite"
    create_store(db, plan_dir=PLAN_DIR, sample_dir=sample)
    return db


@pytest.fixture(scope="module")
def hand_runs(hand_db, tmp_path_factory, perfkit_kernel):
    """Every notebook run as a person would in JupyterLab (from the notebooks folder, nothing injected but
    the store through $PERFKIT_DB, no PERFKIT_CHARTS), then again with OTHER, beside two published months.
    One warm kernel, reset between notebooks as the brief runner does: kernel starts are the slow part."""
    import papermill as pm

    from perfkit.brief import RESET, _Kernel

    root = tmp_path_factory.mktemp("hand")
    outputs = root / "outputs"
    for month in (LATEST, "2019-08"):
        published = outputs / month
        (published / "notebooks").mkdir(parents=True)
        for name in ("brief.html", "scores.csv", "growth.csv", "investment.csv", "risk_flags.csv"):
            (published / name).write_text(f"published {month} {name}\n", encoding="utf-8")
        (published / "notebooks" / "scores.ipynb").write_text("{}", encoding="utf-8")
    before = _digest(outputs)
    executed = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERFKIT_DB", str(hand_db))
        mp.setenv("PERFKIT_OUTPUTS", str(outputs))
        mp.delenv("PERFKIT_CHARTS", raising=False)
        kernel = _Kernel(NOTEBOOKS_DIR, env={})
        kernel.start()
        try:
            for run, params in (("defaults", {}), ("other", None)):
                for name in NOTEBOOKS:
                    out = root / run / name
                    out.parent.mkdir(exist_ok=True)
                    kernel.run_code(RESET)
                    pm.execute_notebook(
                        str(NOTEBOOKS_DIR / name),
                        str(out),
                        parameters=OTHER[name] if params is None else params,
                        km=kernel.km,
                        kernel_name=perfkit_kernel,
                        progress_bar=False,
                    )
                    executed[run, name] = nbformat.read(out, as_version=4)
        finally:
            kernel.shutdown()
    return {"outputs": outputs, "before": before, "after": _digest(outputs), "executed": executed}


@pytest.mark.slow
def test_hand_runs_leave_published_months_as_they_were(hand_runs):
    assert hand_runs["after"] == hand_runs["before"]  # no file changed, added or removed; no hidden folder


@pytest.mark.slow
def test_hand_runs_write_to_scratch_for_the_latest_month_by_default(hand_runs):
    scratch = hand_runs["outputs"] / "scratch"
    written = {"scores.csv", "growth.csv", "investment.csv", "risk_flags.csv", "risk_flags.xlsx"}
    assert written <= {p.name for p in (scratch / LATEST).iterdir()}  # defaults: the latest month
    assert written <= {p.name for p in (scratch / "2019-08").iterdir()}
    assert sorted(p.name for p in scratch.iterdir()) == ["2019-08", LATEST]


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_runs_with_its_defaults_and_with_others(hand_runs, name):
    for run in ("defaults", "other"):
        nb = hand_runs["executed"][run, name]
        assert nb.metadata.kernelspec.name == KERNEL_NAME
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors
        nbformat.validate(nb)  # what papermill checks: chart outputs must be valid nbformat


@pytest.mark.slow
def test_explore_shows_the_unit_and_measure_asked_for_with_interactive_charts(hand_runs):
    nb = hand_runs["executed"]["other", "explore.ipynb"]
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "2019-08 市道管处 1-8-2.2 1-8-2" in text
    charts = [o.data for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(charts) == 3
    assert all("application/vnd.vega.v5+json" in d for d in charts)  # a person's run: interactive in Lab


def test_a_published_folder_is_refused_and_an_old_build_folder_not_recreated(tmp_path, monkeypatch):
    from perfkit import brief
    from perfkit.errors import InputError

    outputs = tmp_path / "outputs"
    monkeypatch.setenv("PERFKIT_OUTPUTS", str(outputs))
    (outputs / LATEST).mkdir(parents=True)
    for published in (outputs / LATEST, outputs / "2019-08-quarterly"):
        with pytest.raises(InputError, match="published by `perfkit brief`"):
            brief.output_dir(LATEST, str(published))
    gone = outputs / f".{LATEST}.building-abc123"
    assert brief.output_dir(LATEST, str(gone)) == outputs / "scratch" / LATEST
    assert not gone.exists()
    assert brief.output_dir(LATEST) == outputs / "scratch" / LATEST
    assert brief.output_dir(LATEST, str(tmp_path / "elsewhere")) == tmp_path / "elsewhere"
    assert sorted(p.name for p in outputs.iterdir()) == [LATEST, "scratch"]


def test_growth_what_if_bands_are_checked_as_the_cli_checks_them(
    hand_db, run_notebook, monkeypatch, tmp_path
):
    """growth.ipynb's `bands` is a what-if: {"road": [14, 13]} ran and printed chances of reaching an
    upside-down band, {"roads": …} quietly showed the plan's band. Refused now, naming the parameter."""
    import papermill as pm

    from perfkit import monthly
    from perfkit.errors import InputError
    from perfkit.store import open_store

    monkeypatch.setenv("PERFKIT_DB", str(hand_db))
    monkeypatch.setenv("PERFKIT_OUTPUTS", str(tmp_path / "outputs"))
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_notebook("growth.ipynb", bands={"road": [14, 13]})
    assert err.value.ename == "InputError"
    assert err.value.evalue == "bands: road: need LOW ≤ HIGH, finite numbers; got 14 13"
    conn = open_store(hand_db)
    try:
        for bands, says in (
            ({"roads": [13, 14]}, "bands: unknown mode 'roads'; the plan's modes are road, waterway"),
            ({"waterway": [18]}, "bands: waterway: need [LOW, HIGH], two numbers; got [18]"),
            ({"road": [float("nan"), 14]}, "bands: road: need LOW ≤ HIGH, finite numbers; got nan 14"),
        ):
            with pytest.raises(InputError) as bad:
                monthly.growth_report(conn, LATEST, bands)
            assert str(bad.value) == says
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["risks.ipynb", "scores.ipynb", "unit.ipynb"])
def test_a_language_other_than_zh_or_en_is_refused(hand_db, run_notebook, monkeypatch, tmp_path, name):
    """lang = "fr" ran to the end and printed English labels beside Chinese statuses; now the first label
    asked for refuses it, before the notebook writes anything."""
    import papermill as pm

    monkeypatch.setenv("PERFKIT_DB", str(hand_db))
    monkeypatch.setenv("PERFKIT_OUTPUTS", str(tmp_path / "outputs"))
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_notebook(name, lang="fr")
    assert (err.value.ename, err.value.evalue) == (
        "ValueError",
        "unknown language 'fr': expected 'zh' or 'en'",
    )
    scratch = tmp_path / "outputs" / "scratch"
    assert not scratch.exists() or not any(p.is_file() for p in scratch.rglob("*"))
