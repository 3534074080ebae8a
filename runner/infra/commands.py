"""The use cases of `runner infra`: terraform for one env (init, plan, apply, destroy, output, drift), the envs a
change affects, and the state bucket's bootstrap. Each takes a typed request and answers with a result."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.core.errors import UsageError
from runner.core.project import project_root, resolve_env

if TYPE_CHECKING:  # terraform code is imported by the commands that run it: `runner --help` stays fast
    from runner.infra.bootstrap import BootstrapResult
    from runner.infra.gitops import Affected, DriftReport
    from runner.infra.plan_summary import Summary
    from runner.infra.plans import Infra

FORMATS = ("text", "json", "markdown")
_KEY = r'(\[(\d+|"[^"]*")\])?'
RESOURCE_ADDRESS = re.compile(
    rf"^(module\.[A-Za-z_][A-Za-z0-9_-]*{_KEY}\.)*(?!module\.)[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*{_KEY}$"
)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}")


def open_infra(env: str | None, check_backend: bool = False) -> Infra:
    """Terraform of the env (``check_backend``: its state reachable first, or one line saying why not)."""
    from runner.infra.bootstrap import backend_ready
    from runner.infra.plans import Infra

    resolved = resolve_env(env)
    return Infra(backend_ready(resolved) if check_backend else resolved)


@dataclass(frozen=True)
class Done:
    """A command that only did something (`init`, `destroy`): the env it did it in."""

    env: str

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env}


def init(env: str | None) -> Done:
    infra = open_infra(env, check_backend=True)
    infra.init()
    return Done(infra.env.name)


@dataclass(frozen=True)
class PlanRequest:
    """Checked when made: a bad ``--format`` or ``--replace`` is one line, before anything runs."""

    env: str | None = None
    fmt: str = "text"  # the summary's format: text, json or markdown
    destroy: bool = False
    replace: list[str] = field(default_factory=list)  # terraform addresses to replace

    def __post_init__(self) -> None:
        check_format(self.fmt)
        for address in self.replace:
            if not RESOURCE_ADDRESS.match(address):
                raise UsageError(
                    f"--replace: '{address}' is not a resource address (e.g. module.m.aws_x.name[\"key\"])"
                )


@dataclass
class Planned:
    env: str
    summary: Summary
    fmt: str

    def to_dict(self) -> dict[str, Any]:
        return self.summary.to_dict()


def plan(request: PlanRequest) -> Planned:
    """Plan the env and save the plan for `apply`."""
    infra = open_infra(request.env, check_backend=True)
    summary, _record = infra.plan(destroy=request.destroy, extra=tuple(f"-replace={a}" for a in request.replace))
    return Planned(infra.env.name, summary, request.fmt)


@dataclass(frozen=True)
class ApplyRequest:
    """Checked when made: at most one saved plan is named."""

    env: str | None = None
    auto_approve: bool = False
    saved: bool = False  # the env's saved plan (runner infra plan)
    plan_file: Path | None = None  # FILE.plan with its record FILE.json beside it
    plan_dir: Path | None = None  # the reviewed plan of CI (NAME.plan + NAME.json)

    def __post_init__(self) -> None:
        if len(self.named) > 1:
            raise UsageError(f"{', '.join(self.named)}: name at most one saved plan")

    @property
    def named(self) -> list[str]:
        given = (("--saved", self.saved), ("--plan", self.plan_file), ("--plan-dir", self.plan_dir))
        return [option for option, value in given if value]


@dataclass
class Applied:
    env: str
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "applied": self.summary.to_dict()}


def apply(request: ApplyRequest, confirm: Callable[[Summary], bool] | None = None) -> Applied:
    """Plan afresh and apply, or apply a saved plan while it is current (``confirm``: asked before applying, when
    there is someone to ask)."""
    infra = open_infra(request.env)
    if request.plan_dir is not None:
        from runner.infra.gitops import import_reviewed_plan

        import_reviewed_plan(infra, request.plan_dir)
    elif request.plan_file is not None:
        infra.use_plan_file(request.plan_file)
    summary = infra.apply(auto_approve=request.auto_approve, confirm=confirm, saved=bool(request.named))
    return Applied(infra.env.name, summary)


def destroy(env: str | None, auto_approve: bool, confirm: Callable[[str], bool] | None = None) -> Done:
    """Destroy every resource of the env (``confirm``: asked with the env's name, unless approved already)."""
    infra = open_infra(env)
    if not auto_approve and confirm is not None:
        auto_approve = confirm(infra.env.name)
    infra.destroy(auto_approve=auto_approve)
    return Done(infra.env.name)


@dataclass
class TerraformOutputs:
    values: dict[str, Any]  # as terraform gives them: name -> {value, type, sensitive}

    def to_dict(self) -> dict[str, Any]:
        return self.values


def output(env: str | None) -> TerraformOutputs:
    return TerraformOutputs(open_infra(env).output())


@dataclass(frozen=True)
class AffectedRequest:
    base: str  # the git ref the change is compared with
    head: str = "HEAD"
    skip_emulator: bool = False  # leave out emulator envs (envs/local)


def affected(request: AffectedRequest) -> Affected:
    from runner.infra.gitops import affected as affected_envs

    return affected_envs(project_root(), request.base, request.head, skip_emulator=request.skip_emulator)


@dataclass(frozen=True)
class DriftRequest:
    env: str | None = None
    fmt: str = "text"

    def __post_init__(self) -> None:
        check_format(self.fmt)


@dataclass
class Drift:
    report: DriftReport
    fmt: str

    def to_dict(self) -> dict[str, Any]:
        return self.report.to_dict()

    @property
    def exit_code(self) -> int:
        """3 on drift (`runner.infra.gitops.DRIFT_EXIT`), else 0."""
        from runner.infra.gitops import DRIFT_EXIT

        return DRIFT_EXIT if self.report.drifted else 0


def drift(request: DriftRequest) -> Drift:
    """Plan without saving or locking: what changed outside terraform."""
    from runner.infra.gitops import check_drift

    return Drift(check_drift(open_infra(request.env)), request.fmt)


@dataclass(frozen=True)
class BootstrapRequest:
    env: str | None = None
    bucket: str | None = None  # default: <name>-tfstate-<account id>
    kms_key: str | None = None  # default: SSE-S3


def bootstrap(request: BootstrapRequest) -> BootstrapResult:
    """The env's versioned, encrypted, TLS-only state bucket, and envs/NAME/backend.hcl."""
    from runner.aws.context import AwsContext
    from runner.infra.bootstrap import bootstrap as make_bucket
    from runner.infra.bootstrap import validate

    resolved = resolve_env(request.env)
    validate(resolved, request.bucket, request.kms_key)
    return make_bucket(resolved, AwsContext(resolved), bucket=request.bucket, kms_key_arn=request.kms_key)
