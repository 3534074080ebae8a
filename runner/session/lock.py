"""The run lock: ``runs/<run>/lock``, held by the one command that writes a run's jobs now (a submit, a retry).

Created with ``If-None-Match: *`` (an S3 conditional write, honoured by the emulator), refreshed and released
(overwritten as expired) with ``If-Match`` on its ETag. A lock that is released or whose holder is gone (its expiry
passed, or its process on this host is dead) is taken over, again with ``If-Match``. Two identical submits at once
make one job: the loser stops with one line naming who holds the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from runner.aws.retry import error_code
from runner.core.errors import RunFailed

LOCK_SECONDS = 600  # a submit refreshes its lock after every job; a crashed one's lock expires after this
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
_MISSING = ("404", "NoSuchKey")


class Layout(Protocol):
    @property
    def lock_key(self) -> str: ...


class Store(Protocol):
    """Where the lock lives: the run store (`runner.session.runs.RunStore`)."""

    s3: Any
    bucket: str

    def layout(self, run: str) -> Layout: ...


@dataclass
class RunLock:
    """One command's hold on a run (a context manager: released on exit)."""

    store: Store
    run: str
    etag: str
    owner: str

    @property
    def key(self) -> str:
        return self.store.layout(self.run).lock_key

    def refresh(self, seconds: int = LOCK_SECONDS) -> None:
        """Push the expiry on; a RunFailed when another runner has taken the lock over meanwhile."""
        try:
            self.etag = _put(self.store, self.key, _body(self.owner, seconds), if_match=self.etag)
        except ClientError as exc:
            if error_code(exc) not in _CONFLICT:
                raise
            raise RunFailed(
                f"run '{self.run}': another runner took over the submission lock; it finishes the run"
            ) from None

    def release(self) -> None:
        """Mark the lock free by overwriting it (expired, no holder): analysts may write under ``runs/`` but not
        delete. Taken over or gone: nothing of ours to release (an unreleased lock expires by itself)."""
        with contextlib.suppress(ClientError):
            _put(self.store, self.key, {"owner": "", "released": _now(), "expires": 0}, if_match=self.etag)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def acquire(store: Store, run: str, seconds: int = LOCK_SECONDS) -> RunLock:
    """Hold the run, or a one-line RunFailed naming who holds it."""
    key = store.layout(run).lock_key
    owner = uuid.uuid4().hex
    for _ in range(3):
        try:
            return RunLock(store, run, _put(store, key, _body(owner, seconds)), owner)
        except ClientError as exc:
            if error_code(exc) not in _CONFLICT:
                raise
        try:
            reply = store.s3.get_object(Bucket=store.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                continue  # released meanwhile: try again
            raise
        holder = json.loads(reply["Body"].read() or b"{}")
        etag = str(reply["ETag"])
        if holder.get("owner") == owner:  # our own write, whose response was lost
            return RunLock(store, run, etag, owner)
        if not _stale(holder):
            raise RunFailed(
                f"run '{run}' is being submitted by another runner (pid {holder.get('pid')} on "
                f"{holder.get('host')} since {holder.get('since')}); wait for it, or run the same command "
                "again when it is done"
            )
        try:
            return RunLock(store, run, _put(store, key, _body(owner, seconds), if_match=etag), owner)
        except ClientError as exc:
            if error_code(exc) not in _CONFLICT:
                raise
    raise RunFailed(f"run '{run}' is being submitted by another runner; run the same command again later")


def _put(store: Store, key: str, body: dict[str, Any], if_match: str | None = None) -> str:
    condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
    data = json.dumps(body).encode()
    reply = store.s3.put_object(Bucket=store.bucket, Key=key, Body=data, ContentType="application/json", **condition)
    return str(reply["ETag"])


def _body(owner: str, seconds: int) -> dict[str, Any]:
    return {
        "owner": owner,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": _now(),
        "expires": int(time.time()) + seconds,
    }


def _stale(holder: dict[str, Any]) -> bool:
    if int(holder.get("expires", 0)) < time.time():
        return True
    return holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", 0)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
