"""AWS and command-line failures as one line each: what went wrong and the command that fixes it.

``explain`` turns an exception the CLI did not expect (botocore's credential and client errors, click's usage
errors) into a ``RunnerError`` whose message is one line; ``runner.cli.main`` prints it instead of a traceback.
The AWS context records the emulator's endpoint (``note_emulator``) so that a bucket that vanished there is
reported as what it is: an emulator restarted since the env was applied (it keeps everything in memory).
"""

from __future__ import annotations

from typing import Any

from runner.core.errors import RunFailed, RunnerError, UsageError

RESTORE_LOCAL = "runner ami build --env local && runner infra apply --env local --auto-approve"
CREDENTIALS_HINT = "sign in (aws sso login, or set AWS_PROFILE / AWS_ACCESS_KEY_ID) and run it again"
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
INVALID = {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"}
_emulator: dict[str, str] = {}


def note_emulator(endpoint: str) -> None:
    """Called by the AWS context when the current command talks to the embedded AWS."""
    _emulator["endpoint"] = endpoint


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _client_error(exc: Any) -> RunnerError:
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code", ""))
    message = _one_line(error.get("Message", "") or str(exc))
    operation = getattr(exc, "operation_name", "") or "the AWS call"
    if code in EXPIRED:
        return RunFailed(f"your AWS credentials have expired ({code} on {operation}); {CREDENTIALS_HINT}")
    if code in INVALID:
        return RunFailed(f"AWS does not accept these credentials ({code} on {operation}); {CREDENTIALS_HINT}")
    if code == "NoSuchBucket":
        bucket = error.get("BucketName") or "the bucket"
        if "endpoint" in _emulator:
            return RunFailed(
                f"the embedded AWS at {_emulator['endpoint']} has no bucket {bucket}: it was restarted since "
                f"envs/local was applied and lost its state (it keeps all in memory); restore it: {RESTORE_LOCAL}"
            )
        return RunFailed(
            f"bucket {bucket} does not exist ({operation}); the env was destroyed or not applied: "
            "runner infra apply --env ENV"
        )
    if code in DENIED:
        return RunFailed(f"access denied: {operation} ({message}); ask the platform team for the analyst policy")
    return RunFailed(f"{operation} failed: {code}: {message}")


def explain(exc: BaseException) -> RunnerError | None:
    """A one-line ``RunnerError`` for a known failure, else None (the caller decides)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return RunFailed(f"no AWS credentials found; {CREDENTIALS_HINT}")
    if isinstance(exc, bx.ProfileNotFound):
        return UsageError(f"AWS_PROFILE: {_one_line(str(exc))}")
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return RunFailed(f"your AWS SSO session has expired or is missing; {CREDENTIALS_HINT}")
    if isinstance(exc, bx.NoRegionError):
        return UsageError("no AWS region: set AWS_REGION or the env's region in envs/ENV/runner.toml")
    if isinstance(exc, bx.EndpointConnectionError):
        where = " (the embedded AWS: runner local up)" if "endpoint" in _emulator else ""
        return RunFailed(f"cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')}{where}")
    if isinstance(exc, bx.ClientError):
        return _client_error(exc)
    if isinstance(exc, bx.BotoCoreError):
        return RunFailed(f"AWS: {_one_line(str(exc))}")
    return None
