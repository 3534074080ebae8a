"""Exactly-once submission, piece by piece: the one-attempt SubmitJob client (a real botocore client against a
local HTTP server), lookups after lost responses, the run lock (S3 conditional writes on moto in-process) and the
INCOMPLETE state of an interrupted submit. The whole under faults is tests/integration/test_jobs_faults.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError
from botocore.stub import Stubber
from moto import mock_aws

from runner.aws.batch import TOKEN_TAG, Batch
from runner.aws.retry import ONE_ATTEMPT_CONFIG
from runner.core.errors import RunFailed
from runner.runs import tracking
from runner.session.runs import JobRef, RunRecord, RunStore

QUEUE = "q-default"
WORK = "work-bucket"


class Failing(BaseHTTPRequestHandler):
    """Answers every request with a 500 and counts them."""

    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Failing.hits.append(self.path)
        body = b'{"__type": "ServerException", "message": "boom"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def failing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Failing.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def submit_once(endpoint: str, config: Config) -> int:
    client = boto3.client(
        "batch", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        config=config,
    )  # fmt: skip
    Failing.hits = []
    with pytest.raises(Exception, match="ServerException"):
        client.submit_job(jobName="j", jobQueue="q", jobDefinition="d")
    return len(Failing.hits)


def test_submit_client_sends_exactly_one_request(failing_endpoint: str) -> None:
    assert submit_once(failing_endpoint, ONE_ATTEMPT_CONFIG) == 1
    # The old setting: botocore reads a client Config's max_attempts as retries, in every mode.
    assert submit_once(failing_endpoint, Config(retries={"mode": "standard", "max_attempts": 1})) == 2


def by_name(name: str) -> dict[str, Any]:
    return {"jobQueue": QUEUE, "filters": [{"name": "JOB_NAME", "values": [name]}]}


class LostResponse:
    """A submit client whose request reaches Batch but whose response never comes back."""

    def __init__(self) -> None:
        self.calls = 0

    def submit_job(self, **_request: Any) -> dict[str, Any]:
        self.calls += 1
        raise ConnectionClosedError(endpoint_url="http://batch")


def test_lost_response_is_looked_up_until_the_job_shows_and_never_resent() -> None:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    lost = LostResponse()
    mine = {"jobId": "job-9", "jobName": "run-l", "createdAt": 1}
    with Stubber(client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []}, by_name("run-l"))  # before submitting
        stub.add_response("list_jobs", {"jobSummaryList": []}, by_name("run-l"))  # not listed yet
        stub.add_response("list_jobs", {"jobSummaryList": [mine]}, by_name("run-l"))  # now it is
        described = {"jobId": "job-9", "jobName": "run-l", "jobQueue": QUEUE, "status": "RUNNABLE",
                     "startedAt": 0, "jobDefinition": "jd", "tags": {TOKEN_TAG: "t-9"}}  # fmt: skip
        stub.add_response("describe_jobs", {"jobs": [described]}, {"jobs": ["job-9"]})
        request = {"jobName": "run-l", "jobQueue": QUEUE, "jobDefinition": "jd"}
        job_id, created = Batch(client, lost, sleep=lambda _s: None).submit(request, token="t-9")
        stub.assert_no_pending_responses()
    assert (job_id, created, lost.calls) == ("job-9", True, 1)


def test_a_failed_lookup_stops_instead_of_submitting_blind() -> None:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    lost = LostResponse()
    with Stubber(client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []}, by_name("run-m"))
        stub.add_client_error("list_jobs", "ServerException", "down", 500)
        request = {"jobName": "run-m", "jobQueue": QUEUE, "jobDefinition": "jd"}
        with pytest.raises(RunFailed, match="cannot tell whether it was already submitted"):
            Batch(client, lost, sleep=lambda _s: None).submit(request, token="t-m")
    assert lost.calls == 1


# -- the run lock ------------------------------------------------------------------------------------------------


@pytest.fixture
def store() -> Iterator[RunStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=WORK)
        yield RunStore(s3, WORK)


def holder(store: RunStore, run: str) -> dict[str, Any]:
    body = store.s3.get_object(Bucket=WORK, Key=store.layout(run).lock_key)["Body"].read()
    return dict(json.loads(body))


def test_second_lock_on_a_run_is_refused_in_one_line_until_released(store: RunStore) -> None:
    first = store.lock("r1")
    with pytest.raises(RunFailed) as refused:
        store.lock("r1")
    message = str(refused.value)
    assert "\n" not in message and "being submitted by another runner" in message and str(os.getpid()) in message
    store.lock("r2").release()  # other runs are not held
    first.release()  # an overwrite, not a delete: analysts may not delete under runs/
    assert holder(store, "r1")["owner"] == "" and holder(store, "r1")["expires"] == 0
    with store.lock("r1") as second:
        assert holder(store, "r1")["pid"] == os.getpid() and holder(store, "r1")["owner"] == second.owner
    with pytest.raises(RunFailed, match="took over"):
        first.refresh()


def test_lock_of_a_dead_process_or_past_its_expiry_is_taken_over(store: RunStore) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store.lock("r3")
    body = {**holder(store, "r3"), "pid": int(dead.stdout), "owner": "someone"}
    store.s3.put_object(Bucket=WORK, Key=store.layout("r3").lock_key, Body=json.dumps(body).encode())
    taken = store.lock("r3")
    assert holder(store, "r3")["owner"] == taken.owner

    expired = {**holder(store, "r3"), "host": "another-host", "owner": "other", "expires": int(time.time()) - 1}
    store.s3.put_object(Bucket=WORK, Key=store.layout("r3").lock_key, Body=json.dumps(expired).encode())
    again = store.lock("r3")
    # The holder that was taken over finds out at its next refresh, and stops.
    with pytest.raises(RunFailed, match="took over"):
        taken.refresh()
    again.refresh()
    again.release()


# -- INCOMPLETE --------------------------------------------------------------------------------------------------


def test_interrupted_submit_is_incomplete_with_its_count_never_succeeded() -> None:
    record = RunRecord(run="big", env="local", queue=QUEUE, jobs=[JobRef("p1", "big-part1", array_size=10_000)])
    record.extra = {
        "state": "submitting",
        "parts": [{"name": f"big-part{i + 1}", "start": s, "end": e} for i, (s, e) in
                  enumerate([(0, 10_000), (10_000, 20_000), (20_000, 20_001)])],
    }  # fmt: skip
    assert record.unsubmitted() == 10_001
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    summary = {"size": 10_000, "statusSummary": {"SUCCEEDED": 10_000}}
    done = {"jobId": "p1", "jobName": "big-part1", "jobQueue": QUEUE, "status": "SUCCEEDED", "startedAt": 0,
            "jobDefinition": "jd", "arrayProperties": summary}  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("describe_jobs", {"jobs": [done]}, {"jobs": ["p1"]})
        status = tracking.run_status(Batch(client), record)
    assert status.state == "INCOMPLETE" and not status.done and status.to_dict()["unsubmitted"] == 10_001
    record.extra["state"] = "submitted"
    assert record.unsubmitted() == 0
