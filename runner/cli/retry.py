"""`runner retry RUN --failed`: resubmit the failed rows of a run; a Nextflow run is resumed (runner.runs.retry)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import MAX_SPOT_ATTEMPTS, EnvOpt, JsonOpt, MaxSpotOpt, SpotPatienceOpt
from runner.cli.render import runs as view
from runner.core import console


def retry(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run whose failed rows to resubmit.")],
    failed: Annotated[
        bool, typer.Option("--failed", help="Resubmit only the failed rows (a Nextflow run is resumed instead).")
    ] = False,
    on_demand: Annotated[
        bool,
        typer.Option(
            "--on-demand",
            help="To the on-demand queue: with --failed the failed rows; alone, the rows the spot fallback moves.",
        ),
    ] = False,
    max_spot_attempts: MaxSpotOpt = MAX_SPOT_ATTEMPTS,
    spot_patience: SpotPatienceOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resubmit only the failed rows of a run as a new array job, linked in the run record; `--on-demand` moves
    rows to the on-demand queue. A Nextflow run is resumed instead (nextflow -resume)."""
    from runner.runs import retry as use_case

    request = use_case.RetryRequest(
        run=run, failed=failed, on_demand=on_demand, max_spot_attempts=max_spot_attempts, spot_patience=spot_patience
    )
    view.retried(use_case.retry(common.session(env), request, console.note), as_json)
