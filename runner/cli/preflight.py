"""Checks before the CLI hands an env to terraform: is its state reachable at all?

An env with an S3 backend needs ``runner infra bootstrap`` first (it creates the state bucket and writes
``envs/ENV/backend.hcl``). Without this check terraform prints its raw backend errors ("The attribute bucket is
required", "S3 bucket does not exist"); here each becomes one line with the command that fixes it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from botocore.exceptions import ClientError

from runner.aws.context import AwsContext
from runner.core.errors import UsageError
from runner.core.project import Env
from runner.infra import bootstrap, outputs

_SETTING = re.compile(r'^\s*(bucket|region)\s*=\s*"([^"]*)"', re.MULTILINE)


def backend_ready(env: Env) -> Env:
    """Refuse an env whose S3 backend was never bootstrapped or whose state bucket is gone."""
    if not bootstrap.has_s3_backend(env):
        return env
    hcl = env.path / "backend.hcl"
    fix = f"runner infra bootstrap --env {env.name} (platform team; analysts: set {outputs.OUTPUTS_FILE_VAR})"
    if not hcl.exists():
        raise UsageError(f"--env: envs/{env.name} is not bootstrapped (no backend.hcl): {fix}")
    settings = dict(_SETTING.findall(hcl.read_text()))
    bucket = settings.get("bucket")
    if not bucket:
        raise UsageError(f"--env: envs/{env.name}/backend.hcl names no state bucket: {fix}")
    try:
        AwsContext(env).client("s3").head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise UsageError(
                f"--env: the state bucket {bucket} of envs/{env.name} does not exist (deleted, or another account): "
                f"{fix}"
            ) from None
        if code not in ("403", "AccessDenied", "301", "PermanentRedirect"):
            raise
    return env


def load_outputs(env: Env) -> dict[str, Any]:
    """``runner.infra.outputs.load``, after ``backend_ready`` when the values must come from the state."""
    if not os.environ.get(outputs.OUTPUTS_FILE_VAR) and not outputs.cache_file(env).exists():
        backend_ready(env)
    return outputs.load(env)
