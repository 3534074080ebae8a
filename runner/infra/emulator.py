"""The local env's AWS: the embedded emulator (`runner.local.server`) as `runner local up`, `down` and `status`
drive it, each answering with the emulator's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.core.project import runner_home
from runner.local import server


@dataclass(frozen=True)
class Emulator:
    info: server.ServerInfo | None  # None: not running
    change: str = ""  # what the command did: started, already running, stopped, not running ("": asked only)

    def to_dict(self) -> dict[str, Any]:
        if self.info is None:
            return {"running": False, "stopped": None} if self.change == "not running" else {"running": False}
        info = self.info
        return {
            "running": info.running,
            "endpoint": info.endpoint,
            "pid": info.pid,
            "port": info.port,
            "log": info.log,
            "batch": info.batch,
        }


def up() -> Emulator:
    """Start the emulator in the background (a no-op when it already runs)."""
    home = runner_home()
    before = server.status(home)
    return Emulator(server.up(home), "already running" if before else "started")


def down() -> Emulator:
    """Stop the emulator this project started."""
    info = server.down(runner_home())
    return Emulator(info, "stopped" if info is not None else "not running")


def status() -> Emulator:
    return Emulator(server.status(runner_home()))
