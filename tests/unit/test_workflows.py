"""The GitOps files: workflows pass actionlint and call only make targets and runner commands that exist."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from runner.cli import VERBS, app
from runner.cli import load as load_verb
from tests.helpers import REPO, require_tool
from tests.unit.test_gitops import commit, git, write

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def tool(name: str) -> str:
    """A tool from this venv (actionlint, pre-commit come with the dev extras), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else require_tool(name)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def run_scripts() -> list[tuple[str, str]]:
    """(where, script) of every `run:` in the workflows, the local actions and atlantis.yaml."""
    found: list[tuple[str, str]] = []
    for path in WORKFLOWS:
        for job_name, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step:
                    found.append((f"{path.name}:{job_name}", step["run"]))
    for path in ACTIONS:
        for step in load(path)["runs"]["steps"]:
            if "run" in step:
                found.append((f"{path.parent.name}/action.yml", step["run"]))
    if any(script.strip().endswith(".ci/run") for _, script in found):
        ci_run = (REPO / ".ci" / "run").read_text().splitlines()  # runner-ci calls it: its make targets count
        found.append((".ci/run", "\n".join(ln for ln in ci_run if ln.startswith("make "))))
    for name, flow in load(REPO / "atlantis.yaml")["workflows"].items():
        for stage in flow.values():
            for step in stage["steps"]:
                if isinstance(step, dict) and "run" in step:
                    found.append((f"atlantis.yaml:{name}", step["run"]))
    return found


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", (REPO / "Makefile").read_text(), flags=re.M))


def commands(script: str, program: str) -> list[list[str]]:
    """The argv after `program` for each call of it in a shell script (expressions and $VARS kept as words)."""
    calls: list[list[str]] = []
    text = EXPRESSION.sub("EXPR", script.replace("\\\n", " "))
    for line in text.splitlines():
        for segment in re.split(r"\$\(|&&|\|\||;|\||\bif !|\bthen\b", line):
            try:
                words = shlex.split(segment, comments=True)
            except ValueError:
                words = segment.split()
            for i, word in enumerate(words):
                if word == program or word.endswith(f"/bin/{program}"):
                    calls.append(words[i + 1 :])
                    break
    return calls


