"""What real Batch clients need of the local env's containers: ``privileged`` where Docker's privileged mode cannot
start (runner/local/containers.py), and the shim's endpoint for clients told the host's address (shim.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.local import containers, shim

EVERY = (1 << len(containers.CAPABILITIES)) - 1
SYS_RESOURCE = 1 << containers.CAPABILITIES.index("SYS_RESOURCE")


def test_privileged_is_dockers_privileged_mode_where_the_host_has_every_capability() -> None:
    assert containers.privileged_config(EVERY) == {"Privileged": True}
    assert containers.privileged_config(-1) == {"Privileged": True}


def test_privileged_on_a_host_without_every_capability_is_every_capability_it_has() -> None:
    """A Docker daemon inside a container whose bounding set lacks CAP_SYS_RESOURCE cannot start a privileged
    container at all (runc: "unable to apply caps"): the job gets every capability the host has instead."""
    config = containers.privileged_config(EVERY & ~SYS_RESOURCE)
    assert "Privileged" not in config
    assert set(config["CapAdd"]) == set(containers.CAPABILITIES) - {"SYS_RESOURCE"}
    assert config["SecurityOpt"] == ["seccomp=unconfined", "apparmor=unconfined"]


def test_capabilities_are_in_linux_number_order() -> None:
    names = containers.CAPABILITIES
    assert (names[0], names[21], names[24], names[37]) == ("CHOWN", "SYS_ADMIN", "SYS_RESOURCE", "AUDIT_READ")


def _endpoint_seen(tmp_path: Path, given: str | None) -> str:
    """The endpoint a real botocore client gets in a job: the shim on PYTHONPATH, AWS_ENDPOINT_URL the gateway."""
    folder = shim.write(tmp_path / "shim")
    code = (
        "import boto3, sys; kw = {} if sys.argv[1] == '-' else {'endpoint_url': sys.argv[1]}; "
        "print(boto3.client('s3', region_name='us-east-1', **kw).meta.endpoint_url)"
    )
    env = {"PYTHONPATH": str(folder / "python"), "AWS_ENDPOINT_URL": "http://172.30.0.1:4566", "PATH": "/usr/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code, given or "-"], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


@pytest.mark.parametrize(
    ("given", "seen"),
    [
        (None, "http://172.30.0.1:4566"),  # no endpoint: the job's own
        ("http://127.0.0.1:4566", "http://172.30.0.1:4566"),  # the host's view of the emulator
        ("http://localhost:4566", "http://172.30.0.1:4566"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),  # another port: something else, left alone
        ("https://s3.example.com", "https://s3.example.com"),  # an explicit endpoint elsewhere wins
    ],
)
def test_jobs_given_the_hosts_endpoint_reach_the_emulator(tmp_path: Path, given: str | None, seen: str) -> None:
    assert _endpoint_seen(tmp_path, given) == seen, json.dumps({"given": given})
