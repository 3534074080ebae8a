"""A small IAM policy evaluator for the tests: does a set of identity policies allow one request?

moto stores IAM policies but neither enforces their conditions nor offers SimulatePrincipalPolicy, so the
security tests read the policies the deployment rendered (from the emulator's IAM) and evaluate them here, the
way IAM does for a single account: an explicit Deny wins, else any Allow allows, else the request is implicitly
denied. A permissions boundary is one more set of policies that must also allow.

Supported: Action/NotAction, Resource/NotResource with `*` and `?` wildcards (actions case-insensitive), and the
condition operators the project's policies use (String*, Arn*, Null, Bool, with `...IfExists`). An operator it
does not know raises, so a policy it cannot judge fails the test instead of passing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"

Context = Mapping[str, str | Sequence[str]]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def _matches_any(patterns: Iterable[str], value: str, case_sensitive: bool = True) -> bool:
    return any(_glob(p, value, case_sensitive) for p in patterns)


def _lookup(context: Context, key: str) -> list[str] | None:
    for k, v in context.items():
        if k.lower() == key.lower():
            return [str(x) for x in as_list(v)]
    return None


# Negated operators hold when the key is absent (IAM: "the right key is not present, the condition is true").
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
_KNOWN = _NEGATED | {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Null", "Bool"}


def _compare(op: str, expected: list[str], actual: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return actual in expected
    if op == "StringEqualsIgnoreCase":
        return actual.lower() in {e.lower() for e in expected}
    if op in ("StringLike", "ArnLike"):
        return _matches_any(expected, actual)
    if op == "Bool":
        return actual.lower() in {e.lower() for e in expected}
    raise ValueError(f"condition operator {op} is not supported by the test evaluator")


def _condition_holds(raw_op: str, block: Mapping[str, Any], context: Context) -> bool:
    op = raw_op
    if ":" in op:
        raise ValueError(f"set operator {op} is not supported by the test evaluator")
    if_exists = op.endswith("IfExists")
    if if_exists:
        op = op[: -len("IfExists")]
    if op not in _KNOWN:
        raise ValueError(f"condition operator {raw_op} is not supported by the test evaluator")
    for key, values in block.items():
        expected = [str(v) for v in as_list(values)]
        actual = _lookup(context, key)
        if op == "Null":
            wants_absent = expected[0].lower() == "true"
            if (actual is None) != wants_absent:
                return False
            continue
        if actual is None:
            if if_exists or op in _NEGATED:
                continue
            return False
        if op in _NEGATED:
            positive = op.replace("Not", "", 1)
            if any(_compare(positive, expected, a) for a in actual):
                return False
        elif not any(_compare(op, expected, a) for a in actual):
            return False
    return True


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    if "Action" in statement:
        if not _matches_any(as_list(statement["Action"]), action, case_sensitive=False):
            return False
    elif _matches_any(as_list(statement["NotAction"]), action, case_sensitive=False):
        return False
    if "Resource" in statement:
        if not _matches_any(as_list(statement["Resource"]), resource):
            return False
    elif _matches_any(as_list(statement["NotResource"]), resource):
        return False
    return all(_condition_holds(op, block, context) for op, block in statement.get("Condition", {}).items())


def document(raw: Any) -> dict[str, Any]:
    """A policy document as IAM or moto returns it: a dict, JSON text or URL-encoded JSON text."""
    if isinstance(raw, str):
        text = raw if raw.lstrip().startswith("{") else unquote(raw)
        return dict(json.loads(text))
    return dict(raw)


def statements(policies: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in policies:
        out += [dict(s) for s in as_list(document(policy)["Statement"])]
    return out


def decide(policies: Iterable[Any], action: str, resource: str, context: Context | None = None) -> str:
    """Allow, Deny (explicit) or ImplicitDeny for one action on one resource ARN under a request context."""
    ctx = context or {}
    found = [s for s in statements(policies) if statement_applies(s, action, resource, ctx)]
    if any(s.get("Effect") == "Deny" for s in found):
        return DENY
    if any(s.get("Effect") == "Allow" for s in found):
        return ALLOW
    return IMPLICIT_DENY


def allowed(
    policies: Iterable[Any],
    action: str,
    resource: str,
    context: Context | None = None,
    boundary: Iterable[Any] | None = None,
) -> bool:
    """True when the identity policies allow the request (and the boundary too, when there is one)."""
    if decide(policies, action, resource, context) != ALLOW:
        return False
    return boundary is None or decide(boundary, action, resource, context) == ALLOW


def role_policies(iam: Any, role_name: str) -> list[dict[str, Any]]:
    """Every identity policy of a role: inline documents and the default version of each attached policy."""
    docs = [
        document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        docs.append(managed_policy(iam, attached["PolicyArn"]))
    return docs


def managed_policy(iam: Any, arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


__all__ = [
    "ALLOW",
    "DENY",
    "IMPLICIT_DENY",
    "allowed",
    "as_list",
    "decide",
    "document",
    "managed_policy",
    "role_policies",
    "statements",
]
