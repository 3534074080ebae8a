"""The `--json` contract of the analysts' verbs: every key and value they print on a demo-like run, held against a
recorded copy (tests/data/json_contract.json), ids and times aside.

One emulator in docker mode (real containers) with the demo's env made with boto3 (tests.helpers.batch_outputs)
plus a spot queue, and one scenario in order: `local status`, `stage` (twice), `submit --dry-run`, the QC run with
`--wait`, the same submit again, `status` by run and by job id, `logs`, `results` (listing, table, download),
`cost`, a run whose one sample fails (`--wait`, `retry --failed`, `status --watch`, `retry --on-demand`), a spot
job reclaimed (`local reclaim`) then cancelled, `list`, and `env add/list/default/remove`. Each step keeps its
exit code and its JSON (or, for a refused input, its one error line).

Normalised before comparing: job ids (each distinct id becomes ``<id-N>`` in order of first appearance, so links
between outputs still count), times, the emulator's port and pid, scratch paths, instance ids of reclaimed
attempts, log streams' task ids, the numbers of `cost` that follow from how long a container ran (runtimes and
what they cost), and the status a reclaimed job has reached when `local reclaim` answers. `list` is sorted by run
name (runs created in the same second have no order).

``RUNNER_WRITE_CONTRACT=1`` records the outputs anew (only when a change of the contract is meant).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.local import images
from tests.helpers import Project, batch_outputs, copy_project, free_port, one_ce_queue, require_docker

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "json_contract.json"
WRITE_VAR = "RUNNER_WRITE_CONTRACT"
SHEET = "examples/qc/samples.csv"
FAILING = '[ "$SAMPLE_ID" != brain_1 ] || { echo "brain_1 fails" >&2; exit 3; }'

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
INSTANCE = re.compile(r"\bi-[0-9a-f]{17}\b")
TASK = re.compile(r"[0-9a-f]{32}$")  # the end of a log stream's name: the task's id
# In `runner cost`: what depends on how long a container ran (its runtime, and the money that follows from it).
TIMED = {"seconds", "cost", "total", "wasted", "wasted_share"}
TIMED_MAPS = {"by_outcome"}


class Normaliser:
    """Ids, times, ports, pids and paths of one scenario made comparable with a recorded one."""

    def __init__(self, project: Project, scratch: Path) -> None:
        self.ids: dict[str, str] = {}
        self.literal = [(str(scratch), "<scratch>"), (str(project.root), "<root>"), (str(project.port), "<port>")]
        self.timed = False  # a cost report: runtimes and what they cost vary
        self.varies: set[str] = set()  # keys whose value depends on timing in this step

    def text(self, value: str) -> str:
        for raw, mark in self.literal:
            value = value.replace(raw, mark)
        value = UUID.sub(lambda m: self.ids.setdefault(m[0], f"<id-{len(self.ids) + 1}>"), value)
        value = INSTANCE.sub("<instance>", value)
        return STAMP.sub("<time>", value)

    def __call__(self, data: Any, key: str = "") -> Any:
        if key in self.varies:
            return "<varies>"
        if isinstance(data, dict):
            if self.timed and key in TIMED_MAPS:
                return {k: "<timed>" for k in data}
            return {k: self(v, k) for k, v in data.items()}
        if isinstance(data, list):
            return [self(v, key) for v in data]
        if isinstance(data, str):
            return TASK.sub("<task>", self.text(data)) if key == "log_stream" else self.text(data)
        if self.timed and key in TIMED and isinstance(data, int | float) and not isinstance(data, bool):
            return "<timed>"
        if key in ("pid", "port") and isinstance(data, int):
            return f"<{key}>"
        return data


class Scenario:
    """Runs the steps against one project and keeps what each printed, normalised."""

    def __init__(self, project: Project, scratch: Path) -> None:
        self.project = project
        self.normalise = Normaliser(project, scratch)
        self.steps: list[dict[str, Any]] = []
        self.raw: dict[str, Any] = {}

    def json(
        self,
        name: str,
        *args: str,
        expect: int = 0,
        sort_by: str | None = None,
        timed: bool = False,
        varies: tuple[str, ...] = (),
    ) -> Any:
        proc = self.run(args)
        said = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == expect, f"{name}: exit {proc.returncode}\n{said}"
        data = json.loads(proc.stdout)
        self.raw[name] = data
        shown = sorted(data, key=lambda item: item[sort_by]) if sort_by else data
        self.normalise.timed, self.normalise.varies = timed, set(varies)
        shown = self.normalise(shown)
        self.steps.append({"step": name, "args": self.args(args), "exit": proc.returncode, "json": shown})
        return data

    def refused(self, name: str, *args: str, expect: int = 2) -> None:
        proc = self.run(args)
        assert proc.returncode == expect, f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        error = [self.normalise.text(line) for line in lines[-1:]]
        self.steps.append({"step": name, "args": self.args(args), "exit": proc.returncode, "error": error})

    def args(self, args: tuple[str, ...]) -> list[str]:
        return [self.normalise.text(a) for a in args]

    def run(self, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        """The CLI with a user config of its own (`runner env`)."""
        config = self.project.root / "user-config"
        return self.project.run(*args, check=False, env=self.project.environ(RUNNER_CONFIG_DIR=str(config)))


def until(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A scratch project whose emulator runs Batch in docker mode: the demo's env (one on-demand FARGATE queue,
    buckets, job role, log group) and a `spot` queue on a SPOT compute environment."""
    require_docker()
    images.ensure("tools")
    root = copy_project(tmp_path_factory.mktemp("contract"))
    outputs_file = root / "outputs.json"
    project = Project(
        root=root,
        port=free_port(),
        extra_env={"RUNNER_LOCAL_BATCH": "docker", "RUNNER_OUTPUTS_FILE": str(outputs_file)},
    )
    project.run_json("local", "up", "--json")
    try:
        outputs = batch_outputs(project.client, "qc", max_vcpus=2)
        batch, ec2, iam = project.client("batch"), project.client("ec2"), project.client("iam")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
        profile = iam.create_instance_profile(InstanceProfileName="qc-instance")["InstanceProfile"]["Arn"]
        spot = batch.create_compute_environment(
            computeEnvironmentName="qc-spot",
            type="MANAGED",
            state="ENABLED",
            serviceRole=iam.get_role(RoleName="qc-batch")["Role"]["Arn"],
            computeResources={
                "type": "SPOT", "minvCpus": 0, "maxvCpus": 2, "instanceTypes": ["optimal"],
                "subnets": [subnet], "securityGroupIds": [group], "instanceRole": profile,
            },
        )["computeEnvironmentArn"]  # fmt: skip
        outputs["job_queue_arns"]["spot"] = one_ce_queue(batch, "qc-spot", spot)
        outputs["job_queue_names"]["spot"] = "qc-spot"
        outputs["compute_environment_arns"]["spot"] = spot
        outputs_file.write_text(json.dumps(outputs))
        yield project
    finally:
        project.run("local", "down", check=False)


