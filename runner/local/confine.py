"""What a local Batch job may have of the host: the rules RegisterJobDefinition, SubmitJob and the executor apply.

- **Host volumes** (``volumes[].host.sourcePath``) are bind-mounted only from under the folders the user allowed
  with ``RUNNER_LOCAL_HOST_PATHS`` (colon-separated, checked by `runner local up`). Paths are compared after
  resolving symlinks and ``..``. Never allowed, whatever is listed: ``/``, ``/etc``, ``/proc``, ``/sys``,
  ``/dev``, ``/boot``, Docker's data and socket, the user's home itself and its hidden folders (``~/.ssh``,
  ``~/.aws``...), ``RUNNER_HOME``, nor any folder that contains one of them. A source path that does not exist
  on this machine is accepted and mounts nothing (Batch's EC2 hosts have folders a laptop lacks, such as the
  AMI's ``/opt/aws-cli``); if it exists when a job starts and is not allowed, the job fails without running.
- **privileged** is refused unless ``RUNNER_LOCAL_ALLOW_PRIVILEGED=1`` was set at `runner local up`.
- **user** (uid, uid:gid, or names the image knows) and **readonlyRootFilesystem** are honoured (Docker's
  ``User`` and ``ReadonlyRootfs``); a ``user`` that is not such a name is refused.

Pure functions over plain values (paths are resolved through the filesystem), so they are unit-tested without
Docker or moto. A refusal is `Refused` naming the field; the emulator turns it into Batch's ClientException.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.core.errors import UsageError

HOST_PATHS_VAR = "RUNNER_LOCAL_HOST_PATHS"
PRIVILEGED_VAR = "RUNNER_LOCAL_ALLOW_PRIVILEGED"
HOME_VAR = "RUNNER_LOCAL_RUNNER_HOME"  # the emulator's RUNNER_HOME, handed down by `runner local up`
SYSTEM = ("/etc", "/proc", "/sys", "/dev", "/boot", "/var/lib/docker", "/var/run/docker.sock", "/run/docker.sock")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$")


class Refused(Exception):
    """A job definition or job asks for something of the host the local Batch does not give."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def _real(path: str | Path) -> str:
    return os.path.realpath(os.path.expanduser(str(path)))


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies below it (both resolved)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class Rules:
    allowed: tuple[str, ...] = ()  # resolved folders the user allowed
    privileged: bool = False
    home: str = field(default_factory=lambda: _real(Path.home()))
    protected: tuple[str, ...] = ()  # resolved: never mounted, nor anything inside, nor anything containing them

    def forbidden(self, real: str) -> str | None:
        """Why the resolved path ``real`` may never be mounted, or None."""
        for folder in self.protected:
            if _within(real, folder) or _within(folder, real):
                return f"{real} is or holds {folder}, which the local Batch never mounts"
        if _within(self.home, real):
            return f"{real} is or holds your home folder {self.home}, which the local Batch never mounts"
        if _within(real, self.home):
            first = Path(real).relative_to(self.home).parts[:1]
            if first and first[0].startswith("."):
                return f"{real} is in a hidden folder of your home ({self.home}/{first[0]}), never mounted"
        return None

    def is_allowed(self, real: str) -> bool:
        return any(_within(real, folder) for folder in self.allowed)


def protected_paths(runner_home: str | Path | None, docker_socket: str | None = None) -> tuple[str, ...]:
    found: list[str] = []
    for path in (*SYSTEM, docker_socket, runner_home):
        if path:
            for variant in {str(path), _real(path)}:
                if variant not in found:
                    found.append(variant)
    return tuple(found)


def _socket() -> str | None:
    from runner.local import docker

    return docker.socket_path()


