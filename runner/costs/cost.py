"""`runner cost RUN`: what a run cost per attempt, per sample and in total, and where each price came from; and the
one line `runner status` prints under a finished run.

Prices (`runner.costs.pricing`): for a real env, live sources (the Price List API, cached under
``RUNNER_HOME/pricing``, and the spot price history); for an emulator env, the dated offline snapshot only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.core.errors import UsageError
from runner.costs.attempts import CostCalculator, CostClients, RunCost
from runner.session.runs import resolve_target

if TYPE_CHECKING:  # the AWS SDK and the pricing code load when a cost is computed, not for `runner --help`
    from runner.aws.context import AwsContext
    from runner.costs.pricing import Pricer
    from runner.session import Session
    from runner.session.runs import RunRecord

EMULATOR_PRICES = (
    "the emulator has no prices (its spot history is a placeholder and it has no Price List API): "
    "on-demand prices come from the offline snapshot, and spot is priced at on-demand as an upper bound"
)


@dataclass(frozen=True)
class CostRequest:
    """Checked when made: a negative ``--limit`` is one line, before the env is opened."""

    run: str  # a run name (or a job id of a run)
    limit: int = 50  # attempt rows a table shows (--json lists all)

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise UsageError(f"--limit: {self.limit} must not be negative")


def cost(session: Session, request: CostRequest) -> RunCost:
    record = resolve_target(session.store, session.batch, request.run, field_name="RUN")
    return calculator_for(session).run_cost(record, session.store.sample_ids(record))


def summary_line(session: Session, record: RunRecord) -> str:
    """The line `runner status` prints under a finished run (never fails the status command)."""
    try:
        report = calculator_for(session).run_cost(record)
    except Exception as exc:  # a status must not fail because a price could not be had
        return f"cost: unavailable ({type(exc).__name__}); try: runner cost {record.run}"
    return f"{report.summary()}. Details: runner cost {record.run} --env {session.name}"


def calculator_for(session: Session) -> CostCalculator:
    clients = CostClients(batch=session.batch, ec2=session.ec2, ecs=session.client("ecs"))
    return CostCalculator(clients, pricer_for(session.aws))


def pricer_for(ctx: AwsContext) -> Pricer:
    """Live sources for a real env (Price List cached under RUNNER_HOME/pricing, spot history); the snapshot only
    for an emulator env."""
    from runner.aws.retry import CLIENT_CONFIG
    from runner.costs.pricing import PRICE_LIST_REGION, PriceList, Pricer, SpotHistory

    if ctx.uses_emulator:
        return Pricer(ctx.region, offline_reason=EMULATOR_PRICES)
    pricing = ctx.session.client("pricing", region_name=PRICE_LIST_REGION, config=CLIENT_CONFIG)
    return Pricer(
        ctx.region,
        price_list=PriceList(pricing, ctx.region, cache=ctx.home / "pricing"),
        spot_history=SpotHistory(ctx.client("ec2")),
    )
