"""`runner cancel RUN_OR_JOB`: cancel queued jobs, terminate running ones (runner.runs.cancel)."""

from __future__ import annotations

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt, TargetArg
from runner.cli.render import runs as view


def cancel(target: TargetArg, env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel the run's queued jobs and terminate its running ones."""
    from runner.runs import cancel as use_case

    view.cancelled(use_case.cancel(common.session(env), use_case.CancelRequest(target=target)), as_json)
