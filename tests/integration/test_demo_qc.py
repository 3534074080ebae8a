"""The demo pipeline for real: examples/qc/samples.csv staged to S3, one container of the tools image per sample
running examples/qc/qc.sh (aws s3 cp + seqkit), each writing qc.tsv to its RUNNER_RESULTS_URI; `runner results`
then reports what the input FASTQ files hold (computed here from the files).

The shared envs/local deployment runs Batch in instant mode (its bookkeeping tests submit images that cannot be
pulled here), so this module has an emulator of its own in docker mode, with a queue, buckets, job role and log
group made with boto3 (tests.helpers.batch_outputs) and handed to the CLI through RUNNER_OUTPUTS_FILE: the same
`runner submit` / `status` / `results` path as `make demo`, without a second terraform apply. Needs a Docker
daemon and fails loudly without one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.local import images
from tests.helpers import Project, batch_outputs, copy_project, error_line, free_port, require_docker

pytestmark = pytest.mark.integration

RUN = "qc-demo"
SHEET = "examples/qc/samples.csv"


def fastq_facts(path: Path) -> dict[str, float]:
    """Reads, bases, mean length and GC % of a FASTQ file, computed independently of seqkit."""
    lines = path.read_text().splitlines()
    seqs = lines[1::4]
    bases = sum(len(s) for s in seqs)
    gc = sum(s.upper().count("G") + s.upper().count("C") for s in seqs)
    return {"reads": len(seqs), "bases": bases, "mean_length": bases / len(seqs), "gc_percent": 100 * gc / bases}


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A scratch project whose emulator runs Batch in docker mode, its env outputs made with boto3."""
    require_docker()
    images.ensure("tools")
    root = copy_project(tmp_path_factory.mktemp("qc-demo"))
    outputs_file = root / "outputs.json"
    project = Project(
        root=root,
        port=free_port(),
        extra_env={"RUNNER_LOCAL_BATCH": "docker", "RUNNER_OUTPUTS_FILE": str(outputs_file)},
    )
    info = project.run_json("local", "up", "--json")
    try:
        assert info["batch"] == "docker", info
        outputs_file.write_text(json.dumps(batch_outputs(project.client, "qc", max_vcpus=2)))
        yield project
    finally:
        project.run("local", "down", check=False)


@pytest.fixture(scope="module")
def qc_run(proj: Project) -> dict[str, Any]:
    script = (proj.root / "examples" / "qc" / "qc.sh").read_text()
    proc = proj.run(
        "submit", "--env", "local", "--image", images.recipe("tools").image, "--command", script,
        "--samples", SHEET, "--name", RUN, "--vcpus", "1", "--memory", "1GiB", "--timeout", "10m",
        "--wait", "--interval", "1", "--json", check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"the QC run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_qc_numbers_match_the_input_fastq(proj: Project, qc_run: dict[str, Any]) -> None:
    assert qc_run["status"]["state"] == "SUCCEEDED" and qc_run["status"]["counts"]["SUCCEEDED"] == 4
    assert len(qc_run["staged"]) == 4  # the sheet's local FASTQ files went to the data bucket
    sheet = [line.split(",") for line in (proj.root / SHEET).read_text().splitlines()[1:]]
    expected = {sample: fastq_facts(proj.root / "examples" / "qc" / fastq) for sample, _tissue, fastq in sheet}
    assert len({e["reads"] for e in expected.values()}) == 4  # distinct counts: a mix-up cannot pass

    table = proj.run_json("results", RUN, "--env", "local", "--table", "qc.tsv", "--json")["table"]
    assert table["missing"] == []
    assert [r["sample"] for r in table["rows"]] == list(expected)  # sheet order
    for row in table["rows"]:
        facts = expected[row["sample"]]
        assert int(row["reads"]) == facts["reads"]
        assert int(row["bases"]) == facts["bases"]
        assert float(row["mean_length"]) == pytest.approx(facts["mean_length"], abs=0.051)
        assert float(row["gc_percent"]) == pytest.approx(facts["gc_percent"], abs=0.0051)

    human = proj.run("results", RUN, "--env", "local", "--table", "qc.tsv").stdout
    for sample, facts in expected.items():
        line = next(ln for ln in human.splitlines() if ln.startswith(sample))
        assert str(facts["reads"]) in line.split()

    # Each child's log (CloudWatch, through the executor) holds the table it printed: child 0 is the first row.
    parent = qc_run["jobs"][0]["job_id"]
    log = proj.run("logs", f"{parent}:0", "--env", "local").stdout
    assert ["liver_1", str(expected["liver_1"]["reads"])] in [ln.split()[:2] for ln in log.splitlines()]


def test_results_lists_and_downloads_each_sample(proj: Project, qc_run: dict[str, Any], tmp_path: Path) -> None:
    listing = proj.run_json("results", RUN, "--env", "local", "--json")
    assert listing["uri"] == f"s3://qc-results/{RUN}/"
    names: dict[str, set[str]] = {}
    for obj in listing["objects"]:
        names.setdefault(obj["sample"], set()).add(obj["name"])
        assert obj["key"] == f"{RUN}/{obj['sample']}/{obj['name']}" and obj["size"] > 0
    assert names == {s: {"qc.tsv", "seqkit-stats.tsv"} for s in ("liver_1", "liver_2", "brain_1", "brain_2")}

    human = proj.run("results", RUN, "--env", "local").stdout
    assert "8 object(s)" in human and f"{RUN}/brain_2/qc.tsv" in human

    dest = tmp_path / "qc"
    proj.run("results", RUN, "--env", "local", "--download", str(dest))
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == sorted(f"{s}/{n}" for s, ns in names.items() for n in ns)
    assert (dest / "liver_1" / "qc.tsv").read_text().splitlines()[1].split("\t")[:2] == ["liver_1", "24"]


def test_results_bad_input_is_one_line(proj: Project, tmp_path: Path) -> None:
    missing = proj.run("results", "no-such-run", "--env", "local", check=False)
    assert missing.returncode == 2 and error_line(missing).startswith("error: RUN: no run 'no-such-run'")
    bad_name = proj.run("results", "a/b", "--env", "local", check=False)
    assert bad_name.returncode == 2 and "RUN:" in error_line(bad_name)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    not_dir = proj.run("results", RUN, "--env", "local", "--download", str(a_file), check=False)
    assert not_dir.returncode == 2 and "--download:" in error_line(not_dir)
    bad_table = proj.run("results", RUN, "--env", "local", "--table", "../x.tsv", check=False)
    assert bad_table.returncode == 2 and "--table:" in error_line(bad_table)
