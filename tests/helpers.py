"""Helpers shared by the tests: run the real `runner` CLI, copy the project, find free ports, require tools."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[1]
COPIED = ("envs", "modules", "packer", "examples")
IGNORED = shutil.ignore_patterns(
    ".terraform", "*.tfstate", "*.tfstate.*", ".terraform.lock.hcl", "ami.auto.tfvars.json"
)


def require_tool(name: str) -> str:
    """Tests that need a tool fail loudly when it is missing; they never skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"required tool '{name}' is not on PATH: run `make setup` (CI installs it in .ci/run)")
    return path


def require_docker() -> None:
    """Docker-mode tests fail loudly, never skip, when no daemon answers (make setup / .ci/run start one)."""
    from runner.local import docker

    require_tool("docker")
    path = docker.socket_path()
    if path is None or not docker.Engine(path).ping():
        pytest.fail("no Docker daemon answers: run `make setup` (scripts/docker-up starts one; CI: .ci/run)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_project(dest: Path) -> Path:
    """A scratch copy of everything terraform and packer read, so tests never touch the checkout's state."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = REPO / name
        if src.exists():
            shutil.copytree(src, dest / name, ignore=IGNORED, dirs_exist_ok=True)
    return dest


@dataclass
class Project:
    """One isolated project: its own copy, runner home and emulator port."""

    root: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / ".runner"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("ENV", "AWS_PROFILE")}
        env.update(
            RUNNER_ROOT=str(self.root),
            RUNNER_HOME=str(self.home),
            RUNNER_LOCAL_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI (`python -m runner`) in a subprocess, as a user would."""
        proc = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=self.root,
            env=env or self.environ(),
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"runner {' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                f"--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc

    def run_json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one-line error a bad input must produce (and nothing else on stderr)."""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr}"
    return lines[0]
