"""Analysts' submission against the applied envs/local: what lands on the queue, idempotency, manifests.

The emulator finishes jobs inside SubmitJob, so transitions and failures are tested with Stubber in
tests/unit/test_tracking.py; here we assert what reaches the queue (read back with describe_jobs) and count
SubmitJob calls with a botocore event hook.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.aws.batch import Batch
from runner.runs import submission as submit_mod
from runner.runs import validate
from runner.runs.submission import SubmitOptions, Submitter
from runner.session.outputs import Outputs
from tests.conftest import Deployment
from tests.helpers import require_tool

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"


class Counted:
    """A submitter on the emulator whose SubmitJob calls are counted by a botocore event hook."""

    def __init__(self, deployed: Deployment) -> None:
        self.calls: list[dict[str, Any]] = []
        self.outputs = Outputs({k: v["value"] for k, v in deployed.outputs.items()})
        self.batch = deployed.client("batch")
        self.submit = deployed.client("batch")
        self.submit.meta.events.register("before-call.batch.SubmitJob", self._count)
        self.s3 = deployed.client("s3")
        self.ec2 = deployed.client("ec2")

    def submitter(self) -> Submitter:
        return Submitter("local", self.outputs, Batch(self.batch, self.submit), self.s3, self.ec2)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        body = params["body"]  # the request as it goes on the wire
        self.calls.append(json.loads(body.decode() if isinstance(body, bytes) else body))


def write_sheet(path: Path, rows: int, extra: str = "") -> Path:
    lines = ["sample,condition" + (",note" if extra else "")]
    lines += [f"S{i:05d},{'treated' if i % 2 else 'control'}" + (f",{extra}" if extra else "") for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_container(command: list[str], env: dict[str, str], index: int | None) -> str:
    """Run a job's /bin/sh command here, as the container would, with its environment and array index."""
    full = {"PATH": os.environ["PATH"], **env}
    if index is not None:
        full["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    proc = subprocess.run(command, env=full, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def emulator_credentials(deployed: Deployment) -> dict[str, str]:
    """What a job role gives a container, on the emulator: credentials and the endpoint."""
    return {
        "AWS_ENDPOINT_URL": deployed.project.endpoint,
        **deployed.project.credentials(),
        "AWS_DEFAULT_REGION": deployed.output("region"),
        "HOME": os.environ.get("HOME", "/root"),
    }


def job_env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job["container"]["environment"]}


def test_single_job_lands_with_resources_retry_and_timeout(deployed: Deployment) -> None:
    single = (
        "submit", "--env", "local", "--image", IMAGE, "--command", "echo hello $GREETING",
        "--vcpus", "2", "--memory", "4GiB", "--retries", "2", "--timeout", "2h",
        "--env-var", "GREETING=world", "--name", "single-one", "--json",
    )  # fmt: skip
    out = json.loads(deployed.project.run(*single).stdout)
    assert out["submitted"] == 1 and len(out["jobs"]) == 1 and out["jobs"][0]["array_size"] is None
    batch = deployed.client("batch")
    job = batch.describe_jobs(jobs=[out["jobs"][0]["job_id"]])["jobs"][0]
    assert job["jobQueue"] == deployed.output("job_queue_arns")["default"]
    assert job["container"]["vcpus"] == 2 and job["container"]["memory"] == 4096
    env = job_env(job)
    assert env["GREETING"] == "world" and env["RUNNER_RUN"] == "single-one"
    assert job["timeout"] == {"attemptDurationSeconds": 7200}
    jobdef = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
    assert jobdef["jobDefinitionName"].startswith("runner-")
    assert jobdef["retryStrategy"]["attempts"] == 3
    rules = {
        (r.get("onStatusReason"), r.get("onExitCode"), r["action"].upper())
        for r in jobdef["retryStrategy"]["evaluateOnExit"]
    }
    assert ("Host EC2*", None, "RETRY") in rules and (None, "*", "EXIT") in rules
    assert jobdef["timeout"] == {"attemptDurationSeconds": 7200}
    assert jobdef["containerProperties"]["jobRoleArn"] == deployed.output("job_role_arn")
    assert run_container(job["container"]["command"], env, None) == "hello world"

    # The same job definition is reused by hash; the same run is not submitted again.
    again = json.loads(deployed.project.run(*single).stdout)
    assert again["already_submitted"] is True and again["submitted"] == 0
    assert again["jobs"] == out["jobs"]


