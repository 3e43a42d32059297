"""JupyterLab as `make lab` starts it: the perfkit kernel registered in the environment, the command line as
root and as a normal user, and a real server on a free port answering /api/kernelspecs and /lab."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from perfkit import lab

SETPRIV = shutil.which("setpriv")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOBODY = [SETPRIV or "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def test_allow_root_only_for_root_and_extra_options_passed_on():
    assert "--allow-root" in lab.lab_command([], uid=0)
    assert "--allow-root" not in lab.lab_command([], uid=1000)
    cmd = lab.lab_command(["--port", "8899", "--no-browser"], uid=1000)
    assert cmd[-3:] == ["--port", "8899", "--no-browser"]
    assert lab.lab_command(["--allow-root"], uid=0).count("--allow-root") == 1
    assert cmd[0] == sys.executable  # the project's environment, not whichever jupyter is first on PATH


def test_the_kernel_spec_is_installed_and_repaired(tmp_path):
    spec = lab.ensure_kernel(tmp_path) / "kernel.json"
    data = json.loads(spec.read_text(encoding="utf-8"))
    assert data["display_name"] == lab.DISPLAY_NAME and data["argv"][0] == sys.executable
    assert lab.kernel_is_current(tmp_path)
    data["argv"][0] = "/moved/venv/bin/python"  # a copied or moved .venv
    spec.write_text(json.dumps(data), encoding="utf-8")
    assert not lab.kernel_is_current(tmp_path)
    lab.ensure_kernel(tmp_path)
    assert json.loads(spec.read_text(encoding="utf-8"))["argv"][0] == sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str, timeout: float = 5) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def start_lab(
    home: Path, *, as_nobody: bool = False, root: Path = lab.ROOT
) -> tuple[subprocess.Popen, str, str]:
    """JupyterLab through perfkit.lab's command line, on a free port, with its own config and runtime
    folders under `home`; returns the process, its URL and its token."""
    port, token = _free_port(), "perfkit-test-token"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    args = [
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    prefix: list[str] = []
    if as_nobody:
        home.chmod(0o777)
        prefix = NOBODY
    cmd = prefix + lab.lab_command(args, uid=65534 if as_nobody else None, root=root)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(home))
    return proc, f"http://127.0.0.1:{port}", token


def wait_until_up(proc: subprocess.Popen, url: str, token: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"JupyterLab exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}"
            )
        try:
            _get(f"{url}/api/status", token, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("JupyterLab did not answer in time")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("who", ["this user", "a normal user"])
def test_lab_starts_lists_the_perfkit_kernel_and_serves_lab(tmp_path, perfkit_kernel, who):
    as_nobody = who == "a normal user"
    if as_nobody and (os.geteuid() != 0 or SETPRIV is None):
        pytest.skip("running as another user needs root and setpriv")
    if (
        as_nobody
        and subprocess.run(NOBODY + [sys.executable, "-c", "import perfkit.lab"], cwd="/").returncode
    ):
        pytest.skip("the user nobody cannot read this checkout or its .venv")
    # pytest's temp folders are private to root: the other user gets a home of its own in /tmp
    home = Path(tempfile.mkdtemp(prefix="perfkit-lab-")) if as_nobody else tmp_path / "home"
    proc, url, token = start_lab(home, as_nobody=as_nobody)
    try:
        wait_until_up(proc, url, token)
        status, body = _get(f"{url}/api/kernelspecs", token)
        specs = json.loads(body)["kernelspecs"]
        assert status == 200 and perfkit_kernel in specs
        assert specs[perfkit_kernel]["spec"]["display_name"] == lab.DISPLAY_NAME
        status, page = _get(f"{url}/lab", token)
        assert status == 200 and "JupyterLab" in page
    finally:
        stop(proc)
        if as_nobody:
            shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode is not None


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
def test_lab_draws_both_kinds_of_chart_untrusted_and_offline(tmp_path):
    """A notebook Lab has never seen (so untrusted) with one chart as a person's run draws it and one as the
    brief's kernels do, opened in real headless Chromium that can reach no host but this one: Lab's bundled
    Vega draws the first (a canvas), the second shows as its PNG (Lab shows SVG only when trusted)."""
    import altair as alt
    import nbformat
    import pandas as pd
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from perfkit import charts

    chart = alt.Chart(pd.DataFrame({"月份": ["2019-01", "2019-02"], "值": [1.0, 2.0]})).mark_bar()
    chart = chart.encode(x="月份:O", y="值:Q", tooltip=["月份", "值"])
    cells = []
    for mode in charts.MODES:
        charts.setup(mode)
        data, meta = chart._repr_mimebundle_()
        cells.append(new_code_cell("chart", outputs=[new_output("display_data", data=data, metadata=meta)]))
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "perfkit", "display_name": lab.DISPLAY_NAME}}
    )
    nbformat.validate(nb)
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(nb, root / "charts.ipynb")

    proc, url, token = start_lab(tmp_path / "home", root=root)
    try:
        wait_until_up(proc, url, token)
        dom = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=30000",
                "--dump-dom",
                f"{url}/lab/tree/charts.ipynb?token={token}",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
    finally:
        stop(proc)
    assert dom.count('class="marks"') == 1  # the interactive chart, drawn by Vega
    assert "jp-RenderedVega5" in dom
    assert 'src="data:image/png;base64,' in dom  # the static one, as its PNG
