"""The one place results are printed: `show` prints a use case's result as JSON (``--json``: its ``to_dict()``) or
for a person (the view function given, from this package's modules: `runs`, `files`, `costs`, `nextflow`,
`platform`), then exits with the result's ``exit_code`` when it has a non-zero one.

rich loads only when something is printed through it: ``--json`` imports none of it (tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import typer

from runner.core import console

if TYPE_CHECKING:
    from rich.table import Table

STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "INCOMPLETE": "magenta",
    "RUNNING": "cyan",
    "STARTING": "cyan",
    "RUNNABLE": "yellow",
}


class Result(Protocol):
    def to_dict(self) -> Any:
        """What ``--json`` prints."""


R = TypeVar("R", bound=Result)


def show(result: R, as_json: bool, human: Callable[[R], None]) -> None:
    """Print ``result`` (JSON, or through ``human``), then exit with its ``exit_code`` if that is not 0."""
    if as_json:
        console.print_json(result.to_dict())
    else:
        human(result)
    code = int(getattr(result, "exit_code", 0))
    if code:
        raise typer.Exit(code)


def show_all(results: Sequence[R], as_json: bool, human: Callable[[Sequence[R]], None]) -> None:
    """Print a list of results (JSON: a list of their ``to_dict()``)."""
    if as_json:
        console.print_json([r.to_dict() for r in results])
    else:
        human(results)


def styled(state: str) -> str:
    return f"[{STYLE.get(state, 'default')}]{state}[/]"


def print_table(table: Table) -> None:
    """Tables keep full ids and names; piped output is not squeezed to 80 columns."""
    from rich.console import Console

    target = console.out if console.out.is_terminal else Console(width=240, highlight=False)
    target.print(table)
