"""GitOps on the emulator: the reviewed-plan apply, drift checks and the pull-request plan comment.

A small root of plain buckets (tests/fixtures/gitops_root) is the `local` env of a scratch git repository with
its own emulator: applied once for the module, through the path CI takes (plan, hand the plan over as an
artifact, `runner infra apply --plan-dir`). Every test leaves it as it found it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Project, error_line, free_port, require_tool
from tests.unit.test_gitops import commit, git

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gitops_root"
PREFIX = "gitops-scratch"
STAGE_ONE = (FIXTURE / "terraform.tfvars").read_text()
# Against stage one: `add` is created, `retag` updated in place, `rename` replaced (new bucket name), `drop` deleted.
STAGE_TWO = """buckets = {
  keep   = {}
  retag  = { tags = { Owner = "platform" } }
  rename = { suffix = "-v2" }
  add    = {}
}
"""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    require_tool("terraform")
    require_tool("git")
    root = tmp_path_factory.mktemp("gitops") / "repo"
    shutil.copytree(FIXTURE, root / "envs" / "local")
    (root / "modules").mkdir()
    (root / ".gitignore").write_text(".runner/\n.terraform/\n.terraform.lock.hcl\n*.tfstate\n*.tfstate.*\n")
    git(root.parent, "init", "-q", "-b", "main", str(root))
    commit(root, "scratch root")
    proj = Project(root=root, port=free_port())
    proj.run("local", "up")
    # The CI path: the PR job plans and uploads the plan; the merge job downloads it and applies only that.
    proj.run("infra", "plan", "--env", "local")
    artifact = handover(proj, "initial")
    proj.run("infra", "apply", "--env", "local", "--plan-dir", str(artifact), "--auto-approve")
    yield proj
    proj.run("local", "down", check=False)


def handover(proj: Project, name: str) -> Path:
    """Move the saved plan out of RUNNER_HOME, as the upload/download of a CI artifact does."""
    artifact = proj.root.parent / f"artifact-{name}"
    artifact.mkdir()
    for path in (proj.home / "plans").glob("local.*"):
        shutil.move(str(path), artifact / path.name)
    return artifact


def s3(proj: Project):  # type: ignore[no-untyped-def]
    return proj.client("s3")


def test_the_reviewed_plan_was_applied_and_consumed(scratch: Project) -> None:
    names = {b["Name"] for b in s3(scratch).list_buckets()["Buckets"]}
    assert names == {f"{PREFIX}-{k}" for k in ("keep", "retag", "rename", "drop")}
    for name in names:
        assert s3(scratch).get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert not list((scratch.home / "plans").glob("local.*"))


def test_drift_is_0_when_clean_and_3_naming_what_changed_out_of_band(scratch: Project) -> None:
    clean = scratch.run("infra", "drift", "--env", "local", "--format", "json")
    assert json.loads(clean.stdout)["drifted"] is False

    client = s3(scratch)
    client.put_bucket_versioning(Bucket=f"{PREFIX}-keep", VersioningConfiguration={"Status": "Suspended"})
    extra_tag = [{"Key": "Role", "Value": "retag"}, {"Key": "Owner", "Value": "x"}]
    client.put_bucket_tagging(Bucket=f"{PREFIX}-retag", Tagging={"TagSet": extra_tag})
    try:
        md = scratch.run("infra", "drift", "--env", "local", "--format", "markdown", check=False)
        assert md.returncode == 3, md.stderr
        assert "drift detected" in md.stdout
        outside = md.stdout.split("**Changed outside Terraform**", 1)[1]
        assert '`aws_s3_bucket_versioning.this["keep"]` (update)' in outside
        assert '`aws_s3_bucket.this["retag"]` (update)' in outside
        as_json = scratch.run("infra", "drift", "--env", "local", "--format", "json", check=False)
        assert as_json.returncode == 3
        report = json.loads(as_json.stdout)
        assert {c["address"] for c in report["changed_outside"]} == {
            'aws_s3_bucket_versioning.this["keep"]',
            'aws_s3_bucket.this["retag"]',
        }
        assert report["pending"] == []
        # The check is read-only: no plan is left where `apply` would pick it up, and nothing changed in AWS.
        assert not list((scratch.home / "plans").glob("local.*"))
        assert client.get_bucket_versioning(Bucket=f"{PREFIX}-keep")["Status"] == "Suspended"
    finally:
        client.put_bucket_versioning(Bucket=f"{PREFIX}-keep", VersioningConfiguration={"Status": "Enabled"})
        client.put_bucket_tagging(Bucket=f"{PREFIX}-retag", Tagging={"TagSet": [{"Key": "Role", "Value": "retag"}]})
    # That the restore leaves no drift is checked at the end of the module (the last test's final drift check).


def test_drift_on_an_unknown_env_is_exit_2(scratch: Project) -> None:
    proc = scratch.run("infra", "drift", "--env", "nosuch", check=False)
    assert proc.returncode == 2 and "nosuch" in error_line(proc)


def test_markdown_plan_calls_out_replacements_and_deletions_first(scratch: Project) -> None:
    tfvars = scratch.root / "envs" / "local" / "terraform.tfvars"
    tfvars.write_text(STAGE_TWO)
    try:
        md = scratch.run("infra", "plan", "--env", "local", "--format", "markdown").stdout
    finally:
        tfvars.write_text(STAGE_ONE)
        for path in (scratch.home / "plans").glob("local.*"):
            path.unlink()
    # add: add + rename (x2 each), change: retag, destroy: rename + drop (x2 each)
    assert md.startswith("### Terraform plan: `local`")
    assert "**4 to add, 1 to change, 4 to destroy**" in md
    warning = md.index("> [!WARNING]")
    replaced = [md.index(f'> - **replace** `aws_s3_bucket{s}.this["rename"]`') for s in ("", "_versioning")]
    deleted = [md.index(f'> - **destroy** `aws_s3_bucket{s}.this["drop"]`') for s in ("", "_versioning")]
    table = md.index("| resource type |")
    assert warning < min(replaced) and max(replaced) < min(deleted) and max(deleted) < table
    assert "| `aws_s3_bucket` | 1 | 1 | 1 | 1 |" in md
    assert "| `aws_s3_bucket_versioning` | 1 | 1 | 1 |  |" in md
    changes = md.split("```diff", 1)[1].split("```", 1)[0]
    assert '+ + aws_s3_bucket.this["add"]' in changes
    assert '! ~ aws_s3_bucket.this["retag"]' in changes
    assert '! -/+ aws_s3_bucket.this["rename"]' in changes
    assert '- - aws_s3_bucket.this["drop"]' in changes
    assert "keep" not in changes
    order = [changes.index(a) for a in ('"rename"]', '"drop"]', '"add"]', '"retag"]')]
    assert order == sorted(order)


def test_a_plan_reviewed_for_other_code_is_refused(scratch: Project) -> None:
    scratch.run("infra", "plan", "--env", "local")
    artifact = handover(scratch, "other-code")
    (scratch.root / "README.md").write_text("a later commit: another tree\n")
    commit(scratch.root, "docs after the review")
    proc = scratch.run("infra", "apply", "--env", "local", "--plan-dir", str(artifact), "--auto-approve", check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert "--plan-dir" in line and "not the code that was reviewed" in line
    assert not list((scratch.home / "plans").glob("local.*"))  # nothing installed, nothing applied


def test_a_stale_reviewed_plan_fails_loudly_and_never_replans(scratch: Project) -> None:
    tfvars = scratch.root / "envs" / "local" / "terraform.tfvars"
    tfvars.write_text(STAGE_ONE.replace("retag  = {}", 'retag  = { tags = { Owner = "platform" } }'))
    commit(scratch.root, "retag")
    try:
        scratch.run("infra", "plan", "--env", "local")
        reviewed = handover(scratch, "stale")
        # Someone applies the same change first: the state moves on and the reviewed plan is stale.
        scratch.run("infra", "apply", "--env", "local", "--auto-approve")
        serial = json.loads((scratch.root / "envs" / "local" / "terraform.tfstate").read_text())["serial"]
        proc = scratch.run(
            "infra", "apply", "--env", "local", "--plan-dir", str(reviewed), "--auto-approve", check=False
        )
        assert proc.returncode == 2
        line = error_line(proc)
        assert "stale" in line and "state changed" in line and "nothing applied" in line
        assert json.loads((scratch.root / "envs" / "local" / "terraform.tfstate").read_text())["serial"] == serial
        assert not list((scratch.home / "plans").glob("local.*"))
        tags = s3(scratch).get_bucket_tagging(Bucket=f"{PREFIX}-retag")["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags} == {"Role": "retag", "Owner": "platform"}
    finally:
        tfvars.write_text(STAGE_ONE)
        commit(scratch.root, "restore")
        scratch.run("infra", "apply", "--env", "local", "--auto-approve")
    assert scratch.run("infra", "drift", "--env", "local", check=False).returncode == 0
