"""`runner.nextflow.pipeline` without AWS: generated config, input checks, run planning, the head job program."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runner.aws.batch import Batch
from runner.core.errors import UsageError
from runner.core.project import Env
from runner.nextflow import pipeline as nf
from runner.nextflow import settings
from runner.nextflow.config import Closure, flatten, parse
from runner.session.outputs import Outputs
from tests.helpers import require_tool

ACCOUNT = "123456789012"
OUTPUTS: dict[str, Any] = {
    "region": "eu-west-2",
    "name": "batch-dev",
    "bucket_names": {"data": "batch-dev-data", "work": "batch-dev-work", "results": "batch-dev-results"},
    "job_queue_names": {"default": "batch-dev-default", "priority": "batch-dev-priority", "head": "batch-dev-head"},
    "job_queue_arns": {
        k: f"arn:aws:batch:eu-west-2:{ACCOUNT}:job-queue/batch-dev-{k}" for k in ("default", "priority", "head")
    },
    "job_definition_arns": {
        "default": f"arn:aws:batch:eu-west-2:{ACCOUNT}:job-definition/batch-dev-default:1",
        "nextflow-head": f"arn:aws:batch:eu-west-2:{ACCOUNT}:job-definition/batch-dev-nextflow-head:3",
    },
    "job_role_arn": f"arn:aws:iam::{ACCOUNT}:role/batch-dev-job-x",
    "aws_cli_path": "/opt/aws-cli/bin/aws",
    "log_group_name": "/aws/batch/batch-dev",
}


def _env(tmp_path: Path, name: str = "dev", emulator: bool = False) -> Env:
    return Env(name=name, root=tmp_path, settings={"emulator": emulator})


# ---------------------------------------------------------------------------------------------------------------
# The configuration
# ---------------------------------------------------------------------------------------------------------------


def test_config_values_come_from_the_outputs(tmp_path: Path) -> None:
    env = _env(tmp_path)
    tree = settings.build_config(env, Outputs(OUTPUTS), run="rna-1", pipeline="nf-core/rnaseq")
    text = settings.config_text(env, tree, run="rna-1")
    flat = parse(text)
    assert flat == flatten(tree)
    assert flat["process.executor"] == "awsbatch"
    # spot first; every retry of a task (after Batch's maxSpotAttempts reclamations, too) on the on-demand queue
    default, on_demand = OUTPUTS["job_queue_names"]["default"], OUTPUTS["job_queue_names"]["priority"]
    assert flat["process.queue"] == Closure(f"{{ task.attempt > 1 ? '{on_demand}' : '{default}' }}")
    assert flat["workDir"] == "s3://batch-dev-work/nextflow/rna-1"
    assert flat["aws.region"] == OUTPUTS["region"]
    assert flat["aws.batch.cliPath"] == OUTPUTS["aws_cli_path"]
    assert flat["aws.batch.jobRole"] == OUTPUTS["job_role_arn"]
    assert flat["aws.batch.logsGroup"] == OUTPUTS["log_group_name"]
    assert flat["aws.batch.maxSpotAttempts"] == settings.MAX_SPOT_ATTEMPTS > 0
    assert flat["process.maxRetries"] == settings.MAX_RETRIES
    assert flat["process.resourceLabels"] == {
        "env": "dev",
        "Platform": "batch-dev",  # the head role submits and cancels only jobs carrying it
        "run": "rna-1",
        "pipeline": "nf-core/rnaseq",
    }
    assert isinstance(flat["process.errorStrategy"], Closure)
    for code in settings.RETRY_EXIT_CODES:
        assert str(code) in flat["process.errorStrategy"].text
    assert "Integer.MAX_VALUE" in flat["process.errorStrategy"].text
    # endpoint settings exist only for the emulator env
    assert not any(k.startswith("aws.client") for k in flat)


def test_emulator_env_gets_the_endpoint_settings(tmp_path: Path) -> None:
    tree = settings.build_config(
        _env(tmp_path, "local", emulator=True), Outputs(OUTPUTS), endpoint="http://127.0.0.1:5999"
    )
    flat = flatten(tree)
    assert flat["aws.client.endpoint"] == "http://127.0.0.1:5999"
    assert flat["aws.client.s3PathStyleAccess"] is True
    assert flat["workDir"] == "s3://batch-dev-work/nextflow/work"
    assert flat["process.resourceLabels"] == {"env": "local", "Platform": "batch-dev"}


def test_config_queue_choice(tmp_path: Path) -> None:
    env = _env(tmp_path)
    outputs = Outputs(OUTPUTS)
    assert flatten(settings.build_config(env, outputs, queue="priority"))["process.queue"] == "batch-dev-priority"
    assert (
        flatten(settings.build_config(env, outputs, queue="batch-dev-priority"))["process.queue"]
        == "batch-dev-priority"
    )
    with pytest.raises(UsageError, match=r"--queue: unknown queue 'gpu' \(this env's queues: default, priority\)"):
        settings.build_config(env, outputs, queue="gpu")


@pytest.mark.parametrize("missing", ["aws_cli_path", "job_role_arn", "region", "job_queue_names", "bucket_names"])
def test_missing_output_is_named(tmp_path: Path, missing: str) -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != missing}
    with pytest.raises(UsageError, match=f"output '{missing}'"):
        settings.build_config(_env(tmp_path), Outputs(outputs))


# ---------------------------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "suffix", "values"),
    [
        ("p.json", '{"input": "s3://d/s.csv", "n": 2}', ".json", {"input": "s3://d/s.csv", "n": 2}),
        ("p.yaml", "input: s3://d/s.csv\nn: 2\n", ".yaml", {"input": "s3://d/s.csv", "n": 2}),
        ("p.yml", "a: [1, 2]\n", ".yaml", {"a": [1, 2]}),
        ("params", '{"a": 1}', ".json", {"a": 1}),
        ("params.txt", "a: 1\n", ".yaml", {"a": 1}),
    ],
)
def test_params_files(tmp_path: Path, name: str, body: str, suffix: str, values: dict[str, Any]) -> None:
    path = tmp_path / name
    path.write_text(body)
    params = nf.read_params(path)
    assert (params.suffix, params.values, params.body) == (suffix, values, body.encode())


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("p.json", "{not json", "is not valid JSON"),
        ("p.yaml", "a: [1, 2\n", "is not valid YAML"),
        ("p.txt", "a: [1\n", "is not valid JSON or YAML"),
        ("p.yaml", "- a\n- b\n", "must hold a non-empty map"),
        ("p.json", "{}", "must hold a non-empty map"),
        ("p.yaml", "", "must hold a non-empty map"),
    ],
)
def test_bad_params_files(tmp_path: Path, name: str, body: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(UsageError, match=f"--params-file: .*{message}"):
        nf.read_params(path)
    with pytest.raises(UsageError, match="--params-file: .* does not exist"):
        nf.read_params(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "pipeline", ["nf-core/rnaseq", "hello", "https://github.com/nf-core/rnaseq", "git@github.com:o/r.git"]
)
def test_pipeline_names_accepted(pipeline: str) -> None:
    assert nf.validate_pipeline(pipeline) == pipeline


@pytest.mark.parametrize("pipeline", ["", "  ", "./main.nf", "/abs/path", "main.nf", "a/b/c", "nf core/x"])
def test_pipeline_names_refused(pipeline: str) -> None:
    with pytest.raises(UsageError, match="^PIPELINE: "):
        nf.validate_pipeline(pipeline)


@pytest.mark.parametrize("arg", ["-resume", "-name", "-w", "-work-dir=s3://x", "-c", "-params-file", "-profile"])
def test_reserved_extra_args(arg: str) -> None:
    with pytest.raises(UsageError, match="extra nextflow args: .* is set by the runner"):
        nf.check_extra_args(["-with-report", "r.html", arg])


def test_other_extra_args_pass() -> None:
    assert nf.check_extra_args(["-with-trace", "--outdir", "s3://x"]) == ["-with-trace", "--outdir", "s3://x"]


@pytest.mark.parametrize(
    ("run", "attempt", "expected"),
    [
        ("rnaseq-20261124-120000", 1, "rnaseq-20261124-120000"),
        ("My_Run__2", 1, "my_run-2"),
        ("2024-batch", 1, "nf-2024-batch"),
        ("abc", 3, "abc-r3"),
        ("x" * 100, 2, "x" * 77 + "-r2"),
    ],
)
def test_nextflow_run_names_follow_nextflows_pattern(run: str, attempt: int, expected: str) -> None:
    assert nf.nextflow_run_name(run, attempt) == expected
    assert nf.NXF_RUN_NAME.match(expected)


def test_default_run_name(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert nf.default_run_name("nf-core/rnaseq", when) == "rnaseq-20260102-030405"
    assert nf.default_run_name("https://github.com/o/My.Pipe.git", when) == "my-pipe-20260102-030405"


# ---------------------------------------------------------------------------------------------------------------
# Run planning
# ---------------------------------------------------------------------------------------------------------------


def _plan(tmp_path: Path, **kwargs: Any) -> nf.Plan:
    params = tmp_path / "params.yaml"
    params.write_text("input: s3://batch-dev-data/sheet.csv\n")
    request = nf.RunRequest(**{"pipeline": "nf-core/rnaseq", "name": "rna-1", "params_file": params, **kwargs})
    return nf.plan_run(_env(tmp_path), Outputs(OUTPUTS), request, store=None)


def test_plan_command_and_environment(tmp_path: Path) -> None:
    plan = _plan(tmp_path, revision="3.14.0", profile="test,docker", extra_args=["-with-trace"])
    assert plan.nextflow_args == [
        "nextflow", "run", "nf-core/rnaseq", "-c", "nextflow.config", "-params-file", "params.yaml",
        "-r", "3.14.0", "-profile", "test,docker", "-name", "rna-1", "-with-trace",
    ]  # fmt: skip
    assert plan.head_queue_arn == OUTPUTS["job_queue_arns"]["head"]
    assert plan.head_definition == OUTPUTS["job_definition_arns"]["nextflow-head"]
    assert plan.work_dir == "s3://batch-dev-work/nextflow/rna-1"
    assert plan.environment["NXF_ANSI_LOG"] == "false"
    assert plan.environment["NXF_WORK"] == plan.work_dir
    assert plan.environment["RUNNER_RUN"] == "rna-1"
    assert plan.environment["NXF_CLOUDCACHE_PATH"] == "s3://batch-dev-work/runs/rna-1/cache"
    assert "AWS_ENDPOINT_URL" not in plan.environment
    assert parse(plan.config)["workDir"] == plan.work_dir
    assert plan.job_name == "rna-1-head"


def test_resume_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--resume: name the run"):
        _plan(tmp_path, name=None, resume=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "^--name: "),
        ({"revision": "a b"}, "^--revision: "),
        ({"profile": "a;b"}, "^--profile: "),
        ({"head_image": " "}, "^--head-image: "),
        ({"queue": "nosuch"}, "^--queue: "),
        ({"pipeline": ""}, "^PIPELINE: "),
    ],
)
def test_plan_refuses_bad_input(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _plan(tmp_path, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# The head job's program, run for real with stand-ins for `aws` and `nextflow`
# ---------------------------------------------------------------------------------------------------------------

FAKE_AWS = """#!/bin/sh
# aws s3 cp [--only-show-errors] SRC DST against a folder standing in for S3
echo "aws $*" >> "$CALLS"
shift 2; [ "$1" = --only-show-errors ] && shift
map() { case "$1" in s3://*) echo "$FAKE_S3/${1#s3://}";; *) echo "$1";; esac; }
src=$(map "$1"); dst=$(map "$2")
[ -f "$src" ] || { echo "fatal error: 404 $1" >&2; exit 1; }
mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"
"""

FAKE_NEXTFLOW = """#!/bin/sh
echo "nextflow $*" >> "$CALLS"
[ -f .nextflow/history ] && echo "history-before: $(cat .nextflow/history)" >> "$CALLS"
mkdir -p .nextflow && echo "session-$$" >> .nextflow/history && echo "log of $$" > .nextflow.log
if [ -n "${NF_SLEEP:-}" ]; then
  trap 'echo "nextflow got TERM" >> "$CALLS"; exit 143' TERM; sleep "$NF_SLEEP" & wait $!
fi
exit "${NF_EXIT:-0}"
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("aws", FAKE_AWS), ("nextflow", FAKE_NEXTFLOW)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    s3 = tmp_path / "s3"
    return {"bin": bin_dir, "s3": s3, "launch": tmp_path / "launch", "calls": tmp_path / "calls"}


def _stage(plan: nf.Plan, s3: Path) -> None:
    config = s3 / plan.layout.bucket / plan.layout.config_key
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(plan.config)
    assert plan.params is not None
    (s3 / plan.layout.bucket / plan.layout.params_key(plan.params.suffix)).write_bytes(plan.params.body)


def _run_script(plan: nf.Plan, box: dict[str, Path], **env: str) -> subprocess.Popen[str]:
    environ = {
        "PATH": f"{box['bin']}:/usr/bin:/bin",
        "CALLS": str(box["calls"]),
        "FAKE_S3": str(box["s3"]),
        "RUNNER_LAUNCH_DIR": str(box["launch"]),
        **plan.environment,
        **env,
    }
    return subprocess.Popen(["sh", "-c", plan.script], env=environ, text=True, stderr=subprocess.PIPE)


def test_head_script_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck")
    for plan in (_plan(tmp_path), _plan(tmp_path, resume=True, extra_args=["--outdir", "s3://x y/'q'"])):
        script = tmp_path / "head.sh"
        script.write_text(plan.script)
        proc = subprocess.run([shellcheck, "-s", "sh", str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout


def test_head_script_fetches_runs_and_saves_history(tmp_path: Path, sandbox: dict[str, Path]) -> None:
    plan = _plan(tmp_path, extra_args=["--outdir", "s3://res/it's here"])
    _stage(plan, sandbox["s3"])
    proc = _run_script(plan, sandbox)
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    calls = sandbox["calls"].read_text().splitlines()
    assert calls[0] == "aws s3 cp --only-show-errors s3://batch-dev-work/runs/rna-1/nextflow.config nextflow.config"
    assert calls[1] == "aws s3 cp --only-show-errors s3://batch-dev-work/runs/rna-1/params.yaml params.yaml"
    assert calls[2] == "nextflow " + " ".join(plan.nextflow_args[1:])
    assert (sandbox["launch"] / "nextflow.config").read_text() == plan.config
    bucket = sandbox["s3"] / plan.layout.bucket
    assert (bucket / plan.layout.history_key).read_text().startswith("session-")
    assert (bucket / plan.layout.log_key("rna-1")).read_text().startswith("log of")


def test_head_script_exit_status_is_nextflows(tmp_path: Path, sandbox: dict[str, Path]) -> None:
    plan = _plan(tmp_path)
    _stage(plan, sandbox["s3"])
    assert _run_script(plan, sandbox, NF_EXIT="3").wait(timeout=30) == 3
    # the history is saved even when the pipeline failed, so --resume can pick it up
    assert (sandbox["s3"] / plan.layout.bucket / plan.layout.history_key).exists()


def test_head_script_fails_when_the_config_cannot_be_fetched(tmp_path: Path, sandbox: dict[str, Path]) -> None:
    plan = _plan(tmp_path)
    proc = _run_script(plan, sandbox)
    assert proc.wait(timeout=30) != 0
    assert "nextflow run" not in sandbox["calls"].read_text()


def test_resumed_head_script_restores_the_history(tmp_path: Path, sandbox: dict[str, Path]) -> None:
    first = _plan(tmp_path)
    _stage(first, sandbox["s3"])
    assert _run_script(first, sandbox).wait(timeout=30) == 0
    first_history = (sandbox["s3"] / first.layout.bucket / first.layout.history_key).read_text()
    shutil.rmtree(sandbox["launch"])  # a new head job starts in an empty container
    resumed = _plan(tmp_path, resume=True)
    assert resumed.nextflow_args[-1] == "-resume"
    assert _run_script(resumed, sandbox).wait(timeout=30) == 0
    calls = sandbox["calls"].read_text().splitlines()
    nextflow_calls = [c for c in calls if c.startswith("nextflow run")]
    assert nextflow_calls[-1] == "nextflow " + " ".join(resumed.nextflow_args[1:])
    assert nextflow_calls[-1].endswith("-name rna-1 -resume")
    assert f"history-before: {first_history.strip()}" in calls


def test_head_script_forwards_sigterm_to_nextflow(tmp_path: Path, sandbox: dict[str, Path]) -> None:
    """AWS Batch stops a job with SIGTERM to the container's first process: nextflow must get it to clean up."""
    plan = _plan(tmp_path)
    _stage(plan, sandbox["s3"])
    proc = _run_script(plan, sandbox, NF_SLEEP="30")
    deadline = time.monotonic() + 15
    while "nextflow run" not in (sandbox["calls"].read_text() if sandbox["calls"].exists() else ""):
        assert time.monotonic() < deadline, "nextflow never started"
        time.sleep(0.05)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=15) == 143
    assert "nextflow got TERM" in sandbox["calls"].read_text()
    assert (sandbox["s3"] / plan.layout.bucket / plan.layout.history_key).exists()


def test_script_quotes_every_argument(tmp_path: Path) -> None:
    plan = _plan(tmp_path, extra_args=["--outdir", "s3://x/$(touch /tmp/pwned)"])
    line = next(ln for ln in plan.script.splitlines() if ln.startswith("nextflow run"))
    assert shlex.split(line.removesuffix(" &")) == plan.nextflow_args


# ---------------------------------------------------------------------------------------------------------------
# What the emulator cannot show (jobs finish inside SubmitJob there): botocore's Stubber
# ---------------------------------------------------------------------------------------------------------------


def _stubbed(service: str) -> tuple[Any, Any]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        service, region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )  # never called for real: the stubber answers
    return client, Stubber(client)


def _queues(state: str = "ENABLED") -> dict[str, Any]:
    return {
        "jobQueues": [
            {
                "jobQueueName": f"batch-dev-{k}",
                "jobQueueArn": OUTPUTS["job_queue_arns"][k],
                "state": state if k == "head" else "ENABLED",
                "priority": 1,
                "computeEnvironmentOrder": [],
            }
            for k in ("head", "default")
        ]
    }


def _definition(image: str = "nextflow/nextflow:24.10.4") -> dict[str, Any]:
    return {
        "jobDefinitions": [
            {
                "jobDefinitionName": "batch-dev-nextflow-head",
                "jobDefinitionArn": OUTPUTS["job_definition_arns"]["nextflow-head"],
                "revision": 3,
                "type": "container",
                "containerProperties": {"image": image, "jobRoleArn": "arn:aws:iam::123456789012:role/head"},
            }
        ]
    }


def _existing(job_id: str = "job-1") -> Any:
    from runner.session.runs import JobRef, RunRecord

    return RunRecord(
        run="rna-1",
        env="dev",
        kind="nextflow",
        jobs=[JobRef(job_id=job_id, job_name="rna-1-head", kind="head")],
        extra={"pipeline": "nf-core/rnaseq", "params_uri": "s3://batch-dev-work/runs/rna-1/params.yaml"},
    )


class _Store:
    def __init__(self, record: Any = None, fail: bool = False) -> None:
        self.record, self.fail, self.saved = record, fail, []
        self.put_keys: list[tuple[str, bytes]] = []

    def put(self, key: str, body: bytes, content_type: str = "") -> str:
        self.put_keys.append((key, body))
        return f"s3://batch-dev-work/{key}"

    def load(self, run: str) -> Any:
        return self.record

    def save(self, record: Any) -> None:
        if self.fail:
            raise RuntimeError("AccessDenied")
        self.saved.append(record)


def test_aws_checks_pass_and_remember_the_head_image(tmp_path: Path) -> None:
    batch, stub = _stubbed("batch")
    plan = _plan(tmp_path)
    stub.add_response("describe_job_queues", _queues(), {"jobQueues": [plan.head_queue_arn, plan.task_queue]})
    stub.add_response("describe_job_definitions", _definition(), {"jobDefinitions": [plan.head_definition]})
    with stub:
        nf.check_against_aws(plan, Batch(batch))
    stub.assert_no_pending_responses()
    assert plan.head_image == "nextflow/nextflow:24.10.4"


def test_disabled_head_queue_is_refused(tmp_path: Path) -> None:
    batch, stub = _stubbed("batch")
    plan = _plan(tmp_path)
    stub.add_response("describe_job_queues", _queues("DISABLED"))
    with stub, pytest.raises(UsageError, match="head queue: queue 'batch-dev-head' is DISABLED"):
        nf.check_against_aws(plan, Batch(batch))


def test_missing_head_definition_is_refused(tmp_path: Path) -> None:
    batch, stub = _stubbed("batch")
    plan = _plan(tmp_path)
    stub.add_response("describe_job_queues", _queues())
    stub.add_response("describe_job_definitions", {"jobDefinitions": []})
    with stub, pytest.raises(UsageError, match="head job definition .* does not exist"):
        nf.check_against_aws(plan, Batch(batch))


@pytest.mark.parametrize("status", ["RUNNABLE", "RUNNING"])
def test_resume_refused_while_the_previous_head_job_is_active(tmp_path: Path, status: str) -> None:
    batch, stub = _stubbed("batch")
    params = tmp_path / "p.yaml"
    params.write_text("a: 1\n")
    request = nf.RunRequest(pipeline="nf-core/rnaseq", name="rna-1", resume=True)
    plan = nf.plan_run(_env(tmp_path), Outputs(OUTPUTS), request, store=_Store(_existing()))  # type: ignore[arg-type]
    assert plan.attempt == 2 and plan.params_uri == "s3://batch-dev-work/runs/rna-1/params.yaml"
    stub.add_response("describe_job_queues", _queues())
    stub.add_response("describe_job_definitions", _definition())
    job = {"jobId": "job-1", "jobName": "rna-1-head", "jobQueue": "q", "status": status, "startedAt": 1,
           "jobDefinition": "d"}  # fmt: skip
    stub.add_response("describe_jobs", {"jobs": [job]}, {"jobs": ["job-1"]})
    with stub, pytest.raises(UsageError, match=f"still {status}; wait for it or cancel it first"):
        nf.check_against_aws(plan, Batch(batch))


def test_existing_run_without_resume_is_refused(tmp_path: Path) -> None:
    request = nf.RunRequest(pipeline="nf-core/rnaseq", name="rna-1")
    with pytest.raises(UsageError, match="run 'rna-1' already exists .* add --resume"):
        nf.plan_run(_env(tmp_path), Outputs(OUTPUTS), request, store=_Store(_existing()))  # type: ignore[arg-type]
    other = _existing()
    other.extra["pipeline"] = "nf-core/sarek"
    with pytest.raises(UsageError, match="^PIPELINE: run 'rna-1' ran 'nf-core/sarek'"):
        resume = nf.RunRequest(pipeline="nf-core/rnaseq", name="rna-1", resume=True)
        nf.plan_run(_env(tmp_path), Outputs(OUTPUTS), resume, store=_Store(other))  # type: ignore[arg-type]


def test_a_run_that_cannot_be_recorded_takes_its_head_job_back(tmp_path: Path) -> None:
    from runner.core.errors import RunFailed

    batch, stub = _stubbed("batch")
    plan = _plan(tmp_path)
    plan.head_image = "nextflow/nextflow:24.10.4"
    stub.add_response("list_jobs", {"jobSummaryList": []})  # the gateway looks for this submission first
    stub.add_response("submit_job", {"jobId": "job-9", "jobName": plan.job_name, "jobArn": "arn:j"})
    stub.add_response("terminate_job", {}, {"jobId": "job-9", "reason": "runner could not record the run"})
    store = _Store(fail=True)
    with stub, pytest.raises(RunFailed, match="head job job-9 was terminated"):
        nf.launch(plan, store, Batch(batch))  # type: ignore[arg-type]
    stub.assert_no_pending_responses()
    assert [key for key, _body in store.put_keys] == ["runs/rna-1/nextflow.config", "runs/rna-1/params.yaml"]


@pytest.mark.parametrize(
    "argv", [["nextflow", "run", "nf-core/rnaseq", "--reusme"], ["nextflow", "run"], ["infra", "plan", "--bogus"]]
)
def test_command_line_usage_errors_exit_2_without_a_traceback(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    from runner.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_long_pipeline_urls_fit_in_tag_values(tmp_path: Path) -> None:
    url = "https://git.example.org/" + "g/" * 150 + "pipe"
    plan = _plan(tmp_path, pipeline=url)
    assert len(parse(plan.config)["process.resourceLabels"]["pipeline"]) == nf.TAG_VALUE_MAX
    assert len(plan.tags["runner:pipeline"]) == nf.TAG_VALUE_MAX
    assert plan.nextflow_args[2] == url


def test_head_job_carries_the_platform_tag_the_head_and_analyst_roles_cancel_by(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert plan.tags["Platform"] == "batch-dev" and plan.tags["runner:kind"] == "nextflow-head"