def test_array_job_rows_reach_the_container_inline(deployed: Deployment, tmp_path: Path) -> None:
    sheet = tmp_path / "trio.tsv"
    sheet.write_text("sample_id\tfastq 1\tnote\nA1\ts3://x/a.fq\tit's fine\nB2\ts3://x/b.fq\t$HOME `x`\nC3\t-\t\n")
    # s3:// inputs must exist: put them in the data bucket instead.
    s3 = deployed.client("s3")
    data = deployed.output("bucket_names")["data"]
    for name in ("a.fq", "b.fq"):
        s3.put_object(Bucket=data, Key=f"in/{name}", Body=b"@r\nACGT\n+\n!!!!\n")
    sheet.write_text(sheet.read_text().replace("s3://x/", f"s3://{data}/in/"))
    counted = Counted(deployed)
    result = counted.submitter().submit(
        SubmitOptions(
            command='echo "$SAMPLE_ID|$FASTQ_1|$NOTE|$RUNNER_ROW"', image=IMAGE, samples=str(sheet),
            vcpus=1, memory="1GiB", queue="priority",
        )
    )  # fmt: skip
    assert len(counted.calls) == 1 and result.payload == "inline"
    (ref,) = result.record.jobs
    assert ref.array_size == 3 and ref.rows == [0, 1, 2]
    assert counted.calls[0]["arrayProperties"] == {"size": 3}
    batch = deployed.client("batch")
    job = batch.describe_jobs(jobs=[ref.job_id])["jobs"][0]
    assert job["jobQueue"] == deployed.output("job_queue_arns")["priority"]
    assert job["arrayProperties"]["size"] == 3
    child = batch.describe_jobs(jobs=[f"{ref.job_id}:1"])["jobs"][0]
    env = job_env(child)
    assert "RUNNER_ROWS" in env and "RUNNER_MANIFEST_URI" not in env
    outputs = [run_container(child["container"]["command"], env, i) for i in range(3)]
    assert outputs == [
        f"A1|s3://{data}/in/a.fq|it's fine|0",
        f"B2|s3://{data}/in/b.fq|$HOME `x`|1",
        "C3|-||2",
    ]
    # The record in the work bucket maps indices back to rows and holds the rows themselves.
    work = deployed.output("bucket_names")["work"]
    record = json.loads(s3.get_object(Bucket=work, Key=f"runs/{result.record.run}/run.json")["Body"].read())
    assert record["jobs"][0]["job_id"] == ref.job_id and record["sample_count"] == 3
    assert record["extra"]["state"] == "submitted"


