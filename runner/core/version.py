"""The runner's version: the installed package's, plus the git commit when it runs from a checkout."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from runner import __version__
from runner.core import git

DISTRIBUTION = "batch-platform-runner"


def package_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return __version__


def checkout_commit() -> str | None:
    """The short commit (``-dirty`` with uncommitted changes) of the checkout the package runs from, if any."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None
    revision = git.revision(source)
    return None if revision == "nogit" else revision


def describe() -> str:
    commit = checkout_commit()
    return f"runner {package_version()}" + (f" (git {commit})" if commit else "")
