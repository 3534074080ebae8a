"""The local env is safe on a laptop and on a shared server (issue 21), checked with the env up in docker mode.

A web page, another local user without the env's credentials, and a job are each kept to what they may do: the
drive-by that used moto's recorder to mount the host's ``/`` creates and runs nothing; forged signatures, foreign
``Host`` names and browser origins are refused; no response grants CORS; jobs get no host folder the user did not
allow, never the Docker socket, run as their ``user`` with a read-only root when asked, on a network of their own
that reaches the emulator and not the host's loopback; a ``kill -9`` of the emulator leaves no container running
after the next `runner local up`. docs/security.md names the test of each control.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from runner.local import credentials, docker, images
from runner.local.containers import home_id
from tests.helpers import Project, copy_project, error_line, free_port, require_aws_cli, require_docker
from tests.integration.test_local_batch import LocalBatch

pytestmark = pytest.mark.integration

REGION = "us-east-1"
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def allowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one host folder the module's env allows (RUNNER_LOCAL_HOST_PATHS)."""
    return tmp_path_factory.mktemp("allowed-host-folder")


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, allowed: Path) -> Iterator[Project]:
    require_docker()
    images.ensure("base")
    root = copy_project(tmp_path_factory.mktemp("local-security"))
    project = Project(
        root=root,
        port=free_port(),
        extra_env={"RUNNER_LOCAL_BATCH": "docker", "RUNNER_LOCAL_HOST_PATHS": str(allowed)},
    )
    up = json.loads(project.run("local", "up", "--json").stdout)
    assert up["batch"] == "docker"
    yield project
    project.run("local", "down", check=False)


@pytest.fixture(scope="module")
def lb(secure: Project) -> LocalBatch:
    return LocalBatch(secure)


@pytest.fixture(scope="module")
def roomy(lb: LocalBatch) -> str:
    return lb.queue(lb.environment(max_vcpus=8))


def raw(project: Project, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    """One HTTP request to the emulator as a page or a local process sends it: (response, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", project.port, timeout=30)
    conn.request(method, path, body=body or None, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def signed(project: Project, method: str, path: str, body: bytes = b"", host: str | None = None, **headers: str) -> Any:
    """A request signed with the env's user credentials (for ``host`` when given), sent to the emulator."""
    creds = project.credentials()
    url = f"http://{host or f'127.0.0.1:{project.port}'}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json", **headers})
    SigV4Auth(Credentials(creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"]), "batch", REGION).add_auth(
        request
    )
    sent = dict(request.prepare().headers.items())
    if host:
        sent["Host"] = host
    return raw(project, method, path, body, sent)


def containers_of(project: Project) -> list[dict[str, Any]]:
    return docker.Engine().containers(f"{docker.HOME_LABEL}={home_id(project.home)}")


def no_cors(resp: Any) -> None:
    granted = [name for name, _ in resp.getheaders() if name.lower().startswith("access-control-")]
    assert not granted, resp.getheaders()


def names_of(lb: LocalBatch) -> tuple[set[str], set[str]]:
    queues = {q["jobQueueName"] for q in lb.batch.describe_job_queues()["jobQueues"]}
    definitions = {d["jobDefinitionName"] for d in lb.batch.describe_job_definitions()["jobDefinitions"]}
    return queues, definitions


def drive_by_recording(port: int, target: Path) -> bytes:
    """What the attacker uploaded: moto recorder entries that create a queue, register a job definition mounting
    the host's / privileged, and submit it (the job writes ``target`` on the host as uid 0)."""
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/batch/aws4_request, Signature=0"}
    calls = [
        ("/v1/createcomputeenvironment", {"computeEnvironmentName": "pwn-ce", "type": "UNMANAGED"}),
        (
            "/v1/createjobqueue",
            {
                "jobQueueName": "pwn-q",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "pwn-ce"}],
            },
        ),
        (
            "/v1/registerjobdefinition",
            {
                "jobDefinitionName": "pwn-jd",
                "type": "container",
                "containerProperties": {
                    "image": images.recipe("base").image,
                    "command": ["sh", "-c", f"touch /host{target}"],
                    "privileged": True,
                    "volumes": [{"name": "root", "host": {"sourcePath": "/"}}],
                    "mountPoints": [{"sourceVolume": "root", "containerPath": "/host"}],
                    "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}],
                },
            },
        ),
        ("/v1/submitjob", {"jobName": "pwn", "jobQueue": "pwn-q", "jobDefinition": "pwn-jd"}),
    ]
    headers = {"Content-Type": "application/json", **auth}
    lines = [
        json.dumps({"headers": headers, "method": "POST", "url": base + path, "body": json.dumps(body)})
        for path, body in calls
    ]
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------------------------------------------------------
# Web pages and local processes without the env's credentials
# ---------------------------------------------------------------------------------------------------------------


