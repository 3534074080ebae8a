"""scripts/docker-up, the one place that gets a Docker daemon for make setup and .ci/run, and the demo's shell
scripts under shellcheck. The machine's real daemon is shared and must never be stopped, so the script's decisions
(install with apt as root, start dockerd as root, otherwise say how) run against stand-in commands on a PATH of
their own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, require_tool

SCRIPT = REPO / "scripts" / "docker-up"
REAL = ("bash", "grep", "sleep", "nohup", "cat", "touch", "rm")


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A bin folder with the few real commands the script needs and stand-ins for the rest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in REAL:
        real = shutil.which(name)
        assert real, name
        (bin_dir / name).symlink_to(real)
    calls = tmp_path / "calls"
    # `docker info` answers once the stand-in daemon has written its marker.
    _stub(bin_dir, "docker", f'echo "docker $*" >> {calls}; [ -e {tmp_path}/daemon-up ]')
    _stub(bin_dir, "pgrep", "exit 1")
    _stub(bin_dir, "dpkg-query", "echo 'install ok installed'")
    _stub(bin_dir, "mmdebstrap", "exit 0")
    _stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}')
    return tmp_path


def _run(sandbox: Path, uid: int) -> subprocess.CompletedProcess[str]:
    _stub(sandbox / "bin", "id", f"echo {uid}")
    env = {"PATH": str(sandbox / "bin"), "DOCKERD_LOG": str(sandbox / "dockerd.log"), "DOCKER_WAIT": "5"}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False)


def _calls(sandbox: Path) -> list[str]:
    path = sandbox / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_running_daemon_is_left_alone(sandbox: Path) -> None:
    (sandbox / "daemon-up").touch()
    _stub(sandbox / "bin", "dockerd", f"touch {sandbox}/started")
    proc = _run(sandbox, 0)
    assert proc.returncode == 0 and proc.stderr == ""
    assert not (sandbox / "started").exists() and not any(c.startswith("apt-get") for c in _calls(sandbox))


def test_root_starts_an_installed_daemon_and_waits_for_it(sandbox: Path) -> None:
    _stub(sandbox / "bin", "dockerd", f'echo "dockerd $*" >> {sandbox}/calls; sleep 1; touch {sandbox}/daemon-up')
    proc = _run(sandbox, 0)
    assert proc.returncode == 0, proc.stderr
    assert "starting dockerd in the background" in proc.stderr and "dockerd is up" in proc.stderr
    assert "dockerd " in _calls(sandbox) and _calls(sandbox).count("docker info") >= 2  # it polled


def test_root_installs_what_is_missing_with_apt(sandbox: Path) -> None:
    (sandbox / "bin" / "docker").unlink()
    (sandbox / "bin" / "mmdebstrap").unlink()
    _stub(sandbox / "bin", "dpkg-query", "echo 'unknown ok not-installed'")
    proc = _run(sandbox, 0)
    assert "apt-get install -y -qq docker.io mmdebstrap busybox-static" in _calls(sandbox)
    assert proc.returncode == 1  # the stand-in apt-get installed nothing: still no daemon, and it says so
    assert "dockerd is not installed" in proc.stderr


def test_without_root_it_says_how_and_changes_nothing(sandbox: Path) -> None:
    _stub(sandbox / "bin", "dockerd", f"touch {sandbox}/started")
    proc = _run(sandbox, 1000)
    assert proc.returncode == 1
    assert "dockerd is installed but not running; start it" in proc.stderr
    assert not (sandbox / "started").exists() and not any(c.startswith("apt-get") for c in _calls(sandbox))
    (sandbox / "bin" / "docker").unlink()
    proc = _run(sandbox, 1000)
    assert proc.returncode == 1 and "sudo apt-get install -y docker.io" in proc.stderr


@pytest.mark.parametrize(
    ("path", "shell"), [("scripts/docker-up", "bash"), (".ci/run", "bash"), ("examples/qc/qc.sh", "sh")]
)
def test_scripts_pass_shellcheck(path: str, shell: str) -> None:
    proc = subprocess.run(
        [require_tool("shellcheck"), "--severity=style", f"--shell={shell}", str(REPO / path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    assert os.access(REPO / path, os.X_OK) or shell == "sh"
