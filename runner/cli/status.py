"""`runner status RUN_OR_JOB`: counts by status, failed rows with reasons; `--watch` follows the run."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common, cost, render, spot
from runner.cli.common import EnvOpt, IntervalOpt, JsonOpt, TargetArg
from runner.compute.spot import DEFAULT_MAX_SPOT_ATTEMPTS, policy


def status(
    target: TargetArg,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow with a progress bar until the run ends.")
    ] = False,
    max_spot_attempts: spot.MaxSpotOpt = DEFAULT_MAX_SPOT_ATTEMPTS,
    spot_patience: spot.SpotPatienceOpt = None,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by status, failed indices with their reasons; exit 1 when any job failed. While it watches, rows
    that spot keeps failing move to the on-demand queue."""
    from runner.runs import tracking
    from runner.session.runs import resolve_target

    session = common.session(env)
    rules = policy(max_spot_attempts, spot_patience, session.env.settings)
    record = resolve_target(session.store, session.batch, target, prefetch=not watch)

    def cost_line() -> str:
        return cost.summary_line(session, record)

    if watch:
        step = spot.fallback_for(session, record, rules).step if record.extra.get("spec") else None
        render.finish(render.watch(session, record, common.interval(interval), as_json, step), as_json, cost_line)
        return
    samples = tracking.sample_loader(session.store, record)
    reasons = None if as_json else render.SHOWN  # reasons are described for the failures that are shown
    render.finish(tracking.run_status(session.batch, record, samples, reasons=reasons), as_json, cost_line)
