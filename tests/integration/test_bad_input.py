"""Bad input to the foundation commands: one line naming the problem, exit 2, nothing applied."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.helpers import Project, copy_project, error_line, free_port, require_tool

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch(tmp_path: Path) -> Project:
    proj = Project(root=copy_project(tmp_path / "p"), port=free_port())
    yield proj
    proj.run("local", "down", check=False)


def test_missing_terraform_binary(scratch: Project) -> None:
    proc = scratch.run(
        "infra", "plan", "--env", "local", check=False, env=scratch.environ(TERRAFORM_BINARY="/nonexistent")
    )
    assert proc.returncode == 2
    assert "TERRAFORM_BINARY" in error_line(proc) and "/nonexistent" in error_line(proc)
    assert not (scratch.home / "plans" / "local.plan").exists()


def test_port_taken_by_another_process(scratch: Project) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", scratch.port))
        sock.listen()
        proc = scratch.run("local", "up", check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert str(scratch.port) in line and "RUNNER_LOCAL_PORT" in line
    assert not (scratch.home / "local" / "server.json").exists()


def test_bad_port_value(scratch: Project) -> None:
    proc = scratch.run("local", "up", check=False, env=scratch.environ(RUNNER_LOCAL_PORT="http"))
    assert proc.returncode == 2 and "RUNNER_LOCAL_PORT" in error_line(proc)


def test_stale_plan_is_refused_and_nothing_applied(scratch: Project) -> None:
    require_tool("terraform")
    scratch.run("infra", "plan", "--env", "local")
    tfvars = scratch.root / "envs" / "local" / "terraform.tfvars"
    tfvars.write_text(tfvars.read_text() + "\n# edited after the plan was made\n")
    # The saved plan, named explicitly (a plain apply would plan afresh).
    proc = scratch.run("infra", "apply", "--env", "local", "--saved", "--auto-approve", check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert "stale" in line and "runner infra plan --env local" in line
    s3 = scratch.client("s3")
    assert s3.list_buckets()["Buckets"] == []
    assert (
        not (scratch.root / "envs" / "local" / "terraform.tfstate").exists()
        or '"resources": []' in (scratch.root / "envs" / "local" / "terraform.tfstate").read_text()
    )


def test_non_interactive_apply_needs_auto_approve(scratch: Project) -> None:
    proc = scratch.run("infra", "apply", "--env", "local", check=False)
    assert proc.returncode == 2 and "--auto-approve" in error_line(proc)


def test_bad_plan_format(scratch: Project) -> None:
    proc = scratch.run("infra", "plan", "--env", "local", "--format", "yaml", check=False)
    assert proc.returncode == 2 and "--format" in error_line(proc)
