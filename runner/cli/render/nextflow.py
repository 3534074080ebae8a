"""How a person sees Nextflow: the generated configuration, and a launched (or resumed) head job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.cli.render import show
from runner.core import console

if TYPE_CHECKING:
    from runner.nextflow.commands import Launched, NextflowConfig


def config(result: NextflowConfig, as_json: bool) -> None:
    show(result, as_json, _config)


def _config(result: NextflowConfig) -> None:
    if result.output is None:
        console.out.print(result.text, end="", markup=False)
    else:
        console.note(f"wrote {result.output}")


def launched(result: Launched, as_json: bool) -> None:
    show(result, as_json, _launched)


def _launched(result: Launched) -> None:
    s = result.summary
    run, env = s["run"], s["env"]
    verb = "resumed" if s["resume"] else "submitted"
    console.out.print(
        f"{verb} run {run}: head job {s['head_job_id']} on {s['head_queue']}\n"
        f"  work dir  {s['work_dir']}\n"
        f"  config    {s['config_uri']}\n"
        f"  follow it runner status {run} --env {env}   "
        f"(logs: runner logs {run} --env {env})",
        markup=False,
    )
