"""The embedded AWS process: moto's server with one correction, so envs/local keeps every real setting.

moto enforces S3 bucket policies but cannot evaluate their conditions: a statement with a condition is applied
as if the condition always matched. The platform's TLS-only policy (Deny s3:* when aws:SecureTransport is
false) would then refuse every object request. Real AWS only applies a conditional statement when its
condition holds; since the emulator cannot tell, it leaves such statements out of its decision instead of
applying them unconditionally. Unconditional statements are enforced exactly as moto does.

Run as ``python -m runner.local.emulator -H 127.0.0.1 -p PORT`` (what `runner local up` does).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _patch_bucket_policy_conditions() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        statements = document.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        document["Statement"] = [s for s in statements if "Condition" not in s]
        if not document["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    _patch_bucket_policy_conditions()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