def test_actionlint_passes_with_shellcheck() -> None:
    require_tool("shellcheck")  # actionlint checks every run: script with it when it is on PATH
    assert WORKFLOWS, "no workflows found"
    proc = subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, WORKFLOWS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": f"{Path(shutil.which('shellcheck') or '').parent}:/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_local_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """actionlint does not shellcheck composite actions: do it here."""
    shellcheck = require_tool("shellcheck")
    scripts = [(where, s) for where, s in run_scripts() if where.endswith("action.yml")]
    assert scripts
    for i, (where, script) in enumerate(scripts):
        path = tmp_path / f"step{i}.sh"
        path.write_text("#!/usr/bin/env bash\nset -e\n" + EXPRESSION.sub("placeholder", script))
        proc = subprocess.run([shellcheck, "-S", "style", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{where}\n{proc.stdout}"


def test_make_targets_in_run_steps_exist() -> None:
    targets = make_targets()
    used = {call[0] for _, script in run_scripts() for call in commands(script, "make") if call}
    assert {"setup", "lint", "test"} <= used
    assert used <= targets, f"unknown make targets: {used - targets}"


def _resolve(words: list[str]) -> tuple[list[str], Any]:
    """Walk the typer app down the subcommand words; check every --option exists on the command reached."""
    command: Any = typer.main.get_command(app)  # typer vendors click: groups are recognised by their commands
    path: list[str] = []
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        # the root loads its verbs lazily (runner.cli.VERBS): ask it for the real command
        sub = (load_verb(name) if name in VERBS else None) if not path else command.commands.get(name)
        assert sub is not None, f"`runner {' '.join([*path, name])}` is not a runner command"
        path.append(name)
        command = sub
    assert not hasattr(command, "commands"), f"`runner {' '.join(path)}` needs a subcommand"
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in known, f"`runner {' '.join(path)}` has no option {word}"
    return path, command


def test_runner_commands_in_run_steps_exist() -> None:
    used: set[tuple[str, ...]] = set()
    for where, script in run_scripts():
        for call in commands(script, "runner"):
            path, _ = _resolve(call)
            used.add(tuple(path))
            assert path, where
    assert {("infra", "plan"), ("infra", "apply"), ("infra", "affected"), ("infra", "drift")} <= used


def test_the_checker_catches_what_does_not_exist() -> None:
    with pytest.raises(AssertionError, match="not a runner command"):
        _resolve(["infra", "deploy", "--env", "dev"])
    with pytest.raises(AssertionError, match="no option --plan-file"):
        _resolve(["infra", "apply", "--plan-file", "x"])
    assert commands('x=$(.venv/bin/runner infra affected --base "$B" --json | jq .envs)', "runner") == [
        ["infra", "affected", "--base", "$B", "--json"]
    ]


# --------------------------------------------------------------------------------------------------------------
# What the workflows promise (the README's "Changing infrastructure" describes the same)
# --------------------------------------------------------------------------------------------------------------


def _step(job: dict[str, Any], **match: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if all(str(s.get(k, "")).startswith(v) for k, v in match.items())]
    return step


def test_plan_workflow_runs_on_every_pr_and_posts_one_sticky_comment_per_env() -> None:
    wf = load(REPO / ".github" / "workflows" / "infra-plan.yml")
    triggers = wf[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["pull_request"] is None  # no paths: a required check that never starts blocks every PR
    plan = wf["jobs"]["plan"]
    assert plan["needs"] == ["affected"]
    assert plan["permissions"]["id-token"] == "write"
    assert plan["strategy"]["matrix"]["env"] == "${{ fromJSON(needs.affected.outputs.envs) }}"
    sticky = [s for s in plan["steps"] if str(s.get("uses", "")).startswith("marocchino/sticky-pull-request-comment")]
    assert sticky and all(s["with"]["header"] == "infra-plan-${{ matrix.env }}" for s in sticky)
    upload = _step(plan, uses="actions/upload-artifact")
    assert upload["with"]["name"] == "infra-plan-${{ matrix.env }}-${{ needs.affected.outputs.tree }}"
    assert upload["with"]["include-hidden-files"] is True  # .runner/ is a hidden folder
    result = wf["jobs"]["result"]
    assert result["if"] == "always()" and set(result["needs"]) == {"affected", "plan"}


def test_plan_workflow_filters_paths_inside_the_job_and_gates_the_later_steps() -> None:
    job = load(REPO / ".github" / "workflows" / "infra-plan.yml")["jobs"]["affected"]
    steps = job["steps"]
    filter_at = next(i for i, s in enumerate(steps) if s.get("id") == "filter")
    assert steps[0]["with"]["fetch-depth"] == 0 and filter_at == 1  # nothing slow before the filter
    assert "git diff --name-only" in steps[filter_at]["run"]
    setup = _step(job, uses="./.github/actions/setup-runner")
    assert setup["if"] == "steps.filter.outputs.infra == 'true'"
    affected = next(s for s in steps if s.get("id") == "affected")
    assert affected["env"]["INFRA"] == "${{ steps.filter.outputs.infra }}" and "envs='[]'" in affected["run"]


def _run_filter(repo: Path, base: str, tmp_path: Path) -> tuple[str, str]:
    """Run the filter step's script as GitHub would: bash -e, with its env and the output files."""
    job = load(REPO / ".github" / "workflows" / "infra-plan.yml")["jobs"]["affected"]
    script = next(s for s in job["steps"] if s.get("id") == "filter")["run"]
    out, summary = tmp_path / "out", tmp_path / "summary"
    out.write_text("")
    summary.write_text("")
    subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=repo,
        env={**os.environ, "BASE": base, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.read_text(), summary.read_text()


def test_the_path_filter_ends_quickly_without_infra_changes_and_plans_with_them(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo, "modules/batch/main.tf", "# batch\n")
    write(repo, "runner/x.py", "x = 1\n")
    base = commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "change")
    write(repo, "runner/x.py", "x = 2\n")
    write(repo, "modules/batch/README.md", "docs\n")
    commit(repo, "runner and module docs only")
    out, summary = _run_filter(repo, base, tmp_path)
    assert out == "infra=false\n" and "nothing to plan" in summary
    write(repo, "envs/dev/terraform.tfvars", 'name = "x"\n')
    commit(repo, "an env")
    out, _ = _run_filter(repo, base, tmp_path)
    assert out == "infra=true\n"


def test_runner_ci_runs_lint_and_tests_on_every_pr_with_docker() -> None:
    wf = load(REPO / ".github" / "workflows" / "runner-ci.yml")
    assert wf[True]["pull_request"] is None and wf[True]["push"]["branches"] == ["main"]
    job = wf["jobs"]["test"]
    assert "if" not in job and job["runs-on"].startswith("ubuntu")  # GitHub's Ubuntu runners have Docker
    runs = [s.get("run", "") for s in job["steps"]]
    assert ".ci/run" in runs and "docker version" in runs
    # the apt packages .ci/run would install as root come first (tests/unit/test_supply_chain.py checks the list)
    uses = [s.get("uses", "") for s in job["steps"]]
    assert uses.index("./.github/actions/ci-host") < runs.index(".ci/run")
    ci = (REPO / ".ci" / "run").read_text()
    assert all(f"make {target}" in ci for target in ("setup", "lint", "test"))


def _always_running_pr_checks() -> set[str]:
    """Names of the jobs that report on every pull request: PR-triggered without path/branch filters, and never
    skipped (no `if:` other than always()); matrix jobs have no fixed name and cannot be required."""
    names: set[str] = set()
    for path in WORKFLOWS:
        wf = load(path)
        trigger = wf[True].get("pull_request", False) if isinstance(wf[True], dict) else False
        if trigger is False or (trigger and set(trigger) & {"paths", "paths-ignore", "branches", "branches-ignore"}):
            continue
        for job_id, job in wf["jobs"].items():
            name = job.get("name", job_id)
            if "${{" in name or ("if" in job and job["if"] != "always()"):
                continue
            names.add(name)
    return names


def test_required_checks_in_readme_match_the_workflows() -> None:
    readme = (REPO / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if "Required checks:" in ln]
    listed = set(re.findall(r"`([^`]+)`", line.split("Required checks:", 1)[1]))
    assert listed == _always_running_pr_checks()
    assert {"lint and test", "infra plan"} <= listed


def test_apply_workflow_applies_only_reviewed_plans_and_gates_prod() -> None:
    wf = load(REPO / ".github" / "workflows" / "infra-apply.yml")
    assert wf[True]["push"]["branches"] == ["main"]
    assert wf["concurrency"]["cancel-in-progress"] is False
    dev, prod = wf["jobs"]["apply-dev"], wf["jobs"]["apply-prod"]
    assert "environment" not in dev and prod["environment"] == "prod"
    assert "apply-dev" in prod["needs"]
    for job in (dev, prod):
        assert job["permissions"]["id-token"] == "write"
        (step,) = [s for s in job["steps"] if s.get("uses") == "./.github/actions/apply-reviewed-plan"]
        assert step["with"]["tree"] == "${{ needs.prepare.outputs.tree }}"
    action = (REPO / ".github" / "actions" / "apply-reviewed-plan" / "action.yml").read_text()
    assert "--plan-dir reviewed-plan" in action and "infra plan" not in action  # never re-plans


def test_drift_workflow_runs_nightly_and_fails_on_drift() -> None:
    wf = load(REPO / ".github" / "workflows" / "infra-drift.yml")
    assert wf[True]["schedule"][0]["cron"]
    job = wf["jobs"]["drift"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
    steps = {s.get("name"): s for s in job["steps"]}
    assert steps["Open or update the drift issue"]["if"] == "steps.drift.outputs.code == '3'"
    assert "exit 1" in steps["Open or update the drift issue"]["run"]


def test_atlantis_projects_match_the_envs() -> None:
    config = load(REPO / "atlantis.yaml")
    assert config["version"] == 3
    for project in config["projects"]:
        assert project["dir"] == f"envs/{project['name']}"
        assert "../../modules/**" in project["autoplan"]["when_modified"]
    names = {p["name"] for p in config["projects"]}
    assert names == {"dev", "prod"}


def test_pre_commit_config_is_valid() -> None:
    proc = subprocess.run(
        [tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hooks = {h["id"] for repo in load(REPO / ".pre-commit-config.yaml")["repos"] for h in repo["hooks"]}
    assert {"terraform-fmt", "ruff", "checkov", "shellcheck"} <= hooks
