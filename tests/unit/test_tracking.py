"""Tracking and submission with botocore's Stubber: what the emulator cannot show (transitions, failures,
throttling). S3 (rows, run records) runs on moto in-process; Batch is stubbed call by call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from runner.aws.batch import TOKEN_TAG, Batch
from runner.cli import common as cli_common
from runner.core.project import Env
from runner.runs import cancel, tracking
from runner.runs.logs import LogTarget, read_logs
from runner.runs.payload import JobSpec, sheet_from_json
from runner.runs.resubmit import Resubmitter
from runner.runs.rows import decode_line
from runner.session import Session
from runner.session.outputs import Outputs
from runner.session.runs import JobRef, RunRecord, RunStore

PARENT = "11111111-2222-3333-4444-555555555555"
QUEUE = "q-default"
WORK = "work-bucket"


def summary(**counts: int) -> dict[str, int]:
    return {s: counts.get(s.lower(), 0) for s in tracking.STATUSES}


def parent(status: str, **counts: int) -> dict[str, Any]:
    return {
        "jobId": PARENT,
        "jobName": "run-a",
        "jobQueue": QUEUE,
        "status": status,
        "startedAt": 0,
        "jobDefinition": "jd",
        "arrayProperties": {"size": 4, "statusSummary": summary(**counts)},
    }


def child(index: int, reason: str, exit_code: int | None) -> dict[str, Any]:
    container: dict[str, Any] = {"logStreamName": f"s/{index}"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {
        "jobId": f"{PARENT}:{index}",
        "jobName": "run-a",
        "jobQueue": QUEUE,
        "status": "FAILED",
        "startedAt": 0,
        "jobDefinition": "jd",
        "arrayProperties": {"index": index},
        "attempts": [{"container": container, "statusReason": reason}],
    }


def record(rows: list[int] | None = None) -> RunRecord:
    rows = rows if rows is not None else [0, 1, 2, 3]
    return RunRecord(
        run="run-a",
        env="local",
        queue=QUEUE,
        jobs=[JobRef(job_id=PARENT, job_name="run-a", array_size=len(rows), rows=rows)],
        samples_key="runs/run-a/samples.json",
        sample_count=4,
        spec_hash="h",
        extra={
            "state": "submitted",
            "spec": JobSpec(
                queue=QUEUE,
                job_definition="arn:jd",
                command=["/bin/sh", "-c", "true"],
                environment={"RUNNER_RUN": "run-a"},
                vcpus=2,
                memory_mib=4096,
                gpus=None,
                retries=2,
                timeout_s=3600,
                tags={"runner:run": "run-a"},
            ).to_dict(),
        },
    )


def stub_failures(stub: Stubber, failed: list[tuple[int, str, int | None]]) -> None:
    stub.add_response(
        "list_jobs",
        {"jobSummaryList": [{"jobId": f"{PARENT}:{i}", "jobName": "run-a", "status": "FAILED"} for i, _, _ in failed]},
        {"arrayJobId": PARENT, "jobStatus": "FAILED"},
    )
    stub.add_response(
        "describe_jobs",
        {"jobs": [child(i, r, c) for i, r, c in failed]},
        {"jobs": [f"{PARENT}:{i}" for i, _, _ in failed]},
    )


@pytest.fixture
def batch() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=WORK)
        rows = [{"sample": f"S{i}", "fastq": f"s3://d/{i}.fq"} for i in range(4)]
        data = {
            "columns": ["sample", "fastq"],
            "id_column": "sample",
            "env_names": {"sample": "SAMPLE", "fastq": "FASTQ"},
        }
        client.put_object(Bucket=WORK, Key="runs/run-a/samples.json", Body=json.dumps({**data, "rows": rows}))
        yield client


def test_status_transitions_until_done(batch: tuple[Any, Stubber]) -> None:
    client, stub = batch
    sequence = [
        parent("PENDING", runnable=4),
        parent("PENDING", runnable=4),
        parent("RUNNING", running=2, runnable=2),
        parent("RUNNING", succeeded=3, running=1),
        parent("SUCCEEDED", succeeded=4),  # nothing failed: the last poll is the final status, one call per poll
    ]
    for job in sequence:
        stub.add_response("describe_jobs", {"jobs": [job]}, {"jobs": [PARENT]})
    seen: list[str] = []
    sleeps: list[float] = []
    final = tracking.watch(
        Batch(client), record(), lambda s: seen.append(s.state), interval=5, max_interval=30, sleep=sleeps.append
    )
    assert seen == ["RUNNABLE", "RUNNABLE", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert final.done and final.failed == 0 and final.counts["SUCCEEDED"] == 4
    assert sleeps == [5, 7.5, 5, 5], "quiet polls back off 1.5x, a change resets to the first interval"


def test_backoff_is_capped() -> None:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        for _ in range(8):
            stub.add_response("describe_jobs", {"jobs": [parent("RUNNING", running=4)]}, {"jobs": [PARENT]})
        stub.add_response("describe_jobs", {"jobs": [parent("SUCCEEDED", succeeded=4)]}, {"jobs": [PARENT]})
        sleeps: list[float] = []
        tracking.watch(Batch(client), record(), lambda s: None, interval=5, max_interval=30, sleep=sleeps.append)
    assert max(sleeps) == 30 and sleeps[0] == 5


def test_failed_indices_map_to_rows_with_reasons(batch: tuple[Any, Stubber]) -> None:
    client, stub = batch
    stub.add_response("describe_jobs", {"jobs": [parent("FAILED", succeeded=2, failed=2)]}, {"jobs": [PARENT]})
    stub_failures(
        stub, [(1, "Essential container in task exited", 3), (3, "Host EC2 (instance i-1) terminated.", None)]
    )
    rec = record(rows=[10, 11, 12, 13])  # e.g. a second part of a larger sheet
    status = tracking.run_status(Batch(client), rec, samples=[f"S{i}" for i in range(14)])
    assert status.state == "FAILED" and status.failed == 2
    assert [(f.index, f.row, f.sample, f.exit_code) for f in status.failures] == [
        (1, 11, "S11", 3),
        (3, 13, "S13", None),
    ]
    assert "Host EC2" in status.failures[1].reason
    assert status.failed_rows() == [11, 13]


def test_retry_failed_resubmits_exactly_the_failed_rows(batch: tuple[Any, Stubber], s3: Any) -> None:
    client, stub = batch
    rec = record()
    RunStore(s3, WORK).save(rec)
    stub.add_response("describe_jobs", {"jobs": [parent("FAILED", succeeded=2, failed=2)]}, {"jobs": [PARENT]})
    stub_failures(stub, [(1, "exit", 1), (3, "exit", 1)])
    status = tracking.run_status(Batch(client), rec)
    assert status.failed_rows() == [1, 3]

    new_id = "99999999-2222-3333-4444-555555555555"
    stub.add_response(
        "list_jobs",
        {"jobSummaryList": []},
        {"jobQueue": QUEUE, "filters": [{"name": "JOB_NAME", "values": ["run-a-retry1"]}]},
    )
    stub.add_response("submit_job", {"jobId": new_id, "jobName": "run-a-retry1", "jobArn": "arn:job"})
    outputs = Outputs({"bucket_names": {"work": WORK}})
    sub = Resubmitter("local", outputs, Batch(client, sleep=lambda _s: None), s3)
    ref = sub.resubmit_rows(rec, status.failed_rows(), retry_of=[PARENT])
    assert ref.rows == [1, 3] and ref.array_size == 2 and ref.kind == "retry" and ref.retry_of == PARENT
    saved = RunStore(s3, WORK).load("run-a")
    assert saved is not None and [j.job_id for j in saved.jobs] == [PARENT, new_id]
    # The retry's rows table holds rows 1 and 3 in that order: index 0 -> S1, index 1 -> S3.
    data = json.loads(s3.get_object(Bucket=WORK, Key="runs/run-a/samples.json")["Body"].read())
    sheet = sheet_from_json(data)
    assert [sheet.environment(r)["SAMPLE_ID"] for r in ref.rows] == ["S1", "S3"]

    # Afterwards the run counts those rows by the retry's outcome, not as failed twice.
    stub.add_response(
        "describe_jobs",
        {
            "jobs": [
                parent("FAILED", succeeded=2, failed=2),
                {
                    **parent("SUCCEEDED", succeeded=2),
                    "jobId": new_id,
                    "arrayProperties": {"size": 2, "statusSummary": summary(succeeded=2)},
                },
            ]
        },
        {"jobs": [PARENT, new_id]},
    )
    stub_failures(stub, [(1, "exit", 1), (3, "exit", 1)])
    after = tracking.run_status(Batch(client), saved)
    assert after.counts["SUCCEEDED"] == 4 and after.failed == 0 and after.failures == [] and after.state == "SUCCEEDED"


def test_retry_request_carries_the_rows_resources_and_retry_strategy(s3: Any) -> None:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.batch.SubmitJob", lambda params, **_: sent.append(params))
    with Stubber(client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []})
        stub.add_response("submit_job", {"jobId": "j", "jobName": "run-a-retry1", "jobArn": "a"})
        sub = Resubmitter("local", Outputs({"bucket_names": {"work": WORK}}), Batch(client), s3)
        sub.resubmit_rows(record(), [2], retry_of=[PARENT])
    (params,) = sent
    assert "arrayProperties" not in params  # one row: a single job
    env = {e["name"]: e["value"] for e in params["containerOverrides"]["environment"]}
    assert decode_line(env["RUNNER_ROWS"])["SAMPLE_ID"] == "S2" and "\n" not in env["RUNNER_ROWS"]
    assert params["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "2"},
        {"type": "MEMORY", "value": "4096"},
    ]
    assert params["retryStrategy"]["attempts"] == 3 and params["timeout"] == {"attemptDurationSeconds": 3600}


def test_throttled_submit_is_retried_without_duplicates() -> None:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    request = {"jobName": "run-b", "jobQueue": QUEUE, "jobDefinition": "jd"}
    sleeps: list[float] = []
    with Stubber(client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []}, by_name("run-b"))
        request = {**request, "tags": {TOKEN_TAG: "t-1"}}
        # After every error, even throttling, the job is looked up before SubmitJob is sent again.
        stub.add_client_error("submit_job", "ThrottlingException", "Rate exceeded", 400)
        stub.add_response("list_jobs", {"jobSummaryList": []}, by_name("run-b"))
        stub.add_client_error("submit_job", "TooManyRequestsException", "Too many", 429)
        stub.add_response("list_jobs", {"jobSummaryList": []}, by_name("run-b"))
        stub.add_response("submit_job", {"jobId": "job-1", "jobName": "run-b", "jobArn": "a"}, request)
        job_id, created = Batch(client, sleep=sleeps.append).submit(request, token="t-1")
        stub.assert_no_pending_responses()
    assert job_id == "job-1" and created and len(sleeps) == 2 and sleeps[1] > 0


def test_ambiguous_failure_looks_the_job_up_instead_of_submitting_twice() -> None:
    client = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    request = {"jobName": "run-c", "jobQueue": QUEUE, "jobDefinition": "jd"}
    with Stubber(client) as stub:
        # A same-named job of another submission (other token) is not ours.
        other = {"jobId": "job-6", "jobName": "run-c", "createdAt": 0}
        stub.add_response("list_jobs", {"jobSummaryList": [other]}, by_name("run-c"))
        stub.add_response("describe_jobs", {"jobs": [described("job-6", "run-c", "t-other")]}, {"jobs": ["job-6"]})
        stub.add_client_error("submit_job", "ServerException", "internal", 500)  # it may have been created
        mine = {"jobId": "job-7", "jobName": "run-c", "createdAt": 1}
        stub.add_response("list_jobs", {"jobSummaryList": [other, mine]}, by_name("run-c"))
        stub.add_response(
            "describe_jobs",
            {"jobs": [described("job-6", "run-c", "t-other"), described("job-7", "run-c", "t-2")]},
            {"jobs": ["job-6", "job-7"]},
        )
        job_id, created = Batch(client, sleep=lambda _s: None).submit(request, token="t-2")
        stub.assert_no_pending_responses()
    assert job_id == "job-7" and created


def by_name(name: str) -> dict[str, Any]:
    return {"jobQueue": QUEUE, "filters": [{"name": "JOB_NAME", "values": [name]}]}


def described(job_id: str, name: str, token: str) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "jobName": name,
        "jobQueue": QUEUE,
        "status": "RUNNABLE",
        "startedAt": 0,
        "jobDefinition": "jd",
        "tags": {TOKEN_TAG: token},
    }


def test_cancel_queued_and_terminate_running(batch: tuple[Any, Stubber]) -> None:
    client, stub = batch
    stub.add_response(
        "describe_jobs", {"jobs": [parent("RUNNING", running=1, runnable=2, succeeded=1)]}, {"jobs": [PARENT]}
    )
    stub.add_response("cancel_job", {}, {"jobId": PARENT, "reason": ANY})
    stub.add_response("terminate_job", {}, {"jobId": PARENT, "reason": ANY})
    done = cancel.cancel_jobs(Batch(client), record())
    assert done == {"cancelled": [PARENT], "terminated": [PARENT], "finished": []}


def test_logs_tolerate_throttling_and_missing_streams(batch: tuple[Any, Stubber]) -> None:
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    target = LogTarget(job_id="j", status="SUCCEEDED", group="/g", stream="s")
    lines: list[str] = []
    with Stubber(logs) as stub:
        stub.add_client_error("get_log_events", "ThrottlingException", "slow down", 400)
        stub.add_response(
            "get_log_events", {"events": [{"message": "one"}, {"message": "two"}], "nextForwardToken": "t1"}
        )
        stub.add_response("get_log_events", {"events": [], "nextForwardToken": "t1"})
        assert read_logs(logs, Batch(batch[0]), target, lines.append, sleep=lambda _s: None) == 2
    assert lines == ["one", "two"]
    with Stubber(logs) as stub:
        stub.add_client_error("get_log_events", "ResourceNotFoundException", "no stream", 400)
        with pytest.raises(tracking.RunFailed, match="does not exist"):
            read_logs(logs, Batch(batch[0]), target, lines.append, sleep=lambda _s: None)
    with pytest.raises(tracking.RunFailed, match="no log stream yet"):
        read_logs(logs, Batch(batch[0]), LogTarget("j", "RUNNABLE", "/g", None), lines.append)


@pytest.mark.parametrize(("final", "code"), [("succeeded", 0), ("failed", 1)])
def test_watch_exit_codes(
    batch: tuple[Any, Stubber], s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, final: str, code: int
) -> None:
    client, stub = batch
    RunStore(s3, WORK).save(record())
    stub.add_response("describe_jobs", {"jobs": [parent("RUNNING", running=4)]}, {"jobs": [PARENT]})
    done = {"succeeded": 4} if final == "succeeded" else {"succeeded": 3, "failed": 1}
    state = "SUCCEEDED" if final == "succeeded" else "FAILED"
    stub.add_response("describe_jobs", {"jobs": [parent(state, **done)]}, {"jobs": [PARENT]})
    if final == "failed":  # a run that ended without failures needs no further call: its last poll is final
        stub.add_response("describe_jobs", {"jobs": [parent(state, **done)]}, {"jobs": [PARENT]})
        stub_failures(stub, [(2, "Essential container in task exited", 1)])
    session = Session(Env("local", tmp_path), outputs=Outputs({"bucket_names": {"work": WORK}}))
    session.aws.home = tmp_path
    session.aws._clients.update({"batch": client, "batch-submit": client, "s3": s3})
    monkeypatch.setattr(cli_common, "session", lambda _env: session)
    with pytest.raises(SystemExit) as exc:
        cli_jobs_main(["status", "run-a", "--watch", "--interval", "0", "--env", "local", "--json"])
    assert exc.value.code == code


def cli_jobs_main(argv: list[str]) -> None:
    from runner.cli import main

    main(argv)
