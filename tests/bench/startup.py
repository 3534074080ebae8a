"""`make bench`, start-up and tracking section: how fast the runner's commands start and whether `runner status`
costs the same whatever the size of the run (issue 14.4 and 14.5).

Three pairs, each run side by side (order alternating per round), median of the rounds:

- `runner --help` vs `aws --version` (no request: start-up only; the bare machine);
- `runner status RUN --json` of a 100-row run vs `aws batch describe-jobs --jobs PARENT` (the one call it wraps),
  at every latency the bench models;
- `runner status` of a 50,000-row run (5 array jobs) vs the same of the 100-row run, at every latency.

The runs are submitted once with `runner submit` on the submission section's queue (instant mode: no container
runs, every job SUCCEEDED). Each latency gets a RUNNER_HOME of its own pointing the runner at that latency's
proxy, and a hash/sheet cache of its own (the first status there fills it, as an analyst's first status does:
that warm-up run is not counted).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.latency import Pair, emulator_home, pair_table

GOAL_HELP = 1.0  # `runner --help` no slower than `aws --version`
GOAL_STATUS = 1.2  # `runner status` (100 rows) within 1.2x `aws batch describe-jobs`
GOAL_SIZE = 1.2  # `runner status` of 50,000 rows within 1.2x of 100 rows
SMALL, BIG = 100, 50_000
SMALL_RUN, BIG_RUN = "bench-status-100", "bench-status-50k"
IMAGE = "public.ecr.aws/docker/library/busybox:1.36"
SUBMIT_ARGS: tuple[str, ...] = ("--image", IMAGE, "--command", "echo $SAMPLE", "--vcpus", "1", "--memory", "512")


def write_sheet(path: Path, rows: int) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample", "condition", "replicate"])
        for i in range(rows):
            writer.writerow([f"S{i:05d}", ("control", "treated")[i % 2], str(i % 3 + 1)])


@dataclass
class StartupBench:
    rounds: int
    submit_seconds: dict[str, float] = field(default_factory=dict)
    parents: dict[str, int] = field(default_factory=dict)  # run -> array jobs
    record_bytes: dict[str, int] = field(default_factory=dict)  # run -> size of its record (run.json)
    pairs: dict[int, list[Pair]] = field(default_factory=dict)  # latency (ms) -> pairs


def bench_startup(
    args: Any,
    endpoints: dict[int, str],
    emulator_pid: int,
    work: Path,
    measure: Callable[..., Any],
    env: dict[str, str],
    counter_for: Callable[[int], None],
    store: Callable[[str], Any],
) -> StartupBench:
    """``env``: the runner's environment at the bare emulator (outputs file, credentials, no endpoint variable);
    ``store(run)``: the run record as the runner wrote it (for the parent job id)."""
    runner = str(Path(sys.executable).parent / "runner")
    result = StartupBench(rounds=args.startup_rounds)
    runs = {"small": (SMALL_RUN, SMALL), "big": (BIG_RUN, BIG)}
    counter_for(0)
    for run, rows in runs.values():
        sheet = work / f"{run}.csv"
        write_sheet(sheet, rows)
        print(f"bench: start-up: submitting {run} ({rows:,} rows) ...", file=sys.stderr)
        submitted = measure(
            [runner, "submit", "--env", "local", "--samples", str(sheet), "--name", run, "--json", *SUBMIT_ARGS],
            env,
        )
        result.submit_seconds[run] = submitted.seconds
        record = store(run)
        result.parents[run] = len(record.jobs)
        result.record_bytes[run] = len(record.to_json().encode())
    parent = store(runs["small"][0]).jobs[0].job_id

    # 1. Start-up alone (no request): the bare emulator only.
    help_pair = Pair("start-up", "aws --version", "runner --help", GOAL_HELP)
    for rnd in range(result.rounds):
        order = [("base", [args.aws, "--version"]), ("runner", [runner, "--help"])]
        for which, cmd in order if rnd % 2 == 0 else reversed(order):
            getattr(help_pair, which).append(measure(cmd, env))

    for latency, endpoint in endpoints.items():
        home = emulator_home(work / f"status-home-{latency}ms", endpoint, emulator_pid)
        renv = dict(env, RUNNER_HOME=str(home), RUNNER_CACHE_DIR=str(work / f"status-cache-{latency}ms"))
        aenv = dict(env, AWS_ENDPOINT_URL=endpoint)
        status = {key: [runner, "status", run, "--env", "local", "--json"] for key, (run, _) in runs.items()}
        describe = [args.aws, "--endpoint-url", endpoint, "batch", "describe-jobs", "--jobs", parent]
        for cmd in status.values():  # warm-up: the first status on a machine fetches the rows once
            measure(cmd, renv)
        vs_aws = Pair(
            "status vs describe-jobs",
            f"aws batch describe-jobs --jobs PARENT ({SMALL} rows)",
            f"runner status RUN --json ({SMALL} rows)",
            GOAL_STATUS,
        )
        by_size = Pair(
            "status by run size",
            f"runner status RUN --json ({SMALL} rows)",
            f"runner status RUN --json ({BIG:,} rows, {result.parents[runs['big'][0]]} array jobs)",
            GOAL_SIZE,
        )
        counter_for(latency)
        for rnd in range(result.rounds):
            print(f"bench: start-up {latency} ms, round {rnd + 1}/{result.rounds} ...", file=sys.stderr)
            small = measure(status["small"], renv)
            if rnd % 2 == 0:
                vs_aws.base.append(measure(describe, aenv))
                by_size.runner.append(measure(status["big"], renv))
            else:
                by_size.runner.append(measure(status["big"], renv))
                vs_aws.base.append(measure(describe, aenv))
            vs_aws.runner.append(small)
            by_size.base.append(small)
        result.pairs[latency] = [vs_aws, by_size]
        for out in (m.stdout for m in (*by_size.base, *by_size.runner)):
            counts = {k: v for k, v in json.loads(out).get("counts", {}).items() if v}
            if set(counts) != {"SUCCEEDED"}:
                raise SystemExit(f"bench: runner status reported {counts}; instant mode should succeed every job")
    result.pairs = {-1: [help_pair], **result.pairs}
    return result


def _latency(ms: int) -> str:
    return "no request" if ms < 0 else "bare emulator" if ms == 0 else f"+{ms} ms"


def render(bench: StartupBench) -> list[str]:
    lines = [
        "## Start-up and tracking cost: `runner --help`, `runner status` by run size",
        "",
        f"Runs submitted once with `runner submit` (instant mode, every job SUCCEEDED): {SMALL} rows "
        f"({bench.submit_seconds.get(SMALL_RUN, 0):.1f} s, record {bench.record_bytes.get(SMALL_RUN, 0):,} bytes) "
        f"and {BIG:,} rows in {bench.parents.get(BIG_RUN, 0)} array jobs ({bench.submit_seconds.get(BIG_RUN, 0):.1f} "
        f"s, record {bench.record_bytes.get(BIG_RUN, 0):,} bytes). "
        f"Each pair side by side, order alternating per round, {bench.rounds} rounds; a first `runner status` per "
        "latency fills the machine's caches (the run record, as an analyst's first status does) and is not "
        "counted. Ratio: the runner's median over the baseline's; paired: the median of the per-round ratios (the "
        "runs of a round were adjacent in time), which the verdicts read.",
        "",
        *pair_table("comparison", "baseline", "base"),
    ]
    lines += [p.row(_latency(lat), lat > 0, cpu_digits=2) for lat, pairs in bench.pairs.items() for p in pairs]
    seen: set[str] = set()
    commands = []
    for p in (p for pairs in bench.pairs.values() for p in pairs):
        if p.what not in seen:
            seen.add(p.what)
            commands.append(f"{p.what}: `{p.base_cmd}` vs `{p.runner_cmd}`")
    lines += ["", "Commands: " + "; ".join(commands) + "."]
    return lines


def verdicts(bench: StartupBench) -> list[str]:
    out = []
    by_what: dict[str, dict[int, Pair]] = {}
    for latency, at_latency in bench.pairs.items():
        for p in at_latency:
            by_what.setdefault(p.what, {})[latency] = p
    goals = {
        "start-up": "`runner --help` no slower than `aws --version`",
        "status vs describe-jobs": f"`runner status` of a {SMALL}-row run at most {GOAL_STATUS}x "
        "`aws batch describe-jobs`",
        "status by run size": f"`runner status` of a {BIG:,}-row run at most {GOAL_SIZE}x a {SMALL}-row run's",
    }
    for what, pairs in by_what.items():
        goal = next(iter(pairs.values())).goal
        ok = all(p.paired <= goal for p in pairs.values())
        figures = ", ".join(
            f"{p.paired:.2f}x {_latency(lat)} (ratio of medians {p.ratio:.2f}x)" for lat, p in pairs.items()
        )
        why = ""
        extra = ", ".join(
            f"{Pair.median(p.base, 'requests'):.0f} vs {Pair.median(p.runner, 'requests'):.0f} {_latency(lat)}"
            for lat, p in pairs.items()
            if lat > 0
        )
        if what == "status by run size":
            why = (
                f" Requests per status ({SMALL} vs {BIG:,} rows): {extra}; the record is "
                f"{bench.record_bytes.get(SMALL_RUN, 0):,} vs {bench.record_bytes.get(BIG_RUN, 0):,} bytes (rows kept "
                "as ranges), and the counts need no sheet: one DescribeJobs lists the parents' array counts. "
                "The emulator's CPU per status ("
                + ", ".join(
                    f"{Pair.median(p.base, 'emulator_cpu'):.2f} vs {Pair.median(p.runner, 'emulator_cpu'):.2f} s "
                    f"{_latency(lat)}"
                    for lat, p in pairs.items()
                )
                + ") is moto working out each array parent's counts from its children."
            )
        elif what == "status vs describe-jobs":
            cpu = ", ".join(
                f"{Pair.median(p.base, 'cpu'):.2f} vs {Pair.median(p.runner, 'cpu'):.2f} s {_latency(lat)}"
                for lat, p in pairs.items()
            )
            why = (
                f" Requests (describe-jobs vs runner status): {extra}: the runner also reads the run record (a "
                "conditional GET, 304 when unchanged), sent together with the DescribeJobs of the jobs this machine "
                "already knows, so latency adds one round trip to each tool. What remains is CPU (aws vs runner: "
                f"{cpu}): both import botocore and build a Batch client; the runner also builds an S3 client and "
                "imports typer (with pydantic; rich only when it prints a table)."
            )
        else:
            p = pairs[-1]
            why = (
                f" CPU {Pair.median(p.runner, 'cpu'):.2f} s vs {Pair.median(p.base, 'cpu'):.2f} s: `runner --help` "
                "imports typer and rich only; each verb's module (and boto3) loads when that verb runs."
            )
        out.append(f"- {goals[what]}, paired: {figures}: {'**met**' if ok else '**not met**'}.{why}")
    return out
