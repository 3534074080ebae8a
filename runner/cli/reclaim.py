"""`runner local reclaim JOB_ID`: the local Batch loses a running job's spot instance (see runner.local.reclaim)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from botocore.exceptions import ClientError

from runner.aws.batch import Batch
from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.console import escape
from runner.core.errors import UsageError
from runner.local import reclaim as local_reclaim
from runner.local import server as local

WAIT_SECONDS = 30.0


def reclaim(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="A RUNNING job (or JOB:INDEX array child).")],
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reclaim a running job's spot instance: its container is killed and the attempt ends with Batch's
    'Host EC2 (instance i-...) terminated.'; the job's retry strategy decides what follows."""
    session = common.session(env or "local")
    if not session.aws.uses_emulator:
        raise UsageError(f"--env: '{session.name}' is not an emulator env; reclamation is simulated locally only")
    info = local.status(session.aws.home)
    if info is None:
        raise UsageError("JOB_ID: the emulator is not running (runner local up)")
    if info.batch != "docker":
        raise UsageError(
            "JOB_ID: the local Batch runs in instant mode (jobs end at submission): start it with "
            f"{local.BATCH_VAR}=docker runner local up"
        )
    batch: Batch = session.batch
    before = batch.job(job_id)
    if before is None:
        raise UsageError(f"JOB_ID: no job '{job_id}' on the local Batch")
    attempt = len(before.get("attempts") or [])
    try:
        batch.terminate(job_id, local_reclaim.RECLAIM_REQUEST)
    except ClientError as exc:
        raise UsageError(f"JOB_ID: {exc.response.get('Error', {}).get('Message', exc)}") from None
    after = before
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:  # the attempt ends once the worker sees its container gone
        after = batch.job(job_id) or before
        attempts = after.get("attempts") or []
        if len(attempts) >= attempt and attempt and attempts[attempt - 1].get("stoppedAt"):
            break
        time.sleep(0.1)
    ended = (after.get("attempts") or [{}])[attempt - 1] if attempt else {}
    result = {
        "job_id": job_id,
        "attempt": attempt,
        "status_reason": ended.get("statusReason"),
        "status": after.get("status"),
    }
    if as_json:
        console.print_json(result)
        return
    console.out.print(
        f"reclaimed {escape(job_id)} attempt {attempt}: {escape(str(result['status_reason']))}; "
        f"the job is now {result['status']}"
    )
