"""The local env's AWS: the embedded emulator (`runner.local.server`) as `runner local up`, `down`, `status` and
`env` drive it, each answering with the emulator's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.core.errors import RunFailed, UsageError
from runner.core.project import resolve_env, runner_home
from runner.local import server


@dataclass(frozen=True)
class Emulator:
    info: server.ServerInfo | None  # None: not running
    change: str = ""  # what the command did: started, already running, stopped, not running ("": asked only)
    orphans: tuple[str, ...] = ()  # containers of a dead emulator of this RUNNER_HOME, just removed

    def to_dict(self) -> dict[str, Any]:
        if self.info is None:
            if self.change == "not running":
                return {"running": False, "stopped": None, "orphans_removed": list(self.orphans)}
            return {"running": False}
        info = self.info
        return {
            "running": info.running,
            "endpoint": info.endpoint,
            "pid": info.pid,
            "port": info.port,
            "log": info.log,
            "batch": info.batch,
            "job_endpoint": info.job_endpoint,
            "credentials": str(info.credentials_file),
            "orphans_removed": list(self.orphans),
        }


@dataclass(frozen=True)
class EmulatorEnv:
    """`runner local env`: the variables that point any AWS client at the running emulator."""

    variables: dict[str, str]
    exports: str  # the same as POSIX shell lines (the user's own profile and session unset first)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.variables)


def up(keep_credentials: bool = False) -> Emulator:
    """Start the emulator in the background (a no-op when it already runs)."""
    home = runner_home()
    before = server.status(home)
    info = server.up(home, keep_credentials=keep_credentials)
    return Emulator(info, "already running" if before else "started", tuple(info.orphans))


def down() -> Emulator:
    """Stop the emulator this project started, and remove the containers a dead one left behind."""
    home = runner_home()
    info = server.down(home)
    if info is None:  # e.g. after a kill -9 of the emulator
        return Emulator(None, "not running", tuple(server.remove_orphans(home)))
    return Emulator(info, "stopped", tuple(info.orphans))


def status() -> Emulator:
    return Emulator(server.status(runner_home()))


def environment() -> EmulatorEnv:
    info = server.status(runner_home())
    if info is None:
        raise RunFailed("emulator not running: start it with runner local up")
    try:
        region = resolve_env("local").region
    except UsageError:
        region = "us-east-1"
    return EmulatorEnv(server.aws_environment(info, region), server.shell_exports(info, region))
