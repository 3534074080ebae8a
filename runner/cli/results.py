"""`runner results RUN`: what a run's jobs wrote under its results prefix, per sample (runner.files.results)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import files as view


def results(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run whose results to list.")],
    download: Annotated[
        Path | None, typer.Option("--download", "-d", help="Fetch every object to DIR/<sample>/<name>.")
    ] = None,
    table: Annotated[
        str | None,
        typer.Option("--table", "-t", help="Merge each sample's NAME (CSV/TSV with a header) into one table."),
    ] = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List what a run wrote under s3://<results bucket>/RUN/, per sample (jobs write to $RUNNER_RESULTS_URI)."""
    from runner.files import results as use_case

    request = use_case.ResultsRequest(run=run, download=download, table=table)  # checked before the env is opened
    view.results(use_case.results(common.session(env), request), as_json)
