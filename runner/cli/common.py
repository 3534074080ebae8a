"""Options shared by every command group."""

from __future__ import annotations

from typing import Annotated

import typer

EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment: a folder under envs/ (default: $ENV).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Apply without asking.")]
