"""Rendering shared by the analysts' commands: run status tables, the watch progress bar, exits on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from runner.core import console
from runner.core.console import escape

if TYPE_CHECKING:  # imported by the commands that render, when they run (see tests/unit/test_cli_imports.py)
    from rich.table import Table

    from runner.runs import tracking
    from runner.session import Session
    from runner.session.runs import RunRecord

SHOWN = 20  # failed rows a status table shows (their reasons are the ones described)
STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "INCOMPLETE": "magenta",
    "RUNNING": "cyan",
    "STARTING": "cyan",
    "RUNNABLE": "yellow",
}


def styled(state: str) -> str:
    return f"[{STYLE.get(state, 'default')}]{state}[/]"


def counts_text(status: tracking.RunStatus) -> str:
    from runner.runs import tracking

    parts = [
        f"[{STYLE.get(s, 'default')}]{s.lower()} {status.counts[s]}[/]" for s in tracking.STATUSES if status.counts[s]
    ]
    return ", ".join(parts) or "no jobs"


def plain_counts(status: tracking.RunStatus) -> str:
    from runner.runs import tracking

    return ", ".join(f"{s.lower()} {status.counts[s]}" for s in tracking.STATUSES if status.counts[s])


def print_table(table: Table) -> None:
    """Tables keep full ids and names; piped output is not squeezed to 80 columns."""
    from rich.console import Console

    target = console.out if console.out.is_terminal else Console(width=240, highlight=False)
    target.print(table)


def render_status(status: tracking.RunStatus, limit: int = SHOWN) -> None:
    from rich.table import Table

    from runner.runs import tracking

    console.out.print(f"run [bold]{escape(status.run)}[/]: {styled(status.state)}")
    table = Table()
    table.add_column("status")
    table.add_column("count", justify="right")
    for name in tracking.STATUSES:
        if status.counts[name]:
            table.add_row(styled(name), str(status.counts[name]))
    table.add_row("[bold]total[/]", f"[bold]{status.total}[/]")
    print_table(table)
    jobs = Table(show_header=True, box=None, pad_edge=False)
    for column in ("job id", "name", "kind", "size", "status"):
        jobs.add_column(column, no_wrap=True, min_width=36 if column == "job id" else None)
    for js in status.jobs:
        jobs.add_row(js.ref.job_id, escape(js.ref.job_name), js.ref.kind, str(js.ref.array_size or 1), js.status)
    print_table(jobs)
    for js in status.jobs:
        if js.ref.moved:
            rows = f"rows {', '.join(map(str, js.ref.rows))}" if js.ref.rows else "the job"
            console.out.print(
                f"moved {rows} to {escape(js.ref.queue or '?')} as {js.ref.job_id}: {escape(js.ref.moved)}"
            )
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
                escape(f.reason if f.reason is not None else "-"),
            )
        print_table(failed)
        if len(status.failures) > limit:
            console.out.print(f"... and {len(status.failures) - limit} more (--json lists all)")
        if status.kind == "nextflow":
            console.out.print(
                f"Resume it: runner retry {escape(status.run)} (nextflow -resume: finished tasks are reused)"
            )
        else:
            console.out.print(f"Retry the failed rows: runner retry {escape(status.run)} --failed")
    if status.incomplete:
        console.out.print(
            f"{status.unsubmitted} rows not submitted yet (the submit was interrupted): run the same "
            "`runner submit` again to finish it"
        )
    if status.tasks is not None:
        render_tasks(status, limit)


def render_tasks(status: tracking.RunStatus, limit: int = SHOWN) -> None:
    """A Nextflow run's task jobs: counts by status, then the failed ones with their reasons."""
    from rich.table import Table

    from runner.runs import tracking

    counts = status.task_counts
    parts = [f"[{STYLE.get(s, 'default')}]{s.lower()} {counts[s]}[/]" for s in tracking.STATUSES if counts[s]]
    console.out.print(f"Nextflow tasks: {len(status.tasks or [])}" + (f" ({', '.join(parts)})" if parts else ""))
    if not status.task_failures:
        return
    failed = Table(title=f"{len(status.task_failures)} failed tasks", title_justify="left", box=None, pad_edge=False)
    for column in ("task", "job id", "exit", "reason"):
        failed.add_column(column)
    for f in status.task_failures[:limit]:
        failed.add_row(
            escape(f.sample or "-"),
            f.job_id,
            "-" if f.exit_code is None else str(f.exit_code),
            escape(f.reason or "-"),
        )
    print_table(failed)
    if len(status.task_failures) > limit:
        console.out.print(f"... and {len(status.task_failures) - limit} more (--json lists all)")


def finish(status: tracking.RunStatus, as_json: bool, footer: Callable[[], str] | None = None) -> None:
    """Print a final status (``footer``: one more line under a finished run); exit 1 when any job failed or rows
    were never submitted (INCOMPLETE)."""
    if as_json:
        console.print_json(status.to_dict())
    else:
        render_status(status)
        if footer is not None and status.done:
            console.out.print(escape(footer()))
    if status.failed or status.incomplete:
        raise typer.Exit(1)


def watch(
    session: Session, record: RunRecord, interval: float, as_json: bool, step: Step | None = None
) -> tracking.RunStatus:
    """Follow a run until it ends: a progress bar on a terminal, a line per change otherwise."""
    try:
        return _watch_until_done(session, record, interval, as_json, step)
    except KeyboardInterrupt:
        console.err.print(
            f"stopped watching; the run goes on: runner status {escape(record.run)} --watch --env {session.name}"
        )
        raise


Step = Callable[["tracking.RunStatus"], bool]


def _watch_until_done(
    session: Session, record: RunRecord, interval: float, as_json: bool, step: Step | None
) -> tracking.RunStatus:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from runner.runs import tracking

    samples = tracking.sample_loader(session.store, record)
    reasons = None if as_json else SHOWN
    if as_json or not console.err.is_terminal:
        last: dict[str, Any] = {}

        def report(status: tracking.RunStatus) -> None:
            if not as_json and dict(status.counts) != last:
                last.clear()
                last.update(status.counts)
                console.note(f"{status.run}: {status.state} ({plain_counts(status)})")

        return tracking.watch(
            session.batch, record, report, interval=interval, samples=samples, step=step, reasons=reasons
        )
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
                counts=counts_text(status),
            )

        return tracking.watch(
            session.batch, record, update, interval=interval, samples=samples, step=step, reasons=reasons
        )
