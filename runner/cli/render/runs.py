"""How a person sees runs: status tables, the watch (a progress bar on a terminal, a line per change otherwise),
what was submitted, the run list, cancel, retry, logs and a reclaimed attempt."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from runner.cli.render import STYLE, print_table, show, styled
from runner.core import console
from runner.core.console import escape

if TYPE_CHECKING:  # imported by the commands that render, when they run (see tests/unit/test_cli_imports.py)
    from runner.nextflow.commands import Launched
    from runner.runs.cancel import Cancelled
    from runner.runs.list_runs import RunList
    from runner.runs.logs import LogsResult
    from runner.runs.reclaim import Reclaimed
    from runner.runs.retry import Moved, Retried
    from runner.runs.status import StatusResult
    from runner.runs.submission import SubmitResult
    from runner.runs.submit import DryRun
    from runner.runs.tracking import RunStatus

SHOWN = 20  # failed rows a status table shows (their reasons are the ones described)
NUMBERS = ("jobs", "total", "succeeded", "failed", "running", "queued")


# ---------------------------------------------------------------------------------------------------------------
# While a use case works: notes, a submitted run, the watch
# ---------------------------------------------------------------------------------------------------------------


class Terminal:
    """Prints what a run's use case does while it works (a `runner.runs.submit.SubmitListener`): notes (dim, on
    stderr), a submitted run before it is followed, and every poll of the watch (a progress bar on a terminal, a
    line per change of the counts otherwise, nothing with ``--json``)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.run: str | None = None  # the run followed, once a watch began
        self.env = ""  # its env
        self._last: dict[str, int] = {}
        self._progress: Any = None
        self._task: Any = None

    def note(self, line: str) -> None:
        console.note(line)

    def submitted(self, result: SubmitResult) -> None:
        if not self.as_json:
            submitted_lines(result, follow_hint=False)

    def watching(self, run: str, env: str) -> None:
        self.run, self.env = run, env

    def poll(self, status: RunStatus) -> None:
        if self.as_json:
            return
        if not console.err.is_terminal:
            if dict(status.counts) != self._last:
                self._last = dict(status.counts)
                console.note(f"{status.run}: {status.state} ({plain_counts(status)})")
            return
        if self._progress is None:
            self._start(status.run)
        done = status.counts["SUCCEEDED"] + status.counts["FAILED"]
        self._progress.update(self._task, total=status.total or None, completed=done, counts=counts_text(status))

    def _start(self, run: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console.err,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(run, total=None, counts="")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def terminal(as_json: bool) -> Iterator[Terminal]:
    """The `Terminal` of one command; Ctrl-C while a run is followed says how to follow it again."""
    screen = Terminal(as_json)
    try:
        yield screen
    except KeyboardInterrupt:
        screen.close()
        if screen.run is not None:
            console.err.print(
                f"stopped watching; the run goes on: runner status {escape(screen.run)} --watch --env {screen.env}"
            )
        raise
    finally:
        screen.close()


def counts_text(status: RunStatus) -> str:
    from runner.runs.tracking import STATUSES

    parts = [f"[{STYLE.get(s, 'default')}]{s.lower()} {status.counts[s]}[/]" for s in STATUSES if status.counts[s]]
    return ", ".join(parts) or "no jobs"


def plain_counts(status: RunStatus) -> str:
    from runner.runs.tracking import STATUSES

    return ", ".join(f"{s.lower()} {status.counts[s]}" for s in STATUSES if status.counts[s])


# ---------------------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------------------


def status(result: StatusResult, as_json: bool) -> None:
    """A run's status; a finished one's cost line under it. Exit 1 when a row failed or was never submitted."""
    show(result, as_json, _status)


def _status(result: StatusResult) -> None:
    render_status(result.status)
    if result.cost_line is not None:
        console.out.print(escape(result.cost_line))


def render_status(status: RunStatus, limit: int = SHOWN) -> None:
    from rich.table import Table

    from runner.runs.tracking import STATUSES

    console.out.print(f"run [bold]{escape(status.run)}[/]: {styled(status.state)}")
    table = Table()
    table.add_column("status")
    table.add_column("count", justify="right")
    for name in STATUSES:
        if status.counts[name]:
            table.add_row(styled(name), str(status.counts[name]))
    table.add_row("[bold]total[/]", f"[bold]{status.total}[/]")
    print_table(table)
    _jobs(status)
    if status.failures:
        _failures(status, limit)
    if status.incomplete:
        console.out.print(
            f"{status.unsubmitted} rows not submitted yet (the submit was interrupted): run the same "
            "`runner submit` again to finish it"
        )
    if status.tasks is not None:
        render_tasks(status, limit)


def _jobs(status: RunStatus) -> None:
    from rich.table import Table

    jobs = Table(show_header=True, box=None, pad_edge=False)
    for column in ("job id", "name", "kind", "size", "status"):
        jobs.add_column(column, no_wrap=True, min_width=36 if column == "job id" else None)
    for js in status.jobs:
        jobs.add_row(js.ref.job_id, escape(js.ref.job_name), js.ref.kind, str(js.ref.array_size or 1), js.status)
    print_table(jobs)
    for js in status.jobs:
        if js.ref.moved:
            rows = f"rows {', '.join(map(str, js.ref.rows))}" if js.ref.rows else "the job"
            console.out.print(
                f"moved {rows} to {escape(js.ref.queue or '?')} as {js.ref.job_id}: {escape(js.ref.moved)}"
            )


def _failures(status: RunStatus, limit: int) -> None:
    from rich.table import Table

    failed = Table(title=f"{len(status.failures)} failed", title_justify="left", box=None, pad_edge=False)
    for column in ("index", "row", "sample", "exit", "reason"):
        failed.add_column(column)
    for f in status.failures[:limit]:
        failed.add_row(
            "-" if f.index is None else str(f.index),
            "-" if f.row is None else str(f.row),
            escape(f.sample or "-"),
            "-" if f.exit_code is None else str(f.exit_code),
            escape(f.reason if f.reason is not None else "-"),
        )
    print_table(failed)
    if len(status.failures) > limit:
        console.out.print(f"... and {len(status.failures) - limit} more (--json lists all)")
    if status.kind == "nextflow":
        console.out.print(f"Resume it: runner retry {escape(status.run)} (nextflow -resume: finished tasks are reused)")
    else:
        console.out.print(f"Retry the failed rows: runner retry {escape(status.run)} --failed")


def render_tasks(status: RunStatus, limit: int = SHOWN) -> None:
    """A Nextflow run's task jobs: counts by status, then the failed ones with their reasons."""
    from rich.table import Table

    from runner.runs.tracking import STATUSES

    counts = status.task_counts
    parts = [f"[{STYLE.get(s, 'default')}]{s.lower()} {counts[s]}[/]" for s in STATUSES if counts[s]]
    console.out.print(f"Nextflow tasks: {len(status.tasks or [])}" + (f" ({', '.join(parts)})" if parts else ""))
    if not status.task_failures:
        return
    failed = Table(title=f"{len(status.task_failures)} failed tasks", title_justify="left", box=None, pad_edge=False)
    for column in ("task", "job id", "exit", "reason"):
        failed.add_column(column)
    for f in status.task_failures[:limit]:
        failed.add_row(
            escape(f.sample or "-"),
            f.job_id,
            "-" if f.exit_code is None else str(f.exit_code),
            escape(f.reason or "-"),
        )
    print_table(failed)
    if len(status.task_failures) > limit:
        console.out.print(f"... and {len(status.task_failures) - limit} more (--json lists all)")


# ---------------------------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------------------------


def submitted(result: SubmitResult | DryRun, as_json: bool) -> None:
    """What was submitted (or would be, with --dry-run); a followed run's final status. Exit 1 when it failed."""
    from runner.runs.submit import DryRun

    if isinstance(result, DryRun):
        show(result, as_json, _dry_run)
    else:
        show(result, as_json, _submitted)


def _submitted(result: SubmitResult) -> None:
    if result.status is None:
        submitted_lines(result, follow_hint=True)
    else:  # its submitted lines were printed before the watch (`Terminal.submitted`)
        render_status(result.status)


def submitted_lines(result: SubmitResult, follow_hint: bool) -> None:
    record, env = result.record, result.env
    if result.already:
        console.out.print(
            f"Run [bold]{escape(record.run)}[/] was already submitted ({len(record.jobs)} job(s)); "
            f"nothing submitted. See: runner status {escape(record.run)} --env {env}"
        )
        return
    plural = "s" if record.sample_count != 1 else ""
    rows = f" for {record.sample_count} sample{plural}" if record.sample_count else ""
    console.out.print(f"Submitted run [bold]{escape(record.run)}[/]{rows}: {len(record.jobs)} job(s) on {record.queue}")
    for j in record.jobs:
        size = f"array of {j.array_size}" if j.array_size else "single job"
        console.out.print(f"  {j.job_id}  {escape(j.job_name)}  ({size})")
    if follow_hint:
        console.out.print(f"Follow it: runner status {escape(record.run)} --watch --env {env}")


def _dry_run(result: DryRun) -> None:
    from runner.compute.resources import format_mib

    plan = result.plan
    run = escape(plan["run"])
    if plan["already_submitted"]:
        console.out.print(f"dry run: run [bold]{run}[/] was already submitted; nothing would be submitted")
        return
    res = plan["resources"]
    gpus = f", {res['gpus']} GPU(s)" if res["gpus"] else ""
    new = " (registered if missing)" if plan["new_job_definition"] else ""
    console.out.print(f"dry run: nothing submitted. Run [bold]{run}[/] would submit {len(plan['jobs'])} job(s):")
    console.out.print(f"  queue           {plan['queue']}")
    console.out.print(f"  job definition  {escape(plan['job_definition'])}{new}")
    console.out.print(f"  each job        {res['vcpus']} vCPU(s), {format_mib(res['memory_mib'])}{gpus}")
    for job in plan["jobs"]:
        size = f"array of {job['array_size']}" if job["array_size"] else "single job"
        after = f", after {', '.join(job['depends_on'])}" if job["depends_on"] else ""
        console.out.print(f"  {escape(job['job_name'])}  ({size}{after})")
    files = plan["files_to_stage"]
    console.out.print(f"  files to stage  {len(files)}" + "".join(f"\n    {escape(f)}" for f in files[:20]))
    if len(files) > 20:
        console.out.print(f"    ... and {len(files) - 20} more (--json lists all)")
    if plan["s3_inputs_checked"]:
        console.out.print(f"  s3:// inputs    {plan['s3_inputs_checked']} checked, all exist")


# ---------------------------------------------------------------------------------------------------------------
# List, cancel, retry, logs, reclaim
# ---------------------------------------------------------------------------------------------------------------


def run_list(result: RunList, as_json: bool) -> None:
    show(result, as_json, _run_list)


def _run_list(result: RunList) -> None:
    from rich.table import Table

    from runner.runs.tracking import ACTIVE, QUEUED

    if not result.rows:
        console.out.print("no runs" + (f" matching --status {result.status}" if result.status else ""))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("run", "created", "state", *NUMBERS):
        table.add_column(column, justify="right" if column in NUMBERS else "left")
    for row in result.rows:
        record, st = row.record, row.status
        table.add_row(
            escape(record.run),
            record.created_at,
            styled(st.state) + (f" ({st.unsubmitted} unsubmitted)" if st.incomplete else ""),
            str(len(record.jobs)),
            str(st.total),
            str(st.counts["SUCCEEDED"]),
            str(st.counts["FAILED"]),
            str(sum(st.counts[s] for s in ACTIVE)),
            str(sum(st.counts[s] for s in QUEUED)),
        )
    print_table(table)


def cancelled(result: Cancelled, as_json: bool) -> None:
    show(result, as_json, _cancelled)


def _cancelled(result: Cancelled) -> None:
    console.out.print(
        f"{escape(result.run)}: cancel requested for {len(result.cancelled)} queued, terminate for "
        f"{len(result.terminated)} running job(s); {len(result.finished)} already finished."
    )


def retried(result: Retried | Moved | Launched, as_json: bool) -> None:
    """Rows resubmitted, rows moved to on-demand, or (a Nextflow run) the run resumed."""
    from runner.nextflow.commands import Launched
    from runner.runs.retry import Moved

    if isinstance(result, Launched):
        from runner.cli.render.nextflow import launched

        launched(result, as_json)
    elif isinstance(result, Moved):
        show(result, as_json, _moved)
    else:
        show(result, as_json, _retried)


def _moved(result: Moved) -> None:
    if not result.moved:
        text = "no row to move (none reclaimed often enough, none waiting past the spot patience)"
    else:
        text = f"moved {len(result.moved)} row(s) to the on-demand queue as {result.moved[0]['to']}"
    console.out.print(f"{escape(result.run)}: {text}")


def _retried(result: Retried) -> None:
    if not result.jobs:
        console.out.print(f"{result.run}: nothing failed; nothing to retry")
        return
    for ref in result.jobs:
        what = f"{len(ref.rows)} failed rows" if ref.rows else "the failed job"
        console.out.print(f"{escape(result.run)}: resubmitted {what} as {ref.job_id} ({escape(ref.job_name)})")
    console.out.print(f"Follow it: runner status {escape(result.run)} --watch --env {result.env}")


def log_line(line: str) -> None:
    """One line of a job's log, as it is read."""
    console.out.print(line, markup=False, highlight=False)


def logs(result: LogsResult, as_json: bool) -> None:
    """The lines were printed as they were read (`log_line`); ``--json`` prints them all at the end."""
    show(result, as_json, lambda _result: None)


def reclaimed(result: Reclaimed, as_json: bool) -> None:
    show(result, as_json, _reclaimed)


def _reclaimed(result: Reclaimed) -> None:
    console.out.print(
        f"reclaimed {escape(result.job_id)} attempt {result.attempt}: {escape(str(result.status_reason))}; "
        f"the job is now {result.status}"
    )
