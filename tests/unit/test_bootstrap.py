"""The state-bucket bootstrap's pure parts: validation before any AWS call, backend.hcl, the default name."""

from __future__ import annotations

import pytest

from runner.core.errors import UsageError
from runner.core.project import resolve_env
from runner.infra.bootstrap import backend_text, default_bucket, has_s3_backend, validate
from tests.helpers import REPO


def test_only_s3_backend_envs_can_be_bootstrapped() -> None:
    assert has_s3_backend(resolve_env("dev", REPO)) and has_s3_backend(resolve_env("prod", REPO))
    assert not has_s3_backend(resolve_env("local", REPO))
    with pytest.raises(UsageError, match=r"^--env: envs/local has no S3 backend"):
        validate(resolve_env("local", REPO), None, None)


@pytest.mark.parametrize("bucket", ["ab", "Upper-Case", "under_score", "-leading", "a..b", "x" * 64])
def test_bad_bucket_names_are_refused(bucket: str) -> None:
    with pytest.raises(UsageError, match=r"^--bucket: "):
        validate(resolve_env("dev", REPO), bucket, None)


def test_kms_key_must_be_an_arn() -> None:
    with pytest.raises(UsageError, match=r"^--kms-key: "):
        validate(resolve_env("dev", REPO), None, "alias/state")
    validate(resolve_env("dev", REPO), "acme-state", "arn:aws:kms:eu-west-1:123456789012:key/abc")


def test_default_bucket_is_name_and_account() -> None:
    assert default_bucket(resolve_env("prod", REPO), "123456789012") == "batch-platform-prod-tfstate-123456789012"


def test_backend_hcl_names_bucket_and_region_and_emulator_settings_only_for_the_emulator() -> None:
    real = backend_text("b", "eu-west-1", emulator=False)
    assert 'bucket = "b"' in real and 'region = "eu-west-1"' in real and "skip_" not in real
    assert "use_path_style" in backend_text("b", "us-east-1", emulator=True)
