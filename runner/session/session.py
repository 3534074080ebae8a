"""`Session`: one env opened for one command, shared by every command group.

Everything is built on first use and once: the env (``--env`` resolved once), its outputs (loaded once, see
`runner.session.outputs`), the AWS context and its clients, the Batch gateway and the run store. A command asks
for what it needs; a command that never touches AWS creates no client.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from runner.aws.batch import Batch
from runner.aws.context import AwsContext
from runner.aws.retry import ONE_ATTEMPT_CONFIG
from runner.core.project import Env, resolve_env
from runner.session import outputs as contract
from runner.session.runs import RunStore


class Session:
    def __init__(self, env: Env, aws: AwsContext | None = None, outputs: contract.Outputs | None = None) -> None:
        self.env = env
        self.aws = aws or AwsContext(env)
        self._outputs = outputs  # given (tests, a caller that already has them) or loaded on first use

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def outputs(self) -> contract.Outputs:
        if self._outputs is None:
            self._outputs = contract.load(self.env, self.aws)
        return self._outputs

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    @property
    def s3(self) -> Any:
        return self.aws.client("s3")

    @property
    def ec2(self) -> Any:
        return self.aws.client("ec2")

    @property
    def logs(self) -> Any:
        return self.aws.client("logs")

    @cached_property
    def batch(self) -> Batch:
        """The Batch gateway; SubmitJob gets its own one-attempt client (see `runner.aws.batch`)."""
        return Batch(
            self.aws.client("batch"), lambda: self.aws.client("batch", config=ONE_ATTEMPT_CONFIG, name="batch-submit")
        )

    @cached_property
    def store(self) -> RunStore:
        cache = self.aws.home / "cache"
        return RunStore(self.s3, self.outputs.work_bucket, cache_dir=cache / "samples", records_dir=cache / "records")


def open_session(env_name: str | None) -> Session:
    """The session of ``--env`` (or ``$ENV``): resolves the env now; outputs and clients when first used."""
    return Session(resolve_env(env_name))
