"""The embedded AWS: a moto server on 127.0.0.1, started in the background and tracked by a pid file.

State lives in ``RUNNER_HOME/local/``: ``server.json`` (pid, port, endpoint, Batch mode) and ``moto.log``.

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
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.core.errors import RunFailed, UsageError

DEFAULT_PORT = 4566
PORT_VAR = "RUNNER_LOCAL_PORT"
BATCH_VAR = "RUNNER_LOCAL_BATCH"
BATCH_MODES = ("docker", "instant")
HOST = "127.0.0.1"
# The emulator's fixed dummy credentials; used for the local env only, never elsewhere.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    endpoint: str
    log: str
    running: bool = True
    batch: str = "instant"


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


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def status(home: Path) -> ServerInfo | None:
    """The emulator this project started, if its process is still alive."""
    state_file = _state_dir(home) / "server.json"
    if not state_file.exists():
        return None
    data = json.loads(state_file.read_text())
    info = ServerInfo(**{**data, "running": True})
    if not _pid_alive(info.pid):
        state_file.unlink(missing_ok=True)
        return None
    return info


def up(home: Path, port: int | None = None, timeout: float = 60.0) -> ServerInfo:
    """Start the emulator, or return the one already running (a no-op)."""
    current = status(home)
    if current is not None:
        return current
    port = port or configured_port()
    from runner.local import moto_contract, reclaim

    moto_contract.check_version()  # an unsupported moto: one line naming the versions, before anything runs
    mode = batch_mode()

    reclaim.check_settings()
    if port_in_use(port):
        raise UsageError(f"{PORT_VAR}: port {port} on {HOST} is already taken by another process")
    state = _state_dir(home)
    log_path = state / "moto.log"
    # The emulator needs no credentials: the user's own never enter it (nor, through it, a job's container).
    env = {k: v for k, v in os.environ.items() if k not in USER_CREDENTIALS}
    env.update({"MOTO_IAM_LOAD_MANAGED_POLICIES": "true", BATCH_VAR: mode})
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
    deadline = time.monotonic() + timeout
    while not _answers(endpoint):
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
    try:
        _configure(endpoint)
    except Exception:
        proc.kill()
        raise
    info = ServerInfo(pid=proc.pid, port=port, endpoint=endpoint, log=str(log_path), batch=mode)
    (state / "server.json").write_text(json.dumps(asdict(info), indent=2))
    return info


def _configure(endpoint: str) -> None:
    """moto's own Docker runner stays off: jobs run in the executor (docker mode) or are simulated (instant)."""
    body = json.dumps({"batch": {"use_docker": False}}).encode()
    req = urllib.request.Request(
        f"{endpoint}/moto-api/config", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        if not 200 <= resp.status < 300:
            raise RunFailed(f"emulator refused its Batch configuration (HTTP {resp.status})")


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
    if info.batch == "docker":
        _remove_containers(info.pid)
    (_state_dir(home) / "server.json").unlink(missing_ok=True)
    return ServerInfo(
        pid=info.pid, port=info.port, endpoint=info.endpoint, log=info.log, running=False, batch=info.batch
    )


def _remove_containers(pid: int) -> None:
    """Containers the stopped emulator left behind (it removes its own on SIGTERM; not after a SIGKILL)."""
    from runner.local import docker

    path = docker.socket_path()
    if path is None:
        return
    docker.remove_labelled(docker.Engine(path, timeout=10), f"{docker.EMULATOR_LABEL}={pid}")


def ensure_up(home: Path) -> ServerInfo:
    return status(home) or up(home)


def aws_environment(info: ServerInfo, region: str) -> dict[str, str]:
    """Variables that point boto3, the AWS CLI, terraform's provider and packer at the emulator."""
    return {
        "AWS_ENDPOINT_URL": info.endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **DUMMY_CREDENTIALS,
    }


# A developer's real profile or session must never leak into an emulator run.
SHADOWED_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")
USER_CREDENTIALS = (*SHADOWED_VARIABLES, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
