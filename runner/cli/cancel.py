"""`runner cancel RUN_OR_JOB`: cancel queued jobs, terminate running ones."""

from __future__ import annotations

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt, TargetArg
from runner.core import console
from runner.core.console import escape


def cancel(target: TargetArg, env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel the run's queued jobs and terminate its running ones."""
    from runner.runs import tracking
    from runner.session.runs import resolve_target

    session = common.session(env)
    record = resolve_target(session.store, session.batch, target)
    done = tracking.cancel(session.batch, record)
    if as_json:
        console.print_json({"run": record.run, **done})
        return
    console.out.print(
        f"{escape(record.run)}: cancel requested for {len(done['cancelled'])} queued, terminate for "
        f"{len(done['terminated'])} running job(s); {len(done['finished'])} already finished."
    )
