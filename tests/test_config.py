"""perfkit.config: which store is used ($PERFKIT_DB), how a store records a folder, and the one-thread
environment for worker processes."""

from __future__ import annotations

import os
import subprocess
import sys

from perfkit import config


def test_db_path_from_environment(tmp_path, monkeypatch):
    target = tmp_path / "env.sqlite"
    monkeypatch.setenv("PERFKIT_DB", str(target))
    out = subprocess.run(
        [sys.executable, "-m", "perfkit.cli", "catalog", "show", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PERFKIT_DB": str(target)},
    )
    assert out.returncode == 0, out.stderr
    assert target.exists()


def test_a_folder_is_recorded_relative_to_the_checkout_and_found_again(tmp_path):
    inside = config.SAMPLE_DIR
    assert config.stored_path(inside) == "data/sample"  # the store keeps working when the checkout moves
    assert config.recorded_path(config.stored_path(inside)) == inside
    outside = tmp_path / "plan"
    assert config.stored_path(outside) == str(outside.resolve())
    assert config.recorded_path(config.stored_path(outside)) == outside.resolve()


def test_single_thread_env_is_set_while_workers_start_and_restored(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with config.single_thread_env():
        assert {k: os.environ.get(k) for k in config.SINGLE_THREAD_ENV} == config.SINGLE_THREAD_ENV
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    assert "OMP_NUM_THREADS" not in os.environ
