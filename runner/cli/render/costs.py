"""How a person sees what a run cost: per sample, per attempt (up to ``limit`` rows), the total and its sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.cli.render import print_table, show
from runner.core import console
from runner.core.console import escape

if TYPE_CHECKING:
    from runner.costs.attempts import RunCost


def cost(report: RunCost, as_json: bool, limit: int) -> None:
    show(report, as_json, lambda r: render_cost(r, limit))


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def render_cost(report: RunCost, limit: int) -> None:
    _per_sample(report)
    _attempts(report, limit)
    console.out.print(
        f"[bold]total {_money(report.total)}[/] USD for run {escape(report.run)} ({report.region}); "
        f"failed or reclaimed attempts: {_money(report.wasted)} ({report.wasted_share:.0%})"
    )
    console.out.print(f"price source: {escape('; '.join(report.sources) or 'none')}")
    for note in report.notes:
        console.out.print(f"note: {escape(note)}")


def _per_sample(report: RunCost) -> None:
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
    print_table(samples)


def _attempts(report: RunCost, limit: int) -> None:
    from rich.table import Table

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
    print_table(attempts)
    if len(report.attempts) > limit:
        console.out.print(f"... and {len(report.attempts) - limit} more attempts (--json lists all)")
