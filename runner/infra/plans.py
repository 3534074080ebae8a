"""Plan, apply, destroy and read outputs of one environment, with saved plans that are checked for freshness.

A plan is saved as ``RUNNER_HOME/plans/NAME.plan`` beside ``NAME.json``, a record of what it was made from
(config fingerprint, state lineage and serial, git commit). Never ``*.tfplan``: RUNNER_HOME defaults to ``.runner``
inside the checkout, and Atlantis takes every untracked ``*.tfplan`` in its working copy (ignored files included)
for a pending plan of a project in that file's folder, so it would offer to apply ghost projects such as
``.runner/plans``. Scratch plans (the drift checks) follow the same rule.

``apply`` on an unprotected env plans afresh unless a saved plan is asked for (``saved=True``: ``--saved``,
``--plan FILE``, ``--plan-dir``); a protected env applies nothing but its saved, reviewed plan. A saved plan is
applied only while it is current:

* *stale*: the configuration or the state changed since it was made (fingerprint, lineage/serial);
* *drifted*: a refresh-only plan (``terraform plan -refresh-only -detailed-exitcode``, read-only) finds the real
  infrastructure changed outside terraform since the plan was made. The plan was computed against the
  infrastructure as it was then (its ``prior_state``); applying it now would not undo the change and would
  report success. Only what the configuration manages counts (attributes it sets, blocks); values AWS keeps
  changing by itself (a compute environment's desired vCPUs as Batch scales) do not. The refusal names each
  drifted resource and attribute.

Either way the apply is refused, never silently re-planned.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from runner.aws.context import AwsContext
from runner.core import git
from runner.core.errors import UsageError
from runner.core.project import Env, runner_home
from runner.infra import outputs
from runner.infra.plan_summary import Summary, summarize
from runner.infra.terraform import Terraform, config_fingerprint

# The suffix of every plan file the runner writes (saved, reviewed and scratch plans); see the module docstring.
PLAN_SUFFIX = ".plan"


@dataclass
class PlanRecord:
    env: str
    config: str
    lineage: str | None
    serial: int | None
    created: float
    git_sha: str | None
    has_changes: bool
    destroy: bool = False
    git_tree: str | None = None  # the tree of git_sha: what a squash or merge commit of the same code shares
    summary: dict[str, Any] | None = None  # Summary.to_dict() of the plan (records made before it: None)

    @classmethod
    def load(cls, path: Path) -> PlanRecord:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class Drifted:
    """A resource whose real settings differ from what a saved plan was computed against."""

    address: str
    attributes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.address} ({', '.join(self.attributes)})" if self.attributes else self.address


def managed_resources(state_values: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Address -> attribute values of every managed resource in a `show -json` state (modules walked)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource.get("mode") == "managed":
                found[resource["address"]] = resource.get("values") or {}
        for child in module.get("child_modules", []):
            walk(child)

    walk((state_values or {}).get("root_module") or {})
    return found


def changed_attributes(before: Any, after: Any, path: str = "", depth: int = 0, config: Any = None) -> list[str]:
    """Dotted paths of what differs (nested blocks down to 4 levels deep; one-element block lists need no index).

    With ``config`` (the resource's expressions from the plan's `configuration`), only what the configuration
    manages counts: attributes it sets, and nested blocks (a dynamic block is not in the expressions but is
    managed). Attributes it leaves to the provider or to AWS (a compute environment's desired vCPUs, which
    Batch changes as it scales; statuses; tags_all) are not drift a plan would act on.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict) and depth < 8:
        paths: list[str] = []
        for key in sorted(set(before) | set(after)):
            b, a = before.get(key), after.get(key)
            sub_config = None
            if isinstance(config, dict):
                if key not in config and not (_is_block(b) or _is_block(a)):
                    continue  # computed or left unset: not managed by the configuration
                sub_config = config.get(key)
                if isinstance(sub_config, list):  # a static block: the union of its expressions
                    merged: dict[str, Any] = {}
                    for item in sub_config:
                        merged.update(item if isinstance(item, dict) else {})
                    sub_config = merged
                else:
                    sub_config = None  # an expression: everything below it is managed
            paths += changed_attributes(b, a, f"{path}.{key}" if path else key, depth + 1, sub_config)
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after) and depth < 8:
        paths = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            paths += changed_attributes(b, a, path if len(before) == 1 else f"{path}[{i}]", depth + 1, config)
        return paths
    return [path or "(the whole resource)"]


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


_MODULE_STEP = re.compile(r'^module\.([^.\[]+)(?:\[(?:"[^"]*"|[^\]]*)\])?\.')
_INSTANCE_KEY = re.compile(r'\[(?:"[^"]*"|[^\]]*)\]$')


