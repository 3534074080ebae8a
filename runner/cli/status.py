"""`runner status RUN_OR_JOB`: counts by status, failed rows with reasons (runner.runs.status); `--watch` follows the
run."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import MAX_SPOT_ATTEMPTS, EnvOpt, IntervalOpt, JsonOpt, MaxSpotOpt, SpotPatienceOpt, TargetArg
from runner.cli.render import runs as view


def status(
    target: TargetArg,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow with a progress bar until the run ends.")
    ] = False,
    max_spot_attempts: MaxSpotOpt = MAX_SPOT_ATTEMPTS,
    spot_patience: SpotPatienceOpt = None,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by status, failed indices with their reasons; exit 1 when any job failed. While it watches, rows
    that spot keeps failing move to the on-demand queue."""
    from runner.runs import status as use_case

    request = use_case.StatusRequest(
        target=target,
        watch=watch,
        max_spot_attempts=max_spot_attempts,
        spot_patience=spot_patience,
        interval=interval,
        reasons=None if as_json else view.SHOWN,  # reasons are described for the failures that are shown
        with_cost=not as_json,
    )
    with view.terminal(as_json) as terminal:
        result = use_case.status(common.session(env), request, terminal)
    view.status(result, as_json)