def test_ten_thousand_rows_one_call_manifest_and_resubmit_zero(deployed: Deployment, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "big.csv", 10_000)
    counted = Counted(deployed)
    options = SubmitOptions(command='echo "$SAMPLE_ID $CONDITION"', image=IMAGE, samples=str(sheet))
    result = counted.submitter().submit(options)
    assert len(counted.calls) == 1, "a 10,000-row sheet is one array job"
    assert counted.calls[0]["arrayProperties"] == {"size": 10_000}
    assert result.payload == "manifest"
    assert validate.request_size(counted.calls[0]) < validate.REQUEST_LIMIT
    env = {e["name"]: e["value"] for e in counted.calls[0]["containerOverrides"]["environment"]}
    assert "RUNNER_ROWS" not in env and "RUNNER_MANIFEST_URL" not in env  # no URL with anybody's credentials
    # The key has an unguessable part, kept in the run record.
    token = result.record.rows_token
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert env["RUNNER_MANIFEST_URI"].endswith(f"/runs/{result.record.run}/rows/{result.record.run}-{token}.sh")
    # The container reads its row with the AWS CLI and its own (job role) credentials.
    command = counted.calls[0]["containerOverrides"]["command"]
    require_tool("aws")
    role = {**env, **emulator_credentials(deployed)}
    assert run_container(command, role, 9_999) == "S09999 treated"
    assert run_container(command, role, 0) == "S00000 control"
    # An image without the AWS CLI cannot read a manifest: exit 97, saying why.
    full = {"PATH": "/usr/bin:/bin", **env, "AWS_BATCH_JOB_ARRAY_INDEX": "0"}
    proc = subprocess.run(command, env=full, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 97 and "no AWS CLI" in proc.stderr

    again = counted.submitter().submit(options)
    assert again.already and len(counted.calls) == 1, "re-submitting the same run submits nothing"
    assert again.record.jobs[0].job_id == result.record.jobs[0].job_id


def test_killed_submit_resumes_without_duplicates(
    deployed: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit_mod, "ARRAY_LIMIT", 4)  # 10 rows -> parts of 4, 4, 2
    sheet = write_sheet(tmp_path / "resume.csv", 10)
    counted = Counted(deployed)

    def die_on_second(params: dict[str, Any], **_: Any) -> None:
        if len(counted.calls) == 2:
            raise KeyboardInterrupt  # killed after part 1 was submitted, before part 2

    counted.submit.meta.events.register("before-call.batch.SubmitJob", die_on_second)
    options = SubmitOptions(command="true", image=IMAGE, samples=str(sheet), name="resume-run")
    with pytest.raises(KeyboardInterrupt):
        counted.submitter().submit(options)
    counted.submit.meta.events.unregister("before-call.batch.SubmitJob", die_on_second)

    # Part 1 is on the queue but (simulating the worst case) not in the record: drop it from the record.
    s3 = deployed.client("s3")
    work = deployed.output("bucket_names")["work"]
    key = "runs/resume-run/run.json"
    record = json.loads(s3.get_object(Bucket=work, Key=key)["Body"].read())
    assert record["extra"]["state"] == "submitting"
    record["jobs"] = []
    s3.put_object(Bucket=work, Key=key, Body=json.dumps(record).encode())

    before = len(counted.calls)
    result = counted.submitter().submit(options)
    assert len(counted.calls) - before == 2, "only parts 2 and 3 are submitted again"
    assert [j.array_size for j in result.record.jobs] == [4, 4, 2]
    assert [j.rows[0] for j in result.record.jobs if j.rows] == [0, 4, 8]
    batch = deployed.client("batch")
    queue = deployed.output("job_queue_names")["default"]
    for part in ("resume-run-part1", "resume-run-part2", "resume-run-part3"):
        listed = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [part]}])["jobSummaryList"]
        parents = [j for j in listed if ":" not in j["jobId"]]
        assert len(parents) == 1, f"{part} was submitted {len(parents)} times"


def test_after_makes_a_dependency(deployed: Deployment, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "first.csv", 3)
    counted = Counted(deployed)
    sub = counted.submitter()
    first = sub.submit(SubmitOptions(command="true", image=IMAGE, samples=str(sheet), name="dep-first"))
    sub.submit(SubmitOptions(command="echo 2", image=IMAGE, samples=str(sheet), name="dep-second", after="dep-first"))
    assert counted.calls[-1]["dependsOn"] == [{"jobId": first.record.jobs[0].job_id, "type": "N_TO_N"}]
    sub.submit(SubmitOptions(command="echo 3", image=IMAGE, name="dep-third", after="dep-first"))
    assert counted.calls[-1]["dependsOn"] == [{"jobId": first.record.jobs[0].job_id}]


