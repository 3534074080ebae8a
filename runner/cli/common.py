"""What every command shares: its options and the session of its env.

A command builds a typed request from its parameters, opens its env with ``common.session(env)`` (once), calls one
use case in the package of its domain and hands the result to `runner.cli.render`: see docs/architecture.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from runner.compute import spot

if TYPE_CHECKING:  # boto3 and the domain code load when a command opens its env, not for `runner --help`
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

# The spot fallback's options (runner.compute.spot: its rules, without the AWS SDK).
MAX_SPOT_ATTEMPTS = spot.DEFAULT_MAX_SPOT_ATTEMPTS
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


def session(env: str | None) -> Session:
    """The env of ``--env`` opened for this command (outputs and clients come on first use)."""
    from runner.session import open_session

    return open_session(env)
