"""The checkout's git facts (commit, tree, dirtiness), read best-effort: None when git or the repo is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path


def output(root: Path, *args: str, timeout: float = 10) -> str | None:
    """stdout of `git -C root ARGS`, stripped; None when git is missing, fails or hangs."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def sha(root: Path, rev: str = "HEAD") -> str | None:
    return output(root, "rev-parse", "--verify", "--quiet", rev) or None


def tree(root: Path) -> str | None:
    """The tree hash of HEAD: equal for a PR head and its squash/merge commit when the branch was up to date."""
    return sha(root, "HEAD^{tree}")


def revision(root: Path) -> str:
    """Short sha of the checkout (with -dirty for uncommitted changes to tracked files), else 'nogit'."""
    short = output(root, "rev-parse", "--short=7", "HEAD")
    if not short:
        return "nogit"
    dirty = output(root, "status", "--porcelain", "--untracked-files=no")
    return f"{short}-dirty" if dirty else short
