"""The embedded AWS: a moto server on 127.0.0.1, started in the background and tracked by a pid file.

State lives in ``RUNNER_HOME/local/``: ``server.json`` (pid, port, endpoint, Batch mode, the jobs' endpoint),
``credentials.json`` (the env's key pairs, mode 0600: ``runner.local.credentials``) and ``moto.log``. Only
requests signed with those credentials get past the emulator's front door (``runner.local.frontdoor``).

`up` checks the confinement settings (``RUNNER_LOCAL_HOST_PATHS``, ``RUNNER_LOCAL_ALLOW_PRIVILEGED``:
``runner.local.confine``) before anything starts, and removes the containers a dead emulator of the same
RUNNER_HOME left behind (a ``kill -9`` skips its clean-up); `down` removes them too.

Batch mode (``batch_mode``): ``docker`` runs jobs as containers (``runner.local.executor``) when a Docker daemon
answers; ``instant`` (moto's batch_simple: SUCCEEDED at submission) otherwise. ``RUNNER_LOCAL_BATCH=docker|instant``
forces one; forcing ``docker`` without a daemon is an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.core.errors import RunFailed, UsageError
from runner.local import credentials

DEFAULT_PORT = 4566
PORT_VAR = "RUNNER_LOCAL_PORT"
BATCH_VAR = "RUNNER_LOCAL_BATCH"
BATCH_MODES = ("docker", "instant")
HOST = "127.0.0.1"
CREDENTIALS_VAR = "RUNNER_LOCAL_CREDENTIALS"  # the credentials file, handed to the emulator


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    endpoint: str
    log: str
    running: bool = True
    batch: str = "instant"
    credentials: str = ""  # the env's credentials file
    job_endpoint: str = ""  # where the local Batch's containers reach the emulator (docker mode)
    orphans: tuple[str, ...] = field(default=(), compare=False)  # containers of a dead emulator just removed

    def record(self) -> dict[str, object]:
        """What server.json keeps."""
        return {k: v for k, v in asdict(self).items() if k not in ("orphans", "running")}

    @property
    def credentials_file(self) -> Path:
        return Path(self.credentials) if self.credentials else Path(self.log).parent / credentials.FILE


def configured_port() -> int:
    raw = os.environ.get(PORT_VAR, str(DEFAULT_PORT))
    try:
        port = int(raw)
    except ValueError:
        raise UsageError(f"{PORT_VAR}: '{raw}' is not a port number") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{PORT_VAR}: {port} is outside 1-65535")
    return port


def batch_mode() -> str:
    """``docker`` or ``instant``: forced by RUNNER_LOCAL_BATCH, else docker when a daemon answers."""
    from runner.local import docker

    forced = os.environ.get(BATCH_VAR, "").strip().lower()
    if forced and forced not in BATCH_MODES:
        raise UsageError(f"{BATCH_VAR}: '{forced}' is not one of {', '.join(BATCH_MODES)}")
    if forced == "instant":
        return "instant"
    path = docker.socket_path()
    answers = path is not None and docker.Engine(path).ping()
    if forced == "docker" and not answers:
        raise UsageError(f"{BATCH_VAR}=docker: no Docker daemon answers; {docker.INSTALL_HINT}")
    return "docker" if answers else "instant"


def _state_dir(home: Path) -> Path:
    path = home / "local"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0): reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _answers(endpoint: str, pair: credentials.KeyPair) -> dict[str, Any] | None:
    """The emulator's signed health answer (its pid, the jobs' endpoint), or None while it does not answer."""
    from runner.local.frontdoor import HEALTH_ROUTE

    try:
        status, body = credentials.signed_call(endpoint, "GET", HEALTH_ROUTE, pair, timeout=2)
        return dict(json.loads(body)) if status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def status(home: Path) -> ServerInfo | None:
    """The emulator this project started, if its process is still alive."""
    state_file = _state_dir(home) / "server.json"
    if not state_file.exists():
        return None
    data = json.loads(state_file.read_text())
    known = set(ServerInfo.__dataclass_fields__) - {"orphans", "running"}
    info = ServerInfo(**{k: v for k, v in data.items() if k in known})
    if not _pid_alive(info.pid):
        state_file.unlink(missing_ok=True)
        return None
    return info


def up(home: Path, port: int | None = None, timeout: float = 60.0, keep_credentials: bool = False) -> ServerInfo:
    """Start the emulator, or return the one already running (a no-op). New credentials for every start unless
    ``keep_credentials`` (or RUNNER_LOCAL_KEEP_CREDENTIALS=1) and the current ones are readable."""
    current = status(home)
    if current is not None:
        return current
    port = port or configured_port()
    from runner.local import confine, moto_contract, reclaim

    moto_contract.check_version()  # an unsupported moto: one line naming the versions, before anything runs
    mode = batch_mode()

    reclaim.check_settings()
    allowed = confine.allowed_folders(os.environ.get(confine.HOST_PATHS_VAR, ""), home)
    confine.privileged_allowed(os.environ.get(confine.PRIVILEGED_VAR))
    if port_in_use(port):
        raise UsageError(f"{PORT_VAR}: port {port} on {HOST} is already taken by another process")
    orphans = remove_orphans(home)
    state = _state_dir(home)
    log_path = state / "moto.log"
    creds = credentials.prepare(state, keep_credentials or credentials.keep_requested())
    env = _emulator_environment(home, state, mode, allowed)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.local.emulator", "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    endpoint = f"http://{HOST}:{port}"
    health = _wait_until_up(proc, endpoint, creds.user, log_path, timeout)
    try:
        _configure(endpoint, creds.user)
    except Exception:
        proc.kill()
        raise
    info = ServerInfo(
        pid=proc.pid,
        port=port,
        endpoint=endpoint,
        log=str(log_path),
        batch=mode,
        credentials=str(credentials.path(state)),
        job_endpoint=str(health.get("job_endpoint") or endpoint),
    )
    (state / "server.json").write_text(json.dumps(info.record(), indent=2))
    return ServerInfo(**{**asdict(info), "orphans": tuple(orphans)})


def _emulator_environment(home: Path, state: Path, mode: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The emulator process's variables: the user's own credentials never enter it (nor, through it, a job's
    container); what `up` resolved is handed down."""
    from runner.local import confine
    from runner.local.containers import HOME_ID_VAR, home_id

    env = {k: v for k, v in os.environ.items() if k not in USER_CREDENTIALS}
    env.update(
        {
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
            "MOTO_DISABLE_GLOBAL_CORS": "true",
            BATCH_VAR: mode,
            CREDENTIALS_VAR: str(credentials.path(state)),
            confine.HOST_PATHS_VAR: ":".join(allowed),
            confine.HOME_VAR: str(home.resolve()),
            HOME_ID_VAR: home_id(home),
        }
    )
    return env


