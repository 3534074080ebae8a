"""AWS access for one environment: boto3 clients and the variables handed to terraform and packer.

For an emulator env (``envs/local``) everything points at the embedded AWS, signed with the env's own
credentials (made by `runner local up`, see ``runner.local.credentials``), and the emulator is started when it is
down. Every other env uses the caller's own credential chain untouched.
All clients use botocore's adaptive retry mode (`runner.aws.retry`). This module and `runner.local` are the
only places that know an env may be the emulator.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from runner.aws.retry import CLIENT_CONFIG
from runner.core import failures
from runner.core.project import Env, runner_home
from runner.local import server as local


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser with a fast path for the ISO 8601 UTC form S3 and most JSON APIs send
    (``2026-12-02T01:30:00.000Z``): dateutil's general parser costs ~0.15 ms a value, 0.15 s of CPU for the
    1,000 LastModified values of one LIST page. Anything else goes to botocore's parser unchanged."""
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return botocore_parse_timestamp(value)


def fast_timestamps(session: boto3.Session) -> None:
    """Responses of every client of SESSION parse timestamps with ``parse_timestamp``."""
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=parse_timestamp)


def uses_emulator(env: Env) -> bool:
    """The env runs against the embedded AWS (``emulator = true`` in its runner.toml)."""
    return bool(env.settings.get("emulator", False))


class AwsContext:
    """The AWS side of one env: clients, the emulator when needed, and subprocess variables."""

    def __init__(self, env: Env, home: Path | None = None) -> None:
        self.env = env
        self.home = home or runner_home(env.root)
        self._clients: dict[str, Any] = {}

    @cached_property
    def emulator(self) -> local.ServerInfo | None:
        info = local.ensure_up(self.home) if uses_emulator(self.env) else None
        if info is not None:
            failures.note_emulator(info.endpoint)  # a vanished bucket there means a restarted emulator
        return info

    @property
    def uses_emulator(self) -> bool:
        return uses_emulator(self.env)

    @property
    def endpoint_for_jobs(self) -> str | None:
        """The AWS endpoint jobs and generated configs must use: the emulator's (running or where it will listen,
        without starting it; in docker mode the address the local Batch's containers reach it on, which this
        machine reaches too), None for real AWS."""
        if not self.uses_emulator:
            return None
        info = local.status(self.home)
        return (info.job_endpoint or info.endpoint) if info else f"http://{local.HOST}:{local.configured_port()}"

    @property
    def region(self) -> str:
        return self.env.region

    @cached_property
    def session(self) -> boto3.Session:
        if self.emulator is not None:
            pair = local.user_credentials(self.emulator)
            session = boto3.Session(
                aws_access_key_id=pair.access_key_id,
                aws_secret_access_key=pair.secret_access_key,
                region_name=self.region,
            )
        else:  # the caller's own chain; an env from the user's config may name a profile
            session = boto3.Session(region_name=self.region, profile_name=self.env.settings.get("profile") or None)
        fast_timestamps(session)
        return session

    def client(self, service: str, config: Config | None = None, name: str | None = None) -> Any:
        """A cached client; ``config`` replaces the adaptive-retry default (give such a client its own ``name``)."""
        key = name or service
        if key not in self._clients:
            kwargs: dict[str, Any] = {"config": config or CLIENT_CONFIG}
            if self.emulator is not None:
                kwargs["endpoint_url"] = self.emulator.endpoint
            self._clients[key] = self.session.client(service, **kwargs)  # type: ignore[call-overload]
        return self._clients[key]

    def subprocess_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Variables for terraform, packer or the AWS CLI run against this env."""
        environ = dict(os.environ if base is None else base)
        if self.emulator is None:
            return environ
        for name in local.SHADOWED_VARIABLES:
            environ.pop(name, None)
        environ.update(local.aws_environment(self.emulator, self.region))
        return environ
