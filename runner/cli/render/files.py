"""How a person sees files: where staged files went, and what a run wrote (a listing, or one merged table)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from runner.cli.render import print_table, show
from runner.core import console
from runner.core.console import escape

if TYPE_CHECKING:
    from runner.files.results import MergedTable, Results, ResultsReport
    from runner.files.stage import Staged


def staged(result: Staged, as_json: bool) -> None:
    show(result, as_json, _staged)


def _staged(result: Staged) -> None:
    report = result.report
    # Plain `URI<TAB>path` lines (rich would expand the tab): `cut -f1` gives the URIs.
    sys.stdout.write("".join(f"{report.uris[path]}\t{path}\n" for path in result.files))
    sys.stdout.flush()
    console.err.print(
        f"staged {len(result.files)} file(s) to s3://{result.bucket}/{result.prefix}: "
        f"{len(report.uploaded)} uploaded ({report.bytes_uploaded / 1024 / 1024:,.1f} MiB), "
        f"{len(report.skipped)} already there",
        style="dim",
        markup=False,
        soft_wrap=True,
    )


def results(result: ResultsReport, as_json: bool) -> None:
    show(result, as_json, _results)


def _results(result: ResultsReport) -> None:
    merged = result.merged
    if merged is not None:
        if merged.rows:
            _merged(merged)
    else:
        _listing(result.found)
    if result.missing:
        what = f"no {merged.name}" if merged is not None else "no results"
        console.out.print(f"{what} from {len(result.missing)} sample(s): {escape(', '.join(result.missing))}")
    if result.downloaded is not None:
        console.out.print(f"downloaded {len(result.downloaded)} object(s) to {escape(str(result.download))}")


def _listing(found: Results) -> None:
    from rich.table import Table

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


def _merged(merged: MergedTable) -> None:
    from rich.table import Table

    out = Table(box=None, pad_edge=False)
    for column in merged.columns:
        out.add_column(escape(column), justify="left" if column == "sample" else "right")
    for row in merged.rows:
        out.add_row(*(escape(row.get(c, "")) for c in merged.columns))
    print_table(out)