def test_status_list_cancel_and_logs_on_the_emulator(deployed: Deployment, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "small.csv", 4)
    proj = deployed.project
    proj.run("submit", "--env", "local", "--image", IMAGE, "--command", "true", "--samples", str(sheet),
             "--name", "track-me", "--wait", "--interval", "0.05")  # fmt: skip
    status = json.loads(proj.run("status", "track-me", "--env", "local", "--json").stdout)
    assert status["state"] == "SUCCEEDED" and status["counts"]["SUCCEEDED"] == 4 and status["failures"] == []
    job_id = status["jobs"][0]["job_id"]
    by_job = json.loads(proj.run("status", job_id, "--env", "local", "--json").stdout)
    assert by_job["run"] == "track-me"
    listed = json.loads(proj.run("list", "--env", "local", "--since", "1h", "--json").stdout)
    assert "track-me" in {r["run"] for r in listed}
    failed_only = json.loads(proj.run("list", "--env", "local", "--status", "FAILED", "--json").stdout)
    assert "track-me" not in {r["run"] for r in failed_only}
    cancelled = json.loads(proj.run("cancel", "track-me", "--env", "local", "--json").stdout)
    assert cancelled["finished"] == [job_id] and cancelled["cancelled"] == []
    nothing = proj.run("retry", "track-me", "--failed", "--env", "local")
    assert "nothing to retry" in nothing.stdout
    # The emulator writes no log streams: a clear message and exit 1, not a traceback.
    logs = proj.run("logs", f"{job_id}:0", "--env", "local", check=False)
    assert logs.returncode == 1 and "log stream" in logs.stderr and "Traceback" not in logs.stderr


def test_local_files_are_staged_once_and_reach_the_rows(deployed: Deployment, tmp_path: Path) -> None:
    (tmp_path / "reads").mkdir()
    for name in ("a", "b"):
        (tmp_path / "reads" / f"{name}.fq.gz").write_bytes(f"@{name}\nACGT\n+\n!!!!\n".encode())
    sheet = tmp_path / "local.csv"
    sheet.write_text("sample,reads\nA,reads/a.fq.gz\nB,reads/b.fq.gz\n")
    counted = Counted(deployed)
    puts: list[str] = []
    counted.s3.meta.events.register("before-call.s3.PutObject", lambda params, **_: puts.append(params["url_path"]))
    data = deployed.output("bucket_names")["data"]
    first = counted.submitter().submit(
        SubmitOptions(command='echo "$READS"', image=IMAGE, samples=str(sheet)), cwd=tmp_path
    )
    assert sorted(first.staged) == ["reads/a.fq.gz", "reads/b.fq.gz"]
    assert all(uri.startswith(f"s3://{data}/staged/") for uri in first.staged.values())
    staged_puts = [p for p in puts if "/staged/" in p]
    assert len(staged_puts) == 2
    env = {e["name"]: e["value"] for e in counted.calls[-1]["containerOverrides"]["environment"]}
    out = run_container(counted.calls[-1]["containerOverrides"]["command"], env, 1)
    assert out == first.staged["reads/b.fq.gz"]
    # Another run naming the same files uploads nothing again.
    second = counted.submitter().submit(
        SubmitOptions(command='echo "$READS"', image=IMAGE, samples=str(sheet), name="local-again"), cwd=tmp_path
    )
    assert second.staged == first.staged
    assert len([p for p in puts if "/staged/" in p]) == 2, "the same content was uploaded twice"


