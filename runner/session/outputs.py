"""The env's output contract (what `modules/platform` outputs) with typed accessors, and where it is read from.

`load` tries, in order:

1. ``RUNNER_OUTPUTS_FILE``: a file a platform team hands to analysts (plain values or ``terraform output -json``);
2. the runner's cache, ``RUNNER_HOME/outputs/NAME.json`` (written whenever the runner applies or reads outputs
   through terraform: `runner.infra.outputs`);
3. the SSM parameter ``/<name>/runner/outputs`` (String, the contract as JSON with plain values; ``<name>`` is the
   env's ``name`` in its terraform.tfvars), published by the platform module: analysts need no terraform state;
4. terraform (``terraform output``), which needs the state (its S3 backend bootstrapped and its bucket there:
   `runner.infra.bootstrap.backend_ready`); its values are cached for next time.

A missing output is a UsageError naming it, never a KeyError.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.core.errors import UsageError
from runner.core.project import Env
from runner.infra import outputs as cache

if TYPE_CHECKING:  # annotations only: boto3 loads when an env's clients are made
    from runner.aws.context import AwsContext

OUTPUTS_FILE_VAR = "RUNNER_OUTPUTS_FILE"
HEAD_QUEUE = "head"


def parameter_name(env: Env) -> str:
    """The SSM parameter the platform publishes its outputs under."""
    return f"/{env.settings.get('name') or env.tfvars.get('name') or env.name}/runner/outputs"


@dataclass(frozen=True)
class Queue:
    key: str  # default, priority, head, ...
    name: str
    arn: str | None


class Outputs:
    """One env's outputs. ``values`` is the plain name -> value map; everything else reads it by name."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = dict(values)

    def require(self, name: str, key: str | None = None) -> Any:
        """One output (or one key of a map output); a UsageError naming it when the env lacks it."""
        value = self.values.get(name)
        if value in (None, "", {}, []):
            raise UsageError(f"--env: the env has no output '{name}'; apply it with the current modules first")
        if key is None:
            return value
        if not isinstance(value, dict) or not value.get(key):
            raise UsageError(f"--env: output '{name}' has no key '{key}'; apply the env with the current modules first")
        return value[key]

    def _map(self, name: str) -> dict[str, str]:
        value = self.values.get(name)
        return dict(value) if isinstance(value, dict) else {}

    def _optional(self, name: str) -> str | None:
        value = self.values.get(name)
        return str(value) if value else None

    # -- names and places -------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.require("name"))

    @property
    def name_or_none(self) -> str | None:
        return self._optional("name")

    @property
    def region(self) -> str:
        return str(self.require("region"))

    @property
    def region_or_none(self) -> str | None:
        return self._optional("region")

    @property
    def work_bucket(self) -> str:
        return str(self.require("bucket_names", "work"))

    @property
    def data_bucket(self) -> str | None:
        return self._map("bucket_names").get("data") or None

    @property
    def results_bucket(self) -> str | None:
        return self._map("bucket_names").get("results") or None

    @property
    def log_group(self) -> str | None:
        return self._optional("log_group_name")

    @property
    def aws_cli_path(self) -> str:
        return str(self.require("aws_cli_path"))

    # -- roles --------------------------------------------------------------------------------------------------

    @property
    def job_role_arn(self) -> str | None:
        return self._optional("job_role_arn")

    @property
    def job_role_arn_required(self) -> str:
        return str(self.require("job_role_arn"))

    # -- queues and job definitions -----------------------------------------------------------------------------

    @property
    def queue_names(self) -> dict[str, str]:
        return dict(self.require("job_queue_names"))

    def queue(self, ref: str, field: str = "--queue") -> Queue:
        """A queue by key (default, priority, head...), name or ARN."""
        names = self.queue_names
        arns = self._map("job_queue_arns")
        for key, name in names.items():
            if ref in (key, name, arns.get(key)):
                return Queue(key=key, name=name, arn=arns.get(key))
        known = ", ".join(sorted(k for k in names if k != HEAD_QUEUE))
        raise UsageError(f"{field}: unknown queue '{ref}' (this env's queues: {known})")

    def head_queue(self) -> Queue:
        return Queue(
            key=HEAD_QUEUE,
            name=str(self.require("job_queue_names", HEAD_QUEUE)),
            arn=str(self.require("job_queue_arns", HEAD_QUEUE)),
        )

    @property
    def job_definitions(self) -> dict[str, str]:
        return self._map("job_definition_arns")

    def job_definition(self, key: str) -> str:
        return str(self.require("job_definition_arns", key))


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Plain values from either form: ``{"x": 1}`` or terraform's ``{"x": {"value": 1, ...}}``."""
    return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in data.items()}


def from_file(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{OUTPUTS_FILE_VAR}: cannot read '{path}': {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{OUTPUTS_FILE_VAR}: '{path}' does not hold a JSON object of outputs")
    return _plain(data)


def from_parameter(env: Env, aws: AwsContext) -> dict[str, Any] | None:
    """The published outputs, or None when the parameter does not exist (not published yet) or is unreadable."""
    name = parameter_name(env)
    try:
        text = aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ParameterNotFound", "AccessDeniedException"):
            return None
        raise
    except BotoCoreError:  # no credentials or no endpoint: fall through to terraform
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise UsageError(f"--env: SSM parameter {name} does not hold JSON; re-apply the platform") from None
    return _plain(data) if isinstance(data, dict) else None


def load(env: Env, aws: AwsContext, refresh: bool = False) -> Outputs:
    """The env's outputs, from the first source that has them (see the module docstring)."""
    explicit = os.environ.get(OUTPUTS_FILE_VAR)
    if explicit:
        return Outputs(from_file(explicit))
    if not refresh:
        cached = cache.read(env, aws.home)
        if cached is not None:
            return Outputs(cached)
        published = from_parameter(env, aws)
        if published:
            return Outputs(published)
        if env.source == "user":  # no checkout, no terraform: the published parameter is the only source
            raise UsageError(
                f"--env: '{env.name}' has no published outputs (SSM parameter {parameter_name(env)} in "
                f"{env.region} is missing or unreadable): check --name/--region (runner env list) and your "
                "credentials, or ask the platform team to apply the env"
            )
    from runner.infra import bootstrap
    from runner.infra.plans import Infra  # terraform only when no published outputs exist

    bootstrap.backend_ready(env, aws)  # terraform needs the state: one line when its backend is not there
    values = Infra(env, home=aws.home).output_values()
    if not values:
        raise UsageError(f"--env: '{env.name}' has no outputs; apply it first (runner infra apply --env {env.name})")
    cache.save(env, values, aws.home)
    return Outputs(values)