def allowed_folders(raw: str, runner_home: Path) -> tuple[str, ...]:
    """``RUNNER_LOCAL_HOST_PATHS`` checked at `runner local up`: absolute, existing folders the user can read,
    none of them protected. UsageError (one line naming the variable) otherwise."""
    rules = Rules(protected=protected_paths(runner_home, _socket()))
    folders: list[str] = []
    for entry in (part.strip() for part in raw.split(":")):
        if not entry:
            continue
        if not os.path.isabs(os.path.expanduser(entry)):
            raise UsageError(f"{HOST_PATHS_VAR}: '{entry}' is not an absolute path")
        real = _real(entry)
        if not os.path.isdir(real):
            raise UsageError(f"{HOST_PATHS_VAR}: '{entry}' is not an existing folder")
        why = rules.forbidden(real)
        if why:
            raise UsageError(f"{HOST_PATHS_VAR}: '{entry}' cannot be allowed: {why}")
        if not os.access(real, os.R_OK | os.X_OK):
            raise UsageError(f"{HOST_PATHS_VAR}: '{entry}' is not readable by you")
        if real not in folders:
            folders.append(real)
    return tuple(folders)


def privileged_allowed(raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value not in ("", "0", "1", "true", "false", "yes", "no"):
        raise UsageError(f"{PRIVILEGED_VAR}: '{raw}' is not 1 or 0")
    return value in ("1", "true", "yes")


def rules_from_environment(environ: Mapping[str, str] = os.environ) -> Rules:
    """The rules in the emulator process, from what `runner local up` checked and handed down."""
    allowed = tuple(p for p in environ.get(HOST_PATHS_VAR, "").split(":") if p)
    return Rules(
        allowed=allowed,
        privileged=privileged_allowed(environ.get(PRIVILEGED_VAR)),
        protected=protected_paths(environ.get(HOME_VAR), _socket()),
    )


def _containers(
    props: Mapping[str, Any] | None, node_properties: Mapping[str, Any] | None
) -> Iterable[Mapping[str, Any]]:
    if props:
        yield props
    for node_range in (node_properties or {}).get("nodeRangeProperties") or []:
        container = node_range.get("container")
        if container:
            yield container


def check_definition(
    props: Mapping[str, Any] | None, rules: Rules, node_properties: Mapping[str, Any] | None = None
) -> None:
    """RegisterJobDefinition's and SubmitJob's check of the container properties; Refused naming the field."""
    for container in _containers(props, node_properties):
        if container.get("privileged") and not rules.privileged:
            raise Refused(
                "privileged",
                f"the local Batch runs no privileged container unless {PRIVILEGED_VAR}=1 was set at runner local up",
            )
        user = container.get("user")
        if user is not None and (not isinstance(user, str) or not _USER.match(user)):
            raise Refused("user", f"'{user}' is not a uid, uid:gid or user name")
        host_binds(container, rules, at_start=False)


def host_binds(props: Mapping[str, Any], rules: Rules, at_start: bool = True) -> list[str]:
    """Docker ``Binds`` for the container's host volumes (resolved paths), each checked; Refused naming
    ``volumes`` for one that is never allowed, or not allowed and present on this machine."""
    sources: dict[str, str] = {}
    for volume in props.get("volumes") or []:
        source = (volume.get("host") or {}).get("sourcePath")
        if source is None:
            continue
        if not isinstance(source, str) or not os.path.isabs(source):
            raise Refused("volumes", f"host sourcePath '{source}' is not an absolute path")
        real = _real(source)
        why = rules.forbidden(real)
        if why:
            raise Refused("volumes", f"host path {source}: {why}")
        if not rules.is_allowed(real) and os.path.lexists(source):
            raise Refused(
                "volumes",
                f"host path {source} is not under a folder allowed by {HOST_PATHS_VAR} "
                "(set it, colon-separated, before runner local up)",
            )
        sources[str(volume.get("name"))] = real
    binds = []
    for mount in props.get("mountPoints") or []:
        real_source = sources.get(str(mount.get("sourceVolume")))
        target = mount.get("containerPath")
        if not real_source or not target or not at_start:
            continue
        if not rules.is_allowed(real_source):
            continue  # absent here (checked above): Batch's hosts have it, this one mounts nothing
        binds.append(f"{real_source}:{target}{':ro' if mount.get('readOnly') else ''}")
    return binds
