"""The supply chain of CI and Atlantis: they install exactly what is locked, run actions pinned to commits, give
each job the least token it needs, install what `.ci/run` needs, and zizmor finds nothing to fix. The shell steps
that matter run here for real, against stand-ins for what they install."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.infra.plans import PLAN_SUFFIX
from tests.helpers import REPO, require_tool
from tests.unit.test_gitops import commit, git, write
from tests.unit.test_workflows import ACTIONS, WORKFLOWS, commands, load, run_scripts, tool

GITHUB = REPO / ".github"
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION = re.compile(r"^v\d+(\.\d+){0,2}\b")


def _steps(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(job, step) of a workflow, or ("", step) of a composite action."""
    data = load(path)
    if "runs" in data:
        return [("", step) for step in data["runs"].get("steps", [])]
    return [(job_id, step) for job_id, job in data["jobs"].items() for step in job.get("steps", [])]


def _uses(path: Path) -> list[str]:
    found = [str(step["uses"]) for _, step in _steps(path) if "uses" in step]
    jobs = load(path).get("jobs", {})
    return found + [str(job["uses"]) for job in jobs.values() if "uses" in job]  # reusable workflows


def _stub(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------------------------------------------
# Actions pinned, tokens least
# --------------------------------------------------------------------------------------------------------------


def test_remote_actions_are_pinned_to_a_commit_with_its_version() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS + ACTIONS:
        lines = [m for line in path.read_text().splitlines() if (m := USES_LINE.match(line))]
        assert sorted(m["ref"] for m in lines) == sorted(_uses(path)), f"{path.name}: a `uses:` this test cannot read"
        for m in lines:
            ref, comment = m["ref"], m["comment"]
            if ref.startswith("./"):
                continue  # this repository's own actions, at the checked-out commit
            where = f"{path.relative_to(REPO)}: {ref}"
            assert PINNED.match(ref), f"{where} is not pinned to a full commit SHA"
            assert comment and VERSION.match(comment), f"{where} has no `# vX.Y.Z` comment naming its version"
            pins.setdefault(ref.split("@")[0], set()).add(f"{ref} # {comment}")
    assert {"actions/checkout", "actions/setup-python", "hashicorp/setup-terraform"} <= set(pins)
    for action, refs in pins.items():
        assert len(refs) == 1, f"{action} is pinned to more than one commit or version: {sorted(refs)}"


def test_no_checkout_leaves_its_token_in_the_git_config() -> None:
    """No job pushes with the checkout's token (deps-upgrade hands its token to its one `git push`), so none keeps
    it in .git/config, where everything the job runs next (tests, the runner, freshly upgraded packages) could read
    it."""
    checkouts = [
        (path, job, step)
        for path in WORKFLOWS + ACTIONS
        for job, step in _steps(path)
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert len(checkouts) >= 9
    for path, job, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}:{job} keeps its credentials"


# What each job's token may write; every other job reads at most.
WRITES = {
    ("infra-plan.yml", "plan"): {"id-token", "pull-requests"},
    ("infra-apply.yml", "apply-dev"): {"id-token"},
    ("infra-apply.yml", "apply-prod"): {"id-token"},
    ("infra-drift.yml", "drift"): {"id-token", "issues"},
    ("deps-upgrade.yml", "pull-request"): {"contents", "pull-requests"},
}


def test_every_job_declares_the_least_permissions() -> None:
    seen: set[tuple[str, str]] = set()
    for path in WORKFLOWS:
        wf = load(path)
        assert wf.get("permissions") == {}, f"{path.name}: the workflow grants nothing; each job names what it needs"
        for job_id, job in wf["jobs"].items():
            where = f"{path.name}:{job_id}"
            assert isinstance(job.get("permissions"), dict), f"{where} names no permissions"
            assert set(job["permissions"].values()) <= {"read", "write", "none"}, where
            writes = {scope for scope, level in job["permissions"].items() if level == "write"}
            assert writes == WRITES.get((path.name, job_id), set()), f"{where} may write {sorted(writes)}"
            seen.add((path.name, job_id))
    assert set(WRITES) <= seen


def test_no_expression_is_pasted_into_a_script() -> None:
    """Values reach `run:` scripts through `env:` only, never as `${{ }}` text in the script, even values zizmor
    deems safe (job outputs, matrix values): a script's meaning never depends on what an expression expands to."""
    pasted = [where for where, script in run_scripts() if "${{" in script]
    assert pasted == []


def _zizmor(*args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", *args, ".github/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, *range(10, 15)), proc.stderr  # 10-14: findings, by their highest severity
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    return findings


def test_zizmor_finds_nothing_of_medium_or_high_severity() -> None:
    """`make lint` fails on a high finding; the workflows have no medium one either. What remains are help-level
    hints: zizmor's `$/` self-repository spelling for the local actions (kept as `./`, which actionlint and the
    tests here read) and computed indexes into the role variables (fromJSON(vars.AWS_PLAN_ROLE_ARNS)[matrix.env])."""
    findings = _zizmor("--min-severity", "medium")
    described = [
        f"{f['ident']} ({f['determinations']['severity']}) at "
        f"{loc['symbolic']['key']['Local']['verbatim_path']}:{loc['concrete']['location']['start_point']['row'] + 1}"
        for f in findings
        for loc in f["locations"][:1]
    ]
    assert findings == [], "\n".join(described)


def test_zizmor_catches_what_it_is_there_for(tmp_path: Path) -> None:
    """The audit above is not vacuous: an unpinned action and an expression in a script are both high."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    permissions: {}\n"
        "    steps:\n      - uses: actions/checkout@v5\n"
        "        with:\n          persist-credentials: false\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", "--min-severity", "high", ".github/"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    idents = {f["ident"] for f in json.loads(proc.stdout)}
    assert {"unpinned-uses", "template-injection"} <= idents, proc.stdout[-2000:]


# --------------------------------------------------------------------------------------------------------------
# Exactly the lock: the setup action and Atlantis
# --------------------------------------------------------------------------------------------------------------


def _assert_installs_the_lock(script: str, where: str) -> None:
    assert re.search(r"pip\"? install .*--require-hashes -r requirements/uv\.txt", script), where
    assert re.search(r"uv\"? sync --frozen --no-dev\b", script), where
    assert not re.search(r"pip\"? install\s+(-e\s+)?\.(\s|$)", script), f"{where}: a bare pip install of the project"
    assert "uv pip install" not in script and "--upgrade" not in script, where


def test_make_install_is_what_ci_and_atlantis_repeat() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes -r requirements/uv.txt" in makefile and "sync --frozen --no-dev" in makefile


def test_the_setup_action_installs_exactly_the_lock() -> None:
    steps = load(GITHUB / "actions" / "setup-runner" / "action.yml")["runs"]["steps"]
    (install,) = [s for s in steps if "run" in s]
    _assert_installs_the_lock(install["run"], "setup-runner")
    assert install["env"]["UV_PROJECT_ENVIRONMENT"] == ".venv"  # what the workflows call: .venv/bin/runner
    callers = [s for path in WORKFLOWS for _, s in _steps(path) if "run" in s and ".venv/bin/runner" in s["run"]]
    assert callers


def test_atlantis_runs_the_runner_it_installed_from_the_lock(tmp_path: Path) -> None:
    """Every stage as Atlantis runs it: each step `sh -c` in the project folder with $PROJECT_NAME set, against a
    python3 whose venvs hold recording stand-ins for pip and uv, and a uv that installs a recording runner."""
    config = load(REPO / "atlantis.yaml")
    repo, bin_dir, calls = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    write(repo, "requirements/uv.txt", "uv==0.0.0 --hash=sha256:00\n")
    # the runner uv installs says where it lives and what it was asked
    runner = _stub(tmp_path, "runner", f'echo "runner $(cd "$(dirname "$0")" && pwd) $*" >> {calls}')
    uv = _stub(
        tmp_path,
        "uv",
        f'echo "uv $* (into $UV_PROJECT_ENVIRONMENT from $(pwd))" >> {calls}\n'
        f'mkdir -p "$UV_PROJECT_ENVIRONMENT/bin" && cp {runner} "$UV_PROJECT_ENVIRONMENT/bin/runner"',
    )
    _stub(
        bin_dir,
        "python3",
        '[ "$1 $2" = "-m venv" ] || { echo "unexpected: python3 $*" >&2; exit 9; }\n'
        'mkdir -p "$3/bin"\n'
        f'printf \'#!/bin/sh\\necho "pip $*" >> {calls}\\n\' > "$3/bin/pip"\n'
        f'cp {uv} "$3/bin/uv"\n'
        'chmod +x "$3/bin/pip"',
    )
    for project in config["projects"]:
        (repo / project["dir"]).mkdir(parents=True, exist_ok=True)
        for stage in ("plan", "apply"):
            calls.write_text("")
            for step in config["workflows"][project["workflow"]][stage]["steps"]:
                subprocess.run(
                    ["sh", "-c", step["run"]],
                    cwd=repo / project["dir"],
                    env={"PATH": f"{bin_dir}:/usr/bin:/bin", "PROJECT_NAME": project["name"]},
                    check=True,
                    capture_output=True,
                    text=True,
                )
            pip, uv_call, runner_call = calls.read_text().splitlines()
            assert "--require-hashes -r requirements/uv.txt" in pip
            tools = f".runner/atlantis/{project['name']}"
            assert uv_call.startswith("uv sync --frozen --no-dev") and f"into {tools}/venv from {repo}" in uv_call
            verb = "plan" if stage == "plan" else "apply"
            assert runner_call.startswith(
                f"runner {repo / tools / 'venv' / 'bin'} infra {verb} --env {project['name']}"
            )


# --------------------------------------------------------------------------------------------------------------
# runner-ci and deps-upgrade: the host .ci/run needs
# --------------------------------------------------------------------------------------------------------------


def _packages_needed() -> dict[str, set[str]]:
    """The apt packages each installer of the repository installs when run as root."""
    makefile = (REPO / "Makefile").read_text()
    match = re.search(r"^APT_TOOLS\s*:=\s*(.+)$", makefile, flags=re.M)
    assert match
    docker_up = set(re.findall(r"missing\+=\(([\w.-]+)\)", (REPO / "scripts" / "docker-up").read_text()))
    return {
        ".ci/run": set(re.findall(r"need_apt\+=\(([\w.-]+)\)", (REPO / ".ci" / "run").read_text())),
        "Makefile APT_TOOLS": {spec.split(":")[-1] for spec in match.group(1).split()},
        "scripts/docker-up": docker_up - {"docker.io"},  # the runner image has Docker
    }


def _install_step() -> dict[str, Any]:
    steps = load(GITHUB / "actions" / "ci-host" / "action.yml")["runs"]["steps"]
    (step,) = [s for s in steps if "run" in s]
    return step


def test_ci_run_installs_the_image_and_setup_tools_itself() -> None:
    assert {"mmdebstrap", "chromium", "packer", "shellcheck"} <= _packages_needed()[".ci/run"]


@pytest.mark.parametrize(
    "workflow, job, command", [("runner-ci.yml", "test", ".ci/run"), ("deps-upgrade.yml", "upgrade", "make upgrade")]
)
def test_the_suite_runs_on_the_ci_host(workflow: str, job: str, command: str) -> None:
    steps = load(GITHUB / "workflows" / workflow)["jobs"][job]["steps"]
    host = next(i for i, s in enumerate(steps) if s.get("uses") == "./.github/actions/ci-host")
    suite = next(i for i, s in enumerate(steps) if command in s.get("run", ""))
    assert host < suite


def _run_install(tmp_path: Path, installed: bool) -> list[str]:
    """The ci-host install step as GitHub runs it (bash -eo pipefail), on a PATH of stand-ins: every tool present
    and every package installed, or nothing at all. Returns what sudo was asked to do."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "sudo-calls"
    bin_dir.mkdir(exist_ok=True)
    calls.unlink(missing_ok=True)
    for name in ("bash", "grep"):
        real = shutil.which(name)
        assert real
        (bin_dir / name).unlink(missing_ok=True)
        (bin_dir / name).symlink_to(real)
    _stub(bin_dir, "sudo", f'echo "$*" >> {calls}')
    _stub(bin_dir, "dpkg-query", "echo 'install ok installed'" if installed else "exit 1")
    step = _install_step()
    if installed:
        for spec in step["env"]["APT_TOOLS"].split():
            _stub(bin_dir, spec.split(":")[0], "exit 0")
    proc = subprocess.run(
        [str(bin_dir / "bash"), "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": str(bin_dir), **{k: str(v) for k, v in step["env"].items()}},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return calls.read_text().splitlines() if calls.exists() else []


def test_the_ci_host_installs_every_apt_package_the_repository_installs_as_root(tmp_path: Path) -> None:
    """runner-ci's job is not root, so .ci/run, make setup and scripts/docker-up cannot apt-get there: the ci-host
    action installs what each of them would, with sudo, and only what is missing."""
    update, install = _run_install(tmp_path, installed=False)
    assert update == "apt-get update -qq"
    assert install.startswith("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ")
    packages = set(install.split()[5:])
    for source, needed in _packages_needed().items():
        assert needed <= packages, f"ci-host does not install {sorted(needed - packages)} that {source} installs"
    assert _run_install(tmp_path, installed=True) == []


# --------------------------------------------------------------------------------------------------------------
# The affected step fails loudly
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workflow, job, env",
    [
        ("infra-plan.yml", "affected", {"INFRA": "true", "BASE": "0" * 40}),
        ("infra-apply.yml", "prepare", {"GITHUB_EVENT_NAME": "push", "BEFORE": "0" * 40}),
    ],
)
def test_a_failing_runner_infra_affected_fails_the_step(
    tmp_path: Path, workflow: str, job: str, env: dict[str, str]
) -> None:
    """GitHub runs a step without `shell:` as `bash -e`, without pipefail: the script must set it, or a runner that
    fails into `| jq` yields an empty list and a green job that plans nothing."""
    require_tool("jq")
    script = next(s for s in load(GITHUB / "workflows" / workflow)["jobs"][job]["steps"] if s.get("id") == "affected")
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo, "envs/dev/main.tf", "# dev\n")
    commit(repo, "base")
    out, summary = tmp_path / "out", tmp_path / "summary"
    environ = {**os.environ, **env, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}

    def run(runner_body: str) -> subprocess.CompletedProcess[str]:
        (repo / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
        _stub(repo / ".venv" / "bin", "runner", runner_body)
        out.write_text("")
        return subprocess.run(
            ["bash", "-e", "-c", script["run"]], cwd=repo, env=environ, capture_output=True, text=True, check=False
        )

    failed = run("echo '--base: not a git revision' >&2; exit 2")
    assert failed.returncode != 0 and "envs=" not in out.read_text()
    answered = run('echo \'{"envs": ["dev"]}\'')
    assert answered.returncode == 0, answered.stderr
    assert 'envs=["dev"]' in out.read_text().splitlines()


# --------------------------------------------------------------------------------------------------------------
# Dependency drift, found by a pull request
# --------------------------------------------------------------------------------------------------------------


def test_deps_upgrade_runs_weekly_and_opens_the_pull_request_from_a_job_that_runs_no_project_code() -> None:
    wf = load(GITHUB / "workflows" / "deps-upgrade.yml")
    assert wf[True]["schedule"][0]["cron"] and "workflow_dispatch" in wf[True]
    upgrade, pull = wf["jobs"]["upgrade"], wf["jobs"]["pull-request"]
    assert upgrade["permissions"] == {"contents": "read"}
    runs = "\n".join(s.get("run", "") for s in upgrade["steps"])
    assert "make upgrade" in runs and "make lint" in runs and "scripts/upgrade-report" in runs
    # Opened even when the suite failed (the upgrade job fails after setting its outputs); never when cancelled.
    assert pull["needs"] == "upgrade" and "!cancelled()" in pull["if"] and "outputs.changed == 'true'" in pull["if"]
    red = next(s for s in upgrade["steps"] if s.get("if") == "steps.report.outputs.result != 'passed'")
    assert "exit 1" in red["run"]
    # The job that may write runs no project code and no third-party action.
    assert [str(s["uses"]).split("@")[0] for s in pull["steps"] if "uses" in s] == [
        "actions/checkout",
        "actions/download-artifact",
    ]
    script = "\n".join(s.get("run", "") for s in pull["steps"])
    for program in ("make", "runner", "python", "python3", "pip", "uv", "bash", "sh"):
        assert commands(script, program) == [], program
    assert ".venv" not in script and "scripts/" not in script
    assert "gh pr create" in script and "gh pr edit" in script and "FAILING" in script
    assert "git add uv.lock requirements/*.txt" in script


def test_the_upgrade_report_passes_shellcheck() -> None:
    path = REPO / "scripts" / "upgrade-report"
    proc = subprocess.run(
        [require_tool("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and os.access(path, os.X_OK), proc.stdout


def _report(repo: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    outputs = repo.parent / "github-output"
    outputs.write_text("")
    proc = subprocess.run(
        [str(REPO / "scripts" / "upgrade-report"), *args],
        cwd=repo,
        env={**os.environ, "GITHUB_OUTPUT": str(outputs), "RUN_URL": "https://example.test/run/1"},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, dict(line.split("=", 1) for line in outputs.read_text().splitlines())


@pytest.fixture
def locked(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo, "uv.lock", '[[package]]\nname = "boto3"\nversion = "1.40.0"\n')
    write(repo, "requirements/uv.txt", "uv==0.13.10 \\\n    --hash=sha256:aa\n")
    commit(repo, "locked")
    return repo


def test_the_upgrade_report_marks_a_failing_suite_and_lists_what_changed(locked: Path) -> None:
    write(locked, "uv.lock", '[[package]]\nname = "boto3"\nversion = "1.41.0"\n')
    write(locked, "requirements/uv.txt", "uv==0.14.0 \\\n    --hash=sha256:bb\n")
    upgrade_log = locked.parent / "upgrade.log"
    upgrade_log.write_text(
        "Resolved 137 packages in 2.1s\nUpdated boto3 v1.40.0 -> v1.41.0\n....F\n"
        "=========================== short test summary info ============================\n"
        "FAILED tests/unit/test_x.py::test_y - AssertionError: boom\n"
        "========================= 1 failed, 512 passed in 901.2s =========================\n"
        "make[1]: *** [Makefile:112: test] Error 1\nmake: *** [Makefile:70: upgrade] Error 2\n"
    )
    lint_log = locked.parent / "lint.log"
    lint_log.write_text("All checks passed!\n")
    proc, outputs = _report(locked, "2", str(upgrade_log), "0", str(lint_log))
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"result": "failed", "changed": "true"}
    body = proc.stdout
    assert body.startswith("**FAILING")
    assert (
        "| `make upgrade` (re-lock, then `make test`: the whole suite, Docker included) | **failed** (exit 2) |" in body
    )
    assert "| `make lint` | passed |" in body
    assert "Updated boto3 v1.40.0 -> v1.41.0" in body and "-uv==0.13.10" in body and "+uv==0.14.0" in body
    assert "FAILED tests/unit/test_x.py::test_y - AssertionError: boom" in body and "1 failed, 512 passed" in body
    assert "make: ***" not in body and "[this run](https://example.test/run/1)" in body
    assert "GITHUB_TOKEN" in body  # why runner-ci did not run on the pull request


def test_the_upgrade_report_of_a_green_suite_and_of_no_change(locked: Path) -> None:
    log = locked.parent / "ok.log"
    log.write_text("Resolved 137 packages in 2.1s\n.....\n=============== 513 passed in 900.0s ===============\n")
    proc, outputs = _report(locked, "0", str(log), "0", str(log))
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"result": "passed", "changed": "false"}
    assert proc.stdout.startswith("**The whole suite and the linters pass") and "513 passed in 900.0s" in proc.stdout
    assert "uv.lock: no version changed" in proc.stdout


def test_the_upgrade_report_refuses_bad_input_in_one_line(locked: Path) -> None:
    log = locked.parent / "ok.log"
    log.write_text("")
    for args, field in (
        (("x", str(log), "0", str(log)), "exit code 'x'"),
        (("0", "nosuch.log", "0", str(log)), "nosuch.log"),
    ):
        proc, _ = _report(locked, *args)
        assert proc.returncode == 2 and proc.stdout == ""
        (line,) = proc.stderr.splitlines()
        assert field in line


# --------------------------------------------------------------------------------------------------------------
# Plan files Atlantis leaves alone
# --------------------------------------------------------------------------------------------------------------


def test_saved_plans_are_never_tfplan_files_atlantis_would_take_for_its_own() -> None:
    assert PLAN_SUFFIX != ".tfplan"
    plan = load(GITHUB / "workflows" / "infra-plan.yml")["jobs"]["plan"]
    (upload,) = [s for s in plan["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["with"]["path"].splitlines() == [
        ".runner/plans/${{ matrix.env }}" + PLAN_SUFFIX,
        ".runner/plans/${{ matrix.env }}.json",
    ]
    for path in [*WORKFLOWS, *ACTIONS]:
        assert ".tfplan" not in path.read_text(), path.name
    assert f"NAME{PLAN_SUFFIX}, never *.tfplan" in (REPO / "atlantis.yaml").read_text()
