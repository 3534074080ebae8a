"""Resubmission: a run's rows sent again as a new job, linked in its record (kind ``retry``, with what it retries).

`runner retry RUN --failed` resubmits the failed rows (one array job per up to 10,000, or the failed single job);
the spot fallback (`runner.runs.fallback`) resubmits the rows it moves to the on-demand queue, saying why in
``moved``. The new job is rebuilt from the run's `JobSpec` (kept in the record) and its rows read from the sheet
as submitted; `runner status` then counts each row once, on its latest job.
"""

from __future__ import annotations

from runner.aws.batch import ARRAY_LIMIT
from runner.core.errors import UsageError
from runner.runs.payload import JobSpec, RunWriter, sample_tags, sheet_from_json, submission_token
from runner.session.runs import JobRef, RunRecord, new_rows_token


class Resubmitter(RunWriter):
    """New jobs for rows of a run that exists (`runner.runs.payload.RunWriter`: the env it writes in)."""

    def retry_failed(
        self, record: RunRecord, rows: list[int], retry_of: list[str], queue: str | None = None
    ) -> list[JobRef]:
        """New jobs for a run's failed rows, one array job per up to 10,000 rows (or the failed single job);
        ``queue``: on that queue instead of the run's."""
        moved = f"retry --failed --on-demand to {queue}" if queue else None
        if record.samples_key and rows:
            return [
                self.resubmit_rows(record, rows[start : start + ARRAY_LIMIT], retry_of, queue, moved)
                for start in range(0, len(rows), ARRAY_LIMIT)
            ]
        return [self.resubmit_rows(record, None, retry_of, queue, moved)]

    def resubmit_rows(
        self,
        record: RunRecord,
        rows: list[int] | None,
        retry_of: list[str],
        queue: str | None = None,
        moved: str | None = None,
    ) -> JobRef:
        """A new job for exactly these sheet rows (array index i -> rows[i]), linked in the record; ``queue``
        sends it to another queue than the run's (the spot fallback, saying why in ``moved``)."""
        spec_data = record.extra.get("spec")
        if not spec_data:
            raise UsageError(f"RUN: run '{record.run}' was not submitted by `runner submit`; cannot retry it")
        job_spec = JobSpec(**spec_data)
        if queue:
            job_spec.queue = queue
        number = sum(1 for j in record.jobs if j.kind == "retry") + 1
        name = f"{record.run}-retry{number}"
        data = self.store.load_sheet(record) if rows is not None else None
        sheet = sheet_from_json(data) if data is not None else None
        if not record.rows_token:  # a record from before the tokens
            record.rows_token = new_rows_token()
        extra_env, _kind = self._rows_env(record.run, name, sheet, rows, job_spec, record.rows_token)
        size = len(rows) if rows is not None and len(rows) > 1 else None
        req = job_spec.request(name, extra_env, size, [])
        req["tags"] = {**req["tags"], **sample_tags(sheet, rows)}
        job_id, _created = self.batch.submit(req, submission_token(record.run, name, rows))
        ref = JobRef(
            job_id=job_id,
            job_name=name,
            kind="retry",
            array_size=size,
            rows=rows,
            retry_of=",".join(retry_of),
            queue=queue,
            moved=moved,
        )
        record.jobs.append(ref)
        self.store.save(record)
        return ref
