"""The use cases of `runner ami`: build the env's AMI with Packer, validate its template, list and prune this
project's AMIs. Each answers with a result (`runner.ami.packer`: `BuildResult`;
`runner.ami.images`: `ImageInfo`, `PruneResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.core import git
from runner.core.project import resolve_env

if TYPE_CHECKING:  # Packer is imported by the commands that use it: `runner --help` stays fast
    from runner.ami.images import ImageInfo, PruneResult
    from runner.ami.packer import BuildResult


def build(env: str | None, notice: Callable[[str], None]) -> BuildResult:
    """Build the env's AMI and write its id to envs/NAME/ami.auto.tfvars.json (``notice``: what Packer warns)."""
    from runner.ami.packer import Packer

    return Packer(resolve_env(env)).build(notice=notice)


@dataclass(frozen=True)
class Validated:
    env: str
    template: str  # relative to the project's root

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "template": self.template}


def validate(env: str | None) -> Validated:
    """`packer validate` of the template with the env's settings (no AWS call)."""
    from runner.ami.packer import Packer

    packer = Packer(resolve_env(env))
    settings, binary, template = packer.prepare()
    packer.validate(settings, binary, template, git.revision(packer.env.root))
    return Validated(packer.env.name, str(template.relative_to(packer.env.root)))


def list_images(env: str | None) -> list[ImageInfo]:
    """This project's AMIs for the env, newest first, with the launch templates that use them."""
    from runner.ami.images import Images

    return Images(resolve_env(env)).list_images()


@dataclass(frozen=True)
class PruneRequest:
    keep: int  # the newest AMIs kept (at least 1)
    env: str | None = None
    dry_run: bool = False


def prune(request: PruneRequest) -> PruneResult:
    """Deregister all but the newest ``keep`` AMIs and delete their snapshots; never one a launch template uses."""
    from runner.ami.images import Images

    return Images(resolve_env(request.env)).prune(request.keep, dry_run=request.dry_run)
