"""Exactly-once submission under faults: the real `runner` CLI talks to the emulator through `tests.faults`'s
proxy (throttling on 20 % of requests, resets on 5 %, lost SubmitJob responses), and the jobs are counted in the
emulator itself, directly.

The module has its own scratch emulator (instant Batch: jobs succeed at submission; a compute environment and a
queue made with boto3, an outputs file as a platform team hands one to analysts). The CLI reaches the proxy as
its emulator: a runner home whose ``local/server.json`` names the proxy's port and this (live) test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import FaultProxy, wait_for
from tests.helpers import Project, outputs_project, scratch_outputs

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    proj = outputs_project(tmp_path_factory.mktemp("faults"))
    proj.run("local", "up")
    try:
        scratch_outputs(proj, "flt", {"work": "flt-work"}, name="flt")
        yield proj
    finally:
        proj.run("local", "down", check=False)


def through(proj: Project, proxy: FaultProxy, tmp: Path) -> dict[str, str]:
    """The CLI's environment with the proxy as its emulator."""
    home = tmp / f"home-{proxy.port}"
    (home / "local").mkdir(parents=True, exist_ok=True)
    info = {
        "pid": os.getpid(),
        "port": proxy.port,
        "endpoint": proxy.endpoint,
        "log": "",
        "batch": "instant",
        "credentials": str(proj.home / "local" / "credentials.json"),
    }
    (home / "local" / "server.json").write_text(json.dumps(info))
    return proj.environ(RUNNER_HOME=str(home))


def write_sheet(path: Path, rows: int) -> Path:
    path.write_text("sample,n\n" + "".join(f"S{i:05d},{i}\n" for i in range(rows)))
    return path


def submit_args(sheet: Path, name: str) -> list[str]:
    return ["submit", "--env", "local", "--image", IMAGE, "--command", "echo $sample $n", "--samples", str(sheet),
            "--name", name, "--json"]  # fmt: skip


def jobs_named(proj: Project, prefix: str) -> list[dict[str, Any]]:
    """Every parent or single job on the queue whose name starts with ``prefix``, described (tags included)."""
    batch = proj.client("batch")
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"jobQueue": "flt-q", "filters": [{"name": "JOB_NAME", "values": [f"{prefix}*"]}]}
    while True:
        page = batch.list_jobs(**kwargs)
        found += [j for j in page["jobSummaryList"] if ":" not in j["jobId"]]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    ids = [j["jobId"] for j in found]
    chunks = [ids[start : start + 100] for start in range(0, len(ids), 100)]
    return [job for chunk in chunks for job in batch.describe_jobs(jobs=chunk)["jobs"]]


