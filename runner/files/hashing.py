"""What a local file's content is: its SHA-256, read in fixed blocks (memory stays bounded whatever the size), and a
cache of digests keyed by path, size and mtime, so unchanged files are not read again."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HASH_BLOCK = 1024 * 1024
CACHE_DIR_VAR = "RUNNER_CACHE_DIR"
CACHE_MAX_ENTRIES = 200_000


@dataclass
class LocalFile:
    """A local file being staged: what it is on disk, its digest and key once known, and whether it was sent."""

    path: str
    size: int
    mtime_ns: int = 0
    sha256: str = ""
    key: str = ""
    sent: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def sha256_file(path: str | Path, block: int = HASH_BLOCK) -> str:
    """SHA-256 of a file read in fixed blocks: memory stays at one block whatever the file size."""
    digest = hashlib.sha256()
    buf = bytearray(block)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The hash cache: (path, size, mtime) -> SHA-256
# ---------------------------------------------------------------------------------------------------------------


def default_cache_file() -> Path:
    """``RUNNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/runner``, else ``~/.cache/runner``: one file per machine (the
    files it describes are this machine's), ``sha256.json``."""
    explicit = os.environ.get(CACHE_DIR_VAR)
    if explicit:
        return Path(explicit) / "sha256.json"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runner" / "sha256.json"


class HashCache:
    """Digests of local files keyed by absolute path, valid while size and mtime (ns) are unchanged. A damaged or
    unreadable cache is an empty one; it is written back atomically, only when something was added."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
        self._lock = threading.Lock()
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                if isinstance(data, dict) and isinstance(data.get("files"), dict):
                    self._entries = data["files"]

    def get(self, f: LocalFile) -> str | None:
        entry = self._entries.get(f.path)
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == f.size and entry[1] == f.mtime_ns:
            return str(entry[2])
        return None

    def put(self, f: LocalFile) -> None:
        with self._lock:
            self._entries[f.path] = [f.size, f.mtime_ns, f.sha256]
            self._dirty = True

    def get_all(self) -> dict[str, list[Any]]:
        return dict(self._entries)

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        entries = self._entries
        if len(entries) > CACHE_MAX_ENTRIES:  # keep the newest entries (dicts keep insertion order)
            entries = dict(list(entries.items())[-CACHE_MAX_ENTRIES:])
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": 1, "files": entries}, separators=(",", ":")))
            tmp.replace(self.path)
        self._dirty = False
