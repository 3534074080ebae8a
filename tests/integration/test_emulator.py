"""The embedded AWS keeps real bucket policies: conditional statements are not applied unconditionally."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.helpers import Project

pytestmark = pytest.mark.integration


def _policy(bucket: str, condition: bool) -> str:
    statement = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    if condition:
        statement["Condition"] = {"Bool": {"aws:SecureTransport": "false"}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_tls_only_policy_lets_requests_through_but_plain_deny_is_enforced(project: Project, emulator: dict) -> None:
    s3 = project.client("s3")
    bucket = "emulator-policy-check"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(bucket, condition=True))
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"

    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(bucket, condition=False))
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="a")
    s3.delete_bucket(Bucket=bucket)


def test_submission_bookkeeping_tests_run_batch_in_instant_mode(project: Project, emulator: dict) -> None:
    assert emulator["batch"] == "instant"
    status = project.run_json("local", "status", "--json")
    assert status["batch"] == "instant"
    assert "batch instant" in project.run("local", "status").stdout
