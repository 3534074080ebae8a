"""Plan, apply, destroy and read outputs of one environment, with saved plans that are checked for freshness.

A plan is saved as ``RUNNER_HOME/plans/NAME.tfplan`` beside ``NAME.json``, a record of what it was made from
(config fingerprint, state lineage and serial, git commit). Apply uses the saved plan only while it is
current; a stale one is refused, never silently re-planned. A protected env applies nothing but such a plan.
"""

from __future__ import annotations

import json
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


class Infra:
    """Terraform operations on one env; the CLI only parses arguments and prints."""

    def __init__(self, env: Env, stream: IO[str] | None = None, home: Path | None = None) -> None:
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
        return self.home / "plans" / f"{self.env.name}.tfplan"

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

    # ---- apply -----------------------------------------------------------------------------------------------

    def apply(self, auto_approve: bool, confirm: Callable[[Summary], bool] | None = None) -> Summary:
        """Apply the saved plan when current, else (unprotected envs only) plan and apply."""
        record = self.saved_plan()
        if record is not None:
            reason = self.staleness(record)
            if reason is not None:
                raise UsageError(
                    f"saved plan for '{self.env.name}' is stale: {reason}; "
                    f"run `runner infra plan --env {self.env.name}` and review it again"
                )
            summary = (
                Summary.from_dict(record.summary) if record.summary else summarize(self.tf.show_plan(self.plan_file))
            )
        elif self.env.protected:
            raise UsageError(
                f"--env: '{self.env.name}' is protected and applies only a saved, reviewed plan; "
                f"run `runner infra plan --env {self.env.name}` first"
            )
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
