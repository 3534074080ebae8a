"""`runner infra plan --replace`: addresses are checked before anything runs (exit 2, one line)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runner.infra.commands import RESOURCE_ADDRESS

CE = 'module.platform.module.batch.aws_batch_compute_environment.this["spot"]'


@pytest.mark.parametrize("address", [CE, "aws_s3_bucket.this[0]", "aws_s3_bucket.x", "module.a[1].aws_b.c"])
def test_resource_addresses_are_accepted(address: str) -> None:
    assert RESOURCE_ADDRESS.match(address)


@pytest.mark.parametrize("address", ["spot", "module.platform", 'aws_s3_bucket.this["a]', "aws_s3_bucket.this[x]"])
def test_other_strings_are_not(address: str) -> None:
    assert not RESOURCE_ADDRESS.match(address)


def test_a_bad_replace_is_one_line_exit_2_before_any_terraform() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "infra", "plan", "--env", "nosuch", "--replace", "spot"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --replace: 'spot' is not a resource address (e.g. module.m.aws_x.name[\"key\"])"
    ]
