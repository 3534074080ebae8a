"""The local Docker engine: the `docker` CLI for image work, the Engine HTTP API for running containers.

Image builds pipe tarballs into `docker import`, so they use the CLI. The executor talks to the Engine API on
its unix socket (``DOCKER_HOST=unix://...``, default ``/var/run/docker.sock``) with the standard library:
creating, starting, following the logs of and waiting for hundreds of containers costs no subprocesses.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

from runner.core.errors import RunFailed, UsageError

INSTALL_HINT = "install docker.io (Debian/Ubuntu: apt-get install -y docker.io) and start dockerd"
API_VERSION = "v1.41"  # Docker 20.10; every later engine still answers it
EMULATOR_LABEL = "runner.local.emulator"  # =<emulator pid> on every container the local Batch starts
HOME_LABEL = "runner.local.home"  # =<id of the emulator's RUNNER_HOME> on the same containers
NETWORK_LABEL = "runner.local.network"  # on the bridge network the local Batch's containers use


def docker_cli() -> str:
    """The docker CLI, or a one-line error naming what to install."""
    path = shutil.which("docker")
    if path is None:
        raise UsageError(f"docker: not installed; {INSTALL_HINT}")
    return path


def cli(args: list[str], *, stdin: Any = None, timeout: float | None = None) -> str:
    """Run `docker ARGS`, returning stdout; a failure becomes a one-line RunFailed with docker's own message."""
    proc = subprocess.run(
        [docker_cli(), *args], stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunFailed(f"docker {args[0]}: {detail}")
    return proc.stdout


def socket_path() -> str | None:
    """The engine's unix socket from DOCKER_HOST (default /var/run/docker.sock); None for a non-unix host."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "/var/run/docker.sock"
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return None


class EngineError(Exception):
    """The Engine API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Engine:
    """A minimal client of the Docker Engine API (one connection per call: calls come from many threads)."""

    def __init__(self, path: str | None = None, timeout: float = 60.0) -> None:
        found = path or socket_path()
        if found is None:
            raise UsageError(f"DOCKER_HOST: only unix:// sockets are supported, got '{os.environ['DOCKER_HOST']}'")
        self.path = found
        self.timeout = timeout

    def _open(self, method: str, url: str, body: Any = None, timeout: float | None = None) -> Any:
        conn = _UnixConnection(self.path, timeout if timeout is not None else self.timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, f"/{API_VERSION}{url}", body=data, headers=headers)
        resp = conn.getresponse()
        if resp.status >= 400:
            raw = resp.read().decode(errors="replace")
            conn.close()
            try:
                message = json.loads(raw).get("message", raw)
            except ValueError:
                message = raw
            raise EngineError(resp.status, str(message).strip())
        return resp

    def call(self, method: str, url: str, body: Any = None, timeout: float | None = None) -> Any:
        resp = self._open(method, url, body, timeout)
        raw = resp.read()
        resp.close()
        return json.loads(raw) if raw.strip() else None

    def ping(self, timeout: float = 3.0) -> bool:
        try:
            conn = _UnixConnection(self.path, timeout)
            conn.request("GET", "/_ping")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def image_exists(self, ref: str) -> bool:
        try:
            self.call("GET", f"/images/{urllib.parse.quote(ref, safe='')}/json")
            return True
        except EngineError as exc:
            if exc.status == 404:
                return False
            raise

    def pull(self, ref: str, timeout: float) -> None:
        """Pull an image; raises EngineError with the daemon's message when it cannot."""
        name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        query = urllib.parse.urlencode({"fromImage": name, "tag": tag})
        resp = self._open("POST", f"/images/create?{query}", timeout=timeout)
        # The daemon streams progress as JSON lines; an error arrives as {"error": ...} with status 200.
        for line in resp:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if "error" in event:
                resp.close()
                raise EngineError(500, str(event["error"]).strip())
        resp.close()

    def create(self, name: str, config: dict[str, Any]) -> str:
        created = self.call("POST", f"/containers/create?name={urllib.parse.quote(name)}", config)
        return str(created["Id"])

    def start(self, cid: str) -> None:
        self.call("POST", f"/containers/{cid}/start")

    def logs(self, cid: str) -> Iterator[tuple[str, bytes]]:
        """Follow a (non-TTY) container's stdout and stderr until it stops: (stream, line) pairs as written."""
        resp = self._open("GET", f"/containers/{cid}/logs?follow=1&stdout=1&stderr=1", timeout=None)
        pending = {"stdout": b"", "stderr": b""}
        try:
            while True:
                header = _read_exact(resp, 8)
                if header is None:
                    break
                kind, size = struct.unpack(">BxxxL", header)
                payload = _read_exact(resp, size) or b""
                stream = "stderr" if kind == 2 else "stdout"
                buf = pending[stream] + payload
                *lines, pending[stream] = buf.split(b"\n")
                for line in lines:
                    yield stream, line
        finally:
            resp.close()
        for stream, rest in pending.items():
            if rest:
                yield stream, rest

    def wait(self, cid: str) -> int:
        result = self.call("POST", f"/containers/{cid}/wait", timeout=None)
        return int(result.get("StatusCode", -1))

    def inspect(self, cid: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/containers/{cid}/json"))

    def kill(self, cid: str) -> None:
        try:
            self.call("POST", f"/containers/{cid}/kill")
        except EngineError as exc:
            if exc.status not in (404, 409):  # gone, or not running any more
                raise

    def remove(self, cid: str) -> None:
        try:
            self.call("DELETE", f"/containers/{cid}?force=1&v=1")
        except EngineError as exc:
            if exc.status not in (404, 409):
                raise

    def containers(self, label: str) -> list[dict[str, Any]]:
        filters = urllib.parse.quote(json.dumps({"label": [label]}))
        return list(self.call("GET", f"/containers/json?all=1&filters={filters}") or [])

    def network(self, name: str, labels: dict[str, str]) -> tuple[str, str]:
        """The user-defined bridge network ``name`` (created with ``labels`` when missing): (id, gateway address).
        Containers on it reach the host only through the gateway address, not the host's loopback."""
        try:
            found = self.call("GET", f"/networks/{urllib.parse.quote(name)}")
        except EngineError as exc:
            if exc.status != 404:
                raise
            body = {"Name": name, "Driver": "bridge", "CheckDuplicate": True, "Labels": labels}
            try:
                self.call("POST", "/networks/create", body)
            except EngineError as again:
                if again.status != 409:  # created meanwhile by another emulator: use it
                    raise
            found = self.call("GET", f"/networks/{urllib.parse.quote(name)}")
        gateways = [c.get("Gateway") for c in (found.get("IPAM") or {}).get("Config") or [] if c.get("Gateway")]
        if not gateways or ":" in gateways[0]:
            raise EngineError(500, f"network {name} has no IPv4 gateway")
        return str(found["Id"]), str(gateways[0])


def _read_exact(resp: Any, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        chunk = resp.read(size - len(chunks))
        if not chunk:
            return chunks or None
        chunks += chunk
    return chunks


def remove_labelled(engine: Engine, label: str) -> int:
    """Remove (forcibly) the containers carrying ``label`` (``key=value``); returns how many."""
    removed = 0
    try:
        found = engine.containers(label)
    except (EngineError, OSError):
        return 0
    for container in found:
        try:
            engine.remove(container["Id"])
            removed += 1
        except (EngineError, OSError):
            continue
    return removed
