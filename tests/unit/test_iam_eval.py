"""The test IAM evaluator (tests/iam_eval.py) judges requests the way IAM does for the cases the suite relies on."""

from __future__ import annotations

import json

import pytest

from tests.iam_eval import ALLOW, DENY, IMPLICIT_DENY, allowed, decide

BUCKET = "arn:aws:s3:::env-work"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/*"},
        {"Effect": "Deny", "Action": "s3:Put*", "Resource": f"{BUCKET}/runs/*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {"StringLike": {"s3:prefix": ["nextflow/*"]}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:CreateRole",
            "Resource": "arn:aws:iam::1:role/env-*",
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::1:policy/b"}},
        },
        {
            "Effect": "Deny",
            "Action": "batch:TagResource",
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:ResourceTag/Platform": "env"},
                "Null": {"aws:ResourceTag/Platform": "false"},
            },
        },
        {"Effect": "Allow", "Action": "batch:TagResource", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {"Null": {"aws:ResourceTag/Platform": "true"}},
        },
    ],
}


def test_explicit_deny_beats_allow_and_nothing_is_implicitly_denied() -> None:
    assert decide([POLICY], "s3:GetObject", f"{BUCKET}/runs/r/run.json") == ALLOW
    assert decide([POLICY], "s3:PutObject", f"{BUCKET}/runs/r/run.json") == DENY
    assert decide([POLICY], "s3:PutObject", f"{BUCKET}/nextflow/x") == ALLOW
    assert decide([POLICY], "s3:DeleteObject", f"{BUCKET}/nextflow/x") == IMPLICIT_DENY
    assert decide([json.dumps(POLICY)], "S3:getobject", f"{BUCKET}/a") == ALLOW  # actions ignore case


def test_conditions_need_their_key_unless_negated_or_if_exists() -> None:
    assert allowed([POLICY], "s3:ListBucket", BUCKET, {"s3:prefix": "nextflow/run1/"})
    assert not allowed([POLICY], "s3:ListBucket", BUCKET, {"s3:prefix": "runs/"})
    assert not allowed([POLICY], "s3:ListBucket", BUCKET)
    role = "arn:aws:iam::1:role/env-job"
    assert not allowed([POLICY], "iam:CreateRole", role)
    assert not allowed([POLICY], "iam:CreateRole", role, {"iam:PermissionsBoundary": "arn:aws:iam::1:policy/other"})
    assert allowed([POLICY], "iam:CreateRole", role, {"iam:PermissionsBoundary": "arn:aws:iam::1:policy/b"})
    job = "arn:aws:batch:r:1:job/x"
    assert decide([POLICY], "batch:TagResource", job) == ALLOW  # no tag yet: the Null test keeps the deny off
    assert decide([POLICY], "batch:TagResource", job, {"aws:ResourceTag/Platform": "env"}) == ALLOW
    assert decide([POLICY], "batch:TagResource", job, {"aws:ResourceTag/Platform": "other"}) == DENY
    assert allowed([POLICY], "ec2:CreateTags", "arn:aws:ec2:r:1:vpc/v")
    assert not allowed([POLICY], "ec2:CreateTags", "arn:aws:ec2:r:1:vpc/v", {"aws:ResourceTag/Platform": "env"})


def test_negated_and_if_exists_operators_hold_when_the_key_is_absent() -> None:
    for op in ("StringNotEquals", "StringEqualsIfExists", "ArnNotLike"):
        deny = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {op: {"k": "v"}}}]}
        assert decide([deny], "s3:GetObject", "x") == DENY, op
        present = DENY if op == "StringEqualsIfExists" else IMPLICIT_DENY
        assert decide([deny], "s3:GetObject", "x", {"k": "v"}) == present


def test_a_boundary_must_allow_too() -> None:
    boundary = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    assert allowed([POLICY], "s3:GetObject", f"{BUCKET}/a", boundary=[boundary])
    assert not allowed([POLICY], "s3:PutObject", f"{BUCKET}/a", boundary=[boundary])


def test_an_unknown_operator_fails_loudly() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {}}}]}
    with pytest.raises(ValueError, match="DateLessThan"):
        decide([policy], "s3:GetObject", "x")
