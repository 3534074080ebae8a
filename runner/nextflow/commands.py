"""The use cases of `runner nextflow`: `configure` (the generated awsbatch configuration of an env) and `run` (a
pipeline with its head job in AWS; `runner retry` of a Nextflow run resumes it through `run`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.nextflow import pipeline as nf
from runner.nextflow import settings
from runner.nextflow.config import Closure, flatten
from runner.nextflow.pipeline import RunRequest
from runner.session.runs import validate_run_name

if TYPE_CHECKING:
    from runner.session import Session


@dataclass(frozen=True)
class ConfigRequest:
    output: Path | None = None  # write the config to this file (None: the result carries it)
    run: str | None = None  # the work dir nextflow/RUN and the cost label
    queue: str = settings.DEFAULT_TASK_QUEUE  # the tasks' queue: a key of the env's queues (or a name)


@dataclass
class NextflowConfig:
    env: str
    text: str
    settings: dict[str, Any]  # every setting, flattened (closures as their text)
    output: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "output": str(self.output) if self.output else None, "settings": self.settings}


@dataclass
class Launched:
    """A head job submitted and the run recorded (`runner nextflow run`, or `runner retry` resuming)."""

    summary: dict[str, Any]  # run, env, head job, queues, work dir, config, resume

    def to_dict(self) -> dict[str, Any]:
        return self.summary


def configure(session: Session, request: ConfigRequest) -> NextflowConfig:
    if request.run is not None:
        validate_run_name(request.run, "--run")
    endpoint = session.aws.endpoint_for_jobs
    tree = settings.build_config(session.env, session.outputs, request.run, request.queue, endpoint=endpoint)
    text = settings.config_text(session.env, tree, run=request.run)
    if request.output is not None:
        request.output.parent.mkdir(parents=True, exist_ok=True)
        request.output.write_text(text)
    flat = {k: (v.text if isinstance(v, Closure) else v) for k, v in flatten(tree).items()}
    return NextflowConfig(session.name, text, flat, request.output)


def run(session: Session, request: RunRequest) -> Launched:
    """Check offline, then against AWS (queues, the input: sheet), then stage, submit the head job and record."""
    nf.plan_run(session.env, session.outputs, request, store=None)  # everything checkable offline, before AWS
    endpoint = session.aws.endpoint_for_jobs
    plan = nf.plan_run(session.env, session.outputs, request, store=session.store, endpoint=endpoint)
    nf.check_against_aws(plan, session.batch)
    nf.check_inputs(plan, session.s3)  # the input: sheet and its files, before anything is written or submitted
    record = nf.launch(plan, session.store, session.batch)
    return Launched(nf.plan_summary(plan, record))
