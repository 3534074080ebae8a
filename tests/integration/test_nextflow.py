"""Nextflow on the applied envs/local: the generated config, head-job runs, bad input, and the head role's policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.nextflow.config import Closure, parse
from runner.session.runs import RunStore
from tests import iam_eval
from tests.conftest import Deployment
from tests.helpers import error_line

pytestmark = pytest.mark.integration

PARAMS = "examples/rnaseq-params.yaml"


def _head_jobs(deployed: Deployment) -> list[dict[str, Any]]:
    batch = deployed.client("batch")
    queue = deployed.output("job_queue_arns")["head"]
    jobs: list[dict[str, Any]] = []
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        jobs += batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]
    return jobs


def _run_keys(deployed: Deployment, run: str) -> list[str]:
    s3 = deployed.client("s3")
    bucket = deployed.output("bucket_names")["work"]
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run}/").get("Contents", [])]


def _get(deployed: Deployment, key: str) -> bytes:
    s3 = deployed.client("s3")
    body: bytes = s3.get_object(Bucket=deployed.output("bucket_names")["work"], Key=key)["Body"].read()
    return body


def _store(deployed: Deployment) -> RunStore:
    return RunStore(deployed.client("s3"), deployed.output("bucket_names")["work"])


# ---------------------------------------------------------------------------------------------------------------
# runner nextflow config
# ---------------------------------------------------------------------------------------------------------------


def test_config_values_equal_the_applied_outputs(deployed: Deployment, tmp_path: Path) -> None:
    target = tmp_path / "nextflow.config"
    deployed.project.run("nextflow", "config", "--env", "local", "--run", "cfg-1", "-o", str(target))
    flat = parse(target.read_text())
    assert flat["process.executor"] == "awsbatch"
    queues = deployed.output("job_queue_names")
    assert flat["process.queue"] == Closure(f"{{ task.attempt > 1 ? '{queues['priority']}' : '{queues['default']}' }}")
    assert flat["workDir"] == f"s3://{deployed.output('bucket_names')['work']}/nextflow/cfg-1"
    assert flat["aws.region"] == deployed.output("region")
    assert flat["aws.batch.cliPath"] == deployed.output("aws_cli_path") == "/opt/aws-cli/bin/aws"
    assert flat["aws.batch.jobRole"] == deployed.output("job_role_arn")
    assert flat["aws.batch.logsGroup"] == deployed.output("log_group_name")
    assert flat["aws.batch.maxSpotAttempts"] >= 1
    assert flat["process.resourceLabels"] == {"env": "local", "Platform": "batch-local", "run": "cfg-1"}
    assert isinstance(flat["process.errorStrategy"], Closure)
    # env local is the emulator: the S3 endpoint settings point at it, path-style
    assert flat["aws.client.endpoint"] == deployed.project.endpoint
    assert flat["aws.client.s3PathStyleAccess"] is True


def test_config_to_stdout_and_json_agree(deployed: Deployment) -> None:
    text = deployed.project.run("nextflow", "config", "--env", "local", "--queue", "priority").stdout
    flat = parse(text)
    settings = deployed.project.run_json("nextflow", "config", "--env", "local", "--queue", "priority", "--json")[
        "settings"
    ]
    assert flat["process.queue"] == settings["process.queue"] == deployed.output("job_queue_names")["priority"]
    assert {k: (v.text if isinstance(v, Closure) else v) for k, v in flat.items()} == settings
    assert flat["workDir"].endswith("/nextflow/work")


# ---------------------------------------------------------------------------------------------------------------
# runner nextflow run
# ---------------------------------------------------------------------------------------------------------------


def test_run_stages_submits_the_head_job_and_records_the_run(deployed: Deployment) -> None:
    project = deployed.project
    summary = project.run_json(
        "nextflow", "run", "nf-core/rnaseq", "--env", "local", "--name", "rna-it", "--revision", "3.14.0",
        "--params-file", PARAMS, "--profile", "docker", "--json", "--", "-with-trace", "--skip_fastqc",
    )  # fmt: skip
    work = deployed.output("bucket_names")["work"]

    # staged: the generated config (for this run) and the params file as given
    keys = _run_keys(deployed, "rna-it")
    assert {"runs/rna-it/nextflow.config", "runs/rna-it/params.yaml", "runs/rna-it/run.json"} <= set(keys)
    config = parse(_get(deployed, "runs/rna-it/nextflow.config").decode())
    assert config["workDir"] == f"s3://{work}/nextflow/rna-it" == summary["work_dir"]
    assert config["process.resourceLabels"] == {
        "env": "local",
        "Platform": "batch-local",
        "run": "rna-it",
        "pipeline": "nf-core/rnaseq",
    }
    assert _get(deployed, "runs/rna-it/params.yaml") == (project.root / PARAMS).read_bytes()

    # the head job: head queue, head job definition, the command and environment
    job = deployed.client("batch").describe_jobs(jobs=[summary["head_job_id"]])["jobs"][0]
    assert job["jobQueue"] == deployed.output("job_queue_arns")["head"]
    assert job["jobDefinition"] == deployed.output("job_definition_arns")["nextflow-head"]
    assert job["jobName"] == "rna-it-head"
    command = job["container"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = command[2]
    assert f"copy s3://{work}/runs/rna-it/nextflow.config nextflow.config" in script
    assert f"copy s3://{work}/runs/rna-it/params.yaml params.yaml" in script
    assert (
        "nextflow run nf-core/rnaseq -c nextflow.config -params-file params.yaml -r 3.14.0 -profile docker "
        "-name rna-it -with-trace --skip_fastqc &"
    ) in script
    assert "-resume" not in script
    assert deployed.output("aws_cli_path") in script
    environment = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert environment["NXF_ANSI_LOG"] == "false"
    assert environment["NXF_WORK"] == summary["work_dir"]
    assert environment["RUNNER_RUN"] == "rna-it"
    assert environment["NXF_CLOUDCACHE_PATH"] == f"s3://{work}/runs/rna-it/cache"
    assert environment["AWS_ENDPOINT_URL"] == project.endpoint  # emulator env only
    assert job["tags"]["runner:run"] == "rna-it"

    # the run record links it
    record = _store(deployed).load("rna-it")
    assert record is not None and record.kind == "nextflow" and record.env == "local"
    assert [(j.job_id, j.kind) for j in record.jobs] == [(summary["head_job_id"], "head")]
    assert record.queue == deployed.output("job_queue_names")["head"]
    assert record.extra["pipeline"] == "nf-core/rnaseq" and record.extra["revision"] == "3.14.0"
    assert record.extra["work_dir"] == summary["work_dir"]
    assert record.extra["config_uri"] == f"s3://{work}/runs/rna-it/nextflow.config"
    assert record.extra["params_uri"] == f"s3://{work}/runs/rna-it/params.yaml"
    assert record.image and record.image.startswith("nextflow/nextflow")

    # `runner status` reports the run's head job like any other run (moto finishes jobs at submission)
    status = json.loads(project.run("status", "rna-it", "--env", "local", "--json").stdout)
    assert status["run"] == "rna-it" and status["state"] == "SUCCEEDED" and status["failures"] == []
    assert [(j["job_id"], j["kind"]) for j in status["jobs"]] == [(summary["head_job_id"], "head")]


def test_same_name_is_refused_and_resume_reuses_the_work_dir(deployed: Deployment) -> None:
    project = deployed.project
    first = project.run_json("nextflow", "run", "nf-core/rnaseq", "--env", "local", "--name", "rna-re",
                             "--params-file", PARAMS, "--json")  # fmt: skip
    before = len(_head_jobs(deployed))

    again = project.run("nextflow", "run", "nf-core/rnaseq", "--env", "local", "--name", "rna-re", check=False)
    assert again.returncode == 2
    line = error_line(again)
    assert "rna-re" in line and "already exists" in line and "--resume" in line
    assert len(_head_jobs(deployed)) == before

    resumed = project.run_json("nextflow", "run", "nf-core/rnaseq", "--env", "local", "--name", "rna-re",
                               "--resume", "--json")  # fmt: skip
    assert resumed["work_dir"] == first["work_dir"]
    assert resumed["head_job_id"] != first["head_job_id"]
    job = deployed.client("batch").describe_jobs(jobs=[resumed["head_job_id"]])["jobs"][0]
    script = job["container"]["command"][2]
    # same params (staged by the first run), a fresh Nextflow name, -resume, and the saved history restored
    assert "-params-file params.yaml -name rna-re-r2 -resume &" in script
    assert "runs/rna-re/launch/history .nextflow/history" in script
    assert job["jobName"] == "rna-re-head-2"
    record = _store(deployed).load("rna-re")
    assert record is not None
    assert [j.job_id for j in record.jobs] == [first["head_job_id"], resumed["head_job_id"]]
    assert record.jobs[1].kind == "head" and record.jobs[1].retry_of == first["head_job_id"]
    assert record.extra["nextflow_names"] == ["rna-re", "rna-re-r2"] and record.extra["resumes"] == 1


def test_head_image_override_uses_a_derived_definition(deployed: Deployment) -> None:
    project = deployed.project
    summary = project.run_json("nextflow", "run", "nextflow-io/hello", "--env", "local", "--name", "hello-img",
                               "--head-image", "nextflow/nextflow:24.10.4", "--json")  # fmt: skip
    batch = deployed.client("batch")
    job = batch.describe_jobs(jobs=[summary["head_job_id"]])["jobs"][0]
    base = deployed.output("job_definition_arns")["nextflow-head"]
    assert job["jobDefinition"] != base and job["jobQueue"] == deployed.output("job_queue_arns")["head"]
    derived = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
    original = batch.describe_job_definitions(jobDefinitions=[base])["jobDefinitions"][0]
    assert derived["containerProperties"]["image"] == "nextflow/nextflow:24.10.4"
    assert derived["containerProperties"]["jobRoleArn"] == original["containerProperties"]["jobRoleArn"]
    assert derived["jobDefinitionName"].startswith(original["jobDefinitionName"] + "-")
    # a second run with the same image reuses the derived definition instead of registering another revision
    again = project.run_json("nextflow", "run", "nextflow-io/hello", "--env", "local", "--name", "hello-img2",
                             "--head-image", "nextflow/nextflow:24.10.4", "--json")  # fmt: skip
    assert again["job_definition"] == job["jobDefinition"]


# ---------------------------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing staged or submitted
# ---------------------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["nf-core/rnaseq", "--env", "nosuch"], "--env"),
        (["nf-core/rnaseq", "--env", "local", "--params-file", "{tmp}/missing.yaml"], "--params-file"),
        (["nf-core/rnaseq", "--env", "local", "--params-file", "{bad_json}"], "--params-file"),
        (["nf-core/rnaseq", "--env", "local", "--params-file", "{bad_yaml}"], "--params-file"),
        (["nf-core/rnaseq", "--env", "local", "--params-file", "{list_yaml}"], "--params-file"),
        (["", "--env", "local", "--params-file", PARAMS], "PIPELINE"),
        (["./main.nf", "--env", "local"], "PIPELINE"),
        (["nf-core/rnaseq", "--env", "local", "--queue", "nosuch"], "--queue"),
        (["nf-core/rnaseq", "--env", "local", "--name", "no spaces"], "--name"),
        (["nf-core/rnaseq", "--env", "local", "--resume", "--name", "never-ran"], "--resume"),
        (["nf-core/rnaseq", "--env", "local", "--", "-resume"], "extra nextflow args"),
    ],
)
def test_bad_input_exits_2_with_nothing_staged_or_submitted(
    deployed: Deployment, tmp_path: Path, args: list[str], field: str
) -> None:
    files = {
        "tmp": str(tmp_path),
        "bad_json": _write(tmp_path, "p.json", '{"input": '),
        "bad_yaml": _write(tmp_path, "p.yaml", "input: [unclosed\n"),
        "list_yaml": _write(tmp_path, "l.yaml", "- a\n- b\n"),
    }
    args = [a.format(**files) for a in args]
    runs_before = set(_store(deployed).names())
    jobs_before = len(_head_jobs(deployed))
    proc = deployed.project.run("nextflow", "run", *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert field in error_line(proc)
    assert set(_store(deployed).names()) == runs_before
    assert len(_head_jobs(deployed)) == jobs_before


def test_queue_missing_in_aws_exits_2_before_staging(deployed: Deployment, tmp_path: Path) -> None:
    """Outputs that name a queue AWS does not have (a stale outputs file): caught before anything is written."""
    outputs = {k: v["value"] for k, v in deployed.outputs.items()}
    outputs["job_queue_arns"] = dict(outputs["job_queue_arns"], head=outputs["job_queue_arns"]["head"] + "-gone")
    stale = tmp_path / "outputs.json"
    stale.write_text(json.dumps(outputs))
    jobs_before = len(_head_jobs(deployed))
    proc = deployed.project.run(
        "nextflow", "run", "nf-core/rnaseq", "--env", "local", "--name", "stale-q", "--params-file", PARAMS,
        check=False, env=deployed.project.environ(RUNNER_OUTPUTS_FILE=str(stale)),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "head queue" in error_line(proc) and "-gone" in error_line(proc)
    assert _run_keys(deployed, "stale-q") == []
    assert len(_head_jobs(deployed)) == jobs_before


# ---------------------------------------------------------------------------------------------------------------
# The head role (modules/batch), read back from the applied env
# ---------------------------------------------------------------------------------------------------------------


def _statements(deployed: Deployment) -> list[dict[str, Any]]:
    iam = deployed.client("iam")
    role = deployed.output("head_job_role_arn").split("/")[-1]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    return iam_eval.statements(iam_eval.role_policies(iam, role))


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _granting(statements: list[dict[str, Any]], action: str) -> list[str]:
    """Resources of every Allow statement that names `action` (by exact name or a wildcard pattern)."""
    service = action.split(":")[0]
    resources: list[str] = []
    for statement in statements:
        actions = _as_list(statement["Action"])
        if statement["Effect"] == "Allow" and (action in actions or f"{service}:*" in actions or "*" in actions):
            resources += _as_list(statement["Resource"])
    return resources


def test_head_role_submits_only_to_this_envs_queues_and_job_definitions(deployed: Deployment) -> None:
    statements = _statements(deployed)
    queue_arns = set(deployed.output("job_queue_arns").values())
    head_definition = deployed.output("job_definition_arns")["nextflow-head"]
    batch_arn = head_definition.split(":job-definition/")[0]
    prefix = batch_arn + ":job-definition/"
    name = deployed.output("name")
    resources = _granting(statements, "batch:SubmitJob")
    assert resources, "the head role cannot submit jobs"
    queues = {r for r in resources if ":job-queue/" in r}
    definitions = {r for r in resources if ":job-definition/" in r}
    assert queues == queue_arns
    # the env's own definitions, and Nextflow's `nf-<image>` ones (their names carry no env prefix)
    assert definitions == {f"{prefix}{name}-*", f"{prefix}nf-*"}
    assert set(resources) == queues | definitions | {f"{batch_arn}:job/*"}
    assert "*" not in resources
    # submitted jobs must carry the env's tag (Nextflow's resourceLabels: Platform), and only those are cancelled
    tagged = {"aws:RequestTag/Platform": name}
    queue = deployed.output("job_queue_arns")["default"]
    assert iam_eval.allowed(statements_doc(statements), "batch:SubmitJob", queue, tagged)
    assert not iam_eval.allowed(statements_doc(statements), "batch:SubmitJob", queue)
    # iam:PassRole only for the job role the tasks run with
    assert _granting(statements, "iam:PassRole") == [deployed.output("job_role_arn")]


def statements_doc(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"Statement": statements}]


def test_head_role_reads_the_env_and_writes_only_its_work_run_state_and_results(deployed: Deployment) -> None:
    policies = statements_doc(_statements(deployed))
    buckets = deployed.output("bucket_names")
    work, data, results = (f"arn:aws:s3:::{buckets[k]}" for k in ("work", "data", "results"))
    for key in ("inputs/a.fq", "staged/abc/a.fq"):
        assert iam_eval.allowed(policies, "s3:GetObject", f"{data}/{key}")
        assert not iam_eval.allowed(policies, "s3:PutObject", f"{data}/{key}")
        assert not iam_eval.allowed(policies, "s3:DeleteObject", f"{data}/{key}")
    for key in ("runs/r/nextflow.config", "runs/r/run.json", "runs/r/params.json"):
        assert iam_eval.allowed(policies, "s3:GetObject", f"{work}/{key}")
        assert not iam_eval.allowed(policies, "s3:PutObject", f"{work}/{key}"), key
    for key in ("nextflow/r/ab/cdef/.command.sh", "runs/r/cache/x", "runs/r/launch/history", "runs/r/logs/r.log"):
        assert iam_eval.allowed(policies, "s3:PutObject", f"{work}/{key}"), key
    assert iam_eval.allowed(policies, "s3:PutObject", f"{results}/r/multiqc.html")
    assert not iam_eval.allowed(policies, "s3:GetObject", "arn:aws:s3:::another-env-data/x")
    assert iam_eval.allowed(policies, "s3:GetObject", "arn:aws:s3:::batch-local-reference-genomes/GRCh38.fa")
    statements = _statements(deployed)
    assert not any(a in ("s3:*", "*") for s in statements for a in _as_list(s["Action"]))


def test_head_job_definition_mounts_the_amis_aws_cli(deployed: Deployment) -> None:
    """The nextflow image has no AWS CLI: the head job gets the AMI's, read-only, where `aws_cli_path` says."""
    batch = deployed.client("batch")
    arn = deployed.output("job_definition_arns")["nextflow-head"]
    container = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"][0]["containerProperties"]
    cli_dir = str(Path(deployed.output("aws_cli_path")).parent.parent)
    assert cli_dir == "/opt/aws-cli"
    assert container["volumes"] == [{"name": "aws-cli", "host": {"sourcePath": cli_dir}}]
    assert container["mountPoints"] == [{"sourceVolume": "aws-cli", "containerPath": cli_dir, "readOnly": True}]
    assert container["jobRoleArn"] == deployed.output("head_job_role_arn")
    # the task job definition mounts nothing: Nextflow mounts the CLI into task containers itself (cliPath)
    default = batch.describe_job_definitions(jobDefinitions=[deployed.output("job_definition_arns")["default"]])
    assert not default["jobDefinitions"][0]["containerProperties"].get("mountPoints")
