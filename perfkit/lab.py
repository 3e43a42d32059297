"""JupyterLab for the analysts: the project's kernel and the command line `make lab` runs.

The notebooks name one kernel, `perfkit`, registered inside the project's environment
(`.venv/share/jupyter/kernels/perfkit`), so JupyterLab, papermill and the brief runner all start the
`.venv` Python with perfkit and the pinned packages, never whichever `python3` happens to be first.
`ensure_kernel()` (re)writes the spec when it is missing or points at another interpreter (a moved or
copied `.venv`), so a fresh clone needs no extra step.

`python -m perfkit.lab [LAB OPTIONS]` (what `make lab LAB_ARGS="..."` runs) ensures the kernel and starts
JupyterLab on the repository; `--allow-root` is added only when running as root, which Jupyter otherwise
refuses.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .config import ROOT

KERNEL_NAME = "perfkit"
# No minor version in the name: JupyterLab rewrites a notebook's kernelspec metadata on save when it differs
# from the spec's, and the notebooks are committed with this one.
DISPLAY_NAME = "perfkit (Python 3)"


def kernel_dir(prefix: str | os.PathLike | None = None) -> Path:
    """Where the perfkit kernel spec lives in the environment at `prefix` (default: this one)."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def kernel_is_current(prefix: str | os.PathLike | None = None) -> bool:
    """True when the spec exists and starts a Python of this environment (python, python3: same folder)."""
    spec = kernel_dir(prefix) / "kernel.json"
    try:
        argv = json.loads(spec.read_text(encoding="utf-8"))["argv"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not argv or not isinstance(argv[0], str):
        return False
    return Path(argv[0]).parent == Path(sys.executable).parent and os.access(argv[0], os.X_OK)


def install_kernel(prefix: str | os.PathLike | None = None) -> Path:
    """Register the perfkit kernel in the environment at `prefix` (default: this one); returns its folder."""
    from ipykernel.kernelspec import install

    return Path(install(kernel_name=KERNEL_NAME, display_name=DISPLAY_NAME, prefix=str(prefix or sys.prefix)))


def ensure_kernel(prefix: str | os.PathLike | None = None) -> Path:
    """The perfkit kernel's folder, installed or repaired first when needed."""
    if not kernel_is_current(prefix):
        install_kernel(prefix)
    return kernel_dir(prefix)


def lab_command(
    args: list[str] | tuple[str, ...] = (), uid: int | None = None, root: str | os.PathLike = ROOT
) -> list[str]:
    """The JupyterLab command line on `root` (the repository), with `args` appended.

    `--allow-root` is added when `uid` (default: this process's effective uid) is 0 and not given already.
    """
    uid = os.geteuid() if uid is None else uid
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if uid == 0 and "--allow-root" not in args:
        cmd.append("--allow-root")
    return cmd + list(args)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    ensure_kernel()
    cmd = lab_command(args)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