def qc_submit(*extra: str) -> tuple[str, ...]:
    script = (Path(__file__).resolve().parents[2] / "examples" / "qc" / "qc.sh").read_text()
    return (
        "submit", "--env", "local", "--image", images.recipe("tools").image, "--command", script,
        "--samples", SHEET, "--vcpus", "1", "--memory", "1GiB", "--timeout", "10m", *extra, "--json",
    )  # fmt: skip


def run_scenario(proj: Project, scratch: Path) -> list[dict[str, Any]]:
    s = Scenario(proj, scratch)
    env = ("--env", "local")
    s.json("local status", "local", "status", "--json", varies=("job_endpoint",))  # the jobs network gateway
    s.json("stage", "stage", "examples/qc/fastq", *env, "--json")
    s.json("stage again", "stage", "examples/qc/fastq", *env, "--json")
    s.json("submit dry run", *qc_submit("--name", "qc-demo", "--dry-run"))
    s.json("submit wait", *qc_submit("--name", "qc-demo", "--wait", "--interval", "1"))
    s.json("submit again", *qc_submit("--name", "qc-demo"))
    parent = s.raw["submit wait"]["jobs"][0]["job_id"]
    s.json("status", "status", "qc-demo", *env, "--json")
    s.json("status by job id", "status", parent, *env, "--json")
    s.json("logs", "logs", f"{parent}:0", *env, "--json")
    s.json("results", "results", "qc-demo", *env, "--json")
    s.json("results table", "results", "qc-demo", *env, "--table", "qc.tsv", "--json")
    s.json("results download", "results", "qc-demo", *env, "--download", str(scratch / "qc"), "--json")
    s.json("cost", "cost", "qc-demo", *env, "--json", timed=True)

    failing = ("submit", *env, "--image", "batch-platform/base:latest", "--samples", SHEET, "--name", "qc-fail")
    s.json("submit failing", *failing, "--command", FAILING, "--wait", "--interval", "1", "--json", expect=1)
    s.refused("retry without a flag", "retry", "qc-fail", *env)
    s.json("retry failed", "retry", "qc-fail", "--failed", *env, "--json")
    s.json("status watch", "status", "qc-fail", "--watch", "--interval", "1", *env, "--json", expect=1)
    s.json("retry on demand", "retry", "qc-fail", "--on-demand", *env, "--json")
    s.json("cost failing", "cost", "qc-fail", *env, "--json", timed=True)

    spot = ("submit", *env, "--image", "batch-platform/base:latest", "--queue", "spot", "--retries", "1")
    s.json("submit spot", *spot, "--name", "spot-one", "--command", "sleep 120", "--json")
    job = s.raw["submit spot"]["jobs"][0]["job_id"]
    batch = proj.client("batch")

    def running() -> bool:
        return bool(batch.describe_jobs(jobs=[job])["jobs"][0]["status"] == "RUNNING")

    until("the spot job to run", running)
    # the job's status once the attempt ended: RUNNABLE, STARTING or RUNNING, as fast as the retry goes
    s.json("local reclaim", "local", "reclaim", job, *env, "--json", varies=("status",))
    until("the spot job to run again", running)
    s.json("cancel", "cancel", "spot-one", *env, "--json")
    s.json("status cancelled", "status", "spot-one", "--watch", "--interval", "1", *env, "--json", expect=1)
    s.refused("cancel unknown", "cancel", "no-such-run", *env)

    s.json("list", "list", *env, "--json", sort_by="run")
    s.json("list failed", "list", *env, "--status", "failed", "--json", sort_by="run")
    s.json("env add", "env", "add", "lab", "--region", "eu-west-1", "--name", "batch-lab", "--json")
    s.json("env default", "env", "default", "lab", "--json")
    s.json("env list", "env", "list", "--json")
    s.json("env remove", "env", "remove", "lab", "--json")
    return s.steps


def test_json_outputs_keep_every_key_and_value(proj: Project, tmp_path: Path) -> None:
    steps = run_scenario(proj, tmp_path)
    if os.environ.get(WRITE_VAR):
        CONTRACT.write_text(json.dumps(steps, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(CONTRACT.read_text())
    assert [s["step"] for s in steps] == [s["step"] for s in recorded]
    for got, want in zip(steps, recorded, strict=True):
        assert got == want, f"step '{want['step']}' differs"
