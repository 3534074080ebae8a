"""`runner cost RUN`: what a run cost per attempt, per sample and in total, and where each price came from
(runner.costs.cost)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import costs as view


def cost(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run name (or a job id of a run).")],
    limit: Annotated[int, typer.Option("--limit", help="Attempt rows to print (--json lists all).")] = 50,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a run cost: per attempt, per sample and in total, the share spent on failed or reclaimed attempts,
    and the price source of every number."""
    from runner.costs import cost as use_case

    request = use_case.CostRequest(run=run, limit=limit)  # checked before the env is opened
    view.cost(use_case.cost(common.session(env), request), as_json, request.limit)
