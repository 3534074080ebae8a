"""The emulator's contract with moto: every private moto name the embedded AWS and the local Batch use, resolved
in one place.

moto's server is a dependency whose internals change between releases (5.2.6 renamed Batch's response handlers
from ``submitjob`` to ``submit_job``). Everything in ``runner.local`` that reaches into moto goes through
`resolve` (names) or `current` (the resolved set, once per process), never ``from moto... import ...`` directly.
`runner local up` calls `check_version` before it starts the emulator (package metadata only: moto is not imported
in the user's process, where its import would read the user's AWS profile), and the emulator process resolves every
name at start: a moto outside the tested range, or one whose names moved, is one line naming the installed and the
supported versions (exit 1), not a traceback in a log (`UNSUPPORTED_MARK`/`UNSUPPORTED_EXIT` carry it to `up`).

Handlers are found under the name the installed moto uses, where both spellings are known (`HANDLERS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

from runner.core.errors import RunFailed

# The moto releases the suite has passed with (pyproject's `local` extra has the same bounds).
OLDEST = "5.2.5"
NEWEST = "5.2.6"
SUPPORTED = f">={OLDEST},<={NEWEST}"
UNSUPPORTED_EXIT = 3  # the emulator's exit code when the installed moto does not satisfy the contract
UNSUPPORTED_MARK = "runner-moto-unsupported: "  # the prefix of the one line it writes before exiting
INSTALL_HINT = "pip install 'batch-platform-runner[local]' (or: uv tool install 'batch-platform-runner[local]')"

# Classes and objects: attribute on the resolved contract -> (module, name in that module).
NAMES: dict[str, tuple[str, str]] = {
    "BatchBackend": ("moto.batch.models", "BatchBackend"),
    "batch_backends": ("moto.batch.models", "batch_backends"),
    "Job": ("moto.batch.models", "Job"),
    "JobQueue": ("moto.batch.models", "JobQueue"),
    "BatchResponse": ("moto.batch.responses", "BatchResponse"),
    "ClientException": ("moto.batch.exceptions", "ClientException"),
    "FakeBucket": ("moto.s3.models", "FakeBucket"),
    "IAMPolicy": ("moto.iam.access_control", "IAMPolicy"),
    "PermissionResult": ("moto.iam.access_control", "PermissionResult"),
    "IAMNotFoundException": ("moto.iam.exceptions", "NotFoundException"),
    "logs_backends": ("moto.logs.models", "logs_backends"),
    # The emulator serves moto's WSGI application itself, behind its front door (runner.local.frontdoor).
    "DomainDispatcherApplication": ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
    "create_backend_app": ("moto.moto_server.werkzeug_app", "create_backend_app"),
}

# Names the emulator uses when the installed moto has them, and does without otherwise (None).
OPTIONAL: dict[str, tuple[str, str]] = {
    # keeps the spelling of S3 metadata headers with underscores (werkzeug drops them)
    "MotoRequestHandler": ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    "PRESERVED_HEADER_NAMES_ENVIRON_KEY": ("moto.core.request", "PRESERVED_HEADER_NAMES_ENVIRON_KEY"),
}

# Batch API operation -> the handler's name on BatchResponse, newest spelling first (5.2.6+, then <= 5.2.5).
HANDLERS: dict[str, tuple[str, ...]] = {
    "SubmitJob": ("submit_job", "submitjob"),
    "CreateJobQueue": ("create_job_queue", "createjobqueue"),
    "UpdateJobQueue": ("update_job_queue", "updatejobqueue"),
    "UpdateComputeEnvironment": ("update_compute_environment", "updatecomputeenvironment"),
    "RegisterJobDefinition": ("register_job_definition", "registerjobdefinition"),
}

# Methods of the classes above that the emulator wraps or calls: (attribute, method).
METHODS: tuple[tuple[str, str], ...] = (
    ("BatchBackend", "create_compute_environment"),
    ("BatchBackend", "describe_compute_environments"),
    ("BatchBackend", "update_compute_environment"),
    ("BatchBackend", "get_compute_environment"),
    ("BatchBackend", "get_job_queue"),
    ("BatchBackend", "get_job_definition"),
    ("BatchBackend", "get_job_by_id"),
    ("BatchBackend", "list_jobs"),
    ("JobQueue", "describe"),
    ("IAMPolicy", "is_action_permitted"),
)


class MotoUnsupported(RunFailed):
    """The installed moto is not one the emulator supports (exit 1, one line)."""


@dataclass
class Moto:
    """The resolved contract: moto's version, the objects in `NAMES` as attributes, the handler names in use."""

    version: str
    objects: dict[str, Any]
    handlers: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        objects = self.__dict__.get("objects") or {}
        if name in objects:
            return objects[name]
        raise AttributeError(name)

    def handler(self, operation: str) -> Callable[..., Any]:
        """The installed BatchResponse handler of one Batch operation."""
        return getattr(self.objects["BatchResponse"], self.handlers[operation])

    def replace_handler(self, operation: str, function: Callable[..., Any]) -> None:
        setattr(self.objects["BatchResponse"], self.handlers[operation], function)


