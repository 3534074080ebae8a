"""`runner cost` on a finished local run (the shared deployment): per sample and total, with the price source.

The local env knows no instance behind its jobs and has no prices: every attempt is priced on the cheapest
instance type of the spot compute environment (Batch's `optimal` there: c5, m5, r5) that fits the request, from
the dated us-east-1 snapshot, with spot at on-demand as its upper bound. The tags every job carries are read back
from Batch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Deployment
from tests.integration.test_jobs import IMAGE, write_sheet

pytestmark = pytest.mark.integration

SNAPSHOT_SOURCE = "snapshot prices-us-east-1-2026-12-01, on-demand as spot upper bound"


def test_cost_of_a_finished_local_run_per_sample_and_in_total(deployed: Deployment, tmp_path: Path) -> None:
    project = deployed.project
    sheet = write_sheet(tmp_path / "cost.csv", 3)
    submitted = project.run_json(
        "submit", "--env", "local", "--image", IMAGE, "--command", "echo $SAMPLE_ID", "--samples", str(sheet),
        "--vcpus", "1", "--memory", "2GiB", "--name", "cost-run", "--wait", "--json",
    )  # fmt: skip
    assert submitted["status"]["state"] == "SUCCEEDED"
    parent = submitted["jobs"][0]["job_id"]

    report = project.run_json("cost", "cost-run", "--env", "local", "--json")
    assert report["run"] == "cost-run" and report["region"] == "us-east-1" and report["currency"] == "USD"
    assert sorted(report["per_sample"]) == ["S00000", "S00001", "S00002"]
    assert all(entry["attempts"] == 1 for entry in report["per_sample"].values())
    spot_ce = deployed.output("compute_environment_arns")["spot"].rsplit("/", 1)[-1]
    for attempt in report["attempts"]:
        assert attempt["job_id"].startswith(parent + ":") and attempt["outcome"] == "succeeded"
        assert attempt["compute_environment"] == spot_ce and attempt["market"] == "spot"
        # 1 vCPU / 2 GiB: the c5.large (2 vCPUs, 4 GiB) is the cheapest type of the three families that holds it
        assert attempt["instance_type"] == "c5.large" and not attempt["instance_known"]
        assert attempt["share"] == 0.5 and attempt["price_source"] == SNAPSHOT_SOURCE
        assert attempt["cost"] == pytest.approx(attempt["usd_per_hour"] * attempt["seconds"] / 3600 * 0.5)
    assert report["price_sources"] == [SNAPSHOT_SOURCE]
    assert report["total"] == pytest.approx(sum(a["cost"] for a in report["attempts"]), abs=1e-6)
    assert report["wasted"] == 0 and report["attempts_priced_on_assumed_instance"] == 3
    assert any("emulator has no prices" in note for note in report["notes"])

    text = project.run("cost", "cost-run", "--env", "local").stdout
    assert "per sample" in text and "S00002" in text and "c5.large (cheapest fit)" in text
    assert "total $" in text and f"price source: {SNAPSHOT_SOURCE}" in text

    status = project.run("status", "cost-run", "--env", "local").stdout.strip().splitlines()
    assert status[-1].startswith("cost $") and "3 attempt(s)" in status[-1]
    assert status[-1].endswith("Details: runner cost cost-run --env local")


def test_jobs_carry_run_sample_and_pipeline_tags_propagated_to_their_tasks(
    deployed: Deployment, tmp_path: Path
) -> None:
    project = deployed.project
    batch = deployed.client("batch")
    one = project.run_json(
        "submit", "--env", "local", "--image", IMAGE, "--command", "true",
        "--samples", str(write_sheet(tmp_path / "one.csv", 1)), "--name", "tags-one", "--json",
    )  # fmt: skip
    many = project.run_json(
        "submit", "--env", "local", "--image", IMAGE, "--command", "true",
        "--samples", str(write_sheet(tmp_path / "many.csv", 2)), "--name", "tags-many", "--json",
    )  # fmt: skip
    single = batch.describe_jobs(jobs=[one["jobs"][0]["job_id"]])["jobs"][0]
    array = batch.describe_jobs(jobs=[many["jobs"][0]["job_id"]])["jobs"][0]
    wanted = {"runner:run": "tags-one", "runner:env": "local", "runner:pipeline": "bash", "runner:sample": "S00000"}
    assert wanted.items() <= single["tags"].items(), single["tags"]
    assert array["tags"]["runner:run"] == "tags-many" and array["tags"]["runner:sample"] == "array of 2"
    # The job definition propagates them to the ECS task (SubmitJob sets propagateTags too; moto does not echo it).
    definition = batch.describe_job_definitions(jobDefinitions=[single["jobDefinition"]])["jobDefinitions"][0]
    assert definition["propagateTags"] is True
