"""`runner list`: this env's runs with their jobs and counts, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from runner.cli import common, render
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.console import escape
from runner.core.errors import UsageError

NUMBERS = ("jobs", "total", "succeeded", "failed", "running", "queued")


def list_runs(
    status_filter: Annotated[
        str | None,
        typer.Option("--status", help="Only runs in this state (RUNNING, FAILED, SUCCEEDED, QUEUED, INCOMPLETE...)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs created in this window: 30m, 24h, 7d.")
    ] = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """This env's runs with their jobs and counts, newest first."""
    from runner.runs import tracking

    if status_filter is not None:
        status_filter = status_filter.upper()
    tracking.parse_since(since)  # validate before any AWS call
    if status_filter is not None and status_filter not in (*tracking.STATUSES, "QUEUED", tracking.INCOMPLETE):
        known = f"{', '.join(tracking.STATUSES)}, QUEUED, {tracking.INCOMPLETE}"
        raise UsageError(f"--status: '{status_filter}' is not one of {known}")
    session = common.session(env)
    runs = tracking.list_runs(session.batch, session.store, status_filter, since)
    if as_json:
        console.print_json([{"run": r.run, "created_at": r.created_at, "kind": r.kind, **s.to_dict()} for r, s in runs])
        return
    if not runs:
        console.out.print("no runs" + (f" matching --status {status_filter}" if status_filter else ""))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("run", "created", "state", *NUMBERS):
        table.add_column(column, justify="right" if column in NUMBERS else "left")
    for record, st in runs:
        table.add_row(
            escape(record.run),
            record.created_at,
            render.styled(st.state) + (f" ({st.unsubmitted} unsubmitted)" if st.incomplete else ""),
            str(len(record.jobs)),
            str(st.total),
            str(st.counts["SUCCEEDED"]),
            str(st.counts["FAILED"]),
            str(sum(st.counts[s] for s in tracking.ACTIVE)),
            str(sum(st.counts[s] for s in tracking.QUEUED)),
        )
    render.print_table(table)