class ApiCalls:
    """Every AWS call made through these clients, by operation (a botocore ``before-call`` hook)."""

    def __init__(self, *clients: Any) -> None:
        self.names: list[str] = []
        self.writes: list[str] = []  # PutObject keys
        for client in clients:
            client.meta.events.register("before-call", self._count)
            client.meta.events.register("before-parameter-build.s3.PutObject", self._write)

    def _count(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def _write(self, params: dict[str, Any], **_: Any) -> None:
        self.writes.append(params["Key"])

    def during(self, action: Any, *args: Any) -> tuple[Any, list[str]]:
        """(what ``action(*args)`` returned, the calls it made)."""
        start = len(self.names)
        result = action(*args)
        return result, self.names[start:]


def test_tracking_cost_does_not_grow_with_the_run(deployed: Deployment, tmp_path: Path) -> None:
    """A 100-row and a 20,000-row run (two array parts), instant mode: the same calls per status and per watch
    poll (at most 2), a record of the same size (rows as ranges), run.json written as a marker, once per part (so
    an interrupted submit knows exactly what is missing; the record stays small) and once at the end,
    and the sheet fetched at most once per machine (cached by ETag) and only when needed."""
    from runner.runs import tracking
    from runner.session.runs import RunStore

    counted = Counted(deployed)
    calls = ApiCalls(counted.batch, counted.s3)
    work = deployed.output("bucket_names")["work"]
    submitted: dict[int, Any] = {}
    for rows in (100, 20_000):
        sheet = write_sheet(tmp_path / f"cost{rows}.csv", rows)
        start = len(calls.writes)
        options = SubmitOptions(command="true", image=IMAGE, samples=str(sheet), name=f"cost-{rows}")
        submitted[rows] = counted.submitter().submit(options).record
        parts = len(submitted[rows].jobs)
        assert calls.writes[start:].count(f"runs/cost-{rows}/run.json") == parts + 2, "marker, each part, final"
    assert [j.array_size for j in submitted[20_000].jobs] == [10_000, 10_000]

    store = RunStore(counted.s3, work, cache_dir=tmp_path / "other-machine")
    batch = Batch(counted.batch)
    per_status: dict[int, list[str]] = {}
    per_poll: dict[int, list[list[str]]] = {}
    sizes: dict[int, int] = {}
    for rows in (100, 20_000):
        record, per_status[rows] = calls.during(store.load, f"cost-{rows}")
        samples = tracking.sample_loader(store, record)
        per_status[rows] += calls.during(tracking.run_status, batch, record, samples)[1]
        polls: list[list[str]] = []
        mark = [len(calls.names)]

        def on_update(_status: tracking.RunStatus, polls: list[list[str]] = polls, mark: list[int] = mark) -> None:
            polls.append(calls.names[mark[0] :])
            mark[0] = len(calls.names)

        final = tracking.watch(batch, record, on_update, interval=0, sleep=lambda _s: None, samples=samples)
        assert final.done and final.counts["SUCCEEDED"] == rows
        per_poll[rows] = polls
        body = counted.s3.get_object(Bucket=work, Key=f"runs/cost-{rows}/run.json")["Body"].read()
        sizes[rows] = len(body)
    assert per_status[100] == per_status[20_000] == ["GetObject", "DescribeJobs"], per_status
    assert all(len(poll) <= 2 for poll in per_poll[100] + per_poll[20_000]), per_poll
    assert per_poll[100] == per_poll[20_000] == [["DescribeJobs"]]
    assert abs(sizes[20_000] - sizes[100]) < 1024, sizes  # one more part, not 19,900 more row numbers

    # The sheet: read only to name failed samples; on a machine that has not seen it, one GET, then never again.
    record = store.load("cost-20000")
    assert record is not None and record.samples_etag
    ids, first = calls.during(store.sample_ids, record)
    _, again = calls.during(store.sample_ids, record)
    assert first == ["GetObject"] and again == []
    assert ids[19_999] == "S19999"
    assert (tmp_path / "other-machine" / work / f"{record.samples_etag}.json").is_file()


def test_a_second_status_reads_the_record_and_describes_its_jobs_at_once(deployed: Deployment, tmp_path: Path) -> None:
    """A machine that read a run's record keeps it with its ETag: the next status sends a conditional GET (304,
    no body) and, meanwhile, the DescribeJobs of the jobs it already knows (one round trip instead of two). A
    record changed elsewhere is read in full and its new job described; a deleted run is gone here too."""
    import threading
    import time

    from runner.runs import tracking
    from runner.session.runs import JobRef, RunStore, resolve_target

    counted = Counted(deployed)
    work = deployed.output("bucket_names")["work"]
    counted.submitter().submit(SubmitOptions(command="true", image=IMAGE, name="seen-before"))
    calls = ApiCalls(counted.batch, counted.s3)
    events: list[tuple[str, float]] = []
    lock = threading.Lock()

    def note(what: str) -> Any:
        def hook(**_: Any) -> None:
            with lock:
                events.append((what, time.monotonic()))

        return hook

    counted.batch.meta.events.register("before-send.batch.DescribeJobs", note("describe sent"))
    counted.s3.meta.events.register("after-call.s3.GetObject", note("record read"))
    here = RunStore(counted.s3, work, records_dir=tmp_path / "records")
    batch = Batch(counted.batch)

    def status() -> tracking.RunStatus:
        found = resolve_target(here, batch, "seen-before", prefetch=True)
        return tracking.run_status(batch, found)

    first, names = calls.during(status)  # nothing known here yet: the record, then its jobs
    assert names == ["GetObject", "DescribeJobs"] and first.counts["SUCCEEDED"] == 1
    events.clear()
    again, names = calls.during(status)
    assert sorted(names) == ["DescribeJobs", "GetObject"], names  # the GET answered 304: no body, no third call
    assert again.counts == first.counts
    sent = next(t for what, t in events if what == "describe sent")
    read = next(t for what, t in events if what == "record read")
    assert sent < read, events  # the describe left before the record came back

    # Another machine adds a job to the run: this one reads the new record in full and describes the new job.
    other = RunStore(counted.s3, work)
    changed = other.load("seen-before")
    assert changed is not None
    extra = counted.submitter().submit(SubmitOptions(command="true", image=IMAGE, name="seen-before-2")).record
    changed.jobs.append(JobRef(job_id=extra.jobs[0].job_id, job_name="extra"))
    other.save(changed)
    after, names = calls.during(status)
    assert names.count("DescribeJobs") == 2 and names.count("GetObject") == 1, names  # the stale guess: asked again
    assert [j.ref.job_id for j in after.jobs] == changed.job_ids() and after.counts["SUCCEEDED"] == 2

    # Gone for good: every version removed (a delete marker in the versioned bucket would trip moto's
    # force_destroy in the session's final `terraform destroy`).
    key = "runs/seen-before/run.json"
    for version in counted.s3.list_object_versions(Bucket=work, Prefix=key).get("Versions", []):
        counted.s3.delete_object(Bucket=work, Key=key, VersionId=version["VersionId"])
    assert here.load("seen-before") is None and here.cached("seen-before") is None


def test_status_imports_no_platform_code(deployed: Deployment, tmp_path: Path) -> None:
    """`runner status RUN` on an applied env loads no Packer, Nextflow pipeline, terraform or HCL code (issue 14.4;
    how fast it starts is measured by `make bench`, not here)."""
    from tests.unit.test_cli_imports import HEAVY, PROBE

    sheet = write_sheet(tmp_path / "probe.csv", 3)
    deployed.project.run(
        "submit", "--env", "local", "--image", IMAGE, "--command", "true", "--samples", str(sheet), "--name", "probe"
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "status", "probe", "--env", "local", "--json"],
        cwd=deployed.project.root, env=deployed.project.environ(), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert json.loads(proc.stdout)["counts"]["SUCCEEDED"] == 3, proc.stderr  # the probe really ran the status
    modules = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "runner.runs.tracking" in modules and not modules & set(HEAVY), sorted(modules & set(HEAVY))