def installed_version() -> str | None:
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:
        return None


def _key(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if not piece.isdigit() else piece
        parts.append(int(digits or 0))
        if not piece.isdigit():
            break
    return tuple(parts)


def in_range(version: str) -> bool:
    return _key(OLDEST) <= _key(version) <= _key(NEWEST)


def _unsupported(version: str, what: str) -> MotoUnsupported:
    return MotoUnsupported(
        f"moto {version} is installed; the local env supports moto {SUPPORTED} ({what}). "
        f"Install the supported one: pip install 'moto[server]{SUPPORTED}', or reinstall the runner: {INSTALL_HINT}"
    )


def resolve(
    version: str | None = None,
    import_module: Callable[[str], ModuleType] = importlib.import_module,
) -> Moto:
    """Every name in `NAMES`, `HANDLERS` and `METHODS` from the installed moto; `MotoUnsupported` naming the
    installed and the supported versions when the version is outside the tested range or a name is missing."""
    version = check_version(version)
    objects: dict[str, Any] = {}
    for attr, (module_name, name) in NAMES.items():
        try:
            module = import_module(module_name)
        except ImportError as exc:
            raise _unsupported(version, f"{module_name} does not import: {exc}") from None
        if not hasattr(module, name):
            raise _unsupported(version, f"{module_name}.{name} is missing")
        objects[attr] = getattr(module, name)
    for attr, (module_name, name) in OPTIONAL.items():
        try:
            objects[attr] = getattr(import_module(module_name), name, None)
        except ImportError:
            objects[attr] = None
    for owner, method in METHODS:
        if not callable(getattr(objects[owner], method, None)):
            raise _unsupported(version, f"{NAMES[owner][1]}.{method} is missing")
    handlers: dict[str, str] = {}
    response = objects["BatchResponse"]
    for operation, spellings in HANDLERS.items():
        found = next((s for s in spellings if callable(getattr(response, s, None))), None)
        if found is None:
            raise _unsupported(version, f"BatchResponse has no handler for {operation} ({' or '.join(spellings)})")
        handlers[operation] = found
    return Moto(version=version, objects=objects, handlers=handlers)


_CURRENT: Moto | None = None


def current() -> Moto:
    """The installed moto's contract, resolved once per process."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = resolve()
    return _CURRENT


def check_version(version: str | None = None) -> str:
    """`runner local up`'s check before it starts the emulator, from package metadata alone: the installed moto's
    version, or MotoUnsupported naming it and the supported range. The names are resolved in the emulator."""
    version = version if version is not None else installed_version()
    if version is None:
        raise MotoUnsupported(f"moto is not installed: the local env needs the runner's `local` extra: {INSTALL_HINT}")
    if not in_range(version):
        raise _unsupported(version, "not tested with this one")
    return version


def from_emulator_log(text: str) -> MotoUnsupported | None:
    """The emulator's one-line refusal (`UNSUPPORTED_MARK`) in its log, if it wrote one."""
    for line in reversed(text.splitlines()):
        if line.startswith(UNSUPPORTED_MARK):
            return MotoUnsupported(line.removeprefix(UNSUPPORTED_MARK))
    return None
