"""`runner submit`: one job, or one array job per up to 10,000 sample-sheet rows; `--dry-run` stops after the
checks and prints what would be submitted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runner.cli import common, render, spot
from runner.cli.common import EnvOpt, IntervalOpt, JsonOpt
from runner.compute.spot import DEFAULT_MAX_SPOT_ATTEMPTS, policy
from runner.core import console
from runner.core.console import escape

if TYPE_CHECKING:  # the submission code loads when `runner submit` runs, not for every command
    from runner.runs.submission import Checked, SubmitResult


def submit(
    ctx: typer.Context,
    command: Annotated[str | None, typer.Option("--command", "-c", help="Shell command run with /bin/sh -c.")] = None,
    image: Annotated[str | None, typer.Option("--image", "-i", help="Container image.")] = None,
    vcpus: Annotated[int | None, typer.Option("--vcpus", help="vCPUs per job (default 1).")] = None,
    memory: Annotated[
        str | None, typer.Option("--memory", help="Memory per job: 4GiB, 16G (GiB), 512 (MiB); 4GB = 4e9 bytes.")
    ] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs per job.")] = None,
    samples: Annotated[str | None, typer.Option("--samples", "-s", help="Sample sheet (.csv or .tsv).")] = None,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="Sample id column: rows sharing it are one sample's lanes.")
    ] = None,
    allow_files_outside: Annotated[
        list[str] | None, typer.Option("--allow-files-outside", metavar="DIR", help="Also stage files under DIR.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Run name (default: from sheet+command+image).")
    ] = None,
    queue: Annotated[
        str, typer.Option("--queue", "-q", help="Queue key (default, priority, ...) or name.")
    ] = "default",
    job_definition: Annotated[
        str | None, typer.Option("--job-definition", help="Use this existing job definition (name, ARN or env key).")
    ] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="Extra attempts on spot reclamation.")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Attempt time limit: 45m, 2h, 1d.")] = None,
    after: Annotated[str | None, typer.Option("--after", help="Start after this run or job succeeded.")] = None,
    env_var: Annotated[list[str] | None, typer.Option("--env-var", "-E", help="KEY=VALUE for every job.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything, print what would be submitted, change nothing.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends; exit 1 if a job failed.")] = False,
    max_spot_attempts: spot.MaxSpotOpt = DEFAULT_MAX_SPOT_ATTEMPTS,
    spot_patience: spot.SpotPatienceOpt = None,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit one job, or one array job per up to 10,000 sample-sheet rows (idempotent by run name)."""
    from runner.runs.submission import SubmitOptions, Submitter, prepare

    lists = {"env_vars": list(env_var or []), "allow_files_outside": list(allow_files_outside or [])}
    options = SubmitOptions(**{**common.matching(SubmitOptions, ctx.params), **lists})
    session = common.session(env)
    rules = policy(max_spot_attempts, spot_patience, session.env.settings)
    prepared = prepare(options, session.outputs, Path.cwd())  # every local check before any AWS call
    submitter = Submitter.for_session(session, log=console.note)
    checked = submitter.check(prepared)  # every read-only AWS check before any write
    if dry_run:
        print_plan(checked, session.name, as_json)
        return
    result = submitter.apply(checked)
    summary = result_summary(result, session.name)
    if not wait:
        print_result(result, summary, session.name, as_json)
        return
    if not as_json:
        print_result(result, summary, session.name, as_json, follow_hint=False)
    step = spot.fallback_for(session, result.record, rules).step
    status = render.watch(session, result.record, common.interval(interval), as_json, step)
    if as_json:
        console.print_json({**summary, "status": status.to_dict()})
        if status.failed:
            raise typer.Exit(1)
        return
    render.finish(status, as_json=False)


def result_summary(result: SubmitResult, env_name: str) -> dict[str, Any]:
    record = result.record
    return {
        "run": record.run,
        "env": env_name,
        "already_submitted": result.already,
        "submitted": result.submitted,
        "queue": record.queue,
        "job_definition": record.job_definition,
        "payload": result.payload,
        "staged": result.staged,
        "jobs": [
            {"job_id": j.job_id, "job_name": j.job_name, "array_size": j.array_size, "kind": j.kind}
            for j in record.jobs
        ],
    }


def print_result(
    result: SubmitResult, summary: dict[str, Any], env_name: str, as_json: bool, follow_hint: bool = True
) -> None:
    record = result.record
    if as_json:
        console.print_json(summary)
        return
    if result.already:
        console.out.print(
            f"Run [bold]{escape(record.run)}[/] was already submitted ({len(record.jobs)} job(s)); "
            f"nothing submitted. See: runner status {escape(record.run)} --env {env_name}"
        )
        return
    plural = "s" if record.sample_count != 1 else ""
    rows = f" for {record.sample_count} sample{plural}" if record.sample_count else ""
    console.out.print(f"Submitted run [bold]{escape(record.run)}[/]{rows}: {len(record.jobs)} job(s) on {record.queue}")
    for j in record.jobs:
        size = f"array of {j.array_size}" if j.array_size else "single job"
        console.out.print(f"  {j.job_id}  {escape(j.job_name)}  ({size})")
    if follow_hint:
        console.out.print(f"Follow it: runner status {escape(record.run)} --watch --env {env_name}")


def print_plan(checked: Checked, env_name: str, as_json: bool) -> None:
    from runner.compute.resources import format_mib

    plan = checked.summary(env_name)
    if as_json:
        console.print_json(plan)
        return
    run = escape(plan["run"])
    if plan["already_submitted"]:
        console.out.print(f"dry run: run [bold]{run}[/] was already submitted; nothing would be submitted")
        return
    res = plan["resources"]
    gpus = f", {res['gpus']} GPU(s)" if res["gpus"] else ""
    new = " (registered if missing)" if plan["new_job_definition"] else ""
    console.out.print(f"dry run: nothing submitted. Run [bold]{run}[/] would submit {len(plan['jobs'])} job(s):")
    console.out.print(f"  queue           {plan['queue']}")
    console.out.print(f"  job definition  {escape(plan['job_definition'])}{new}")
    console.out.print(f"  each job        {res['vcpus']} vCPU(s), {format_mib(res['memory_mib'])}{gpus}")
    for job in plan["jobs"]:
        size = f"array of {job['array_size']}" if job["array_size"] else "single job"
        after = f", after {', '.join(job['depends_on'])}" if job["depends_on"] else ""
        console.out.print(f"  {escape(job['job_name'])}  ({size}{after})")
    files = plan["files_to_stage"]
    console.out.print(f"  files to stage  {len(files)}" + "".join(f"\n    {escape(f)}" for f in files[:20]))
    if len(files) > 20:
        console.out.print(f"    ... and {len(files) - 20} more (--json lists all)")
    if plan["s3_inputs_checked"]:
        console.out.print(f"  s3:// inputs    {plan['s3_inputs_checked']} checked, all exist")
