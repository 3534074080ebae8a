"""`runner list`: this env's runs with their jobs and counts, newest first (runner.runs.list_runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import runs as view


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
    from runner.runs import list_runs as use_case

    request = use_case.ListRequest(status=status_filter, since=since)  # checked before the env is opened
    view.run_list(use_case.list_runs(common.session(env), request), as_json)
