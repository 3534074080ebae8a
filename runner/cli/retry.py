"""`runner retry RUN --failed`: resubmit the failed rows of a run; a Nextflow run is resumed (`runner retry RUN`)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common, spot
from runner.cli.common import EnvOpt, JsonOpt
from runner.compute.spot import DEFAULT_MAX_SPOT_ATTEMPTS, policy
from runner.core import console
from runner.core.console import escape
from runner.core.errors import UsageError


def retry(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run whose failed rows to resubmit.")],
    failed: Annotated[
        bool, typer.Option("--failed", help="Resubmit only the failed rows (a Nextflow run is resumed instead).")
    ] = False,
    on_demand: Annotated[
        bool,
        typer.Option(
            "--on-demand",
            help="To the on-demand queue: with --failed the failed rows; alone, the rows the spot fallback moves.",
        ),
    ] = False,
    max_spot_attempts: spot.MaxSpotOpt = DEFAULT_MAX_SPOT_ATTEMPTS,
    spot_patience: spot.SpotPatienceOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resubmit only the failed rows of a run as a new array job, linked in the run record; `--on-demand` moves
    rows to the on-demand queue. A Nextflow run is resumed instead (nextflow -resume)."""
    from runner.runs import tracking
    from runner.runs.submission import Submitter

    session = common.session(env)
    rules = policy(max_spot_attempts, spot_patience, session.env.settings)
    record = session.store.load(run)
    if record is not None and record.kind == "nextflow":
        from runner.cli import nextflow as nextflow_cli
        from runner.nextflow.pipeline import resume_request

        console.note(
            f"{run} is a Nextflow run: retrying it means resuming it (nextflow -resume in its work directory; "
            "finished tasks are reused)"
        )
        nextflow_cli.launch(session, resume_request(record), as_json)
        return
    if not failed and not on_demand:
        raise UsageError("--failed: required (runner retry RUN --failed), or --on-demand for the spot fallback")
    if record is None:
        raise UsageError(f"RUN: no run '{run}' in this env (runner list --env {session.name})")
    if on_demand and not failed:
        moved = spot.move_now(session, record, rules)
        if as_json:
            console.print_json({"run": run, "moved": moved})
        else:
            console.out.print(f"{escape(run)}: {spot.moved_text(moved)}")
        return
    # One resubmission of a run at a time (the lock `runner submit` takes): two retries never both resubmit a row.
    with session.store.lock(run):
        record = session.store.load(run) or record
        st = tracking.run_status(session.batch, record, reasons=0)  # failed rows; their reasons are not shown
        if not st.failures:
            if as_json:
                console.print_json({"run": run, "retried": [], "job": None})
            else:
                console.out.print(f"{run}: nothing failed; nothing to retry")
            return
        rows = st.failed_rows()
        queue = spot.on_demand_queue(session, record) if on_demand else None
        refs = Submitter.for_session(session, log=console.note).retry_failed(
            record, rows, retry_of=sorted({f.job_id for f in st.failures}), queue=queue
        )
    if as_json:
        jobs = [{"job_id": r.job_id, "job_name": r.job_name, "array_size": r.array_size} for r in refs]
        console.print_json({"run": run, "retried_rows": rows, "jobs": jobs})
        return
    for ref in refs:
        what = f"{len(ref.rows)} failed rows" if ref.rows else "the failed job"
        console.out.print(f"{escape(run)}: resubmitted {what} as {ref.job_id} ({escape(ref.job_name)})")
    console.out.print(f"Follow it: runner status {escape(run)} --watch --env {session.name}")
