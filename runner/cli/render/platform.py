"""How a person sees the platform team's results: terraform (plans, applies, outputs, drift, affected envs, the
state bucket), AMIs, pushed images, the user's envs, and the local emulator with its images."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runner.cli.render import show, show_all
from runner.core import console
from runner.core.console import escape

if TYPE_CHECKING:
    from runner.ami.commands import Validated
    from runner.ami.images import ImageInfo, PruneResult
    from runner.ami.packer import BuildResult
    from runner.core.userconfig import EnvList, UserEnv
    from runner.infra.bootstrap import BootstrapResult
    from runner.infra.commands import Applied, Done, Drift, Planned, TerraformOutputs
    from runner.infra.emulator import Emulator, EmulatorEnv
    from runner.infra.gitops import Affected
    from runner.local.images import ImageState
    from runner.local.init import InitResult
    from runner.registry.push import Pushed


# ---------------------------------------------------------------------------------------------------------------
# runner infra
# ---------------------------------------------------------------------------------------------------------------


def planned(result: Planned) -> None:
    """The plan's summary in its --format (text, json or markdown)."""
    from runner.infra.plan_summary import render

    console.out.print(render(result.summary, result.env, result.fmt), markup=False)


def applied(result: Applied, as_json: bool) -> None:
    show(result, as_json, _applied)


def _applied(result: Applied) -> None:
    s = result.summary
    console.out.print(f"Applied {result.env}: {s.add} added, {s.change} changed, {s.destroy} destroyed.")


def destroyed(result: Done) -> None:
    console.out.print(f"Destroyed {result.env}.")


def outputs(result: TerraformOutputs, as_json: bool) -> None:
    show(result, as_json, _outputs)


def _outputs(result: TerraformOutputs) -> None:
    for name, item in sorted(result.values.items()):
        value = "(sensitive)" if item.get("sensitive") else item.get("value")
        console.out.print(f"{name} = {value}", markup=False)


def affected(result: Affected, as_json: bool) -> None:
    show(result, as_json, _affected)


def _affected(result: Affected) -> None:
    for name in result.envs:
        console.out.print(name, markup=False)


def drift(result: Drift) -> None:
    """The drift report in its --format; exit 3 on drift."""
    from runner.infra.gitops import render_drift

    show(result, False, lambda r: console.out.print(render_drift(r.report, r.fmt), markup=False, soft_wrap=True))


def bootstrapped(result: BootstrapResult, as_json: bool) -> None:
    show(result, as_json, _bootstrapped)


def _bootstrapped(result: BootstrapResult) -> None:
    verb = "Created" if result.created else "Checked"
    console.out.print(
        f"{verb} state bucket {result.bucket} ({result.region}): versioned, encrypted, TLS only. "
        f"Wrote {result.backend_config}; next: runner infra plan --env {result.env}",
        markup=False,
    )


# ---------------------------------------------------------------------------------------------------------------
# runner ami, runner image
# ---------------------------------------------------------------------------------------------------------------


def ami_notice(message: str) -> None:
    """What Packer warns about while it builds."""
    console.err.print(f"[bold yellow]notice:[/bold yellow] {message}", soft_wrap=True)


def ami_built(result: BuildResult, as_json: bool) -> None:
    show(result, as_json, _ami_built)


def _ami_built(result: BuildResult) -> None:
    console.err.print(f"[dim]{result.name} ({result.region}) -> {result.tfvars}[/dim]", soft_wrap=True)
    console.err.print(f"[dim]next: runner infra plan --env {result.env}[/dim]", soft_wrap=True)
    console.out.print(result.ami_id, markup=False)


def ami_valid(result: Validated) -> None:
    console.out.print(f"{result.template} is valid for env {result.env}", markup=False)


AMI_COLUMNS = ("AMI", "name", "built", "git", "state", "in use by")


def amis(images: list[ImageInfo], as_json: bool) -> None:
    show_all(images, as_json, _amis)


def _amis(images: Sequence[ImageInfo]) -> None:
    from rich.table import Table

    if not images:
        console.note("no AMIs of this project for this env")
        return
    rows = [
        (i.ami_id, i.name, i.build_time or i.created, i.git_sha, i.state, "; ".join(i.in_use_by) or "-") for i in images
    ]
    if not console.out.is_terminal:  # piped: plain tab-separated lines, never truncated
        for row in [AMI_COLUMNS, *rows]:
            console.out.print("\t".join(row), markup=False)
        return
    table = Table(show_header=True, header_style="bold", box=None)
    for column in AMI_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.out.print(table)


