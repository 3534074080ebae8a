"""Containers cannot reach the instance metadata service, the host (ECS agent) can: the AMI's unit and the launch
template's user data run against real iptables in private network namespaces (tests/fixtures/imds)."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO, require_tool

pytestmark = pytest.mark.integration

SCENARIO = REPO / "tests" / "fixtures" / "imds" / "netns_scenario.sh"
AMI_HELPER = REPO / "packer" / "files" / "batch-imds-block.sh"


def _scenario(block_script: Path) -> dict[str, str]:
    for tool in ("ip", "iptables", "python3"):
        require_tool(tool)
    argv = [str(SCENARIO), str(block_script)]
    if os.geteuid() != 0:  # CI runners: passwordless sudo
        argv = [require_tool("sudo"), "-n", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def _assert_blocked_for_containers_only(result: dict[str, str]) -> None:
    assert result["before-container"] == "ok"  # the miniature host forwards: without the rule IMDS is reachable
    assert result["after-container"] == "blocked"
    assert result["after-host"] == "ok"  # the ECS and SSM agents run on the host network
    assert result["after-container-credentials"] == "ok"  # job role credentials come from 169.254.170.2
    assert result["rules"] == "1"  # run twice, inserted once


def test_the_amis_unit_blocks_containers_not_the_host() -> None:
    _assert_blocked_for_containers_only(_scenario(AMI_HELPER))
    unit = (REPO / "packer" / "files" / "batch-imds-block.service").read_text()
    assert "After=docker.service" in unit and "PartOf=docker.service" in unit and "Before=ecs.service" in unit


def test_the_user_data_blocks_containers_not_the_host(tmp_path: Path) -> None:
    main = (REPO / "modules" / "compute" / "main.tf").read_text()
    user_data = textwrap.dedent(main.split("user_data = <<-MIME\n", 1)[1].split("  MIME\n", 1)[0])
    script = user_data.split("#!/bin/bash\n", 1)[1].split("mkdir -p /etc/ecs", 1)[0]
    assert re.search(r"^iptables ", script, re.M), "no iptables rule in the user data"
    path = tmp_path / "user-data-imds.sh"
    path.write_text("#!/bin/bash\n" + script)
    path.chmod(0o755)
    _assert_blocked_for_containers_only(_scenario(path))
