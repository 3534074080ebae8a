"""Shared terminal output: results to stdout, messages and progress to stderr.

``out`` and ``err`` are rich consoles made on first use (PEP 562 module attributes): a command that prints only
JSON never imports rich (~45 ms of start-up).
"""

from __future__ import annotations

import json
import sys
from typing import Any

_consoles: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _consoles:
        from rich.console import Console

        _consoles["out"] = Console(highlight=False, soft_wrap=True)
        _consoles["err"] = Console(stderr=True, highlight=False)
    return _consoles[name]


def escape(text: str) -> str:
    """rich's markup escape, loaded when something is printed through rich."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    stderr = globals().get("err") or __getattr__("err")  # a test may have set `err` itself
    stderr.print(f"[dim]{message}[/dim]")
