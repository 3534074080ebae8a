"""Analysts' commands at the root of `runner`: submit, status, logs, list, cancel, retry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.config import Config
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runner.aws.context import RETRY_CONFIG, AwsContext
from runner.cli import preflight
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.errors import UsageError
from runner.core.project import resolve_env
from runner.jobs import tracking
from runner.jobs.runs import RunRecord, RunStore
from runner.jobs.submit import Clients, SubmitOptions, Submitter, prepare

SUBMIT_CONFIG = RETRY_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1}))


@dataclass
class Session:
    env_name: str
    outputs: dict[str, Any]
    clients: Clients
    logs: Callable[[], Any]

    @property
    def store(self) -> RunStore:
        return RunStore(self.clients.s3, self.outputs["bucket_names"]["work"])

    def submitter(self) -> Submitter:
        return Submitter(self.env_name, self.outputs, self.clients, log=console.note)


def _session(env_name: str | None, submitting: bool = False) -> Session:
    """Clients for one env; SubmitJob's own client and ec2 only when submitting (each client costs ~0.2 s)."""
    env = resolve_env(env_name)
    values = preflight.load_outputs(env)
    if not (values.get("bucket_names") or {}).get("work"):
        raise UsageError(f"--env: '{env.name}' has no work bucket in its outputs; apply it first")
    ctx = AwsContext(env)
    submit_client = ec2 = None
    if submitting:
        submit_client = ctx.client("batch", config=SUBMIT_CONFIG, name="batch-submit")
        ec2 = ctx.client("ec2")
    clients = Clients(batch=ctx.client("batch"), submit=submit_client, s3=ctx.client("s3"), ec2=ec2)
    return Session(env_name=env.name, outputs=values, clients=clients, logs=lambda: ctx.client("logs"))


def _interval(value: float | None) -> float:
    return value if value is not None else tracking.poll_interval()


IntervalOpt = Annotated[
    float | None,
    typer.Option(
        "--interval", help="First polling interval in seconds (grows to 30 s; default $RUNNER_POLL_INTERVAL or 5)."
    ),
]


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------

_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "RUNNING": "cyan", "STARTING": "cyan", "RUNNABLE": "yellow"}


def _counts_text(status: tracking.RunStatus) -> str:
    parts = [
        f"[{_STYLE.get(s, 'default')}]{s.lower()} {status.counts[s]}[/]" for s in tracking.STATUSES if status.counts[s]
    ]
    return ", ".join(parts) or "no jobs"


def _print_table(table: Table) -> None:
    """Tables keep full ids and names; piped output is not squeezed to 80 columns."""
    target = console.out if console.out.is_terminal else Console(width=240, highlight=False)
    target.print(table)


def render_status(status: tracking.RunStatus, limit: int = 20) -> None:
    style = _STYLE.get(status.state, "default")
    console.out.print(f"run [bold]{escape(status.run)}[/]: [{style}]{status.state}[/]")
    table = Table()
    table.add_column("status")
    table.add_column("count", justify="right")
    for name in tracking.STATUSES:
        if status.counts[name]:
            table.add_row(f"[{_STYLE.get(name, 'default')}]{name}[/]", str(status.counts[name]))
    table.add_row("[bold]total[/]", f"[bold]{status.total}[/]")
    _print_table(table)
    jobs = Table(show_header=True, box=None, pad_edge=False)
    for column in ("job id", "name", "kind", "size", "status"):
        jobs.add_column(column, no_wrap=True, min_width=36 if column == "job id" else None)
    for js in status.jobs:
        jobs.add_row(js.ref.job_id, escape(js.ref.job_name), js.ref.kind, str(js.ref.array_size or 1), js.status)
    _print_table(jobs)
    if status.failures:
        failed = Table(title=f"{len(status.failures)} failed", title_justify="left", box=None, pad_edge=False)
        for column in ("index", "row", "sample", "exit", "reason"):
            failed.add_column(column)
        for f in status.failures[:limit]:
            failed.add_row(
                "-" if f.index is None else str(f.index),
                "-" if f.row is None else str(f.row),
                escape(f.sample or "-"),
                "-" if f.exit_code is None else str(f.exit_code),
                escape(f.reason),
            )
        _print_table(failed)
        if len(status.failures) > limit:
            console.out.print(f"... and {len(status.failures) - limit} more (--json lists all)")
        console.out.print(f"Retry the failed rows: runner retry {escape(status.run)} --failed")


def _watch(session: Session, record: RunRecord, interval: float, as_json: bool) -> tracking.RunStatus:
    try:
        return _watch_until_done(session, record, interval, as_json)
    except KeyboardInterrupt:
        console.err.print(
            f"stopped watching; the run goes on: runner status {escape(record.run)} --watch --env {session.env_name}"
        )
        raise