def test_the_drive_by_creates_and_runs_nothing(secure: Project, lb: LocalBatch, tmp_path: Path) -> None:
    """The two text/plain POSTs a page sends without preflight (foreign Origin) to moto's recorder, and reset."""
    lb.s3.create_bucket(Bucket="kept-through-the-drive-by")
    queues, definitions = names_of(lb)
    target = tmp_path / "pwned"
    page = {"Content-Type": "text/plain", "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    recording = drive_by_recording(secure.port, target)
    for path, body in (
        ("/moto-api/recorder/upload-recording", recording),
        ("/moto-api/recorder/replay-recording", b""),
        ("/moto-api/reset", b""),
    ):
        for headers in (page, {"Content-Type": "text/plain"}):  # a page, and a local process without credentials
            resp, data = raw(secure, "POST", path, body, headers)
            assert resp.status == 403, (path, data)
            no_cors(resp)
    time.sleep(2)  # the attack wrote its file within 1.5 s
    assert not target.exists()
    assert not (secure.root / "moto_recording").exists()  # the recording was never stored
    assert names_of(lb) == (queues, definitions)  # no queue, no job definition
    assert not [c for c in containers_of(secure) if "pwn" in json.dumps(c)]
    assert not containers_of(secure)  # nothing ran
    assert "kept-through-the-drive-by" in {b["Name"] for b in lb.s3.list_buckets()["Buckets"]}  # reset refused


def test_a_forged_signature_creates_and_runs_nothing(secure: Project, lb: LocalBatch) -> None:
    queues, definitions = names_of(lb)
    key = secure.credentials()["AWS_ACCESS_KEY_ID"]
    today = time.strftime("%Y%m%d", time.gmtime())
    junk = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/{today}/us-east-1/batch/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0",
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "Content-Type": "application/json",
    }
    body = json.dumps({"jobQueueName": "forged-q", "priority": 1, "computeEnvironmentOrder": []}).encode()
    resp, data = raw(secure, "POST", "/v1/createjobqueue", body, junk)
    assert resp.status == 403 and json.loads(data)["__type"] == "InvalidSignatureException"
    dummy = {**junk, "Authorization": junk["Authorization"].replace(key, "testing")}  # the old well-known keys
    resp, data = raw(secure, "POST", "/v1/createjobqueue", body, dummy)
    assert resp.status == 403 and json.loads(data)["__type"] == "UnrecognizedClientException"
    wrong = secure.client("batch", REGION, aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as refused:
        wrong.register_job_definition(
            jobDefinitionName="forged-jd", type="container", containerProperties={"image": "x", "command": ["true"]}
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    testing = secure.client("s3", REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as unknown:
        testing.list_buckets()
    assert unknown.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert names_of(lb) == (queues, definitions)
    assert not containers_of(secure)


def test_a_signed_request_for_another_host_is_refused(secure: Project, lb: LocalBatch) -> None:
    queues, _ = names_of(lb)
    body = json.dumps({"jobQueueName": "rebound-q", "priority": 1, "computeEnvironmentOrder": []}).encode()
    resp, data = signed(secure, "POST", "/v1/createjobqueue", body, host=f"evil.example:{secure.port}")
    assert resp.status == 403 and json.loads(data)["__type"] == "AccessDeniedException", data
    # correctly signed for this host, but sent by a page: an Origin or Sec-Fetch-Site gives it away
    for page in ({"Origin": EVIL}, {"Sec-Fetch-Site": "same-site"}):
        resp, _ = signed(secure, "POST", "/v1/createjobqueue", body, **page)
        assert resp.status == 403, page
    assert names_of(lb)[0] == queues
    resp, _ = signed(secure, "POST", "/v1/describejobqueues", b"{}")  # the same request, signed and same-host
    assert resp.status == 200


def test_moto_routes_answer_the_user_only(secure: Project) -> None:
    resp, _ = signed(secure, "GET", "/moto-api/data.json")
    assert resp.status == 200  # the user may
    job = credentials.load(secure.home / "local" / credentials.FILE).job
    request = AWSRequest(method="POST", url=f"{secure.endpoint}/moto-api/reset", data=b"")
    SigV4Auth(Credentials(job.access_key_id, job.secret_access_key), "batch", REGION).add_auth(request)
    resp, data = raw(secure, "POST", "/moto-api/reset", b"", dict(request.prepare().headers.items()))
    assert resp.status == 403 and b"AccessDenied" in data  # a job may not


def test_no_response_grants_cors(secure: Project) -> None:
    preflight = {"Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
    answers = [
        raw(secure, "OPTIONS", "/moto-api/reset", headers=preflight)[0],
        raw(secure, "GET", "/", headers={"Origin": EVIL})[0],
        raw(secure, "GET", "/")[0],
        signed(secure, "POST", "/v1/describejobqueues", b"{}")[0],
        signed(secure, "GET", "/moto-api/data.json")[0],
    ]
    for resp in answers:
        no_cors(resp)
    assert [r.status for r in answers] == [403, 403, 403, 200, 200]


def test_credentials_are_private_new_at_every_up_unless_kept(tmp_path: Path) -> None:
    project = Project(root=copy_project(tmp_path / "creds"), port=free_port())
    try:
        project.run("local", "up")
        stored = project.home / "local" / credentials.FILE
        assert stored.stat().st_mode & 0o777 == 0o600
        first = project.credentials()
        exported = project.run("local", "env").stdout
        assert f"export AWS_ACCESS_KEY_ID={first['AWS_ACCESS_KEY_ID']}" in exported
        assert f"export AWS_ENDPOINT_URL={project.endpoint}" in exported
        assert json.loads(project.run("local", "env", "--json").stdout) == {
            "AWS_ENDPOINT_URL": project.endpoint,
            **first,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        project.run("local", "down")
        project.run("local", "up")
        second = project.credentials()
        assert second["AWS_ACCESS_KEY_ID"] != first["AWS_ACCESS_KEY_ID"]
        assert second["AWS_SECRET_ACCESS_KEY"] != first["AWS_SECRET_ACCESS_KEY"]
        project.run("local", "down")
        project.run("local", "up", "--keep-credentials")
        assert project.credentials() == second
        project.client("s3").list_buckets()  # and they work
        project.run("local", "down")
        project.run("local", "up", env=project.environ(RUNNER_LOCAL_KEEP_CREDENTIALS="1"))
        assert project.credentials() == second
    finally:
        project.run("local", "down", check=False)
    assert error_line(project.run("local", "env", check=False)) == (
        "error: emulator not running: start it with runner local up"
    )


def test_unsafe_settings_are_one_line_at_local_up_and_nothing_starts(tmp_path: Path) -> None:
    project = Project(root=copy_project(tmp_path / "settings"), port=free_port())
    for variable, value, says in (
        ("RUNNER_LOCAL_HOST_PATHS", "/", "cannot be allowed"),
        ("RUNNER_LOCAL_HOST_PATHS", f"{tmp_path}:/etc", "cannot be allowed"),
        ("RUNNER_LOCAL_HOST_PATHS", str(Path.home()), "your home folder"),
        ("RUNNER_LOCAL_HOST_PATHS", "data", "not an absolute path"),
        ("RUNNER_LOCAL_ALLOW_PRIVILEGED", "sure", "is not 1 or 0"),
    ):
        proc = project.run("local", "up", check=False, env=project.environ(**{variable: value}))
        assert proc.returncode == 2, proc.stderr
        line = error_line(proc)
        assert line.startswith(f"error: {variable}: ") and says in line, line
        assert not (project.home / "local" / "server.json").exists()


def test_runner_local_env_points_the_aws_cli_at_the_env(secure: Project, lb: LocalBatch) -> None:
    aws = require_aws_cli()
    lb.s3.create_bucket(Bucket="seen-by-the-aws-cli")
    env = secure.environ(AWS_PROFILE="someone-elses", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env["PATH"] = f"{Path(aws).parent}:{env['PATH']}"
    script = f'set -e; eval "$({sys.executable} -m runner local env)"; aws s3 ls'
    proc = subprocess.run(["bash", "-c", script], cwd=secure.root, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "seen-by-the-aws-cli" in proc.stdout


# ---------------------------------------------------------------------------------------------------------------
# Jobs: confined as on a shared Batch host
# ---------------------------------------------------------------------------------------------------------------


def _register(lb: LocalBatch, **container: Any) -> str:
    props = {
        "image": images.recipe("base").image,
        "command": ["true"],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}],
        **container,
    }
    arn = lb.batch.register_job_definition(
        jobDefinitionName=f"jd-{uuid.uuid4().hex[:8]}", type="container", containerProperties=props
    )["jobDefinitionArn"]
    return str(arn)


def _mounting(source: str, target: str = "/host") -> dict[str, Any]:
    return {
        "volumes": [{"name": "v", "host": {"sourcePath": source}}],
        "mountPoints": [{"sourceVolume": "v", "containerPath": target}],
    }


def test_job_definitions_mounting_the_host_or_the_docker_socket_are_refused(
    secure: Project, lb: LocalBatch, roomy: str, tmp_path: Path
) -> None:
    _, before = names_of(lb)
    for source in ("/", "/var/run/docker.sock", "/run/docker.sock", "/etc", "/proc", str(Path.home()), "/tmp/../etc"):
        with pytest.raises(ClientError) as refused:
            _register(lb, **_mounting(source))
        error = refused.value.response["Error"]
        assert error["Code"] == "ClientException" and error["Message"].startswith("containerProperties.volumes: ")
    outside = tmp_path / "not-allowed"
    outside.mkdir()
    with pytest.raises(ClientError, match="not under a folder allowed by RUNNER_LOCAL_HOST_PATHS"):
        _register(lb, **_mounting(str(outside)))
    with pytest.raises(ClientError, match="containerProperties.privileged: .*RUNNER_LOCAL_ALLOW_PRIVILEGED=1"):
        _register(lb, privileged=True)
    assert names_of(lb)[1] == before
    # a path absent at registration that later leads to / is refused at submission, and never runs
    later = tmp_path / "later"
    jd = _register(lb, **_mounting(str(later)))
    later.symlink_to("/")
    with pytest.raises(ClientError, match="containerProperties.volumes: host path .* is or holds /etc"):
        lb.submit(roomy, jd)
    assert not containers_of(secure)


def test_an_allowed_host_folder_is_mounted(lb: LocalBatch, roomy: str, allowed: Path) -> None:
    (allowed / "in.txt").write_text("from the host\n")
    jd = _register(lb, command=["sh", "-c", "cat /data/in.txt > /data/out.txt"], **_mounting(str(allowed), "/data"))
    job = lb.wait(lb.submit(roomy, jd))
    assert job["status"] == "SUCCEEDED", lb.lines(job)
    assert (allowed / "out.txt").read_text() == "from the host\n"


def test_user_and_read_only_root_are_honoured(lb: LocalBatch, roomy: str) -> None:
    probe = "id -u; id -g; touch /probe 2>/dev/null && echo writable || echo read-only"
    cases = {  # the user as the container runs it; the root filesystem as root sees it
        ("65534", False): ["65534", "65534", "read-only"],  # nobody may not write / (it is root's)
        ("nobody", False): ["65534", "65534", "read-only"],
        ("65534:100", False): ["65534", "100", "read-only"],
        (None, True): ["0", "0", "read-only"],
        (None, False): ["0", "0", "writable"],
    }
    for (user, read_only), expected in cases.items():
        extra: dict[str, Any] = {"readonlyRootFilesystem": read_only}
        if user:
            extra["user"] = user
        job = lb.wait(lb.submit(roomy, _register(lb, command=["sh", "-c", probe], **extra)))
        assert job["status"] == "SUCCEEDED", lb.lines(job)
        assert lb.lines(job) == expected, (user, read_only)
    unknown = lb.wait(lb.submit(roomy, _register(lb, user="no-such-user")))
    assert unknown["status"] == "FAILED" and unknown["statusReason"].startswith("CannotStartContainerError: ")


class _Counter(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_jobs_reach_the_emulator_and_not_the_hosts_loopback(lb: LocalBatch, roomy: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        script = (  # busybox's nc (its static wget cannot resolve here)
            f"echo | nc -w 3 127.0.0.1 {port} 2>/dev/null && echo loopback-reached || echo loopback-refused; "
            "hp=${AWS_ENDPOINT_URL#http://}; "
            'printf "GET / HTTP/1.0\\r\\nHost: $hp\\r\\n\\r\\n" | nc -w 5 "${hp%:*}" "${hp##*:}" | head -n 1 '
            '| grep -q " 403 " && echo emulator-answered'
        )
        job = lb.wait(lb.submit(roomy, _register(lb, command=["sh", "-c", script])))
        assert lb.lines(job) == ["loopback-refused", "emulator-answered"]
        assert _Counter.hits == 0
    finally:
        server.shutdown()
    with socket.create_connection(("127.0.0.1", port), timeout=1):  # the listener was up all along
        pass


# ---------------------------------------------------------------------------------------------------------------
# No orphans (last: it kills the module's emulator)
# ---------------------------------------------------------------------------------------------------------------


def _sleeping(lb: LocalBatch, roomy: str) -> str:
    job_id = lb.submit(roomy, _register(lb, command=["sleep", "300"]))
    lb.wait(job_id, ("RUNNING",))
    return job_id


def _kill_9(project: Project) -> int:
    pid = int(json.loads(project.run("local", "status", "--json").stdout)["pid"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return pid


def test_after_a_kill_9_the_next_up_and_down_remove_the_dead_emulators_containers(
    secure: Project, lb: LocalBatch, roomy: str
) -> None:
    engine = docker.Engine()
    # another RUNNER_HOME's container of a dead emulator (another user's, on a shared server): never touched
    other = engine.create(
        f"runner-local-other-{uuid.uuid4().hex[:8]}",
        {
            "Image": images.recipe("base").image,
            "Cmd": ["sleep", "300"],
            "Labels": {docker.EMULATOR_LABEL: "999999999", docker.HOME_LABEL: "0123456789abcdef"},
        },
    )
    try:
        job_id = _sleeping(lb, roomy)
        pid = _kill_9(secure)
        left = containers_of(secure)
        assert [c["Labels"]["runner.local.job"] for c in left] == [job_id]  # what a kill -9 leaves behind
        up = json.loads(secure.run("local", "up", "--json").stdout)
        assert up["pid"] != pid and len(up["orphans_removed"]) == 1
        assert not containers_of(secure)
        assert engine.inspect(other)["Id"] == other

        lb2 = LocalBatch(secure)  # the restarted emulator lost its state: a new queue
        queue = lb2.queue(lb2.environment(max_vcpus=4))
        _sleeping(lb2, queue)
        _kill_9(secure)
        down = json.loads(secure.run("local", "down", "--json").stdout)
        assert len(down["orphans_removed"]) == 1
        assert not containers_of(secure)
        assert engine.inspect(other)["Id"] == other
    finally:
        engine.remove(other)
