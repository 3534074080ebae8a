"""Sample sheets: a CSV or TSV with a header row and one sample per row.

The sample id column is the first of ``sample``, ``sample_id``, ``id`` (case-insensitive). Every column
reaches the job's container as an environment variable: the name upper-cased with anything but letters,
digits and ``_`` turned into ``_`` (``fastq 1`` -> ``FASTQ_1``), plus ``SAMPLE_ID`` with the row's id and
``RUNNER_ROW`` with its 0-based row number.

File references follow ``runner.jobs.staging.find_paths``: a value naming an existing local file (relative to the
sheet's folder, or absolute) is uploaded to the env's data bucket and replaced by its ``s3://`` URI before
submission; a value that clearly means a file but is not there is refused; ``s3://`` values must exist.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from runner.core.errors import UsageError

ID_COLUMNS = ("sample", "sample_id", "id")
RESERVED_PREFIXES = ("AWS_BATCH_", "ECS_")
RESERVED_NAMES = (
    "SAMPLE_ID",
    "RUNNER_ROW",
    "RUNNER_RUN",
    "RUNNER_ROWS",
    "RUNNER_MANIFEST_URI",
    "RUNNER_MANIFEST_URL",
    "RUNNER_RESULTS_URI",
)
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
FIELD = "--samples"


def env_name(column: str) -> str:
    name = _NOT_NAME.sub("_", column.strip()).upper()
    if name and name[0].isdigit():
        name = "_" + name
    return name


@dataclass
class Sheet:
    path: Path
    columns: list[str]
    id_column: str
    rows: list[dict[str, str]]
    env_names: dict[str, str] = field(default_factory=dict)  # column -> variable name
    digest: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    def ids(self) -> list[str]:
        return [r[self.id_column] for r in self.rows]

    def environment(self, index: int) -> dict[str, str]:
        """The variables row ``index`` gets in its container."""
        row = self.rows[index]
        env = {self.env_names[c]: row[c] for c in self.columns}
        env["SAMPLE_ID"] = row[self.id_column]
        env["RUNNER_ROW"] = str(index)
        return env


def _dialect(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab", ".txt"):
        return "\t"
    if suffix == ".csv":
        return ","
    first = text.splitlines()[0] if text else ""
    return "\t" if first.count("\t") > first.count(",") else ","


def read_sheet(path: str | Path) -> Sheet:
    """Parse and validate a sheet; every problem is a UsageError naming ``--samples`` and the line."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{FIELD}: no such file '{path}'")
    try:
        raw = p.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{FIELD}: cannot read '{path}': {exc}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise UsageError(f"{FIELD}: '{path}' is empty (it needs a header row and at least one sample row)")
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=_dialect(p, lines[0]))
    try:
        table = [[cell.strip() for cell in row] for row in reader]
    except csv.Error as exc:
        raise UsageError(f"{FIELD}: '{path}' is not valid CSV/TSV: {exc}") from None
    header, body = table[0], table[1:]
    if not body:
        raise UsageError(f"{FIELD}: '{path}' has a header but no sample rows")
    if any(not h for h in header):
        raise UsageError(f"{FIELD}: '{path}' has an empty column name in its header")
    env_names: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column in header:
        name = env_name(column)
        if name in seen:
            raise UsageError(
                f"{FIELD}: columns '{seen[name]}' and '{column}' both become the variable {name}; rename one"
            )
        if name.startswith(RESERVED_PREFIXES) or (name in RESERVED_NAMES and name != "SAMPLE_ID"):
            raise UsageError(f"{FIELD}: column '{column}' would set the reserved variable {name}; rename it")
        seen[name] = column
        env_names[column] = name
    lowered = {h.lower(): h for h in header}
    id_column = next((lowered[c] for c in ID_COLUMNS if c in lowered), None)
    if id_column is None:
        raise UsageError(
            f"{FIELD}: '{path}' has no sample column (need one of: {', '.join(ID_COLUMNS)}; found: {', '.join(header)})"
        )
    rows: list[dict[str, str]] = []
    first_line: dict[str, int] = {}
    for number, cells in enumerate(body, start=2):
        if len(cells) != len(header):
            raise UsageError(f"{FIELD}: line {number} has {len(cells)} fields, the header has {len(header)}")
        row = dict(zip(header, cells, strict=True))
        sample = row[id_column]
        if not sample:
            raise UsageError(f"{FIELD}: line {number} has an empty sample id (column '{id_column}')")
        if sample in first_line:
            raise UsageError(
                f"{FIELD}: duplicate sample id '{sample}' in column '{id_column}' "
                f"(lines {first_line[sample]} and {number})"
            )
        first_line[sample] = number
        rows.append(row)
    digest = hashlib.sha256(
        "\n".join("\x1f".join(r[c] for c in header) for r in [dict(zip(header, header, strict=True)), *rows]).encode()
    ).hexdigest()
    return Sheet(path=p, columns=header, id_column=id_column, rows=rows, env_names=env_names, digest=digest)


@dataclass
class FileRefs:
    local: dict[str, Path] = field(default_factory=dict)  # value as written -> resolved local file
    s3: list[str] = field(default_factory=list)


def file_refs(sheet: Sheet) -> FileRefs:
    """Local files and s3:// URIs named in the sheet (``runner.jobs.staging.find_paths``: relative paths against the
    sheet's folder); a value that clearly names a missing file is a UsageError naming column, row and path."""
    from runner.jobs import staging

    found = staging.find_paths(sheet.rows, sheet.path.parent, skip_columns=[sheet.id_column], field_name=FIELD)
    refs = FileRefs()
    for cell in found.local:
        refs.local.setdefault(cell.value, Path(cell.path))
    refs.s3 = found.s3_uris
    return refs


def substitute(sheet: Sheet, mapping: dict[str, str]) -> None:
    """Replace values (local paths as written) by their staged URIs, in place."""
    if not mapping:
        return
    for row in sheet.rows:
        for column in sheet.columns:
            if row[column] in mapping:
                row[column] = mapping[row[column]]
