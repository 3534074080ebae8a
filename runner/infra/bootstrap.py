"""The state bucket of an env's S3 backend: created once per env with `runner infra bootstrap --env NAME`.

The bucket is versioned (every state revision can be recovered), encrypted, private, bucket-owner-enforced and
refuses plain-HTTP access. Locking needs no table: the env roots use Terraform's S3-native lock file
(`use_lockfile = true`). The bucket and region go to ``envs/NAME/backend.hcl``, which the runner passes to
``terraform init -backend-config``. Running it again changes nothing but re-asserts the settings.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from runner.aws.context import AwsContext, uses_emulator
from runner.core.errors import RunFailed, UsageError
from runner.core.project import Env

BACKEND_FILE = "backend.hcl"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_BACKEND = re.compile(r'backend\s+"s3"\s*\{')
_KMS = re.compile(r"^arn:aws[a-z-]*:kms:")
_SETTING = re.compile(r'^\s*(bucket|region)\s*=\s*"([^"]*)"', re.MULTILINE)


@dataclass
class BootstrapResult:
    env: str
    bucket: str
    region: str
    created: bool
    backend_config: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def has_s3_backend(env: Env) -> bool:
    return any(_S3_BACKEND.search(path.read_text()) for path in sorted(env.path.glob("*.tf")))


def backend_ready(env: Env, aws: AwsContext | None = None) -> Env:
    """Refuse, in one line with the command that fixes it, an env whose S3 backend was never bootstrapped or whose
    state bucket is gone (terraform would print its raw backend errors: "The attribute bucket is required")."""
    if not has_s3_backend(env):
        return env
    hcl = env.path / BACKEND_FILE
    fix = f"runner infra bootstrap --env {env.name} (platform team; analysts: set RUNNER_OUTPUTS_FILE)"
    if not hcl.exists():
        raise UsageError(f"--env: envs/{env.name} is not bootstrapped (no {BACKEND_FILE}): {fix}")
    bucket = dict(_SETTING.findall(hcl.read_text())).get("bucket")
    if not bucket:
        raise UsageError(f"--env: envs/{env.name}/{BACKEND_FILE} names no state bucket: {fix}")
    try:
        (aws or AwsContext(env)).client("s3").head_bucket(Bucket=bucket)
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


def default_bucket(env: Env, account_id: str) -> str:
    name = str(env.tfvars.get("name") or f"batch-platform-{env.name}")
    return f"{name}-tfstate-{account_id}"[:63].rstrip("-.")


def validate(env: Env, bucket: str | None, kms_key_arn: str | None) -> None:
    """Everything that can be checked before the first AWS call."""
    if not has_s3_backend(env):
        raise UsageError(
            f'--env: envs/{env.name} has no S3 backend (backend "s3" in its .tf files); nothing to bootstrap'
        )
    if bucket is not None and (not _BUCKET.match(bucket) or ".." in bucket or bucket.startswith("xn--")):
        raise UsageError(
            f"--bucket: '{bucket}' is not a valid S3 bucket name (3-63 lowercase letters, digits, . and -)"
        )
    if kms_key_arn is not None and not _KMS.match(kms_key_arn):
        raise UsageError(f"--kms-key: '{kms_key_arn}' is not a KMS key ARN")


def _tls_only_policy(bucket: str, partition: str) -> str:
    arn = f"arn:{partition}:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def backend_text(bucket: str, region: str, emulator: bool) -> str:
    lines = [
        "# Written by `runner infra bootstrap`: the state bucket of this env (terraform init -backend-config).",
        f'bucket = "{bucket}"',
        f'region = "{region}"',
    ]
    if emulator:
        # The embedded AWS answers on AWS_ENDPOINT_URL, path-style, with dummy credentials.
        lines += [
            "use_path_style              = true",
            "skip_credentials_validation = true",
            "skip_region_validation      = true",
            "skip_metadata_api_check     = true",
        ]
    return "\n".join(lines) + "\n"


def _create_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create the bucket; False when it already exists and is ours."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise UsageError(f"--bucket: '{bucket}' already belongs to another account; choose another name") from None
        raise RunFailed(f"creating state bucket {bucket}: {exc}") from None
    return True


def bootstrap(
    env: Env,
    aws: AwsContext,
    bucket: str | None = None,
    kms_key_arn: str | None = None,
) -> BootstrapResult:
    validate(env, bucket, kms_key_arn)
    region = env.region
    try:
        identity = aws.client("sts").get_caller_identity()
    except ClientError as exc:
        raise RunFailed(f"no usable AWS credentials for {env.name}: {exc}") from None
    partition = str(identity["Arn"]).split(":")[1]
    name = bucket or default_bucket(env, str(identity["Account"]))
    s3 = aws.client("s3")
    try:
        created = _create_bucket(s3, name, region)
        _configure(s3, name, partition, kms_key_arn, env.name)
    except ClientError as exc:
        raise RunFailed(f"configuring state bucket {name}: {exc}") from None
    backend = env.path / BACKEND_FILE
    backend.write_text(backend_text(name, region, uses_emulator(env)))
    return BootstrapResult(
        env=env.name,
        bucket=name,
        region=region,
        created=created,
        backend_config=str(Path("envs") / env.name / BACKEND_FILE),
    )


def _configure(s3: Any, name: str, partition: str, kms_key_arn: str | None, env_name: str) -> None:
    """Versioning, encryption (SSE-S3, or the KMS key), no public access, bucket-owner objects, TLS only, lifecycle
    rules for aborted uploads and old state versions, and tags."""
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    default: dict[str, Any] = {"SSEAlgorithm": "AES256"}
    if kms_key_arn:
        default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_arn}
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bool(kms_key_arn)}]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_policy(Bucket=name, Policy=_tls_only_policy(name, partition))
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort-incomplete-multipart",
                    "Status": "Enabled",
                    "Filter": {},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                },
                {
                    "ID": "old-state-versions",
                    "Status": "Enabled",
                    "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 365, "NewerNoncurrentVersions": 50},
                },
            ]
        },
    )
    s3.put_bucket_tagging(
        Bucket=name,
        Tagging={"TagSet": [{"Key": "Project", "Value": "batch-platform"}, {"Key": "Environment", "Value": env_name}]},
    )