def _wait_until_up(
    proc: subprocess.Popen[bytes], endpoint: str, pair: credentials.KeyPair, log_path: Path, timeout: float
) -> dict[str, Any]:
    """The new emulator's signed health answer, once it gives one; its one-line refusal (an unsupported moto) or
    a RunFailed when it exits or stays silent."""
    from runner.local import moto_contract

    deadline = time.monotonic() + timeout
    while (health := _answers(endpoint, pair)) is None or health.get("pid") != proc.pid:
        if proc.poll() is not None:
            if proc.returncode == moto_contract.UNSUPPORTED_EXIT:
                refusal = moto_contract.from_emulator_log(log_path.read_text(errors="replace"))
                if refusal is not None:
                    raise refusal
            raise RunFailed(f"emulator exited with code {proc.returncode} at start; see {log_path}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RunFailed(f"emulator did not answer on {endpoint} within {timeout:.0f}s; see {log_path}")
        time.sleep(0.2)
    return health


def _configure(endpoint: str, pair: credentials.KeyPair) -> None:
    """moto's own Docker runner stays off: jobs run in the executor (docker mode) or are simulated (instant)."""
    body = json.dumps({"batch": {"use_docker": False}}).encode()
    status, _ = credentials.signed_call(endpoint, "POST", "/moto-api/config", pair, body=body)
    if not 200 <= status < 300:
        raise RunFailed(f"emulator refused its Batch configuration (HTTP {status})")


def down(home: Path, timeout: float = 15.0) -> ServerInfo | None:
    """Stop exactly the emulator this project started; returns what was stopped."""
    info = status(home)
    if info is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(info.pid):
        if time.monotonic() > deadline:
            os.killpg(info.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    (_state_dir(home) / "server.json").unlink(missing_ok=True)
    orphans = remove_orphans(home)  # what it left (it removes its own on SIGTERM; not after a SIGKILL)
    return ServerInfo(**{**asdict(info), "running": False, "orphans": tuple(orphans)})


def _emulator_alive(pid: int) -> bool:
    if not _pid_alive(pid):
        return False
    try:
        return b"runner.local.emulator" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # cannot tell: leave its containers alone


def remove_orphans(home: Path) -> list[str]:
    """Remove the containers of this RUNNER_HOME's emulators that are gone; their names. Containers of a living
    emulator, of another RUNNER_HOME or of another user are never touched (they carry another home id)."""
    from runner.local import docker
    from runner.local.containers import home_id

    path = docker.socket_path()
    if path is None or not os.path.exists(path):
        return []
    engine = docker.Engine(path, timeout=10)
    if not engine.ping():
        return []
    removed = []
    try:
        found = engine.containers(f"{docker.HOME_LABEL}={home_id(home)}")
    except (docker.EngineError, OSError):
        return []
    for container in found:
        pid = str((container.get("Labels") or {}).get(docker.EMULATOR_LABEL, ""))
        if pid.isdigit() and _emulator_alive(int(pid)):
            continue
        try:
            engine.remove(container["Id"])
        except (docker.EngineError, OSError):
            continue
        removed.append(str((container.get("Names") or [container["Id"][:12]])[0]).lstrip("/"))
    return removed


def ensure_up(home: Path) -> ServerInfo:
    return status(home) or up(home)


def user_credentials(info: ServerInfo) -> credentials.KeyPair:
    """The env's user key pair (RunFailed, one line, when its file is gone)."""
    return credentials.load(info.credentials_file).user


def aws_environment(info: ServerInfo, region: str) -> dict[str, str]:
    """Variables that point boto3, the AWS CLI, terraform's provider and packer at the emulator, signed with the
    env's user credentials (`runner local env` prints them)."""
    return {
        "AWS_ENDPOINT_URL": info.endpoint,
        **user_credentials(info).env(),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def shell_exports(info: ServerInfo, region: str) -> str:
    """`runner local env`: lines a POSIX shell evaluates to point any AWS client at the env (a profile or session
    token of the user's own is unset: it must not ride along with the env's keys)."""
    import shlex

    lines = [f"unset {' '.join(SHADOWED_VARIABLES)}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in aws_environment(info, region).items()]
    return "\n".join(lines) + "\n"


# A developer's real profile or session must never leak into an emulator run.
SHADOWED_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")
USER_CREDENTIALS = (*SHADOWED_VARIABLES, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
