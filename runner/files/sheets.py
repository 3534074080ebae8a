"""Sample sheets: a CSV or TSV with a header row; rows sharing the sample id are one sample (its lanes).

Parsing is strict RFC 4180 (``parse_table``): a quoted field may hold delimiters, quotes (doubled), ``#`` and
line breaks, all kept as values; a line starting with ``#`` outside quotes is a comment; blank lines and lines
of empty fields are skipped. An unterminated quote, a NUL byte, a byte that is not UTF-8 (UTF-16 with a BOM is
read as such) or a workbook/binary file (xlsx, xls, parquet, gzip, zip) is a ``UsageError`` naming the line.
Values are stripped; a value whose scheme is ``S3://`` (any case) is read as ``s3://``.

Samples. The sample id column is ``--group-by COLUMN``, else the first of ``sample``, ``sample_id``, ``id``
(case-insensitive). Rows with the same id are one sample, in the order its first row appears; its rows are its
lanes, in sheet order (nf-core's layout: one row per sequencing lane). One array child runs per sample and
receives, as environment variables:

* every column as a variable named after it (upper-cased, anything but letters, digits and ``_`` turned into
  ``_``: ``fastq 1`` -> ``FASTQ_1``) holding the **first** lane's value (a one-lane sample: its only row);
* ``RUNNER_LANES``: the number of lanes, and every lane's values as ``<NAME>__<lane>`` (lanes numbered from 1:
  ``FASTQ_1__1``, ``FASTQ_1__2``, ...), lossless whatever the bytes;
* ``SAMPLE_ID`` (the id), ``RUNNER_ROW`` (the sample's 0-based index, which is also its array index).

File references follow ``runner.files.staging.find_paths``: a value naming an existing local file (relative to the
sheet's folder, or absolute) is uploaded to the env's data bucket and replaced by its ``s3://`` URI before
submission; a value that clearly means a file but is not there is refused; ``s3://`` values must exist. Local
files must resolve (symlinks followed) inside the sheet's folder tree or a folder named with
``--allow-files-outside DIR``; hidden files and folders (a name starting with ``.``) below that root are refused.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.core.errors import UsageError

if TYPE_CHECKING:  # staging loads the AWS SDK's exceptions: only when files are staged
    from runner.files.staging import StageReport

ID_COLUMNS = ("sample", "sample_id", "id")
RESERVED_PREFIXES = ("AWS_BATCH_", "ECS_", "LD_")
RESERVED_NAMES = (
    "SAMPLE_ID",
    "RUNNER_ROW",
    "RUNNER_RUN",
    "RUNNER_ROWS",
    "RUNNER_LANES",
    "RUNNER_MANIFEST_URI",
    "RUNNER_MANIFEST_URL",
    "RUNNER_RESULTS_URI",
)
# Variables a shell or the loader reads: a column may not replace them in the container.
SHELL_NAMES = ("PATH", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS1", "PS2", "PS4", "HOME", "TMPDIR")
LANE_SUFFIX = re.compile(r"__\d+$")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
FIELD = "--samples"

# Files that are not text tables, by their first bytes: what they are and what to do instead.
MAGIC = (
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one): save it as CSV (UTF-8) or TSV"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls): save it as CSV (UTF-8) or TSV"),
    (b"PAR1", "a Parquet file: export it as CSV or TSV"),
    (b"\x1f\x8b", "gzip-compressed: decompress it first (gunzip)"),
    (b"%PDF", "a PDF document, not a table"),
)


def env_name(column: str) -> str:
    name = _NOT_NAME.sub("_", column.strip()).upper()
    if name and name[0].isdigit():
        name = "_" + name
    return name


def lane_name(name: str, lane: int) -> str:
    """The variable holding lane ``lane`` (1-based) of column variable ``name``."""
    return f"{name}__{lane}"


# ---------------------------------------------------------------------------------------------------------------
# Strict RFC 4180 parsing
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Record:
    line: int  # physical line (1-based) the record starts on
    fields: list[str]


def decode(raw: bytes, source: str) -> str:
    """Bytes to text: refuse workbooks and binaries by their magic, NUL bytes and bytes that are not UTF-8."""
    for magic, what in MAGIC:
        if raw.startswith(magic):
            raise UsageError(f"{FIELD}: '{source}' is {what}; a sample sheet is CSV or TSV text")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            raw = raw.decode("utf-16").encode()
        except UnicodeDecodeError:
            raise UsageError(f"{FIELD}: '{source}' starts as UTF-16 but is not valid UTF-16") from None
    nul = raw.find(b"\0")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise UsageError(f"{FIELD}: '{source}' line {line} contains a NUL byte (a binary file, or UTF-16 without BOM?)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{FIELD}: '{source}' line {line} has a byte that is not UTF-8 (0x{raw[exc.start]:02x}); "
            "save the sheet as UTF-8"
        ) from None


def parse_table(text: str, delimiter: str, source: str = "sheet") -> list[Record]:
    """RFC 4180 records with the line each starts on. Comments (``#`` first on a line, outside quotes), blank
    lines and lines of empty fields are dropped. Quoted fields keep line breaks, delimiters, ``#`` and ``""``."""
    records: list[Record] = []
    unquoted = re.compile(f"[^{re.escape(delimiter)}\r\n]*")
    i, n, line = 0, len(text), 1
    while i < n:
        start_line = line
        if text[i] == "#":  # a comment line: only at the start of a record
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            line += 1
            continue
        end = text.find("\n", i)
        end = n if end < 0 else end
        plain = text[i : end - 1 if end > i and text[end - 1] == "\r" else end]
        if '"' not in plain and "\r" not in plain:  # the common line: no quotes, split it whole
            fields = plain.split(delimiter)
            i, line = end + 1, line + 1
            if any(f.strip() for f in fields):
                records.append(Record(start_line, fields))
            continue
        fields = []
        while True:  # one field per iteration
            j = i
            while j < n and text[j] == " " and delimiter != " ":
                j += 1
            if j < n and text[j] == '"':
                value, j, line = _quoted_field(text, j, line, delimiter, source)
                fields.append(value)
            else:
                j = unquoted.match(text, j).end()  # type: ignore[union-attr]  # always matches (may be empty)
                fields.append(text[i:j])
            if j < n and text[j] == delimiter:
                i = j + 1
                continue
            # end of record: \r\n, \n, \r or the end of the text
            if j < n and text[j] == "\r":
                j += 1
            if j < n and text[j] == "\n":
                j += 1
            line += 1
            i = j
            break
        if any(f.strip() for f in fields):
            records.append(Record(start_line, fields))
    return records


def _quoted_field(text: str, j: int, line: int, delimiter: str, source: str) -> tuple[str, int, int]:
    """The quoted field whose opening quote is at ``j``: (its value, the position after it, the line there)."""
    n = len(text)
    opened = line
    j += 1
    value: list[str] = []
    while True:
        close = text.find('"', j)
        if close < 0:
            raise UsageError(
                f"{FIELD}: '{source}' line {opened}: a quoted field is never closed "
                '(an unterminated \'"\'; double a quote inside a quoted field: "")'
            )
        chunk = text[j:close]
        line += chunk.count("\n") + chunk.count("\r") - chunk.count("\r\n")
        value.append(chunk)
        if text.startswith('""', close):
            value.append('"')
            j = close + 2
            continue
        j = close + 1
        break
    while j < n and text[j] in " \t" and text[j] != delimiter:
        j += 1
    if j < n and text[j] not in (delimiter, "\n", "\r"):
        raise UsageError(
            f"{FIELD}: '{source}' line {line}: text after a closing quote "
            f"({text[j : j + 10]!r}); quote the whole field and double the quotes inside it"
        )
    return "".join(value), j, line


def _delimiter(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab", ".txt"):
        return "\t"
    if suffix == ".csv":
        return ","
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    return "\t" if first.count("\t") > first.count(",") else ","


def _clean(value: str) -> str:
    value = value.strip()
    return "s3://" + value[5:] if value.startswith("S3://") else value  # the scheme's only other spelling


# ---------------------------------------------------------------------------------------------------------------
# Sheets
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Sheet:
    path: Path
    columns: list[str]
    id_column: str
    rows: list[dict[str, str]]  # every row (lane) in sheet order
    env_names: dict[str, str] = field(default_factory=dict)  # column -> variable name
    digest: str = ""
    lines: list[int] = field(default_factory=list)  # the sheet line each row starts on
    samples: list[list[int]] = field(init=False)  # per sample: its rows' indices, in order

    def __post_init__(self) -> None:
        groups: dict[str, list[int]] = {}
        for index, row in enumerate(self.rows):
            groups.setdefault(row[self.id_column], []).append(index)
        self.samples = list(groups.values())

    def __len__(self) -> int:
        """The number of samples (array children), not of rows."""
        return len(self.samples)

    def ids(self) -> list[str]:
        return [self.rows[group[0]][self.id_column] for group in self.samples]

    def lanes(self, index: int) -> list[dict[str, str]]:
        return [self.rows[i] for i in self.samples[index]]

    def environment(self, index: int) -> dict[str, str]:
        """The variables sample ``index`` gets in its container (see the module doc)."""
        lanes = self.lanes(index)
        env = {self.env_names[c]: lanes[0][c] for c in self.columns}
        env["SAMPLE_ID"] = lanes[0][self.id_column]
        env["RUNNER_ROW"] = str(index)
        env["RUNNER_LANES"] = str(len(lanes))
        for number, lane in enumerate(lanes, start=1):
            for column in self.columns:
                if column != self.id_column:
                    env[lane_name(self.env_names[column], number)] = lane[column]
        return env


def _id_column(header: list[str], group_by: str | None, source: str) -> str:
    if group_by is not None:
        if group_by in header:
            return group_by
        lowered = {h.lower(): h for h in header}
        if group_by.lower() in lowered:
            return lowered[group_by.lower()]
        raise UsageError(f"--group-by: '{source}' has no column '{group_by}' (columns: {', '.join(header)})")
    lowered = {h.lower(): h for h in header}
    found = next((lowered[c] for c in ID_COLUMNS if c in lowered), None)
    if found is None:
        raise UsageError(
            f"{FIELD}: '{source}' has no sample column (need one of: {', '.join(ID_COLUMNS)}, or name one with "
            f"--group-by; found: {', '.join(header)})"
        )
    return found


def _env_names(header: list[str], source: str) -> dict[str, str]:
    env_names: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column in header:
        name = env_name(column)
        if name in seen:
            raise UsageError(
                f"{FIELD}: columns '{seen[name]}' and '{column}' both become the variable {name}; rename one"
            )
        if (
            name.startswith(RESERVED_PREFIXES)
            or (name in RESERVED_NAMES and name != "SAMPLE_ID")
            or name in SHELL_NAMES
        ):
            raise UsageError(f"{FIELD}: column '{column}' would set the reserved variable {name}; rename it")
        if LANE_SUFFIX.search(name):
            raise UsageError(
                f"{FIELD}: column '{column}' becomes {name}, a name kept for lanes (NAME__<lane>); rename it"
            )
        seen[name] = column
        env_names[column] = name
    return env_names


def read_sheet(path: str | Path, group_by: str | None = None) -> Sheet:
    """Parse and validate a sheet; every problem is a UsageError naming ``--samples`` (or ``--group-by``)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{FIELD}: no such file '{path}'")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{FIELD}: cannot read '{path}': {exc.strerror}") from None
    text = decode(raw, str(path))
    table = parse_table(text, _delimiter(p, text), str(path))
    if not table:
        raise UsageError(f"{FIELD}: '{path}' is empty (it needs a header row and at least one sample row)")
    header = [_clean(h) for h in table[0].fields]
    body = table[1:]
    if not body:
        raise UsageError(f"{FIELD}: '{path}' has a header but no sample rows")
    if any(not h for h in header):
        raise UsageError(f"{FIELD}: '{path}' has an empty column name in its header")
    env_names = _env_names(header, str(path))
    id_column = _id_column(header, group_by, str(path))
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    for record in body:
        if len(record.fields) != len(header):
            raise UsageError(
                f"{FIELD}: line {record.line} has {len(record.fields)} fields, the header has {len(header)}"
            )
        row = dict(zip(header, (_clean(v) for v in record.fields), strict=True))
        if not row[id_column]:
            raise UsageError(f"{FIELD}: line {record.line} has an empty sample id (column '{id_column}')")
        rows.append(row)
        lines.append(record.line)
    digest = hashlib.sha256(
        "\x1e".join("\x1f".join(r[c] for c in header) for r in [dict(zip(header, header, strict=True)), *rows]).encode()
        + b"\x1d"
        + id_column.encode()
    ).hexdigest()
    return Sheet(
        path=p, columns=header, id_column=id_column, rows=rows, env_names=env_names, digest=digest, lines=lines
    )


# ---------------------------------------------------------------------------------------------------------------
# Files the sheet names
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class FileRefs:
    local: dict[str, Path] = field(default_factory=dict)  # value as written -> resolved local file
    s3: list[str] = field(default_factory=list)


def _hidden_part(path: Path, root: Path) -> str | None:
    """The first component of ``path`` below ``root`` that is hidden (starts with '.'), if any."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return next((part for part in rel.parts if part.startswith(".") and part not in (".", "..")), None)


def check_locations(
    cells: Iterable[tuple[str, int, str, Path]], base: Path, allowed: Iterable[str | Path] = ()
) -> None:
    """Every local file (column, row, value as written, resolved path) must resolve inside ``base`` (the sheet's
    folder) or an ``allowed`` root, and no folder or file below that root may be hidden."""
    roots: list[tuple[Path, str]] = [(base.resolve(), "the sheet's folder")]
    for entry in allowed:
        root = Path(entry).expanduser()
        if not root.exists():
            raise UsageError(f"--allow-files-outside: '{entry}' does not exist")
        roots.append((root.resolve(), f"--allow-files-outside {entry}"))
    for column, row, value, resolved in cells:
        real = resolved.resolve()
        where = f"{FIELD}: column '{column}', row {row}: '{value}'"
        found = next((r for r in roots if real == r[0] or r[0] in real.parents), None)
        if found is None:
            raise UsageError(
                f"{where} is outside the sheet's folder {roots[0][0]} (it resolves to {real}); move it there or "
                "allow its folder with --allow-files-outside DIR"
            )
        written = Path(os.path.normpath(base / Path(value).expanduser()))
        hidden = _hidden_part(real, found[0]) or next((h for r, _ in roots if (h := _hidden_part(written, r))), None)
        if hidden is not None:
            raise UsageError(
                f"{where} is inside the hidden '{hidden}' (below {found[1]}); hidden files are never uploaded "
                "unless their folder is named with --allow-files-outside DIR"
            )


def file_refs(sheet: Sheet, allow_outside: Iterable[str | Path] = ()) -> FileRefs:
    """Local files and s3:// URIs named in the sheet (`runner.files.paths.find_paths`: relative paths against the
    sheet's folder); a value that clearly names a missing file, or a file outside the allowed folders or hidden,
    is a UsageError naming column, row and path."""
    from runner.files import paths

    base = sheet.path.parent.resolve()
    found = paths.find_paths(sheet.rows, base, skip_columns=[sheet.id_column], field_name=FIELD)
    check_locations(((c.column, c.row, c.value.strip(), Path(c.path)) for c in found.local), base, allow_outside)
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


def check_s3_inputs(s3: Any, uris: list[str]) -> None:
    """The sheet's ``s3://`` inputs exist (a UsageError naming ``--samples`` and the first missing one)."""
    from runner.files import paths

    if not uris:
        return
    try:
        paths.check_s3_uris(s3, uris)
    except UsageError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith("--samples") else f"--samples: {message}") from None


def stage_sheet_files(s3: Any, bucket: str, sheet: Sheet, refs: FileRefs) -> tuple[dict[str, str], StageReport]:
    """Upload the sheet's local files (`runner.files.staging`: concurrent, multipart, content-addressed, skips what
    is there) and put their ``s3://`` URIs in the sheet; returns (value as written -> URI, report)."""
    from runner.files import staging

    by_path = {str(path): value for value, path in refs.local.items()}
    report = staging.stage(s3, bucket, list(by_path), prefix=staging.DEFAULT_PREFIX)
    mapping = {by_path[path]: uri for path, uri in report.uris.items() if path in by_path}
    substitute(sheet, mapping)
    return mapping, report
