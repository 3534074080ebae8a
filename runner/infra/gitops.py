"""GitOps for the platform team: which envs a change affects, drift checks, and applying the reviewed plan.

Three pieces the CI workflows (``.github/workflows/infra-*.yml``) and ``atlantis.yaml`` are built on:

* :func:`affected` maps the files a change touches to the envs whose plan it can change. The rules follow what
  the config fingerprint of a saved plan covers (``envs/NAME`` and ``modules/``), plus ``packer/``:

  ========================================  ==============================================================
  path                                      affects
  ========================================  ==============================================================
  ``*.md`` anywhere, ``docs/**``            nothing (terraform never reads them)
  ``envs/NAME/**``                          ``NAME`` (``runner.toml`` included: it decides protection)
  ``envs/<file>`` (shared, not markdown)    every env
  ``modules/**``, ``packer/**``             every env (every env calls modules/platform; a new AMI rolls to
                                            every env through its ``ami_id``)
  anything else (``runner/``, ``tests/``,   nothing: terraform reads only envs/ and modules/, so these
  ``.github/``, ``examples/``, …)           cannot change a plan; ``make test`` covers them on the emulator
  ========================================  ==============================================================

* :func:`check_drift` runs a normal ``terraform plan -detailed-exitcode -lock=false`` (not ``-refresh-only``)
  into a scratch plan file. A refresh-only plan reports every attribute AWS changed, including computed ones
  the configuration does not manage (noise a nightly job would page on), and it is blind to configuration that
  was merged but never applied. A normal plan answers the question the team has: *would the next apply change
  anything?* Its JSON still lists ``resource_drift`` (objects changed outside terraform), so the report names
  both the resources changed out of band and the configuration not yet applied. ``-lock=false`` keeps the
  nightly check read-only: it never blocks an apply and its role needs no write access to the state bucket.

* :func:`import_reviewed_plan` puts a plan made for a pull request (``NAME.plan`` + ``NAME.json`` downloaded
  from CI) in place for ``runner infra apply``, refusing a plan made for other code (its git tree differs from
  this checkout's) or a stale one (config fingerprint or state lineage/serial changed). It never plans.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner.aws.context import uses_emulator
from runner.core import git
from runner.core.errors import RunFailed, UsageError
from runner.core.project import available_envs, resolve_env
from runner.infra.plan_summary import Change, Summary, render_markdown, render_text
from runner.infra.plans import PLAN_SUFFIX, Infra, PlanRecord

ALL = "*"
GLOBAL_DIRS = ("modules", "packer")
DOC_DIRS = ("docs",)
DOC_SUFFIXES = (".md", ".markdown")

DRIFT_EXIT = 3


# --------------------------------------------------------------------------------------------------------------
# Affected envs
# --------------------------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        raise UsageError(f"git: cannot run git: {exc.strerror}") from None
    if proc.returncode != 0:
        raise RunFailed(f"git {args[0]} failed: {proc.stderr.strip().splitlines()[-1:] or ['no output']}")
    return proc.stdout


def resolve_commit(root: Path, ref: str, field_name: str) -> str:
    sha = git.sha(root, f"{ref}^{{commit}}")
    if sha is None:
        raise UsageError(
            f"{field_name}: '{ref}' is not a commit in {root} (shallow clone? fetch it, e.g. fetch-depth: 0)"
        )
    return sha


def changed_files(root: Path, base: str, head: str = "HEAD") -> tuple[str, str, list[str]]:
    """(merge base, head sha, paths changed on head since it forked from base); renames count at both ends."""
    base_sha = resolve_commit(root, base, "--base")
    head_sha = resolve_commit(root, head, "--head")
    merge_base = _git(root, "merge-base", base_sha, head_sha).strip()
    out = _git(root, "diff", "--name-only", "--no-renames", "-z", merge_base, head_sha)
    return merge_base, head_sha, sorted({p for p in out.split("\0") if p})


def envs_for_path(path: str) -> str | None:
    """The env a path affects: its name, ALL for every env, or None for none. See the module docstring."""
    p = PurePosixPath(path)
    if p.suffix.lower() in DOC_SUFFIXES or (p.parts and p.parts[0] in DOC_DIRS):
        return None
    if not p.parts:
        return None
    top = p.parts[0]
    if top in GLOBAL_DIRS:
        return ALL
    if top == "envs":
        return p.parts[1] if len(p.parts) > 2 else ALL
    return None


@dataclass
class Affected:
    base: str
    head: str
    envs: list[str]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def affected_envs(paths: list[str], known: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Env → the paths that affect it (known envs only), and the paths that affect none."""
    reasons: dict[str, list[str]] = {}
    ignored: list[str] = []
    for path in paths:
        target = envs_for_path(path)
        if target is None:
            ignored.append(path)
            continue
        for env in known if target == ALL else [target]:
            if env in known:
                reasons.setdefault(env, []).append(path)
    return dict(sorted(reasons.items())), ignored


def affected(root: Path, base: str, head: str = "HEAD", skip_emulator: bool = False) -> Affected:
    """Envs whose plan a change since ``base`` can alter; ``skip_emulator`` leaves out envs/local and the like."""
    merge_base, head_sha, files = changed_files(root, base, head)
    known = available_envs(root)
    if skip_emulator:
        known = [name for name in known if not uses_emulator(resolve_env(name, root))]
    reasons, ignored = affected_envs(files, known)
    return Affected(base=merge_base, head=head_sha, envs=list(reasons), reasons=reasons, files=files, ignored=ignored)


