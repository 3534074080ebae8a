"""`runner infra affected` on a real temporary git repository, and the path rules behind it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.infra.gitops import ALL, affected, affected_envs, envs_for_path
from tests.helpers import error_line

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Platform Bot",
    "GIT_AUTHOR_EMAIL": "bot@example.com",
    "GIT_COMMITTER_NAME": "Platform Bot",
    "GIT_COMMITTER_EMAIL": "bot@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return proc.stdout.strip()


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project with envs local (emulator), dev and prod, modules, packer, docs and the runner, on main."""
    root = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    for env in ("local", "dev", "prod"):
        write(root, f"envs/{env}/main.tf", f'module "platform" {{ source = "../../modules/platform" }} # {env}\n')
    write(root, "envs/dev/variables.tf", "# dev variables\n")
    write(root, "envs/local/runner.toml", "emulator = true\n")
    write(root, "envs/prod/runner.toml", "protected = true\n")
    write(root, "modules/platform/main.tf", "# platform\n")
    write(root, "packer/batch.pkr.hcl", "# ami\n")
    write(root, "docs/guide.md", "# guide\n")
    write(root, "runner/__init__.py", "")
    write(root, "README.md", "# readme\n")
    commit(root, "initial")
    git(root, "checkout", "-q", "-b", "change")
    return root


def affected_cli(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUNNER_HOME", "ENV")}
    env.update(RUNNER_ROOT=str(repo), RUNNER_HOME=str(repo / ".runner"), **GIT_ENV)
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "infra", "affected", *args],
        cwd=repo.parent,  # not inside the scratch repo: its runner/ folder would shadow the package
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def envs(repo: Path, skip_emulator: bool = False) -> list[str]:
    return affected(repo, "main", skip_emulator=skip_emulator).envs


def test_an_env_change_affects_only_that_env(repo: Path) -> None:
    """Through the real CLI: one env per line, and --json with the reasons."""
    write(repo, "envs/dev/terraform.tfvars", "max_vcpus = 64\n")
    commit(repo, "dev: more vCPUs")
    assert affected_cli(repo, "--base", "main").stdout.split() == ["dev"]
    data = json.loads(affected_cli(repo, "--base", "main", "--json").stdout)
    assert data["envs"] == ["dev"]
    assert data["reasons"] == {"dev": ["envs/dev/terraform.tfvars"]}
    assert data["base"] == git(repo, "rev-parse", "main")
    assert data["head"] == git(repo, "rev-parse", "HEAD")


def test_a_module_change_affects_every_env(repo: Path) -> None:
    write(repo, "modules/platform/main.tf", "# platform v2\n")
    commit(repo, "platform: change")
    assert envs(repo) == ["dev", "local", "prod"]
    # CI plans only envs in real accounts.
    assert affected_cli(repo, "--base", "main", "--skip-emulator").stdout.split() == ["dev", "prod"]


def test_a_packer_change_affects_every_env(repo: Path) -> None:
    write(repo, "packer/batch.pkr.hcl", "# ami v2\n")
    commit(repo, "ami: change")
    assert envs(repo, skip_emulator=True) == ["dev", "prod"]


def test_a_doc_only_change_affects_none(repo: Path) -> None:
    write(repo, "docs/guide.md", "# guide v2\n")
    write(repo, "README.md", "# readme v2\n")
    write(repo, "envs/prod/README.md", "# prod notes\n")
    write(repo, "modules/platform/README.md", "# platform docs\n")
    commit(repo, "docs")
    result = affected(repo, "main")
    assert result.envs == [] and len(result.ignored) == 4


def test_runner_changes_affect_none_and_only_commits_since_the_fork_count(repo: Path) -> None:
    write(repo, "runner/cli.py", "print('x')\n")
    commit(repo, "runner")
    # main moves on with a dev change after the branch forked: not part of this change.
    git(repo, "checkout", "-q", "main")
    write(repo, "envs/dev/extra.tf", "# on main\n")
    commit(repo, "main moves")
    git(repo, "checkout", "-q", "change")
    assert envs(repo) == []


def test_a_move_out_of_an_env_affects_both_ends(repo: Path) -> None:
    git(repo, "mv", "envs/dev/main.tf", "envs/prod/dev-moved.tf")
    commit(repo, "move")
    assert envs(repo) == ["dev", "prod"]


def test_an_unknown_base_is_exit_2_naming_the_field(repo: Path) -> None:
    proc = affected_cli(repo, "--base", "no-such-ref", check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert "--base" in line and "no-such-ref" in line


def test_path_rules() -> None:
    assert envs_for_path("envs/dev/main.tf") == "dev"
    assert envs_for_path("envs/prod/runner.toml") == "prod"
    assert envs_for_path("envs/common.auto.tfvars") == ALL
    assert envs_for_path("modules/batch/main.tf") == ALL
    assert envs_for_path("packer/batch.pkr.hcl") == ALL
    assert envs_for_path("modules/batch/README.md") is None
    assert envs_for_path("docs/runbook.txt") is None
    assert envs_for_path("runner/infra.py") is None
    assert envs_for_path(".github/workflows/infra-plan.yml") is None
    reasons, ignored = affected_envs(["envs/gone/main.tf", "envs/dev/x.tf", "README.md"], ["dev", "prod"])
    assert reasons == {"dev": ["envs/dev/x.tf"]}  # a deleted env has nothing left to plan
    assert ignored == ["README.md"]


# --------------------------------------------------------------------------------------------------------------
# Drift reports (the plan JSON of a real drift is exercised in tests/integration/test_gitops.py)
# --------------------------------------------------------------------------------------------------------------


def _rc(address: str, *actions: str) -> dict[str, object]:
    rtype = address.split(".")[0]
    return {"address": address, "type": rtype, "mode": "managed", "change": {"actions": list(actions)}}


DRIFT_PLAN = {
    "resource_drift": [_rc("aws_s3_bucket_versioning.v", "update"), _rc("aws_iam_role.ignored", "update")],
    "resource_changes": [
        _rc("aws_s3_bucket_versioning.v", "update"),
        _rc("aws_batch_job_queue.q", "create"),
        _rc("aws_iam_role.ignored", "no-op"),
    ],
}


def test_drift_separates_out_of_band_changes_from_unapplied_configuration() -> None:
    from runner.infra.gitops import DriftReport, render_drift
    from runner.infra.plan_summary import summarize

    report = DriftReport(env="dev", summary=summarize(DRIFT_PLAN), git_sha="a" * 40)
    assert report.drifted
    # Drift the configuration does not care about (no planned change) is not reported as drift.
    assert [c.address for c in report.changed_outside] == ["aws_s3_bucket_versioning.v"]
    assert [c.address for c in report.pending] == ["aws_batch_job_queue.q"]
    md = render_drift(report, "markdown")
    assert md.startswith("## Drift check: `dev`: drift detected")
    assert md.index("**Changed outside Terraform**") < md.index("`aws_s3_bucket_versioning.v` (update)")
    assert md.index("**Configuration not yet applied**") < md.index("`aws_batch_job_queue.q` (create)")
    assert "### What the next apply would do: `dev`" in md
    text = render_drift(report, "text")
    assert "changed outside terraform: aws_s3_bucket_versioning.v (update)" in text
    assert json.loads(render_drift(report, "json"))["pending"] == [
        {"address": "aws_batch_job_queue.q", "type": "aws_batch_job_queue", "action": "create"}
    ]
    clean = DriftReport(env="dev", summary=summarize({"resource_changes": []}))
    assert not clean.drifted and "no drift" in render_drift(clean, "markdown")