def rows_covered(proj: Project, jobs: list[dict[str, Any]]) -> int:
    """Children that exist and SUCCEEDED in the emulator, over all the jobs."""
    batch = proj.client("batch")
    total = 0
    for job in jobs:
        size = job.get("arrayProperties", {}).get("size")
        if not size:
            total += job["status"] == "SUCCEEDED"
            continue
        kwargs: dict[str, Any] = {"arrayJobId": job["jobId"], "jobStatus": "SUCCEEDED"}
        while True:
            page = batch.list_jobs(**kwargs)
            total += len(page["jobSummaryList"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return total


def assert_exactly_once(proj: Project, run: str, parts: dict[str, int]) -> None:
    """One job per part name, of the right size, tagged with the platform; every row SUCCEEDED once."""
    jobs = [j for j in jobs_named(proj, run) if j["jobName"] in parts]
    names = Counter(j["jobName"] for j in jobs)
    assert names == Counter(parts.keys()), f"duplicated or missing jobs: {names}"
    for job in jobs:
        assert job.get("arrayProperties", {}).get("size", 1) == parts[job["jobName"]]
        assert job["tags"]["Platform"] == "flt" and job["tags"]["runner:run"] == run
    assert rows_covered(proj, jobs) == sum(parts.values())


def test_thousands_of_rows_under_throttling_resets_and_lost_responses(scratch: Project, tmp_path: Path) -> None:
    """1,500 rows (one array) and 20,001 rows (three arrays): every SubmitJob response has a 1 in 2 chance of
    being lost, a fifth of all requests are throttled and one in twenty reset; 0 rows lost, 0 duplicated."""
    small, big = write_sheet(tmp_path / "small.csv", 1500), write_sheet(tmp_path / "big.csv", 20_001)
    with FaultProxy(scratch.port, throttle=0.20, reset=0.05, lose_submit=0.5, max_seconds=180) as proxy:
        env = through(scratch, proxy, tmp_path)
        for sheet, name in ((small, "flt-small"), (big, "flt-big")):
            out = json.loads(scratch.run(*submit_args(sheet, name), env=env).stdout)
            assert out["run"] == name
        status = json.loads(scratch.run("status", "flt-big", "--env", "local", "--json", env=env).stdout)
    assert proxy.counts["throttle"] > 0 and proxy.counts["reset"] > 0 and proxy.counts["lose"] > 0, proxy.counts
    assert_exactly_once(scratch, "flt-small", {"flt-small": 1500})
    assert_exactly_once(scratch, "flt-big", {"flt-big-part1": 10_000, "flt-big-part2": 10_000, "flt-big-part3": 1})
    assert status["state"] == "SUCCEEDED" and status["total"] == 20_001 and status["unsubmitted"] == 0


def test_kill_9_during_submit_is_incomplete_then_the_rerun_completes_it(scratch: Project, tmp_path: Path) -> None:
    """The second SubmitJob reaches Batch, its response is held, the submit is killed -9: the run is INCOMPLETE
    with its count in `status` and `list`; running the same command again adds no duplicate and misses no row."""
    sheet = write_sheet(tmp_path / "killed.csv", 20_001)
    args = submit_args(sheet, "flt-killed")
    with FaultProxy(scratch.port, throttle=0.0, reset=0.0, hold_submit=2, max_seconds=120) as proxy:
        env = through(scratch, proxy, tmp_path)
        proc = subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=scratch.root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            assert wait_for(proxy.held.is_set, timeout=90), "the second SubmitJob never came"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            proxy.release()
            if proc.poll() is None:
                proc.kill()
    env = scratch.environ()
    status = scratch.run("status", "flt-killed", "--env", "local", "--json", env=env, check=False)
    assert status.returncode == 1
    shown = json.loads(status.stdout)
    # part1 is recorded; part2 exists in Batch but not in the record, part3 was never sent.
    assert shown["state"] == "INCOMPLETE" and shown["unsubmitted"] == 10_001 and shown["state"] != "SUCCEEDED"
    listed = {r["run"]: r for r in json.loads(scratch.run("list", "--env", "local", "--json", env=env).stdout)}
    assert listed["flt-killed"]["state"] == "INCOMPLETE" and listed["flt-killed"]["unsubmitted"] == 10_001
    text = scratch.run("status", "flt-killed", "--env", "local", env=env, check=False).stdout
    assert "INCOMPLETE" in text and "10001 rows not submitted" in text

    with FaultProxy(scratch.port, lose_submit=0.5, max_seconds=120) as proxy:
        rerun = json.loads(scratch.run(*args, env=through(scratch, proxy, tmp_path)).stdout)
    assert rerun["submitted"] == 1  # part3 only: part2 was found by name and submission token
    assert_exactly_once(scratch, "flt-killed", {"flt-killed-part1": 10_000, "flt-killed-part2": 10_000,
                                                "flt-killed-part3": 1})  # fmt: skip
    final = json.loads(scratch.run("status", "flt-killed", "--env", "local", "--json").stdout)
    assert final["state"] == "SUCCEEDED" and final["total"] == 20_001 and final["unsubmitted"] == 0


def test_two_identical_submits_at_once_make_one_job(scratch: Project, tmp_path: Path) -> None:
    """Both start together; the first SubmitJob's response is held until the other has finished: the other one
    stops with one line on the run's lock (exit 1), the first completes, and Batch has one job."""
    sheet = write_sheet(tmp_path / "twice.csv", 1000)
    args = submit_args(sheet, "flt-twice")
    with FaultProxy(scratch.port, throttle=0.0, reset=0.0, hold_submit=1, max_seconds=120) as proxy:
        env = through(scratch, proxy, tmp_path)
        command = [sys.executable, "-m", "runner", *args]
        procs = [subprocess.Popen(command, cwd=scratch.root, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        try:
            assert wait_for(lambda: any(p.poll() is not None for p in procs), timeout=90)
            time.sleep(0.2)
        finally:
            proxy.release()
        results = [(p.wait(timeout=90), *p.communicate()) for p in procs]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 1], results
    loser = next(err for code, _out, err in results if code == 1)
    lines = [ln for ln in loser.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "flt-twice" in lines[0] and "being submitted by another runner" in lines[0]
    assert_exactly_once(scratch, "flt-twice", {"flt-twice": 1000})
    # The winner released the lock: the same command again is a no-op.
    again = json.loads(scratch.run(*args).stdout)
    assert again["already_submitted"] is True and again["submitted"] == 0
