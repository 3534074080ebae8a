"""What every command shares: its options and the session of its env.

A command that works on an env opens it with ``common.session(env)`` once and reads everything through it
(outputs, clients, the Batch gateway, the run store): see docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # boto3 and the jobs code load when a command opens its env, not for `runner --help`
    from runner.session import Session

EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment: a folder under envs/ (default: $ENV).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Apply without asking.")]
IntervalOpt = Annotated[
    float | None,
    typer.Option(
        "--interval", help="First polling interval in seconds (grows to 30 s; default $RUNNER_POLL_INTERVAL or 5)."
    ),
]
TargetArg = Annotated[str, typer.Argument(metavar="RUN_OR_JOB", help="A run name or a job id.")]


def session(env: str | None) -> Session:
    """The env of ``--env`` opened for this command (outputs and clients come on first use)."""
    from runner.session import open_session

    return open_session(env)


def interval(value: float | None) -> float:
    from runner.runs import tracking

    return value if value is not None else tracking.poll_interval()


def matching(request_type: type, params: dict[str, Any]) -> dict[str, Any]:
    """The command's parameters (``ctx.params``) that are fields of a request dataclass, by name."""
    names = {f.name for f in fields(request_type)}
    return {k: v for k, v in params.items() if k in names}
