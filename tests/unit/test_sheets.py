"""Sample sheets as analysts write them: RFC 4180 parsing, lanes, file locations, rows that stay data.

The prologue runs here under dash, busybox sh and bash (the container run is tests/integration/test_rows_container.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from runner.aws.batch import Batch
from runner.core.errors import UsageError
from runner.files import sheets
from runner.runs import rows, validate
from runner.runs.payload import PROLOGUE, JobSpec, row_line, script, sheet_to_json
from runner.runs.resubmit import Resubmitter
from runner.runs.submission import SubmitOptions, prepare
from runner.session.outputs import Outputs
from runner.session.runs import JobRef, RunRecord, RunStore
from tests.helpers import require_tool

DATA = Path(__file__).resolve().parent.parent / "data" / "nf-core-rnaseq"
HOSTILE = [
    ("newline-touch", "x\ntouch FILE #"),
    ("substitution", "$(touch FILE)"),
    ("backticks", "`touch FILE`"),
    ("quotes", 'it\'s "quoted" \\c \\n %s %b'),
    ("newlines", "line1\r\nline2\n\n"),
    ("unicode", "Ünïcødé ✓ 𝄞 naïve"),
    ("globs-and-ops", "* ? [a] ~ ; | & > < { } ! #"),
    ("empty", ""),
]
SHELLS = {"dash": ["dash"], "busybox": ["busybox", "sh"], "bash": ["bash"]}
OUTPUTS = Outputs({"job_queue_names": {"default": "q"}, "bucket_names": {"work": "work-bucket", "data": "data-bucket"}})


def write(tmp_path: Path, text: str | bytes, name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def error_of(path: Path) -> str:
    with pytest.raises(UsageError) as exc:
        sheets.read_sheet(path)
    message = str(exc.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------------------------
# RFC 4180
# ---------------------------------------------------------------------------------------------------------------


def test_quoted_line_breaks_hash_and_quotes_are_values(tmp_path: Path) -> None:
    text = (
        "# a comment line\r\n"
        "sample,note,where\r\n"
        '"A","two\r\nlines",a.txt\r\n'
        "\r\n"
        'B,"# not a comment",b\r\n'
        '"C","say ""hi"", then, go","#x"\r\n'
        "# another comment\n"
        ",,\n"  # a row of empty fields: skipped
        'D,"trailing\n#hash line\n",d'
    )
    sheet = sheets.read_sheet(write(tmp_path, text))
    assert sheet.ids() == ["A", "B", "C", "D"]
    assert [r["note"] for r in sheet.rows] == [
        "two\r\nlines",
        "# not a comment",
        'say "hi", then, go',
        "trailing\n#hash line",
    ]
    assert sheet.rows[2]["where"] == "#x"
    assert sheet.lines == [3, 6, 7, 10]


def test_parser_agrees_with_csv_writer_on_random_tables() -> None:
    import csv
    import io
    import random

    rng = random.Random(4180)
    alphabet = ["a", "Z", "0", " ", ",", '"', "\n", "\r", "\r\n", "#", "\t", "é", "✓", "''"]
    for delimiter in (",", "\t"):
        for _ in range(300):
            table = [
                ["k" + str(r)] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3)]
                for r in range(rng.randint(1, 6))
            ]
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=delimiter).writerows(table)
            parsed = sheets.parse_table(buffer.getvalue(), delimiter)
            assert [r.fields for r in parsed] == table, buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('sample,x\nA,"open\nB,2\n', "line 2: a quoted field is never closed"),
        ('sample,x\nA,1\nB,"x"y\n', "line 3: text after a closing quote"),
        (b"sample,x\nA,1\nB,a\x00b\n", "line 3 contains a NUL byte"),
        (b"sample,x\nA,caf\xe9\n", "line 2 has a byte that is not UTF-8 (0xe9)"),
        (b"PK\x03\x04\x14\x00\x06\x00", "zip archive (an .xlsx workbook is one)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97-2003 workbook"),
        (b"PAR1\x15\x04\x15", "Parquet file"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed"),
        (b"\x00\x01\x02\x03binary", "line 1 contains a NUL byte"),
        ("sample,x\nA,1,2\n", "line 2 has 3 fields"),
        ("sample,path\nA,1\n", "reserved variable PATH"),
        ("sample,r 1,r__1\nA,1,2\n", "kept for lanes"),
        ("sample,runner_lanes\nA,1\n", "reserved variable RUNNER_LANES"),
    ],
)
def test_strict_errors_name_the_line(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    message = error_of(write(tmp_path, content, "sheet.csv"))
    assert message.startswith("--samples: ") and fragment in message


def test_utf16_with_bom_and_capital_s3_scheme(tmp_path: Path) -> None:
    path = write(tmp_path, "sample\tr1\nA\tS3://bucket/a.fq\n".encode("utf-16"), "excel.txt")
    sheet = sheets.read_sheet(path)
    assert sheet.rows[0]["r1"] == "s3://bucket/a.fq"


# ---------------------------------------------------------------------------------------------------------------
# Lanes
# ---------------------------------------------------------------------------------------------------------------


def test_nf_core_sheet_is_one_sample_per_id_with_every_lane(tmp_path: Path) -> None:
    sheet = sheets.read_sheet(DATA / "samplesheet_test.csv")
    assert len(sheet.rows) == 7 and len(sheet) == 5
    assert sheet.ids() == ["WT_REP1", "WT_REP2", "RAP1_UNINDUCED_REP1", "RAP1_UNINDUCED_REP2", "RAP1_IAA_30M_REP1"]
    wt = sheet.environment(0)
    assert wt["SAMPLE_ID"] == "WT_REP1" and wt["RUNNER_LANES"] == "2" and wt["RUNNER_ROW"] == "0"
    assert wt["FASTQ_1"].endswith("SRR6357070_1.fastq.gz")  # the first lane's value
    assert [wt[f"FASTQ_1__{n}"].rsplit("/", 1)[1] for n in (1, 2)] == ["SRR6357070_1.fastq.gz", "SRR6357071_1.fastq.gz"]
    assert [wt[f"FASTQ_2__{n}"].rsplit("/", 1)[1] for n in (1, 2)] == ["SRR6357070_2.fastq.gz", "SRR6357071_2.fastq.gz"]
    single = sheet.environment(3)  # single-end, two lanes: fastq_2 empty in both
    assert single["RUNNER_LANES"] == "2" and single["FASTQ_2__1"] == single["FASTQ_2__2"] == ""
    assert "SAMPLE__1" not in wt  # the id column is not repeated per lane


def test_group_by_names_the_id_column(tmp_path: Path) -> None:
    path = write(tmp_path, "patient,sample,r1\nP1,S1,a\nP2,S2,b\nP1,S3,c\n")
    assert len(sheets.read_sheet(path)) == 3
    by_patient = sheets.read_sheet(path, group_by="Patient")
    assert by_patient.ids() == ["P1", "P2"]
    assert by_patient.environment(0)["SAMPLE__2"] == "S3" and by_patient.environment(0)["SAMPLE_ID"] == "P1"
    with pytest.raises(UsageError, match=r"^--group-by: .* has no column 'donor'"):
        sheets.read_sheet(path, group_by="donor")
    assert sheets.read_sheet(path).digest != by_patient.digest  # another grouping is another run


def test_lanes_loop_in_bash_and_sh_and_read_in_python(tmp_path: Path) -> None:
    sheet = sheets.read_sheet(DATA / "samplesheet_test.csv")
    table = "\n".join(row_line(sheet.environment(i)) for i in range(len(sheet)))
    bash_loop = 'for i in $(seq "$RUNNER_LANES"); do r1="FASTQ_1__$i"; echo "${!r1##*/}"; done'
    sh_loop = (
        'i=1; while [ "$i" -le "$RUNNER_LANES" ]; do eval "r1=\\${FASTQ_1__$i}"; echo "${r1##*/}"; i=$((i+1)); done'
    )
    python = (
        'import os; n = int(os.environ["RUNNER_LANES"]); '
        'print("\\n".join(os.environ[f"FASTQ_1__{i}"].rsplit("/", 1)[1] for i in range(1, n + 1)))'
    )
    env = {"PATH": os.environ["PATH"], "RUNNER_ROWS": table, "AWS_BATCH_JOB_ARRAY_INDEX": "3"}
    expected = "SRR6357074_1.fastq.gz\nSRR6357075_1.fastq.gz"
    for shell, command in ((["bash"], bash_loop), (["dash"], sh_loop), (["busybox", "sh"], sh_loop)):
        argv = script(command)
        out = subprocess.run(shell + argv[1:], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected, (shell, out.stderr)
    argv = script(f"python3 -c '{python}'")
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


# ---------------------------------------------------------------------------------------------------------------
# Rows as data
# ---------------------------------------------------------------------------------------------------------------


def test_encoding_round_trips_and_holds_nothing_a_shell_reads() -> None:
    for _name, value in HOSTILE:
        line = rows.encode_line({"NOTE": value, "SAMPLE_ID": "s"})
        assert rows.decode_line(line) == {"NOTE": value, "SAMPLE_ID": "s"}
        pairs = line.split(" ")
        assert len(pairs) == 2 and set(pairs[0].partition("=")[2]) <= {chr(b) for b in rows.SAFE} | {"\\"}
    all_bytes = "".join(chr(c) for c in range(1, 0x110000, 97) if not 0xD800 <= c < 0xE000)
    assert rows.decode_line(rows.encode_line({"X": all_bytes})) == {"X": all_bytes}
    with pytest.raises(ValueError, match="NUL"):
        rows.encode_line({"X": "a\0b"})
    with pytest.raises(ValueError, match="variable name"):
        rows.encode_line({"X; rm": "a"})


@pytest.mark.parametrize("shell", list(SHELLS))
def test_hostile_values_stay_data_in_every_sh(tmp_path: Path, shell: str) -> None:
    require_tool(SHELLS[shell][0])
    table = "\n".join(row_line({"SAMPLE_ID": name, "NOTE": value}) for name, value in HOSTILE)
    out_file = tmp_path / "value"
    for index, (name, value) in enumerate(HOSTILE):
        argv = script(f'printf "%s" "$NOTE" > "{out_file}"')
        env = {"PATH": "/usr/bin:/bin", "RUNNER_ROWS": table, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)}
        proc = subprocess.run(SHELLS[shell] + argv[1:], env=env, cwd=tmp_path, capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert out_file.read_bytes() == value.encode(), name
    assert not (tmp_path / "FILE").exists(), "a value ran as code"


def test_prologue_passes_shellcheck_and_refuses_a_forged_name(tmp_path: Path) -> None:
    path = tmp_path / "prologue.sh"
    path.write_text("#!/bin/sh\n" + PROLOGUE + 'echo "$SAMPLE_ID"\n')
    lint = subprocess.run([require_tool("shellcheck"), "-s", "sh", str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    forged = "SAMPLE_ID=a $(touch\\0040FILE)=x"
    proc = subprocess.run(
        script("echo ran"), env={"PATH": "/usr/bin:/bin", "RUNNER_ROWS": forged}, cwd=tmp_path, capture_output=True
    )
    assert proc.returncode == 97 and b"malformed row" in proc.stderr and not (tmp_path / "FILE").exists()


# ---------------------------------------------------------------------------------------------------------------
# Local files: inside the sheet's folder, never hidden, unless named
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = secret\n")
    monkeypatch.setenv("HOME", str(home))
    project = tmp_path / "deep" / "a" / "b" / "project"
    (project / "reads").mkdir(parents=True)
    (project / "reads" / "s1.fq").write_text("@r\n")
    (project / ".cache").mkdir()
    (project / ".cache" / "s2.fq").write_text("@r\n")
    (project / "reads" / "escape.fq").symlink_to(home / ".aws" / "credentials")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "ref.fa").write_text(">c\n")
    return project


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{up}etc/passwd", "is outside the sheet's folder"),  # ../../../../etc/passwd, as deep as it takes
        ("~/.aws/credentials", "is outside the sheet's folder"),
        ("reads/escape.fq", "is outside the sheet's folder"),  # a symlink out of the tree
        (".cache/s2.fq", "inside the hidden '.cache'"),
        ("../../../../shared/ref.fa", "--allow-files-outside DIR"),
    ],
)
def test_files_outside_the_sheet_or_hidden_are_refused(layout: Path, value: str, fragment: str) -> None:
    value = value.format(up="../" * len(layout.parts))
    sheet = sheets.read_sheet(write(layout, f"sample,r1\nA,reads/s1.fq\nB,{value}\n"))
    with pytest.raises(UsageError) as exc:
        sheets.file_refs(sheet)
    assert str(exc.value).startswith("--samples: column 'r1', row 2: ") and fragment in str(exc.value)


def test_allowed_roots_are_named_explicitly(layout: Path) -> None:
    shared = layout.parents[3] / "shared"
    sheet = sheets.read_sheet(write(layout, "sample,r1\nA,reads/s1.fq\nB,../../../../shared/ref.fa\n"))
    refs = sheets.file_refs(sheet, [str(shared)])
    assert sorted(p.name for p in refs.local.values()) == ["ref.fa", "s1.fq"]
    creds = sheets.read_sheet(write(layout, "sample,r1\nA,~/.aws/credentials\n", "c.csv"))
    with pytest.raises(UsageError, match="inside the hidden '.aws'"):
        sheets.file_refs(creds, ["~"])  # the home folder does not name the hidden folder
    assert [p.name for p in sheets.file_refs(creds, ["~/.aws"]).local.values()] == ["credentials"]


# ---------------------------------------------------------------------------------------------------------------
# As AWS and Docker would check
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "ubuntu", "ubuntu:24.04", "library/bash:5", "public.ecr.aws/docker/library/bash:5",
        "localhost:5000/team/tool:v1.2_rc-3", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/aligner:1.0",
        "quay.io/biocontainers/samtools:1.19--h50ea8bc_0", "ghcr.io/a__b/c-d.e:latest",
        "bash@sha256:" + "a" * 64, "bash:5@sha256:" + "0" * 64, "[::1]:5000/x",
    ],
)  # fmt: skip
def test_valid_image_references(image: str) -> None:
    assert validate.image_reference(image) == image


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("MyLab/Aligner:1.0", "must be lower-case"),
        ("bash:5 ; rm -rf /", "no spaces"),
        ("bash@sha256:xyz", "a digest is ALGORITHM:HEX"),
        ("bash@sha256:" + "a" * 63, "exactly 64 hex digits"),
        ("bash@sha256:" + "a" * 65, "exactly 64 hex digits"),
        ("bash:-5", "expected [registry[:port]/]name[:tag][@digest]"),
        ("a/" * 130 + "b", "longer than 255"),
        ("", "is not an image reference"),
    ],
)
def test_invalid_image_references(image: str, fragment: str) -> None:
    with pytest.raises(UsageError) as exc:
        validate.image_reference(image)
    assert str(exc.value).startswith("--image: ") and fragment in str(exc.value)


def test_requests_past_30_kib_are_refused_before_any_call(tmp_path: Path) -> None:
    big = "echo " + "x" * 40_000
    with pytest.raises(UsageError, match=r"^--command: the SubmitJob request would be [\d,]+ bytes.*30 KiB"):
        prepare(SubmitOptions(command=big, image="bash:5"), OUTPUTS)
    with pytest.raises(UsageError, match=r"^--env-var: .* most from BIG\); move big values into a file"):
        prepare(SubmitOptions(command="true", image="bash:5", env_vars=["BIG=" + "y" * 31_000]), OUTPUTS)
    prepare(SubmitOptions(command="echo " + "x" * 20_000, image="bash:5"), OUTPUTS)  # fits with room for the rest
    with pytest.raises(UsageError, match=r"^--image: 'MyLab/Aligner:1.0'"):
        prepare(SubmitOptions(command="true", image="MyLab/Aligner:1.0"), OUTPUTS)
    with pytest.raises(UsageError, match=r"^--env: tag value"):
        validate.tags({"runner:env": "bad#env"}, "--env")


# ---------------------------------------------------------------------------------------------------------------
# Retry --failed and status per sample
# ---------------------------------------------------------------------------------------------------------------


def test_retry_failed_resubmits_whole_samples_with_their_lanes() -> None:
    sheet = sheets.read_sheet(DATA / "samplesheet_test.csv")
    parent = "11111111-2222-3333-4444-555555555555"
    spec = JobSpec("q", "arn:jd", script("true"), {"RUNNER_RUN": "nf"}, 1, 1024, None, None, None, {})
    record = RunRecord(
        run="nf", env="local", queue="q", samples_key="runs/nf/samples.json", sample_count=len(sheet),
        jobs=[JobRef(job_id=parent, job_name="nf", array_size=5, rows=[0, 1, 2, 3, 4])],
        extra={"state": "submitted", "spec": spec.to_dict()},
    )  # fmt: skip
    batch = boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent: list[dict[str, Any]] = []
    batch.meta.events.register("before-parameter-build.batch.SubmitJob", lambda params, **_: sent.append(params))
    with mock_aws(), Stubber(batch) as stub:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="work-bucket")
        s3.put_object(Bucket="work-bucket", Key="runs/nf/samples.json", Body=json.dumps(sheet_to_json(sheet)))
        store = RunStore(s3, "work-bucket")
        store.save(record)
        assert store.sample_ids(record) == sheet.ids()  # status names samples, not lanes
        stub.add_response("list_jobs", {"jobSummaryList": []})
        stub.add_response("submit_job", {"jobId": "j2", "jobName": "nf-retry1", "jobArn": "a"})
        Resubmitter("local", OUTPUTS, Batch(batch), s3).resubmit_rows(record, [0, 3], [parent])
    env = {e["name"]: e["value"] for e in sent[0]["containerOverrides"]["environment"]}
    children = [rows.decode_line(line) for line in env["RUNNER_ROWS"].split("\n")]
    assert [c["SAMPLE_ID"] for c in children] == ["WT_REP1", "RAP1_UNINDUCED_REP2"]
    assert [c["RUNNER_LANES"] for c in children] == ["2", "2"]
    assert children[1]["FASTQ_1__2"].endswith("SRR6357075_1.fastq.gz")
