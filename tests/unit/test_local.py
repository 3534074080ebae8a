"""The emulator manager without starting moto: port checks, state file handling."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from runner.core.errors import UsageError
from runner.local import server as local


def test_port_from_variable(monkeypatch) -> None:
    monkeypatch.delenv("RUNNER_LOCAL_PORT", raising=False)
    assert local.configured_port() == 4566
    monkeypatch.setenv("RUNNER_LOCAL_PORT", "5001")
    assert local.configured_port() == 5001
    monkeypatch.setenv("RUNNER_LOCAL_PORT", "99999")
    with pytest.raises(UsageError, match="RUNNER_LOCAL_PORT"):
        local.configured_port()


def test_busy_port_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port}.*already taken"):
            local.up(tmp_path, port=port)
    assert local.status(tmp_path) is None


def test_stale_state_file_is_cleared(tmp_path: Path) -> None:
    state = tmp_path / "local" / "server.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"pid": 2**22 + 12345, "port": 1, "endpoint": "x", "log": "y"}))
    assert local.status(tmp_path) is None
    assert not state.exists()
    assert local.down(tmp_path) is None
