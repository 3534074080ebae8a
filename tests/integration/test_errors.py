"""Failures an analyst or a platform engineer meets first: each is one line, the right exit code, no traceback.

Real components: a scratch project whose emulator starts empty (what a restarted emulator is), an S3 backend whose
state bucket is not there, a credential chain with nothing in it, and a local HTTP endpoint that answers every
call with AWS's ExpiredToken error (no local component can expire a token otherwise).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Project, copy_project, free_port

pytestmark = pytest.mark.integration

OUTPUTS = {
    "region": "us-east-1",
    "job_queue_names": {"default": "batch-local-default"},
    "bucket_names": {"work": "batch-local-work-gone", "data": "batch-local-data-gone"},
}
NO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SESSION_TOKEN": "",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = copy_project(tmp_path_factory.mktemp("errors"))
    proj = Project(root=root, port=free_port())
    (proj.home / "outputs").mkdir(parents=True, exist_ok=True)
    (proj.home / "outputs" / "local.json").write_text(json.dumps(OUTPUTS))  # applied once, then the emulator restarted
    (root / "outputs.json").write_text(json.dumps(OUTPUTS))
    yield proj
    proj.run("local", "down", check=False)


def one_line(proc: Any, code: int) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert proc.returncode == code and len(lines) == 1, (proc.returncode, proc.stderr)
    assert lines[0].startswith("error: ")
    return str(lines[0])


def environ(proj: Project, **extra: str) -> dict[str, str]:
    env = proj.environ(**extra)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    empty = proj.root / "empty-aws-config"
    empty.write_text("")
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty))
    return {k: v for k, v in env.items() if v != ""}


def test_restarted_emulator_says_so_and_how_to_restore(scratch: Project) -> None:
    for args in (["list"], ["status", "some-run"], ["submit", "--image", "bash:5", "--command", "true"]):
        line = one_line(scratch.run(*args, "--env", "local", check=False), 1)
        assert "restarted" in line and "lost its state" in line, line
        assert "runner ami build --env local && runner infra apply --env local --auto-approve" in line


def test_no_credentials(scratch: Project) -> None:
    env = environ(scratch, **NO_CREDENTIALS)
    line = one_line(scratch.run("infra", "bootstrap", "--env", "dev", env=env, check=False), 1)
    assert "no AWS credentials" in line or "no usable AWS credentials" in line, line
    env["RUNNER_OUTPUTS_FILE"] = str(scratch.root / "outputs.json")  # an analyst with the outputs file, signed out
    line = one_line(scratch.run("list", "--env", "dev", env=env, check=False), 1)
    assert "no AWS credentials found" in line and "aws sso login" in line


def test_env_not_bootstrapped_and_state_bucket_missing(scratch: Project) -> None:
    env = environ(scratch, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="unused")
    for args in (["infra", "plan"], ["status", "some-run"]):
        line = one_line(scratch.run(*args, "--env", "dev", env=env, check=False), 2)
        assert "envs/dev is not bootstrapped (no backend.hcl): runner infra bootstrap --env dev" in line, line
    scratch.run("local", "up")
    env.update(scratch.credentials())  # the (empty) embedded AWS stands in for the account: its credentials
    (scratch.root / "envs" / "dev" / "backend.hcl").write_text(
        'bucket = "batch-platform-dev-tfstate-gone"\nregion = "us-east-1"\n'
    )
    try:
        env["AWS_ENDPOINT_URL"] = scratch.endpoint  # the (empty) embedded AWS stands in for the account
        for args in (["infra", "plan"], ["status", "some-run"]):
            line = one_line(scratch.run(*args, "--env", "dev", env=env, check=False), 2)
            assert "the state bucket batch-platform-dev-tfstate-gone of envs/dev does not exist" in line, line
    finally:
        (scratch.root / "envs" / "dev" / "backend.hcl").unlink()


class _Expired(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/v1/"):  # Batch: rest-json
            body = json.dumps({"__type": "ExpiredTokenException", "message": "The security token has expired."})
            self.send_response(403)
            self.send_header("x-amzn-ErrorType", "ExpiredTokenException")
            self.send_header("Content-Type", "application/json")
        else:  # S3: XML
            body = "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>"
            self.send_response(400)
            self.send_header("Content-Type", "application/xml")
        data = body.encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_expired_credentials(scratch: Project) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Expired)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = environ(
            scratch,
            AWS_ACCESS_KEY_ID="ASIAEXPIRED",
            AWS_SECRET_ACCESS_KEY="x",
            AWS_SESSION_TOKEN="expired",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}",
            RUNNER_OUTPUTS_FILE=str(scratch.root / "outputs.json"),
        )
        for args in (["list"], ["status", "some-run"]):
            line = one_line(scratch.run(*args, "--env", "dev", env=env, check=False), 1)
            assert "your AWS credentials have expired" in line and "aws sso login" in line, line
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml", "an .xlsx workbook is one"),
        (b"PAR1\x15\x04\x15\x10\x15\x14L", "a Parquet file"),
        (bytes(range(256)), "contains a NUL byte"),
    ],
    ids=["xlsx", "parquet", "binary"],
)
def test_a_sheet_that_is_not_csv(scratch: Project, tmp_path: Path, content: bytes, fragment: str) -> None:
    sheet = tmp_path / "samples.csv"
    sheet.write_bytes(content)
    env = environ(scratch, RUNNER_OUTPUTS_FILE=str(scratch.root / "outputs.json"))
    args = ["submit", "--env", "dev", "--image", "bash:5", "--command", "true", "--samples", str(sheet)]
    proc = scratch.run(*args, env=env, check=False)
    line = one_line(proc, 2)
    assert line.startswith("error: --samples: ") and fragment in line


def test_memory_units(scratch: Project) -> None:
    env = environ(scratch, RUNNER_OUTPUTS_FILE=str(scratch.root / "outputs.json"))
    proc = scratch.run("submit", "--env", "dev", "--image", "bash:5", "--command", "true", "--memory", "4XB", env=env,
                       check=False)  # fmt: skip
    line = one_line(proc, 2)
    assert "--memory: '4XB'" in line and "4GB = 4e9 bytes" in line