def _watch_until_done(session: Session, record: RunRecord, interval: float, as_json: bool) -> tracking.RunStatus:
    samples = tracking.load_samples(session.clients.s3, session.outputs["bucket_names"]["work"], record)
    if as_json or not console.err.is_terminal:
        last: dict[str, Any] = {}

        def report(status: tracking.RunStatus) -> None:
            if not as_json and dict(status.counts) != last:
                last.clear()
                last.update(status.counts)
                console.note(f"{status.run}: {status.state} ({_plain_counts(status)})")

        return tracking.watch(session.clients.batch, record, report, interval=interval, samples=samples)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console.err,
        transient=False,
    ) as progress:
        task = progress.add_task(record.run, total=None, counts="")

        def update(status: tracking.RunStatus) -> None:
            progress.update(
                task,
                total=status.total or None,
                completed=status.counts["SUCCEEDED"] + status.counts["FAILED"],
                counts=_counts_text(status),
            )

        return tracking.watch(session.clients.batch, record, update, interval=interval, samples=samples)


def _plain_counts(status: tracking.RunStatus) -> str:
    return ", ".join(f"{s.lower()} {status.counts[s]}" for s in tracking.STATUSES if status.counts[s])


def _finish(status: tracking.RunStatus, as_json: bool) -> None:
    if as_json:
        console.print_json(status.to_dict())
    else:
        render_status(status)
    if status.failed:
        raise typer.Exit(1)


def _record(session: Session, target: str) -> RunRecord:
    return tracking.resolve_target(session.store, session.clients.batch, target)


# ---------------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------------


