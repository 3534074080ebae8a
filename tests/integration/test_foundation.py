"""The foundation end to end: emulator up, plan, apply, boto3 sees the bucket, outputs, destroy, emulator down."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from runner.infra.plan_summary import classify
from tests.conftest import Deployment
from tests.helpers import Project, error_line
from tests.integration.test_platform import assert_platform_gone

pytestmark = pytest.mark.integration


def test_emulator_is_up_on_the_configured_port(project: Project, emulator: dict) -> None:
    assert emulator["running"] is True
    assert emulator["endpoint"] == project.endpoint
    os.kill(emulator["pid"], 0)  # the pid is alive
    status = project.run_json("local", "status", "--json")
    assert status["pid"] == emulator["pid"]
    # `up` again is a no-op: same pid.
    assert project.run_json("local", "up", "--json")["pid"] == emulator["pid"]


def test_plan_summary_counts_match_the_plan_json(deployed: Deployment) -> None:
    actions = Counter()
    by_type: dict[str, Counter] = {}
    for rc in deployed.plan_json["resource_changes"]:
        action = classify(rc["change"]["actions"])
        if rc["mode"] == "data" or action in (None, "read"):
            continue
        actions[action] += 1
        by_type.setdefault(rc["type"], Counter())[action] += 1
    summary = deployed.plan_summary
    assert summary["add"] == actions["create"] + actions["replace"] > 0
    assert summary["change"] == actions["update"]
    assert summary["destroy"] == actions["delete"] + actions["replace"]
    assert summary["by_type"] == {t: dict(c) for t, c in by_type.items()}
    assert summary["by_type"]["aws_s3_bucket"] == {"create": 3}


def test_apply_creates_versioned_encrypted_buckets(deployed: Deployment) -> None:
    s3 = deployed.client("s3")
    names = deployed.output("bucket_names")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(names.values()) <= existing
    for name in names.values():
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_output_json_is_terraforms(deployed: Deployment) -> None:
    outputs = deployed.outputs
    assert outputs["region"] == {"sensitive": False, "type": "string", "value": "us-east-1"}
    assert set(outputs["bucket_names"]["value"]) >= {"data", "work", "results"}


def test_apply_again_with_nothing_to_do_changes_nothing(deployed: Deployment) -> None:
    proc = deployed.project.run("infra", "apply", "--env", "local", "--auto-approve", "--json")
    import json

    applied = json.loads(proc.stdout)["applied"]
    assert (applied["add"], applied["change"], applied["destroy"]) == (0, 0, 0)


@pytest.mark.teardown
def test_destroy_leaves_nothing_and_down_stops_the_emulator(deployed: Deployment, emulator: dict) -> None:
    project = deployed.project
    s3 = deployed.client("s3")
    project.run("infra", "destroy", "--env", "local", "--auto-approve")
    remaining = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not remaining & set(deployed.output("bucket_names").values())
    assert_platform_gone(deployed)
    state = project.run("infra", "output", "--env", "local", "--json").stdout
    assert state.strip() == "{}"
    down = project.run_json("local", "down", "--json")
    assert down["pid"] == emulator["pid"] and down["running"] is False
    with pytest.raises(ProcessLookupError):
        os.kill(emulator["pid"], 0)
    assert "not running" in project.run("local", "status").stdout


def test_unknown_env_is_exit_2_naming_the_known_envs(project: Project) -> None:
    proc = project.run("infra", "apply", "--env", "nosuch", "--auto-approve", check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert "nosuch" in line and "local" in line
