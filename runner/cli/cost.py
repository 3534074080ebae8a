"""`runner cost RUN`: what a run cost per attempt, per sample and in total, and where each price came from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from runner.cli import common, render
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.console import escape
from runner.core.errors import UsageError

if TYPE_CHECKING:  # the AWS SDK and the pricing code load when a cost is computed, not for `runner --help`
    from runner.aws.context import AwsContext
    from runner.costs.attempts import CostCalculator, RunCost
    from runner.costs.pricing import Pricer
    from runner.session import Session
    from runner.session.runs import RunRecord

EMULATOR_PRICES = (
    "the emulator has no prices (its spot history is a placeholder and it has no Price List API): "
    "on-demand prices come from the offline snapshot, and spot is priced at on-demand as an upper bound"
)


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


def calculator_for(session: Session) -> CostCalculator:
    from runner.costs.attempts import CostCalculator, CostClients

    clients = CostClients(batch=session.batch, ec2=session.ec2, ecs=session.client("ecs"))
    return CostCalculator(clients, pricer_for(session.aws))


def summary_line(session: Session, record: RunRecord) -> str:
    """The line `runner status` prints under a finished run (never fails the status command)."""
    try:
        report = calculator_for(session).run_cost(record)
    except Exception as exc:  # a status must not fail because a price could not be had
        return f"cost: unavailable ({type(exc).__name__}); try: runner cost {record.run}"
    return f"{report.summary()}. Details: runner cost {record.run} --env {session.name}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def render_cost(report: RunCost, limit: int) -> None:
    from rich.table import Table

    samples = Table(title="per sample", title_justify="left", box=None, pad_edge=False)
    for column in ("sample", "attempts", "runtime", "cost", "failed/reclaimed"):
        samples.add_column(column, justify="left" if column == "sample" else "right")
    for name, entry in sorted(report.per_sample.items()):
        samples.add_row(
            escape(name),
            str(entry["attempts"]),
            _duration(float(entry["seconds"])),
            _money(float(entry["cost"])),
            _money(float(entry["wasted"])),
        )
    render.print_table(samples)
    attempts = Table(title="attempts", title_justify="left", box=None, pad_edge=False)
    columns = ("sample", "try", "outcome", "compute env", "instance", "market", "runtime", "share", "$/hour", "cost")
    numeric = ("try", "runtime", "share", "$/hour", "cost")
    for column in (*columns, "price source"):
        attempts.add_column(column, justify="right" if column in numeric else "left")
    for a in report.attempts[:limit]:
        instance = a.instance_type or "-"
        if a.instance_type and not a.instance_known:
            instance += " (cheapest fit)"
        attempts.add_row(
            escape(a.sample),
            str(a.attempt),
            a.outcome,
            escape(a.compute_environment or "-"),
            instance,
            a.market,
            _duration(a.seconds),
            "-" if a.share is None else f"{a.share:.0%}",
            "-" if a.usd_per_hour is None else f"{a.usd_per_hour:.4f}",
            _money(a.cost),
            escape(a.price_source or "-"),
        )
    render.print_table(attempts)
    if len(report.attempts) > limit:
        console.out.print(f"... and {len(report.attempts) - limit} more attempts (--json lists all)")
    console.out.print(
        f"[bold]total {_money(report.total)}[/] USD for run {escape(report.run)} ({report.region}); "
        f"failed or reclaimed attempts: {_money(report.wasted)} ({report.wasted_share:.0%})"
    )
    console.out.print(f"price source: {escape('; '.join(report.sources) or 'none')}")
    for note in report.notes:
        console.out.print(f"note: {escape(note)}")


def cost(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run name (or a job id of a run).")],
    limit: Annotated[int, typer.Option("--limit", help="Attempt rows to print (--json lists all).")] = 50,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a run cost: per attempt, per sample and in total, the share spent on failed or reclaimed attempts,
    and the price source of every number."""
    if limit < 0:
        raise UsageError(f"--limit: {limit} must not be negative")
    from runner.session.runs import resolve_target

    session = common.session(env)
    record = resolve_target(session.store, session.batch, run, field_name="RUN")
    report = calculator_for(session).run_cost(record, session.store.sample_ids(record))
    if as_json:
        console.print_json(report.to_dict())
        return
    render_cost(report, limit)
