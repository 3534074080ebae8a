"""`runner cost`: pure logic on fixed DescribeJobs dicts; botocore's Stubber only for the Price List, the spot
price history and the ECS -> EC2 path, which no local component can show (the emulator has no prices and no
container instances behind its jobs)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runner.aws.batch import Batch
from runner.compute.resources import Capacity, InstanceSpec, Request
from runner.costs import pricing
from runner.costs.attempts import (
    CostCalculator,
    CostClients,
    InstanceFacts,
    attempts_of,
    cheapest_fit,
    cluster_of,
    instance_facts,
    job_request,
    outcome_of,
    share_of,
)
from runner.costs.pricing import Price, PriceList, Pricer, Snapshot, SpotHistory, time_weighted
from runner.session.runs import JobRef, RunRecord

QUEUE = "arn:aws:batch:eu-west-1:123456789012:job-queue/default"
CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/spot-cluster"
CI_ARN = "arn:aws:ecs:eu-west-1:123456789012:container-instance/spot-cluster/0123456789abcdef"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
RECLAIMED = "Host EC2 (instance i-0abc) terminated."

C5L = InstanceSpec("c5.large", 2, 4096)
C5XL = InstanceSpec("c5.xlarge", 4, 8192)
M5L = InstanceSpec("m5.large", 2, 8192)
R5L = InstanceSpec("r5.large", 2, 16384)
SNAPSHOT = Snapshot(
    region="eu-west-1",
    date="2026-12-01",
    prices={"c5.large": 0.1, "c5.xlarge": 0.2, "m5.large": 0.12, "r5.large": 0.16},
    specs={s.name: s for s in (C5L, C5XL, M5L, R5L)},
)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def attempt(
    start_min: float, stop_min: float, reason: str | None = None, code: int | None = 0, ci: str = "TBD"
) -> dict[str, Any]:
    return {
        "startedAt": ms(T0 + timedelta(minutes=start_min)),
        "stoppedAt": ms(T0 + timedelta(minutes=stop_min)),
        "statusReason": reason,
        "container": {"containerInstanceArn": ci, "exitCode": code},
    }


def job(
    job_id: str, status: str, attempts: list[dict[str, Any]], index: int | None = None, **kw: Any
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "jobId": job_id if index is None else f"{job_id}:{index}",
        "jobName": "run-a",
        "jobQueue": QUEUE,
        "status": status,
        "attempts": attempts,
        "container": {"resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}]},
        **kw,
    }
    if index is not None and "arrayProperties" not in kw:
        found["arrayProperties"] = {"index": index}
    return found


def calculator(capacities: list[Capacity], pricer: Pricer | None = None) -> CostCalculator:
    calc = CostCalculator(CostClients(batch=Batch(None), ec2=None), pricer or Pricer("eu-west-1", snapshot=SNAPSHOT))
    calc._capacities[QUEUE] = capacities
    return calc


SPOT = Capacity("spot", (C5L, C5XL, M5L, R5L), 16, spot=True, cluster_arn=CLUSTER)
ONDEMAND = Capacity("ondemand", (M5L, R5L), 8, spot=False, cluster_arn=CLUSTER.replace("spot", "od"))


# ---------------------------------------------------------------------------------------------------------------
# Pure pieces
# ---------------------------------------------------------------------------------------------------------------


def test_outcomes_name_reclaimed_failed_succeeded_and_running() -> None:
    done = job("j", "SUCCEEDED", [attempt(0, 5, RECLAIMED, None), attempt(6, 10, "Essential container exited", 1)])
    assert outcome_of(done, done["attempts"][0], last=False) == ("reclaimed", RECLAIMED)
    # the last attempt of a SUCCEEDED job succeeded whatever its reason text says
    assert outcome_of(done, done["attempts"][1], last=True)[0] == "succeeded"
    failed = job("j", "FAILED", [attempt(0, 5, "Essential container in task exited", 3)])
    assert outcome_of(failed, failed["attempts"][0], last=True)[0] == "failed"
    running = {"startedAt": ms(T0), "container": {}}
    assert outcome_of(job("j", "RUNNING", [running]), running, last=True)[0] == "running"
    # a reclaimed last attempt whose reason Batch put on the job only
    lost = job("j", "FAILED", [{**attempt(0, 5), "statusReason": None}], statusReason=RECLAIMED)
    assert outcome_of(lost, lost["attempts"][0], last=True)[0] == "reclaimed"


def test_attempts_fall_back_to_the_jobs_own_times_and_requests_to_the_record() -> None:
    bare = {"jobId": "j", "status": "SUCCEEDED", "startedAt": ms(T0), "stoppedAt": ms(T0 + timedelta(minutes=1))}
    assert [a["startedAt"] for a in attempts_of(bare)] == [ms(T0)]
    assert attempts_of({"jobId": "never", "status": "FAILED"}) == []
    assert job_request(bare, Request(2, 4096)) == Request(2, 4096)
    legacy = {"container": {"vcpus": 4, "memory": 1000}}
    assert job_request(legacy, Request(1, 2048)) == Request(4, 1000)


def test_share_is_the_larger_of_cpu_memory_and_gpu_shares() -> None:
    assert share_of(Request(1, 1024), C5XL) == pytest.approx(0.25)  # 1/4 vCPU, 1/8 memory
    assert share_of(Request(1, 6144), C5XL) == pytest.approx(0.75)  # memory dominates
    assert share_of(Request(8, 1024), C5XL) == 1.0  # never more than the instance
    gpu = InstanceSpec("g5.12xlarge", 48, 196608, gpus=4)
    assert share_of(Request(4, 8192, gpus=2), gpu) == pytest.approx(0.5)


def test_cluster_of_reads_the_new_arn_format_only() -> None:
    assert cluster_of(CI_ARN) == "spot-cluster"
    assert cluster_of("arn:aws:ecs:eu-west-1:123456789012:container-instance/0123456789abcdef") is None
    assert cluster_of("TBD") is None and cluster_of(None) is None


def test_cheapest_fit_prices_only_the_smallest_fitting_size_of_each_family() -> None:
    asked: list[str] = []

    def on_demand(name: str) -> Price | None:
        asked.append(name)
        return Pricer("eu-west-1", snapshot=SNAPSHOT).on_demand(name)

    assert cheapest_fit(Request(1, 2048), SPOT.instances, on_demand) == C5L
    assert sorted(asked) == ["c5.large", "m5.large", "r5.large"]  # c5.xlarge is never priced
    # 6 GiB does not fit a c5.large (4 GiB minus the reserve): the m5.large is the cheapest that does
    assert cheapest_fit(Request(1, 6144), SPOT.instances, on_demand) == M5L
    assert cheapest_fit(Request(64, 2048), SPOT.instances, on_demand) is None


def test_time_weighted_spot_price_over_an_attempt() -> None:
    history = [(T0 - timedelta(hours=1), 0.04), (T0 + timedelta(minutes=30), 0.08)]
    assert time_weighted(history, T0, T0 + timedelta(hours=1)) == pytest.approx(0.06)
    assert time_weighted(history, T0, T0) == pytest.approx(0.04)  # zero-length: the price in effect
    assert time_weighted([], T0, T0 + timedelta(hours=1)) is None


def test_the_shipped_snapshots_cover_every_env_instance_family() -> None:
    root = Path(__file__).resolve().parents[2]
    for env in ("dev", "prod", "local"):
        tfvars = (root / "envs" / env / "terraform.tfvars").read_text()
        region = "us-east-1" if env == "local" else "eu-west-1"
        snap = Snapshot.load(region)
        assert snap is not None, region
        date.fromisoformat(snap.date)  # dated
        families = {name.split(".")[0] for name in snap.prices}
        if env == "local":  # Batch's optimal: c5, m5, r5
            assert {"c5", "m5", "r5"} <= families
            continue
        line = next(ln for ln in tfvars.splitlines() if ln.startswith("instance_types"))
        wanted = set(json.loads(line.split("=", 1)[1]))
        assert wanted <= families, wanted - families


# ---------------------------------------------------------------------------------------------------------------
# A run's report from fixed job dicts
# ---------------------------------------------------------------------------------------------------------------


def test_report_per_sample_totals_and_the_wasted_share_on_assumed_instances() -> None:
    record = RunRecord(run="run-a", env="dev", jobs=[JobRef("p", "run-a", array_size=2, rows=[0, 1])])
    ref = record.jobs[0]
    jobs = [
        # sample A: reclaimed after 30 min on spot, then 60 min that succeeded
        (ref, job("p", "SUCCEEDED", [attempt(0, 30, RECLAIMED, None), attempt(30, 90)], index=0)),
        # sample B: failed after 60 min (application error); its index only in its id, as moto describes children
        (ref, job("p", "FAILED", [attempt(0, 60, "Essential container in task exited", 2)], 1, arrayProperties={})),
    ]
    report = calculator([SPOT, ONDEMAND]).report(record, jobs, {}, samples=["A", "B"])
    rows = [(a.sample, a.attempt, a.outcome, a.compute_environment, a.instance_type, a.market) for a in report.attempts]
    assert rows == [
        ("A", 1, "reclaimed", "spot", "c5.large", "spot"),
        ("A", 2, "succeeded", "spot", "c5.large", "spot"),
        ("B", 1, "failed", "spot", "c5.large", "spot"),
    ]
    assert all(not a.instance_known and a.share == 0.5 for a in report.attempts)  # 1 of 2 vCPUs; 2 of 4 GiB
    # c5.large at 0.10/h (snapshot on-demand as the spot upper bound), half the instance
    assert [a.cost for a in report.attempts] == pytest.approx([0.025, 0.05, 0.05])
    assert report.total == pytest.approx(0.125)
    assert report.per_sample["A"]["cost"] == pytest.approx(0.075)
    assert report.per_sample["A"]["wasted"] == pytest.approx(0.025)
    assert report.per_sample["B"]["attempts"] == 1
    assert report.wasted_share == pytest.approx(0.6)
    assert report.sources == ["snapshot prices-eu-west-1-2026-12-01, on-demand as spot upper bound"]
    assert any("cheapest instance type" in note for note in report.notes)
    line = report.summary()
    assert line.startswith("cost $0.1250, 3 attempt(s), 60% on failed or reclaimed attempts")
    data = report.to_dict()
    assert data["per_sample"]["B"]["wasted"] == pytest.approx(0.05)
    assert data["by_outcome"] == {"failed": 0.05, "reclaimed": 0.025, "succeeded": 0.05}


def test_a_request_only_the_second_environment_fits_is_priced_there_on_demand() -> None:
    record = RunRecord(run="big", env="dev", jobs=[JobRef("j", "big")])
    big = job("j", "SUCCEEDED", [attempt(0, 60)])
    big["container"]["resourceRequirements"] = [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "12000"}]
    spot_small = Capacity("spot", (C5L, C5XL), 16, spot=True)
    report = calculator([spot_small, ONDEMAND]).report(record, [(record.jobs[0], big)], {})
    only = report.attempts[0]
    assert (only.compute_environment, only.instance_type, only.market) == ("ondemand", "r5.large", "on-demand")
    assert only.price_source == "snapshot prices-eu-west-1-2026-12-01"
    assert only.cost == pytest.approx(0.16)  # 12000/16384 memory share -> 0.73; but 2/2 vCPUs -> the whole instance


def test_a_reported_instance_prices_its_own_type_zone_and_market() -> None:
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    stub = Stubber(ec2)
    stub.add_response(
        "describe_spot_price_history",
        {
            "SpotPriceHistory": [
                {"AvailabilityZone": "eu-west-1b", "InstanceType": "m5.large", "SpotPrice": "0.03", "Timestamp": T0},
            ]
        },
        {
            "InstanceTypes": ["m5.large"],
            "ProductDescriptions": ["Linux/UNIX"],
            "AvailabilityZone": "eu-west-1b",
            "StartTime": T0,
            "EndTime": T0 + timedelta(hours=2),
        },
    )
    pricer = Pricer("eu-west-1", spot_history=SpotHistory(ec2), snapshot=SNAPSHOT)
    record = RunRecord(run="r", env="dev", jobs=[JobRef("j", "r", rows=[0])])
    ran = job("j", "SUCCEEDED", [attempt(0, 120, ci=CI_ARN)])
    facts = {CI_ARN: InstanceFacts("i-0abc", "m5.large", "eu-west-1b", spot=True)}
    with stub:
        report = calculator([SPOT, ONDEMAND], pricer).report(record, [(record.jobs[0], ran)], facts, ["S1"])
    stub.assert_no_pending_responses()
    only = report.attempts[0]
    assert only.instance_known and only.instance_id == "i-0abc" and only.compute_environment == "spot"
    assert (only.instance_type, only.zone, only.market) == ("m5.large", "eu-west-1b", "spot")
    assert only.price_source == "spot price history eu-west-1b"
    assert only.cost == pytest.approx(0.03 * 2 * 0.5)  # 2 h, half of the m5.large (1 of 2 vCPUs)
    assert report.assumed == 0 and not any("cheapest" in n for n in report.notes)


def test_instance_facts_follow_the_container_instance_to_ec2() -> None:
    ecs = boto3.client("ecs", region_name="eu-west-1")
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    ecs_stub, ec2_stub = Stubber(ecs), Stubber(ec2)
    ecs_stub.add_response(
        "describe_container_instances",
        {"containerInstances": [{"containerInstanceArn": CI_ARN, "ec2InstanceId": "i-0abc"}]},
        {"cluster": "spot-cluster", "containerInstances": [CI_ARN]},
    )
    ec2_stub.add_response(
        "describe_instances",
        {
            "Reservations": [
                {
                    "Instances": [
                        {
                            "InstanceId": "i-0abc",
                            "InstanceType": "c5.xlarge",
                            "InstanceLifecycle": "spot",
                            "Placement": {"AvailabilityZone": "eu-west-1a"},
                        }
                    ]
                }
            ]
        },
        {"InstanceIds": ["i-0abc"]},
    )
    with ecs_stub, ec2_stub:
        facts = instance_facts(ecs, ec2, [CI_ARN, CI_ARN, "TBD"])
    assert facts == {CI_ARN: InstanceFacts("i-0abc", "c5.xlarge", "eu-west-1a", spot=True)}


def test_an_instance_aws_no_longer_describes_is_left_out() -> None:
    ecs = boto3.client("ecs", region_name="eu-west-1")
    stub = Stubber(ecs)
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [], "failures": [{"arn": CI_ARN, "reason": "MISSING"}]},
        {"cluster": "spot-cluster", "containerInstances": [CI_ARN]},
    )
    with stub:
        assert instance_facts(ecs, boto3.client("ec2", region_name="eu-west-1"), [CI_ARN]) == {}


# ---------------------------------------------------------------------------------------------------------------
# Price sources
# ---------------------------------------------------------------------------------------------------------------


def product(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "m5.large"}},
            "terms": {
                "OnDemand": {"X.Y": {"priceDimensions": {"X.Y.Z": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}
            },
        }
    )


def test_price_list_answer_is_cached_per_region_and_reused(tmp_path: Path) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "get_products",
        {"PriceList": [product("0.1070000000")], "FormatVersion": "aws_v1"},
        {"ServiceCode": "AmazonEC2", "Filters": pricing.price_list_filters("eu-west-1", "m5.large"), "MaxResults": 10},
    )
    today = date(2026, 12, 1)
    with stub:
        assert PriceList(client, "eu-west-1", tmp_path, today=today).on_demand("m5.large") == pytest.approx(0.107)
    cached = json.loads((tmp_path / "eu-west-1.json").read_text())
    assert cached["on_demand"]["m5.large"] == {"usd": 0.107, "fetched": "2026-12-01"}
    with Stubber(client):  # no response queued: a second lookup must not call the API
        later = PriceList(client, "eu-west-1", tmp_path, today=today + timedelta(days=pricing.CACHE_DAYS))
        assert later.on_demand("m5.large") == pytest.approx(0.107)
        pricer = Pricer("eu-west-1", price_list=later, snapshot=SNAPSHOT)
        assert pricer.on_demand("m5.large") == Price(0.107, "price list", "on-demand")


def test_without_the_price_list_the_snapshot_answers_and_says_so(tmp_path: Path) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("get_products", "AccessDeniedException", http_status_code=400)
    price_list = PriceList(client, "eu-west-1", tmp_path)
    with stub:
        pricer = Pricer("eu-west-1", price_list=price_list, snapshot=SNAPSHOT)
        assert pricer.on_demand("m5.large") == Price(0.12, "snapshot prices-eu-west-1-2026-12-01", "on-demand")
        # one refusal is enough: the next type does not call again (the stub has nothing queued)
        assert pricer.on_demand("c5.large") == Price(0.1, "snapshot prices-eu-west-1-2026-12-01", "on-demand")
    assert pricer.on_demand("x9.huge") is None


def test_spot_without_history_is_priced_at_on_demand_as_an_upper_bound() -> None:
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    stub = Stubber(ec2)
    stub.add_response("describe_spot_price_history", {"SpotPriceHistory": []})
    with stub:
        price = Pricer("eu-west-1", spot_history=SpotHistory(ec2), snapshot=SNAPSHOT).spot(
            "c5.large", None, T0, T0 + timedelta(hours=1)
        )
    assert price == Price(0.1, "snapshot prices-eu-west-1-2026-12-01, on-demand as spot upper bound", "spot")


def test_spot_without_a_zone_takes_the_cheapest_zone() -> None:
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    stub = Stubber(ec2)
    history = [
        {"AvailabilityZone": "eu-west-1a", "InstanceType": "c5.large", "SpotPrice": "0.05", "Timestamp": T0},
        {"AvailabilityZone": "eu-west-1b", "InstanceType": "c5.large", "SpotPrice": "0.04", "Timestamp": T0},
    ]
    stub.add_response("describe_spot_price_history", {"SpotPriceHistory": history})
    with stub:
        price = SpotHistory(ec2).price("c5.large", None, T0, T0 + timedelta(hours=1))
    assert price == (pytest.approx(0.04), "eu-west-1b")
