"""`runner local reclaim JOB_ID`: the local Batch loses a running job's spot instance (`runner.local.reclaim`): its
container is killed and the attempt ends with Batch's 'Host EC2 (instance i-...) terminated.'; the job's retry
strategy decides what follows. Only in an emulator env whose Batch runs jobs in containers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runner.core.errors import UsageError
from runner.local import reclaim as local_reclaim
from runner.local import server as local

if TYPE_CHECKING:
    from runner.session import Session

WAIT_SECONDS = 30.0  # for the attempt to end once the worker sees its container gone


@dataclass(frozen=True)
class ReclaimRequest:
    job_id: str  # a RUNNING job (or JOB:INDEX array child)


@dataclass
class Reclaimed:
    job_id: str
    attempt: int  # the attempt that was reclaimed (1-based)
    status_reason: str | None
    status: str | None  # the job's status once the attempt ended

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "attempt": self.attempt,
            "status_reason": self.status_reason,
            "status": self.status,
        }


def reclaim(session: Session, request: ReclaimRequest) -> Reclaimed:
    check_emulator(session)
    job_id, batch = request.job_id, session.batch
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
    while time.monotonic() < deadline:
        after = batch.job(job_id) or before
        attempts = after.get("attempts") or []
        if len(attempts) >= attempt and attempt and attempts[attempt - 1].get("stoppedAt"):
            break
        time.sleep(0.1)
    ended = (after.get("attempts") or [{}])[attempt - 1] if attempt else {}
    return Reclaimed(job_id, attempt, ended.get("statusReason"), after.get("status"))


def check_emulator(session: Session) -> None:
    """The env is the emulator, it runs, and its Batch runs jobs in containers (else nothing could be reclaimed)."""
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
