"""An env opened once per command: `Session` (env, typed outputs, AWS clients, the Batch gateway, the run store),
the output contract (`outputs`) and the model of a run (`runs`). Imports core, aws and infra only.
"""

from runner.session.session import Session, open_session

__all__ = ["Session", "open_session"]
