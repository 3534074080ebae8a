"""A Nextflow run's ``input:`` sample sheet (nf-core's convention), checked before anything is submitted.

The params file's ``input`` names the sheet: a local file, an ``s3://`` object or an ``https://`` URL.

1. `read_input` (no AWS call): a local sheet is parsed (CSV or TSV) and every local file it names must exist;
   local files need the env's data bucket to be staged to (else refused, with the reason);
2. `check_input` (read-only AWS calls): an ``s3://`` sheet must exist (it is read to find the files it names),
   and every ``s3://`` value in the sheet must exist and be readable: concurrent HEADs, all missing ones in one
   error (`runner.files.paths.check_s3_uris`). ``https://`` values pass through untouched;
3. `stage_input` (writes, at launch): local files are uploaded (`runner.files.staging.stage`, content-addressed),
   the sheet is rewritten with their ``s3://`` URIs and stored with the run, and ``input`` points at it.

The head job runs in AWS: it can read nothing on the analyst's machine.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.core.errors import UsageError
from runner.files import paths, staging
from runner.session.outputs import Outputs
from runner.session.runs import RunLayout, RunStore

FIELD = "--params-file"
INPUT_PARAM = "input"


@dataclass
class InputSheet:
    source: str  # as written in the params file
    kind: str  # local | s3 | https
    path: Path | None = None  # a local sheet, resolved
    delimiter: str = ","
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    files: paths.SheetFiles = field(default_factory=paths.SheetFiles)

    @property
    def where(self) -> dict[str, str]:
        """s3:// URI -> the first cell that names it (``column 'fastq_1', row 3``)."""
        places: dict[str, str] = {}
        for cell in self.files.s3:
            places.setdefault(cell.path, f"input sheet column '{cell.column}', row {cell.row}")
        return places


def parse(text: str, name: str) -> tuple[str, list[str], list[dict[str, str]]]:
    """(delimiter, columns, rows) of a CSV/TSV sheet; a UsageError naming the params file when it is not one."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise UsageError(f"{FIELD}: input sheet '{name}' is empty")
    delimiter = "\t" if name.lower().endswith(".tsv") or ("\t" in lines[0] and "," not in lines[0]) else ","
    try:
        reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        rows = [dict(row) for row in reader]
    except csv.Error as exc:
        raise UsageError(f"{FIELD}: input sheet '{name}' is not valid CSV/TSV: {exc}") from None
    return delimiter, list(reader.fieldnames or []), rows


def read_input(values: dict[str, Any], outputs: Outputs, cwd: Path | None = None) -> InputSheet | None:
    """The params' ``input`` sheet, checked offline (None when there is no ``input`` string)."""
    source = values.get(INPUT_PARAM)
    if not isinstance(source, str) or not source.strip():
        return None
    source = source.strip()
    if source.startswith("s3://"):
        return InputSheet(source=source, kind="s3")
    if source.startswith(("https://", "http://")):
        return InputSheet(source=source, kind="https")
    path = Path(source).expanduser()
    path = path if path.is_absolute() else (cwd or Path.cwd()) / path
    if not path.is_file():
        raise UsageError(f"{FIELD}: input sheet '{source}' does not exist ({path})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{FIELD}: cannot read input sheet '{source}': {exc}") from None
    delimiter, columns, rows = parse(text, path.name)
    files = paths.find_paths(rows, path.parent, field_name=f"{FIELD}: input sheet '{source}'")
    if files.local and not outputs.data_bucket:
        raise UsageError(
            f"{FIELD}: input sheet '{source}' names {len(files.local_paths)} local file(s) but this env has no "
            "data bucket to stage them to (use s3:// paths, or apply the env with a data bucket)"
        )
    return InputSheet(source, "local", path, delimiter, columns, rows, files)


def check_input(sheet: InputSheet, s3: Any) -> None:
    """Read-only: an s3:// sheet exists (and is read), and every s3:// value in the sheet exists and is readable."""
    if sheet.kind == "https":
        return
    if sheet.kind == "s3":
        paths.check_s3_uris(s3, [sheet.source], where={sheet.source: f"{FIELD}: input sheet"})
        bucket, _, key = sheet.source.removeprefix("s3://").partition("/")
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig", errors="replace")
        sheet.delimiter, sheet.columns, sheet.rows = parse(text, key)
        found = paths.find_paths(sheet.rows, Path("/nonexistent"), field_name=f"{FIELD}: input sheet")
        sheet.files = paths.SheetFiles(s3=found.s3)  # local paths in an s3:// sheet are the pipeline's business
    try:
        paths.check_s3_uris(s3, sheet.files.s3_uris, where=sheet.where)
    except UsageError as exc:
        raise UsageError(f"{FIELD}: {exc}") from None


def stage_input(sheet: InputSheet, s3: Any, store: RunStore, layout: RunLayout, data_bucket: str | None) -> str | None:
    """Upload a local sheet's files and the sheet (rewritten with their URIs); returns the sheet's new URI."""
    if sheet.kind != "local" or sheet.path is None:
        return None
    if sheet.files.local:
        assert data_bucket, "read_input refuses local files without a data bucket"
        report = staging.stage(s3, data_bucket, sheet.files.local_paths, prefix=staging.DEFAULT_PREFIX)
        by_value = {cell.value: report.uris[cell.path] for cell in sheet.files.local}
        for row in sheet.rows:
            for column, value in row.items():
                if value in by_value:
                    row[column] = by_value[value]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=sheet.columns, delimiter=sheet.delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sheet.rows)
    return store.put(layout.input_key(sheet.path.name), out.getvalue().encode(), "text/csv")
