"""The runner installs as a tool: a wheel built from this checkout, installed into a fresh venv with the locked
versions (what `uv tool install` / `pipx install` of the wheel give), works from `/` and from a folder outside any
checkout: `--version`, `--help`, `local init`, and an analyst command whose env comes from the user's config and
whose outputs come from the SSM parameter the platform publishes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import REPO, free_port

pytestmark = pytest.mark.integration


def _uv() -> str:
    local = REPO / ".uv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: run `make setup` (it installs uv from requirements/uv.txt into .uv/)")
    return found


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, **kwargs)
    tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}\n{tail}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding the wheel and exactly the locked runtime set (+ the `local` extra)."""
    uv = _uv()
    work = tmp_path_factory.mktemp("install")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    _run([uv, "build", "--wheel", "-o", str(work / "dist"), str(REPO)], env=env)
    wheels = list((work / "dist").glob("batch_platform_runner-*.whl"))
    assert len(wheels) == 1, wheels
    locked = work / "locked.txt"
    _run(
        [uv, "export", "--frozen", "--no-dev", "--extra", "local", "--no-emit-project", "-q", "-o", str(locked)],
        cwd=REPO,
        env=env,
    )
    venv = work / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env)
    python = str(venv / "bin" / "python")
    _run([uv, "pip", "install", "--quiet", "--python", python, "--require-hashes", "-r", str(locked)], env=env)
    _run([uv, "pip", "install", "--quiet", "--python", python, "--no-deps", str(wheels[0])], env=env)
    return venv / "bin"


def _user_env(tmp: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    """A user outside any checkout: a clean PATH, HOME of their own, nothing of the project's variables."""
    keep = ("LANG", "LC_ALL", "DOCKER_HOST", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(PATH=f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", HOME=str(tmp / "home"), **extra)
    return env


def test_version_and_help_from_root(installed: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path, installed)
    version = _run([str(installed / "runner"), "--version"], cwd="/", env=env).stdout.strip()
    assert version.startswith("runner 0.1.0"), version
    assert "git" not in version  # an installed wheel is not a checkout
    help_text = _run([str(installed / "runner"), "--help"], cwd="/", env=env).stdout
    for verb in ("submit", "status", "logs", "results", "cost", "env", "local"):
        assert verb in help_text
    completion = _run([str(installed / "runner"), "--show-completion", "bash"], cwd="/", env=env).stdout
    assert "_runner_completion" in completion.replace("-", "_").lower() or "complete" in completion


def test_local_init_writes_a_project_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path, installed)
    target = tmp_path / "my-local"
    out = json.loads(_run([str(installed / "runner"), "local", "init", str(target), "--json"], cwd="/", env=env).stdout)
    assert out["root"] == str(target)
    assert (target / "envs" / "local" / "main.tf").is_file()
    assert (target / "modules" / "batch" / "main.tf").is_file()
    assert (target / "packer" / "batch-ami.pkr.hcl").is_file()


def test_analyst_command_outside_a_checkout(installed: Path, tmp_path: Path) -> None:
    """`runner local up` from the installed runner, then an env from the user's config whose outputs are the
    published SSM parameter: `runner list` reads the (empty) work bucket through them."""
    outside = tmp_path / "analyst"
    outside.mkdir()
    port = free_port()
    env = _user_env(tmp_path, installed, RUNNER_LOCAL_PORT=str(port), RUNNER_LOCAL_BATCH="instant")
    runner = str(installed / "runner")
    info = json.loads(_run([runner, "local", "up", "--json"], cwd=outside, env=env).stdout)
    try:
        assert Path(info["log"]).is_relative_to(tmp_path / "home")  # state in the user's folder, not a checkout
        creds = json.loads(_run([runner, "local", "env", "--json"], cwd=outside, env=env).stdout)
        session = boto3.Session(
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            region_name="eu-west-1",
        )
        endpoint = creds["AWS_ENDPOINT_URL"]
        s3, ssm = session.client("s3", endpoint_url=endpoint), session.client("ssm", endpoint_url=endpoint)
        for bucket in ("mine-data", "mine-work", "mine-results"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        published = {
            "region": "eu-west-1",
            "name": "batch-mine",
            "bucket_names": {"data": "mine-data", "work": "mine-work", "results": "mine-results"},
        }
        ssm.put_parameter(Name="/batch-mine/runner/outputs", Type="String", Value=json.dumps(published))

        _run([runner, "env", "add", "mine", "--region", "eu-west-1", "--name", "batch-mine"], cwd=outside, env=env)
        analyst = {**env, **creds}
        runs = json.loads(_run([runner, "list", "--env", "mine", "--json"], cwd=outside, env=analyst).stdout)
        assert runs == [] or runs.get("runs") == [], runs
        # Platform verbs say what they need instead of failing on a missing folder.
        refused = subprocess.run(
            [runner, "infra", "plan", "--env", "mine"], cwd=outside, env=analyst, capture_output=True, text=True
        )
        assert refused.returncode == 2
        assert "needs the platform checkout" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        subprocess.run([runner, "local", "down"], cwd=outside, env=env, capture_output=True, check=False)