def resource_expressions(configuration: dict[str, Any] | None, address: str) -> dict[str, Any] | None:
    """The configuration expressions of the resource an instance address belongs to; None when not found."""
    module = (configuration or {}).get("root_module") or {}
    rest = address
    while match := _MODULE_STEP.match(rest):
        module = (module.get("module_calls", {}).get(match.group(1)) or {}).get("module") or {}
        rest = rest[match.end() :]
    resource = _INSTANCE_KEY.sub("", rest)
    for item in module.get("resources", []):
        if item.get("address") == resource and item.get("mode", "managed") == "managed":
            expressions: dict[str, Any] = item.get("expressions") or {}
            return expressions
    return None


def drift_between(
    then: dict[str, Any] | None, now: dict[str, Any] | None, configuration: dict[str, Any] | None = None
) -> list[Drifted]:
    """Resources of `now` (a state as read today) that differ from `then` (the state a plan was computed on), in
    what the configuration manages when `configuration` (a plan's) is given."""
    before, after = managed_resources(then), managed_resources(now)
    drifted: list[Drifted] = []
    for address in sorted(set(before) | set(after)):
        if address not in after:
            drifted.append(Drifted(address, ("deleted outside terraform",)))
        elif address not in before:
            drifted.append(Drifted(address, ("appeared in the state",)))
        else:
            config = resource_expressions(configuration, address) if configuration else None
            paths = changed_attributes(before[address], after[address], config=config)
            if paths:
                drifted.append(Drifted(address, tuple(paths)))
    return drifted


def describe_drift(drifted: list[Drifted], limit: int = 5) -> str:
    shown = "; ".join(str(d) for d in drifted[:limit])
    return shown + (f"; and {len(drifted) - limit} more" if len(drifted) > limit else "")


