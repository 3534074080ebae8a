"""The spot fallback's options (`--max-spot-attempts`, `--spot-patience`) and its wiring to a session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from runner.compute import spot
from runner.core import console
from runner.core.errors import UsageError
from runner.runs import fallback
from runner.session.runs import RunRecord

if TYPE_CHECKING:  # the AWS SDK loads when a session opens
    from runner.session import Session

MaxSpotOpt = Annotated[
    int,
    typer.Option(
        "--max-spot-attempts",
        help="Move a row to the on-demand queue once this many of its attempts were reclaimed (while watching).",
    ),
]
SpotPatienceOpt = Annotated[
    str | None,
    typer.Option(
        "--spot-patience",
        help="Move a row RUNNABLE on spot longer than this to on-demand: 30m, 2h, or 'never' "
        f"(default: envs/E/runner.toml {spot.PATIENCE_SETTING}, else {spot.DEFAULT_SPOT_PATIENCE}).",
    ),
]


def fallback_for(session: Session, record: RunRecord, rules: spot.Policy) -> fallback.SpotFallback:
    from runner.runs.submission import Submitter

    submitter = Submitter.for_session(session, log=console.note)
    return fallback.SpotFallback(
        batch=session.batch,
        ec2=session.ec2,
        record=record,
        queues=lambda: session.outputs.queue_names,
        resubmit=submitter.resubmit_rows,
        policy=rules,
        log=console.note,
    )


def on_demand_queue(session: Session, record: RunRecord) -> str:
    """The env's on-demand queue (`retry --failed --on-demand`); a one-line error when it has none."""
    found = fallback_for(session, record, spot.Policy()).on_demand()
    if found is None:
        raise UsageError("--on-demand: this env has no queue whose compute environments are all on-demand")
    return found


def move_now(session: Session, record: RunRecord, rules: spot.Policy) -> list[dict[str, object]]:
    """`retry RUN --on-demand`: the rows the fallback moves, moved now."""
    if not record.extra.get("spec"):
        raise UsageError(f"RUN: run '{record.run}' was not submitted by `runner submit`; cannot move its rows")
    mover = fallback_for(session, record, rules)
    moves = mover.candidates()
    if moves and mover.on_demand() is None:
        raise UsageError("--on-demand: this env has no queue whose compute environments are all on-demand")
    ref = mover.move(moves)
    return [{"job_id": m.job_id, "row": m.row, "reason": m.reason, "to": ref.job_id if ref else None} for m in moves]


def moved_text(moved: list[dict[str, object]]) -> str:
    if not moved:
        return "no row to move (none reclaimed often enough, none waiting past the spot patience)"
    return f"moved {len(moved)} row(s) to the on-demand queue as {moved[0]['to']}"