def pruned(result: PruneResult, as_json: bool) -> None:
    """What was (or would be) removed; exit 1 when a removal failed."""
    show(result, as_json, _pruned)


def _pruned(result: PruneResult) -> None:
    verb = "would remove" if result.dry_run else "removed"
    for image in result.protected:
        console.err.print(f"kept {image.ami_id} ({image.name}): in use by {'; '.join(image.in_use_by)}")
    for image in result.deleted:
        snapshots = ", ".join(image.snapshots) or "no snapshots"
        console.out.print(f"{verb} {image.ami_id} ({image.name}) and {snapshots}", markup=False)
    for failure in result.failed:
        console.err.print(f"[red]failed:[/red] {failure}", soft_wrap=True)
    console.out.print(
        f"{result.env}: kept {len(result.kept)} newest, {len(result.protected)} in use; {verb} {len(result.deleted)}.",
        markup=False,
    )


def pushed(result: Pushed, as_json: bool) -> None:
    show(result, as_json, _pushed)


def _pushed(result: Pushed) -> None:
    where = "tagged locally and recorded in the emulator's ECR" if result.emulator else "pushed"
    console.out.print(f"{result.reference}: {where} ({result.digest})", markup=False)


# ---------------------------------------------------------------------------------------------------------------
# runner env
# ---------------------------------------------------------------------------------------------------------------


def user_env(result: UserEnv, as_json: bool, verb: str) -> None:
    """One env of the user's config, after ``verb`` (added, removed, default)."""
    show(result, as_json, lambda env: _user_env(env, verb))


def _user_env(env: UserEnv, verb: str) -> None:
    profile = f", profile {env.profile}" if env.profile else ""
    default = " (default)" if env.default else ""
    console.out.print(
        escape(f"{verb} {env.env}{default}: region {env.region}, outputs from SSM {env.parameter}{profile}")
    )


def user_envs(result: EnvList, as_json: bool) -> None:
    show(result, as_json, _user_envs)


def _user_envs(result: EnvList) -> None:
    if not result.envs:
        console.out.print(f"no envs in {escape(str(result.path))}: runner env add NAME --region R --name PREFIX")
    for env in result.envs:
        _user_env(env, "-")


# ---------------------------------------------------------------------------------------------------------------
# runner local
# ---------------------------------------------------------------------------------------------------------------


def emulator(result: Emulator, as_json: bool) -> None:
    show(result, as_json, _emulator)


def _emulator(result: Emulator) -> None:
    if result.orphans:
        names = list(result.orphans)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        console.out.print(f"removed {len(names)} container(s) of a dead emulator: {console.escape(shown)}")
    info = result.info
    if info is None:
        console.out.print("emulator not running")
        return
    mode = "docker: jobs run in containers" if info.batch == "docker" else "instant: jobs succeed at submission"
    if result.change == "stopped":
        console.out.print(f"emulator stopped (pid {info.pid})")
    elif result.change:
        console.out.print(f"emulator {result.change}: {info.endpoint} (pid {info.pid}, batch {mode})")
    else:
        console.out.print(f"emulator running: {info.endpoint} (pid {info.pid}, batch {mode}, log {info.log})")


def emulator_env(result: EmulatorEnv, as_json: bool) -> None:
    show(result, as_json, _emulator_env)


def _emulator_env(result: EmulatorEnv) -> None:
    sys.stdout.write(result.exports)


def initialised(result: InitResult, as_json: bool) -> None:
    show(result, as_json, _initialised)


def _initialised(result: InitResult) -> None:
    console.out.print(
        f"wrote {', '.join(result.written)} into {result.root}: cd there and run runner infra apply --env local"
    )


def image_built(result: ImageState, as_json: bool) -> None:
    show(result, as_json, _image_built)


def _image_built(result: ImageState) -> None:
    if result.built:
        console.out.print(f"built {result.image} (recipe {result.recipe_hash}) in {result.seconds:.0f}s")
    else:
        console.out.print(f"{result.image} is current (recipe {result.recipe_hash}): nothing to build")


def local_images(states: list[ImageState], as_json: bool) -> None:
    show_all(states, as_json, _local_images)


def _local_images(states: Sequence[ImageState]) -> None:
    from runner.local.images import RECIPES

    for s in states:
        mark = "current" if s.current else ("stale" if s.built_hash else "missing")
        console.out.print(f"{s.name:<6} {s.image:<32} {mark:<8} {RECIPES[s.name].description}")