# --------------------------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DriftReport:
    env: str
    summary: Summary
    git_sha: str | None = None

    @property
    def drifted(self) -> bool:
        return self.summary.has_changes

    @property
    def changed_outside(self) -> list[Change]:
        """Resources changed outside terraform that the next apply would touch."""
        touched = {c.address for c in self.summary.changes}
        return [d for d in self.summary.drift if d.address in touched]

    @property
    def pending(self) -> list[Change]:
        """Changes the configuration asks for that are not explained by an out-of-band change."""
        outside = {d.address for d in self.summary.drift}
        return [c for c in self.summary.changes if c.address not in outside]

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "drifted": self.drifted,
            "git_sha": self.git_sha,
            "changed_outside": [asdict(c) for c in self.changed_outside],
            "pending": [asdict(c) for c in self.pending],
            "plan": self.summary.to_dict(),
        }


def check_drift(infra: Infra) -> DriftReport:
    """A normal plan, unlocked, into a scratch file (the reviewed plan in RUNNER_HOME/plans is left alone)."""
    scratch = infra.home / "drift" / f"{infra.env.name}{PLAN_SUFFIX}"
    try:
        result = infra.tf.plan(scratch, "-lock=false")
    finally:
        scratch.unlink(missing_ok=True)  # plan files can hold secrets; the summary is all we keep
    return DriftReport(env=infra.env.name, summary=result.summary, git_sha=git.sha(infra.env.root))


def render_drift(report: DriftReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2)
    outside, pending = report.changed_outside, report.pending
    if fmt == "markdown":
        state = "drift detected" if report.drifted else "no drift"
        lines = [f"## Drift check: `{report.env}`: {state}", ""]
        if report.git_sha:
            lines += [f"Compared with the configuration at `{report.git_sha[:12]}`.", ""]
        if not report.drifted:
            lines += ["The infrastructure matches the configuration; the next apply would change nothing.", ""]
            return "\n".join(lines)
        if outside:
            lines += ["**Changed outside Terraform** (the next apply reverts these):", ""]
            lines += [f"- `{c.address}` ({c.action})" for c in outside] + [""]
        if pending:
            lines += ["**Configuration not yet applied** (or changed out of band without a trace in state):", ""]
            lines += [f"- `{c.address}` ({c.action})" for c in pending] + [""]
        plan_md = render_markdown(report.summary, report.env)
        plan_md = plan_md.replace("### Terraform plan:", "### What the next apply would do:")
        return "\n".join(lines) + plan_md
    lines = [f"Drift check for {report.env}: {'DRIFT' if report.drifted else 'no drift'}."]
    for c in outside:
        lines.append(f"  changed outside terraform: {c.address} ({c.action})")
    for c in pending:
        lines.append(f"  not yet applied: {c.address} ({c.action})")
    if report.drifted:
        lines.append(render_text(report.summary, report.env))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# The reviewed plan
# --------------------------------------------------------------------------------------------------------------


def import_reviewed_plan(infra: Infra, plan_dir: Path) -> PlanRecord:
    """Install ``plan_dir/NAME.plan`` + ``NAME.json`` as the env's saved plan: only if made for this code, current."""
    name = infra.env.name
    src_plan, src_record = plan_dir / f"{name}{PLAN_SUFFIX}", plan_dir / f"{name}.json"
    if not (src_plan.is_file() and src_record.is_file()):
        raise UsageError(
            f"--plan-dir: no reviewed plan for '{name}' in {plan_dir} (expected {name}{PLAN_SUFFIX} and {name}.json); "
            "nothing applied"
        )
    try:
        record = PlanRecord.load(src_record)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--plan-dir: {src_record.name} is not a plan record: {exc}") from None
    if record.env != name:
        raise UsageError(f"--plan-dir: {src_record.name} is a plan for '{record.env}', not '{name}'")
    tree, head = git.tree(infra.env.root), git.sha(infra.env.root)
    if tree is None or record.git_tree is None:
        raise UsageError(
            f"--plan-dir: cannot tell which code the plan for '{name}' was made from "
            f"({'this checkout is not a git repository' if tree is None else 'its record has no git tree'})"
        )
    if record.git_tree != tree:
        raise UsageError(
            f"--plan-dir: the plan for '{name}' was reviewed for commit {str(record.git_sha)[:12]} "
            f"(tree {record.git_tree[:12]}), but this checkout, {str(head)[:12]}, has tree {tree[:12]}: "
            "the code being applied is not the code that was reviewed; plan it again and review it"
        )
    infra.plan_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_plan, infra.plan_file)
    shutil.copyfile(src_record, infra.record_file)
    infra.tf.init()  # the lock file is part of the fingerprint; a fresh checkout has none before init
    reason = infra.staleness(record)
    if reason is not None:
        infra.discard_plan()
        raise UsageError(
            f"the reviewed plan for '{name}' (commit {str(record.git_sha)[:12]}) is stale: {reason}; "
            "nothing applied. Plan again (re-run the plan workflow) and review the new plan"
        )
    return record
