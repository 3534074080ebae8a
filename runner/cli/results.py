"""`runner results RUN`: what a run's jobs wrote under its results prefix, per sample (runner.files.results)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import print_table
from runner.core import console
from runner.core.console import escape
from runner.core.errors import UsageError
from runner.files import results as results_mod
from runner.session.runs import validate_run_name


def results(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run whose results to list.")],
    download: Annotated[
        Path | None, typer.Option("--download", "-d", help="Fetch every object to DIR/<sample>/<name>.")
    ] = None,
    table: Annotated[
        str | None,
        typer.Option("--table", "-t", help="Merge each sample's NAME (CSV/TSV with a header) into one table."),
    ] = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List what a run wrote under s3://<results bucket>/RUN/, per sample (jobs write to $RUNNER_RESULTS_URI)."""
    validate_run_name(run, "RUN")
    if download is not None:
        results_mod.check_destination(download)
    if table is not None:
        results_mod.check_table_name(table)
    session = common.session(env)
    bucket = session.outputs.results_bucket
    if bucket is None:
        raise UsageError(f"--env: '{session.env.name}' has no results bucket (bucket_names output); apply it first")
    record = session.store.load(run)
    if record is None:
        raise UsageError(f"RUN: no run '{run}' in this env (runner list --env {session.env.name})")
    samples = session.store.sample_ids(record)
    found = results_mod.list_results(session.s3, bucket, run, samples)
    merged = results_mod.merge_table(session.s3, found, table) if table is not None else None
    fetched = results_mod.download(session.s3, found, download) if download is not None else []
    if as_json:
        data: dict[str, Any] = found.to_dict()
        if download is not None:
            data["downloaded"] = [str(p) for p in fetched]
        if merged is not None:
            data["table"] = merged.to_dict()
        console.print_json(data)
        return
    if merged is not None:
        if merged.rows:
            _render_merged(merged)
    else:
        _render_listing(found)
    missing = merged.missing if merged is not None else found.without_results()
    if missing:
        what = f"no {table}" if merged is not None else "no results"
        console.out.print(f"{what} from {len(missing)} sample(s): {escape(', '.join(missing))}")
    if download is not None:
        console.out.print(f"downloaded {len(fetched)} object(s) to {escape(str(download))}")


def _render_listing(found: results_mod.Results) -> None:
    console.out.print(
        f"results of run [bold]{escape(found.run)}[/]: {escape(found.uri)} "
        f"({len(found.objects)} object(s), {found.total_bytes:,} bytes)"
    )
    if not found.objects:
        return
    out = Table(box=None, pad_edge=False)
    out.add_column("sample")
    out.add_column("key")
    out.add_column("size", justify="right")
    for obj in found.objects:
        out.add_row(escape(obj.sample or "-"), escape(obj.key), f"{obj.size:,}")
    print_table(out)


def _render_merged(merged: results_mod.MergedTable) -> None:
    out = Table(box=None, pad_edge=False)
    for column in merged.columns:
        out.add_column(escape(column), justify="left" if column == "sample" else "right")
    for row in merged.rows:
        out.add_row(*(escape(row.get(c, "")) for c in merged.columns))
    print_table(out)
