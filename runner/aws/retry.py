"""The one throttling and backoff policy of the runner.

Clients use botocore's adaptive retry mode (``CLIENT_CONFIG``), which backs off on throttling by itself. Where
the runner loops on its own (polling, log tailing, the one-attempt SubmitJob), it asks ``is_throttling`` and
waits ``backoff(attempt)``. ``THROTTLING_CODES`` are the throttling errors AWS documents for Batch (HTTP 429),
S3 (HTTP 503) and CloudWatch Logs, plus the generic query-protocol ones that EC2 and SSM return.
"""

from __future__ import annotations

import random

from botocore.config import Config

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",  # CloudWatch Logs, most JSON APIs
        "TooManyRequestsException",  # Batch (429)
        "SlowDown",  # S3 (503)
        "Throttling",  # query-protocol APIs (SSM, EC2 via botocore)
        "RequestLimitExceeded",  # EC2
    }
)

CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=80,  # staging: 64 file threads + 8 part threads + the listing (runner.files.staging)
)
# SubmitJob's own client: exactly one attempt; `runner.aws.batch.Batch.submit` decides what happens after an error.
# botocore reads ``max_attempts`` in a client Config as *retries* (it adds one, in every mode), so
# ``max_attempts: 1`` sends a request twice; ``total_max_attempts`` counts the first attempt too.
ONE_ATTEMPT_CONFIG = CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))


def error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    return int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_throttling(exc: BaseException) -> bool:
    """AWS refused the call for its rate: nothing happened, waiting and calling again is safe."""
    return error_code(exc) in THROTTLING_CODES or http_status(exc) == 429


def backoff(attempt: int, base: float = 0.5, cap: float = 20.0, jitter: bool = True) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential from ``base``, capped, with half jitter."""
    delay: float = min(cap, base * 2**attempt)
    return delay * (0.5 + random.random() / 2) if jitter else delay
