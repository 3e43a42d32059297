"""Shared fixtures: the bundled plan, a real SQLite store built from the sample in a temp folder, and a
papermill runner for the notebooks' smoke tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from perfkit import investment
from perfkit.catalogue import load_catalogue
from perfkit.config import NOTEBOOKS_DIR, PLAN_DIR, SAMPLE_DIR
from perfkit.lab import KERNEL_NAME, ensure_kernel
from perfkit.store import create_store, open_store


def pytest_configure(config) -> None:
    """Point the default store and outputs at a folder of this run's own, so no test (nor a kernel or CLI
    process it starts, which inherit the environment) writes data/perfkit.sqlite or outputs/ in the
    checkout, nor the user's measuring-font cache (perfkit.chart_fonts). Tests that name their own store
    or folder still do so."""
    scratch = Path(tempfile.mkdtemp(prefix="perfkit-tests-"))
    os.environ.setdefault("PERFKIT_DB", str(scratch / "perfkit.sqlite"))
    os.environ.setdefault("PERFKIT_OUTPUTS", str(scratch / "outputs"))
    os.environ.setdefault("PERFKIT_FONT_CACHE", str(scratch / "fonts"))


@pytest.fixture(scope="session")
def perfkit_kernel() -> str:
    """The notebooks' kernel, registered in this environment (as `make venv` does); its name."""
    ensure_kernel()
    return KERNEL_NAME


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue(PLAN_DIR)


@pytest.fixture(scope="session")
def _sample_store_master(tmp_path_factory) -> Path:
    """The sample store as a user has it after the September brief: its monthly snapshots January..September
    computed once here, so the tests that read them do not each fit the growth models again (tests that
    change the data see the affected months recomputed; tests/test_monthly.py starts from fresh stores)."""
    from perfkit.monthly import ensure

    path = tmp_path_factory.mktemp("store") / "master.sqlite"
    create_store(path, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
    conn = open_store(path)
    try:
        ensure(conn, "2019-09")
    finally:
        conn.close()
    return path


@pytest.fixture()
def fresh_sample_db(tmp_path) -> Path:
    """The sample store as created: no snapshot computed yet."""
    path = tmp_path / "fresh.sqlite"
    create_store(path, plan_dir=PLAN_DIR, sample_dir=SAMPLE_DIR)
    return path


@pytest.fixture()
def sample_db(_sample_store_master, tmp_path) -> Path:
    """A fresh copy of the sample store for each test (tests may write to it)."""
    path = tmp_path / "perfkit.sqlite"
    shutil.copy(_sample_store_master, path)
    return path


@pytest.fixture()
def sample_conn(sample_db):
    conn = open_store(sample_db)
    yield conn
    conn.close()


@pytest.fixture()
def sample_projection(sample_conn):
    """The investment projection of the sample store as of September (test_investment*.py)."""
    return investment.project_store(sample_conn, "2019-09")


@pytest.fixture()
def empty_db(tmp_path) -> Path:
    """A store with the catalogue but no data."""
    path = tmp_path / "empty.sqlite"
    create_store(path, plan_dir=PLAN_DIR, sample_dir=None)
    return path


@pytest.fixture()
def run_notebook(tmp_path, perfkit_kernel):
    """Execute notebooks/<name> with papermill in a real kernel, from the notebooks folder as JupyterLab
    would; the executed copy is kept in the test's folder and returned (nbformat)."""

    def run(name: str, **parameters):
        import nbformat
        import papermill as pm

        out = tmp_path / f"{Path(name).stem}.out.ipynb"
        pm.execute_notebook(
            str(NOTEBOOKS_DIR / name),
            str(out),
            parameters=parameters,
            kernel_name=perfkit_kernel,
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
        return nbformat.read(out, as_version=4)

    return run


@pytest.fixture()
def cli(capsys):
    """`perfkit …` run in-process: cli(*args) → (exit code, stdout, stderr)."""
    from perfkit.cli import main

    def run(*args) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
