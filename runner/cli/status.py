"""`runner status RUN_OR_JOB`: counts by status, failed rows with reasons; `--watch` follows the run."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common, render
from runner.cli.common import EnvOpt, IntervalOpt, JsonOpt, TargetArg
from runner.jobs import tracking


def status(
    target: TargetArg,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow with a progress bar until the run ends.")
    ] = False,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by status, failed indices with their reasons; exit 1 when any job failed."""
    session = common.session(env)
    record = tracking.resolve_target(session.store, session.batch, target)
    if watch:
        render.finish(render.watch(session, record, common.interval(interval), as_json), as_json)
        return
    render.finish(tracking.run_status(session.batch, record, session.store.sample_ids(record)), as_json)
