"""What a user installs is what was tested: the venv `make setup` made holds exactly the versions uv.lock names, and
the lock still matches pyproject (a `uv lock --check` offline)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata

import pytest

from tests.helpers import REPO

# What the runner, its `local` extra and the tests cannot do without: they must be installed, at the locked version.
REQUIRED = ("boto3", "botocore", "click", "typer", "rich", "moto", "pytest", "python-hcl2", "pyyaml")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, set[str]]:
    """Each package's locked versions (a fork of the resolution, e.g. by Python version, may lock several)."""
    data = tomllib.loads((REPO / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in data["package"]:
        if "version" in package:
            versions.setdefault(_canonical(package["name"]), set()).add(package["version"])
    return versions


def test_the_venv_holds_exactly_the_locked_versions() -> None:
    locked = _locked()
    installed = {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    for name in REQUIRED:
        assert name in installed, f"{name} is not installed: run make setup"
    drift = {
        name: (version, locked[name])
        for name, version in installed.items()
        if name in locked and name != "batch-platform-runner" and version not in locked[name]
    }
    assert not drift, f"installed versions differ from uv.lock (installed, locked): {drift}; run make setup"


def test_the_lock_matches_pyproject() -> None:
    uv = REPO / ".uv" / "bin" / "uv"
    if not uv.exists():
        pytest.fail("uv is not installed in .uv/: run make setup")
    proc = subprocess.run(
        [str(uv), "lock", "--check", "--offline", "--python", "python3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "UV_PYTHON_DOWNLOADS": "never", "HOME": str(REPO)},
        timeout=120,
    )
    assert proc.returncode == 0, f"uv.lock is stale against pyproject.toml (run make lock):\n{proc.stderr}"


def test_moto_is_bounded_by_the_newest_tested_release() -> None:
    """pyproject's `local` extra has an upper bound (the emulator patches moto's internals) and the lock is in it."""
    from runner.local import moto_contract

    assert all(moto_contract.in_range(v) for v in _locked()["moto"])