def submit(
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
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends; exit 1 if a job failed.")] = False,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit one job, or one array job per up to 10,000 sample-sheet rows (idempotent by run name)."""
    options = SubmitOptions(
        command=command,
        image=image,
        vcpus=vcpus,
        memory=memory,
        gpus=gpus,
        samples=samples,
        name=name,
        queue=queue,
        job_definition=job_definition,
        retries=retries,
        timeout=timeout,
        after=after,
        env_vars=list(env_var or []),
        group_by=group_by,
        allow_files_outside=list(allow_files_outside or []),
    )
    resolved = resolve_env(env)
    prepared = prepare(options, preflight.load_outputs(resolved), Path.cwd())  # every local check before any AWS call
    session = _session(resolved.name, submitting=True)
    result = session.submitter().submit(options, Path.cwd(), prepared=prepared)
    record = result.record
    summary = {
        "run": record.run,
        "env": session.env_name,
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
    if not as_json or not wait:
        if as_json:
            console.print_json(summary)
        elif result.already:
            console.out.print(
                f"Run [bold]{escape(record.run)}[/] was already submitted ({len(record.jobs)} job(s)); "
                f"nothing submitted. See: runner status {escape(record.run)} --env {session.env_name}"
            )
        else:
            plural = "s" if record.sample_count != 1 else ""
            rows = f" for {record.sample_count} sample{plural}" if record.sample_count else ""
            console.out.print(
                f"Submitted run [bold]{escape(record.run)}[/]{rows}: {len(record.jobs)} job(s) on {record.queue}"
            )
            for j in record.jobs:
                size = f"array of {j.array_size}" if j.array_size else "single job"
                console.out.print(f"  {j.job_id}  {escape(j.job_name)}  ({size})")
            if not wait:
                console.out.print(f"Follow it: runner status {escape(record.run)} --watch --env {session.env_name}")
    if wait:
        status = _watch(session, record, _interval(interval), as_json)
        if as_json:
            console.print_json({**summary, "status": status.to_dict()})
            if status.failed:
                raise typer.Exit(1)
            return
        _finish(status, as_json=False)


def status(
    target: Annotated[str, typer.Argument(metavar="RUN_OR_JOB", help="A run name or a job id.")],
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow with a progress bar until the run ends.")
    ] = False,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by status, failed indices with their reasons; exit 1 when any job failed."""
    session = _session(env)
    record = _record(session, target)
    if watch:
        final = _watch(session, record, _interval(interval), as_json)
        _finish(final, as_json)
        return
    samples = tracking.load_samples(session.clients.s3, session.outputs["bucket_names"]["work"], record)
    _finish(tracking.run_status(session.clients.batch, record, samples), as_json)


def logs(
    job: Annotated[str, typer.Argument(metavar="JOB[:INDEX]", help="Job id, or array job id and child index.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a job's CloudWatch log stream (RUN[:INDEX] works for a one-job run)."""
    session = _session(env)
    base, index = tracking.split_job_ref(job)
    if len(base) < 36:  # a run name: its (first) job
        record = session.store.load(base)
        if record is None or not record.jobs:
            raise UsageError(f"JOB: no job or run '{base}' in this env")
        base = record.jobs[0].job_id
    job = f"{base}:{index}" if index is not None else base
    group = session.outputs.get("log_group_name") or "/aws/batch/job"
    target = tracking.log_target(session.clients.batch, job, default_group=group)
    lines: list[str] = []

    def emit(line: str) -> None:
        if as_json:
            lines.append(line)
        else:
            console.out.print(line, markup=False, highlight=False)

    tracking.read_logs(session.logs(), session.clients.batch, target, emit, follow=follow)
    if as_json:
        console.print_json(
            {"job_id": target.job_id, "log_group": target.group, "log_stream": target.stream, "lines": lines}
        )


def list_(
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only runs in this state (RUNNING, FAILED, SUCCEEDED, QUEUED...).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs created in this window: 30m, 24h, 7d.")
    ] = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """This env's runs with their jobs and counts, newest first."""
    if status_filter is not None:
        status_filter = status_filter.upper()
    tracking.parse_since(since)  # validate before any AWS call
    if status_filter is not None and status_filter not in (*tracking.STATUSES, "QUEUED"):
        raise UsageError(f"--status: '{status_filter}' is not one of {', '.join(tracking.STATUSES)}, QUEUED")
    session = _session(env)
    runs = tracking.list_runs(session.clients.batch, session.store, status_filter, since)
    if as_json:
        console.print_json([{"run": r.run, "created_at": r.created_at, "kind": r.kind, **s.to_dict()} for r, s in runs])
        return
    table = Table(box=None, pad_edge=False)
    for column in ("run", "created", "state", "jobs", "total", "succeeded", "failed", "running", "queued"):
        table.add_column(
            column,
            justify="right" if column in ("jobs", "total", "succeeded", "failed", "running", "queued") else "left",
        )
    for record, st in runs:
        table.add_row(
            escape(record.run),
            record.created_at,
            f"[{_STYLE.get(st.state, 'default')}]{st.state}[/]",
            str(len(record.jobs)),
            str(st.total),
            str(st.counts["SUCCEEDED"]),
            str(st.counts["FAILED"]),
            str(sum(st.counts[s] for s in tracking.ACTIVE)),
            str(sum(st.counts[s] for s in tracking.QUEUED)),
        )
    if not runs:
        console.out.print("no runs" + (f" matching --status {status_filter}" if status_filter else ""))
        return
    _print_table(table)


def cancel(
    target: Annotated[str, typer.Argument(metavar="RUN_OR_JOB", help="A run name or a job id.")],
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel the run's queued jobs and terminate its running ones."""
    session = _session(env)
    record = _record(session, target)
    done = tracking.cancel(session.clients.batch, record)
    if as_json:
        console.print_json({"run": record.run, **done})
        return
    console.out.print(
        f"{escape(record.run)}: cancel requested for {len(done['cancelled'])} queued, terminate for "
        f"{len(done['terminated'])} running job(s); {len(done['finished'])} already finished."
    )


def retry(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run whose failed rows to resubmit.")],
    failed: Annotated[bool, typer.Option("--failed", help="Resubmit only the failed rows (required).")] = False,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resubmit only the failed rows of a run as a new array job, linked in the run record."""
    if not failed:
        raise UsageError("--failed: required (only failed rows are resubmitted: runner retry RUN --failed)")
    session = _session(env, submitting=True)
    record = session.store.load(run)
    if record is None:
        raise UsageError(f"RUN: no run '{run}' in this env (runner list --env {session.env_name})")
    samples = tracking.load_samples(session.clients.s3, session.outputs["bucket_names"]["work"], record)
    st = tracking.run_status(session.clients.batch, record, samples)
    if not st.failures:
        message = f"{run}: nothing failed; nothing to retry"
        if as_json:
            console.print_json({"run": run, "retried": [], "job": None})
        else:
            console.out.print(message)
        return
    submitter = session.submitter()
    retry_of = sorted({f.job_id for f in st.failures})
    rows = st.failed_rows()
    refs = []
    if record.samples_key and rows:
        for start in range(0, len(rows), 10_000):
            refs.append(submitter.resubmit_rows(record, rows[start : start + 10_000], retry_of))
    else:
        refs.append(submitter.resubmit_rows(record, None, retry_of))
    if as_json:
        console.print_json(
            {
                "run": run,
                "retried_rows": rows,
                "jobs": [{"job_id": r.job_id, "job_name": r.job_name, "array_size": r.array_size} for r in refs],
            }
        )
        return
    for ref in refs:
        what = f"{len(ref.rows)} failed rows" if ref.rows else "the failed job"
        console.out.print(f"{escape(run)}: resubmitted {what} as {ref.job_id} ({escape(ref.job_name)})")
    console.out.print(f"Follow it: runner status {escape(run)} --watch --env {session.env_name}")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command("list")(list_)
    app.command("cancel")(cancel)
    app.command("retry")(retry)
