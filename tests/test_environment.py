"""Reproducible set-up: the lock pins everything, and environment.yml lists the same versions."""

from __future__ import annotations

import re
import tomllib

from perfkit.config import ROOT


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _direct() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    specs = project["dependencies"] + extras["dev"] + extras["scale"]  # the lock installs the extras too
    return [re.split(r"[<>=!~ \[]", s)[0].lower() for s in specs]


def test_every_direct_dependency_is_pinned_in_the_lock():
    lock = _lock()
    missing = [name for name in _direct() if name not in lock]
    assert not missing, f"not in requirements.lock: {missing}"


def test_environment_yml_agrees_with_the_lock():
    lock = _lock()
    env = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)==([^\s]+)\s*$", line)
        if m:
            env[m.group(1).lower().replace("_", "-")] = m.group(2)
    assert set(_direct()) <= set(env), f"environment.yml lacks {set(_direct()) - set(env)}"
    disagree = {k: (v, lock.get(k)) for k, v in env.items() if lock.get(k) != v}
    assert not disagree, f"environment.yml and requirements.lock disagree: {disagree}"


def test_quickstart_has_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quickstart\n(.*?)(?=^## )", readme, re.S | re.M)
    assert section, "README has no Quickstart section"
    commands = [line.strip() for line in section.group(1).splitlines() if line.strip().startswith("make ")]
    assert commands == ["make brief", "make test"]
