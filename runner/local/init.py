"""`runner local init DIR`: a project folder for the local env, written from the installed package.

An analyst who installed the runner as a tool (no checkout) gets ``DIR/envs/local``, ``DIR/modules`` and
``DIR/packer``: what `runner infra apply --env local` and `runner ami build --env local` need, run in DIR.
The files come from the wheel's bundle (``runner/_bundle``), else from the source tree the runner runs from.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.core.errors import UsageError
from runner.core.project import BUNDLE

PARTS = ("envs/local", "modules", "packer")
SKIP = shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan", "ami.auto.tfvars.json", "__pycache__")


@dataclass(frozen=True)
class InitResult:
    root: str
    written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "written": list(self.written)}


def source() -> Path:
    """Where the project files come from: the installed bundle, else the source tree of this package."""
    if (BUNDLE / "envs" / "local").is_dir():
        return BUNDLE
    tree = Path(__file__).resolve().parents[2]
    if (tree / "envs" / "local").is_dir() and (tree / "modules").is_dir():
        return tree
    raise UsageError("this runner carries no envs/local (a broken install): reinstall batch-platform-runner")


def init(target: Path) -> InitResult:
    """Write the local env's project into TARGET (new or empty, or holding none of the parts yet)."""
    target = target.expanduser().resolve()
    clashes = [part for part in PARTS if (target / part).exists()]
    if clashes:
        raise UsageError(f"DIR: {target} already has {', '.join(clashes)}: choose a new or empty folder")
    if target.exists() and not target.is_dir():
        raise UsageError(f"DIR: {target} is a file")
    origin = source()
    target.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        shutil.copytree(origin / part, target / part, ignore=SKIP)
    return InitResult(root=str(target), written=list(PARTS))
