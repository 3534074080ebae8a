"""The local env's credentials: two random key pairs made by `runner local up`, the only ones its front door
(`runner.local.frontdoor`) accepts.

- ``user``: the runner, terraform's provider, packer, and any client the user points at the env
  (`runner local env` prints them as ``export`` lines);
- ``job``: what the local Batch hands to its containers; every AWS API but moto's own ``/moto-api/`` routes.

They live in ``RUNNER_HOME/local/credentials.json`` (mode 0600, written atomically). Every `runner local up` that
starts an emulator makes new ones, unless the old ones are kept (``--keep-credentials``, or
``RUNNER_LOCAL_KEEP_CREDENTIALS=1``), e.g. so that a shell that ran ``eval "$(runner local env)"`` keeps working
across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from runner.core.errors import RunFailed

FILE = "credentials.json"
KEEP_VAR = "RUNNER_LOCAL_KEEP_CREDENTIALS"
USER, JOB = "user", "job"
_KEY_CHARS = string.ascii_uppercase + string.digits
SIGNING_SERVICE = "runner-local"  # the service name the runner signs its own calls to the front door with


@dataclass(frozen=True)
class KeyPair:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


@dataclass(frozen=True)
class EnvCredentials:
    user: KeyPair
    job: KeyPair

    def secrets(self) -> dict[str, str]:
        """Access key id -> secret, for the signature check."""
        return {pair.access_key_id: pair.secret_access_key for pair in (self.user, self.job)}

    def role(self, access_key_id: str) -> str | None:
        return {self.user.access_key_id: USER, self.job.access_key_id: JOB}.get(access_key_id)

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {
            USER: {"access_key_id": self.user.access_key_id, "secret_access_key": self.user.secret_access_key},
            JOB: {"access_key_id": self.job.access_key_id, "secret_access_key": self.job.secret_access_key},
        }


def _pair(prefix: str) -> KeyPair:
    key = prefix + "".join(secrets.choice(_KEY_CHARS) for _ in range(20 - len(prefix)))
    return KeyPair(key, secrets.token_urlsafe(30))  # 40 characters, as AWS's secrets


def generate() -> EnvCredentials:
    return EnvCredentials(user=_pair("AKIALOCAL"), job=_pair("AKIAJOB"))


def path(state_dir: Path) -> Path:
    return state_dir / FILE


def write(target: Path, creds: EnvCredentials) -> None:
    """Write ``target`` with mode 0600 (never readable by others, not even for a moment), atomically."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(creds.to_dict(), out, indent=2)
    os.replace(tmp, target)


def load(source: Path) -> EnvCredentials:
    """The credentials in ``source``; RunFailed (one line) when the file is missing or not ours."""
    try:
        data = json.loads(source.read_text())
        return EnvCredentials(
            user=KeyPair(data[USER]["access_key_id"], data[USER]["secret_access_key"]),
            job=KeyPair(data[JOB]["access_key_id"], data[JOB]["secret_access_key"]),
        )
    except FileNotFoundError:
        raise RunFailed(
            f"the local env's credentials ({source}) are missing: restart it (runner local down && runner local up)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise RunFailed(
            f"the local env's credentials ({source}) are unreadable: restart it (runner local down && runner local up)"
        ) from None


def keep_requested() -> bool:
    return os.environ.get(KEEP_VAR, "").strip().lower() in ("1", "true", "yes")


def prepare(state_dir: Path, keep: bool) -> EnvCredentials:
    """New credentials for an emulator about to start, or the current ones when ``keep`` and they are readable."""
    target = path(state_dir)
    if keep and target.exists():
        try:
            creds = load(target)
            os.chmod(target, 0o600)
            return creds
        except RunFailed:
            pass
    creds = generate()
    write(target, creds)
    return creds


def signed_call(
    endpoint: str, method: str, route: str, pair: KeyPair, body: bytes = b"", timeout: float = 10.0
) -> tuple[int, bytes]:
    """One SigV4-signed HTTP call to the emulator (the runner's own health and configuration calls)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"Content-Type": "application/json"} if body else {}
    request = AWSRequest(method=method, url=f"{endpoint}{route}", data=body, headers=headers)
    SigV4Auth(Credentials(pair.access_key_id, pair.secret_access_key), SIGNING_SERVICE, "us-east-1").add_auth(request)
    prepared = request.prepare()
    outgoing = urllib.request.Request(
        prepared.url, data=body or None, method=method, headers=dict(prepared.headers.items())
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()
