"""Applies that cannot mislead, on the shared deployment of envs/local: a saved plan is applied only when nothing
changed outside terraform since it was made; a plain apply plans afresh.

The scenario: `runner infra plan`, then the data bucket's versioning is suspended out of band (boto3 against the
emulator). Applying the saved plan explicitly is refused, naming the bucket and the attribute; `runner infra
apply --auto-approve` plans afresh and puts versioning back. Other tests share the deployment: the module leaves
versioning Enabled and no saved plan behind, whatever happens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Deployment
from tests.helpers import error_line

pytestmark = pytest.mark.integration

VERSIONING = 'module.platform.module.storage.aws_s3_bucket_versioning.this["data"]'


@pytest.fixture
def data_bucket(deployed: Deployment) -> Iterator[str]:
    bucket: str = deployed.output("bucket_names")["data"]
    s3 = deployed.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    try:
        yield bucket
    finally:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for path in (deployed.project.home / "plans").glob("local.*"):
            path.unlink()


def _versioning(deployed: Deployment, bucket: str) -> Any:
    return deployed.client("s3").get_bucket_versioning(Bucket=bucket).get("Status")


def _serial(deployed: Deployment) -> int:
    state = json.loads((deployed.project.root / "envs" / "local" / "terraform.tfstate").read_text())
    return int(state["serial"])


def test_drift_after_the_plan_refuses_the_saved_plan_and_a_plain_apply_plans_afresh(
    deployed: Deployment, data_bucket: str
) -> None:
    project = deployed.project
    planned = project.run_json("infra", "plan", "--env", "local", "--format", "json")
    assert (planned["add"], planned["change"], planned["destroy"]) == (0, 0, 0)
    deployed.client("s3").put_bucket_versioning(Bucket=data_bucket, VersioningConfiguration={"Status": "Suspended"})
    serial = _serial(deployed)

    # The saved plan, named explicitly (both spellings): refused, one line naming the resource and attribute.
    saved = project.home / "plans" / "local.plan"
    for how in (["--saved"], ["--plan", str(saved)]):
        proc = project.run("infra", "apply", "--env", "local", *how, "--auto-approve", check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        line = error_line(proc)
        assert "changed outside terraform since it was made" in line and "nothing applied" in line
        assert f"{VERSIONING} (versioning_configuration.status)" in line
        assert _versioning(deployed, data_bucket) == "Suspended" and _serial(deployed) == serial
    assert saved.exists()  # refused, not consumed: it is applied once the change is undone or re-planned

    # A plain apply never trusts the old plan: it plans afresh and restores versioning.
    proc = project.run("infra", "apply", "--env", "local", "--auto-approve", "--json")
    applied = json.loads(proc.stdout)["applied"]
    assert (
        applied["change"] >= 1
        and {"address": VERSIONING, "type": "aws_s3_bucket_versioning", "action": "update"} in (applied["changes"])
    )
    assert _versioning(deployed, data_bucket) == "Enabled"
    assert not saved.exists()


def test_a_saved_plan_without_drift_is_applied(deployed: Deployment, data_bucket: str) -> None:
    project = deployed.project
    project.run("infra", "plan", "--env", "local")
    # Saved as local.plan: Atlantis takes any untracked *.tfplan in its working copy for a pending plan.
    assert (project.home / "plans" / "local.plan").is_file()
    assert not [p for base in (project.root, project.home) for p in base.rglob("*.tfplan")]
    proc = project.run("infra", "apply", "--env", "local", "--saved", "--auto-approve", "--json")
    applied = json.loads(proc.stdout)["applied"]
    assert (applied["add"], applied["change"], applied["destroy"]) == (0, 0, 0)
    assert not (project.home / "plans" / "local.plan").exists()  # consumed


def test_saved_without_a_saved_plan_and_two_plans_at_once_are_bad_input(deployed: Deployment) -> None:
    project = deployed.project
    proc = project.run("infra", "apply", "--env", "local", "--saved", "--auto-approve", check=False)
    assert proc.returncode == 2
    assert "--saved: 'local' has no saved plan" in error_line(proc)
    proc = project.run("infra", "apply", "--env", "local", "--saved", "--plan", "x.plan", check=False)
    assert proc.returncode == 2
    assert "--saved, --plan: name at most one saved plan" in error_line(proc)
    proc = project.run("infra", "apply", "--env", "local", "--plan", "nosuch.plan", "--auto-approve", check=False)
    assert proc.returncode == 2
    assert "--plan: nosuch.plan is not a saved plan" in error_line(proc)
