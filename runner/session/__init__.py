"""An env opened once per command: `Session` (env, typed outputs, AWS clients, the Batch gateway, the run store),
the output contract (`outputs`) and the model of a run (`runs`). Imports core, aws and infra only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.session.session import Session, open_session

__all__ = ["Session", "open_session"]


def __getattr__(name: str) -> Any:
    """`Session` loads the AWS SDK: imported on first use, so `runner.session.runs` alone stays light."""
    if name in __all__:
        from runner.session import session

        return getattr(session, name)
    raise AttributeError(f"module 'runner.session' has no attribute {name!r}")