class Infra:
    """Terraform operations on one env; the CLI only parses arguments and prints."""

    def __init__(self, env: Env, stream: IO[str] | None = None, home: Path | None = None) -> None:
        env.require_checkout("infra")
        self.env = env
        self.home = home or runner_home(env.root)
        self.aws = AwsContext(env, self.home)
        self._stream = stream
        self._tf: Terraform | None = None

    @property
    def tf(self) -> Terraform:
        if self._tf is None:
            backend = [str(p.name) for p in sorted(self.env.path.glob("backend.hcl"))]
            self._tf = Terraform(
                self.env.path,
                self.env.root / "modules",
                self.home,
                environ=self.aws.subprocess_env(),
                stream=self._stream,
                backend_config=backend,
            )
        return self._tf

    @property
    def plan_file(self) -> Path:
        return self.home / "plans" / f"{self.env.name}{PLAN_SUFFIX}"

    @property
    def record_file(self) -> Path:
        return self.home / "plans" / f"{self.env.name}.json"

    def fingerprint(self) -> str:
        return config_fingerprint(self.env.path, self.env.root / "modules")

    # ---- plan ------------------------------------------------------------------------------------------------

    def init(self) -> None:
        self.tf.init(force=True)

    def plan(self, destroy: bool = False, extra: tuple[str, ...] = ()) -> tuple[Summary, PlanRecord]:
        """One `terraform plan -json`: the summary comes from its stream, the state identity from the plan file."""
        result = self.tf.plan(self.plan_file, *extra, destroy=destroy)
        identity = result.identity
        record = PlanRecord(
            env=self.env.name,
            config=self.fingerprint(),
            lineage=identity[0] if identity else None,
            serial=identity[1] if identity else None,
            created=time.time(),
            git_sha=git.sha(self.env.root),
            has_changes=result.has_changes,
            destroy=destroy,
            git_tree=git.tree(self.env.root),
            summary=result.summary.to_dict(),
        )
        self.record_file.write_text(json.dumps(asdict(record), indent=2))
        return result.summary, record

    def saved_plan(self) -> PlanRecord | None:
        if not (self.plan_file.exists() and self.record_file.exists()):
            return None
        return PlanRecord.load(self.record_file)

    def staleness(self, record: PlanRecord) -> str | None:
        """Why the saved plan can no longer be applied, or None when it is current."""
        if record.config != self.fingerprint():
            return "the configuration (env or modules) changed since it was made"
        identity = self.tf.state_identity()
        current = (identity[0], identity[1]) if identity else (None, None)
        if current != (record.lineage, record.serial):
            return "the state changed since it was made (someone applied in between)"
        return None

    def drift_since(self, plan: dict[str, Any]) -> list[Drifted]:
        """What changed outside terraform since `plan` (a saved plan's `show -json`) was made: a refresh-only plan
        (read-only, unlocked, into a scratch file) gives the infrastructure as it is now; the saved plan holds
        it as it was then (its prior_state)."""
        scratch = self.home / "drift" / f"{self.env.name}-refresh{PLAN_SUFFIX}"
        try:
            now = self.tf.refresh_only_plan(scratch)
        finally:
            scratch.unlink(missing_ok=True)  # plan files can hold secrets
        return drift_between(
            plan.get("prior_state", {}).get("values"),
            now.get("prior_state", {}).get("values"),
            plan.get("configuration"),
        )

    def use_plan_file(self, path: Path) -> PlanRecord:
        """Make `path` (a plan saved by `runner infra plan`, its record `path.json` beside it) the env's saved plan."""
        record_path = path.with_suffix(".json")
        if not (path.is_file() and record_path.is_file()):
            raise UsageError(
                f"--plan: {path} is not a saved plan (expected {path.name} and {record_path.name}); nothing applied"
            )
        try:
            record = PlanRecord.load(record_path)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--plan: {record_path.name} is not a plan record: {exc}") from None
        if record.env != self.env.name:
            raise UsageError(f"--plan: {path.name} is a plan for '{record.env}', not '{self.env.name}'")
        self.plan_file.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve() != self.plan_file.resolve():
            shutil.copyfile(path, self.plan_file)
            shutil.copyfile(record_path, self.record_file)
        return record

    # ---- apply -----------------------------------------------------------------------------------------------

    def checked_saved_plan(self) -> tuple[Summary, PlanRecord]:
        """The saved plan's summary, after refusing it when missing, stale or overtaken by drift."""
        name = self.env.name
        record = self.saved_plan()
        if record is None:
            if self.env.protected:
                raise UsageError(
                    f"--env: '{name}' is protected and applies only a saved, reviewed plan; "
                    f"run `runner infra plan --env {name}` first"
                )
            raise UsageError(f"--saved: '{name}' has no saved plan; run `runner infra plan --env {name}` first")
        reason = self.staleness(record)
        if reason is not None:
            raise UsageError(
                f"saved plan for '{name}' is stale: {reason}; run `runner infra plan --env {name}` and review it again"
            )
        plan = self.tf.show_plan(self.plan_file)
        drifted = self.drift_since(plan)
        if drifted:
            raise UsageError(
                f"saved plan for '{name}' refused: changed outside terraform since it was made: "
                f"{describe_drift(drifted)}; nothing applied. Run `runner infra plan --env {name}` and review the "
                "new plan"
            )
        return summarize(plan), record

    def apply(
        self, auto_approve: bool, confirm: Callable[[Summary], bool] | None = None, saved: bool = False
    ) -> Summary:
        """Unprotected envs: plan afresh and apply, or with `saved` apply the saved plan; protected envs: only the
        saved plan. A saved plan must be current and the infrastructure unchanged since it was made."""
        if saved or self.env.protected:
            summary, record = self.checked_saved_plan()
        else:
            if not auto_approve and confirm is None:
                raise UsageError("--auto-approve: required to apply without a terminal to confirm on")
            summary, record = self.plan()
        if not auto_approve:
            if confirm is None:
                raise UsageError("--auto-approve: required to apply without a terminal to confirm on")
            if not confirm(summary):
                raise UsageError("apply: not confirmed; nothing applied")
        if record.has_changes:
            self.tf.apply_plan(self.plan_file)
        self.discard_plan()
        # Outputs only when they can have changed (or were never cached): a no-op apply reads nothing more.
        if record.has_changes or not outputs.cache_file(self.env, self.home).exists():
            outputs.save(self.env, self.output_values(), self.home)
        return summary

    def discard_plan(self) -> None:
        self.plan_file.unlink(missing_ok=True)
        self.record_file.unlink(missing_ok=True)

    # ---- destroy and outputs -----------------------------------------------------------------------------------

    def destroy(self, auto_approve: bool) -> None:
        if self.env.protected:
            raise UsageError(f"--env: '{self.env.name}' is protected; the runner does not destroy it")
        if not auto_approve:
            raise UsageError("--auto-approve: required to destroy")
        self.tf.destroy()
        self.discard_plan()
        outputs.forget(self.env, self.home)

    def output(self) -> dict[str, Any]:
        raw = self.tf.output()
        values = {name: item.get("value") for name, item in raw.items()}
        if values:
            outputs.save(self.env, values, self.home)
        return raw

    def output_values(self) -> dict[str, Any]:
        return self.tf.output_values()
