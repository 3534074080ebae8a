"""Instance prices for `runner cost`: where each number comes from, and the order they are tried.

* **Spot**: ``ec2:DescribeSpotPriceHistory`` for the instance type and zone over the attempt's window, averaged
  by time (a price in effect at the start counts from the start). No history (or an emulator env, whose spot
  history is a constant placeholder): the on-demand price is used as an upper bound, and the source says so.
* **On-demand**: the AWS Price List API (``pricing:GetProducts``, served from us-east-1), one product per
  instance type and region, cached under ``RUNNER_HOME/pricing/<region>.json`` for ``CACHE_DAYS``.
* **Snapshot**: a dated offline file per region, ``runner/costs/data/prices-<region>-<date>.json``, holding the
  vCPUs, memory and on-demand price of the env's instance types. Used when the Price List API cannot be reached
  (no ``pricing:GetProducts`` permission, no network, an emulator env) and for instance sizes.

Every `Price` carries its source text, so a report can say exactly what it used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from importlib import resources as package_files
from pathlib import Path
from typing import Any

from runner.compute.resources import InstanceSpec

PRICE_LIST_REGION = "us-east-1"  # the Price List API endpoint (it also serves eu-central-1 and ap-south-1)
CACHE_DAYS = 30
SPOT_PRODUCT = "Linux/UNIX"
DATA_PACKAGE = "runner.costs.data"


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str  # e.g. "spot price history us-east-1a", "price list", "snapshot prices-us-east-1-2026-12-01"
    kind: str  # spot | on-demand


# ---------------------------------------------------------------------------------------------------------------
# The offline snapshot
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    region: str
    date: str
    prices: dict[str, float]
    specs: dict[str, InstanceSpec]

    @property
    def name(self) -> str:
        return f"prices-{self.region}-{self.date}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        types = data.get("instance_types", {})
        return cls(
            region=str(data["region"]),
            date=str(data["date"]),
            prices={name: float(t["on_demand"]) for name, t in types.items() if t.get("on_demand") is not None},
            specs={name: InstanceSpec(name, int(t["vcpus"]), int(t["memory_mib"])) for name, t in types.items()},
        )

    @classmethod
    def load(cls, region: str) -> Snapshot | None:
        """The newest snapshot shipped for the region, if any."""
        folder = package_files.files(DATA_PACKAGE)
        names = sorted(
            p.name for p in folder.iterdir() if p.name.startswith(f"prices-{region}-") and p.name.endswith(".json")
        )
        if not names:
            return None
        return cls.from_dict(json.loads(folder.joinpath(names[-1]).read_text()))


def snapshot_document(region: str, specs: list[InstanceSpec], prices: dict[str, float], when: date) -> dict[str, Any]:
    """A snapshot file's content (see `refresh_snapshot`)."""
    return {
        "region": region,
        "date": when.isoformat(),
        "currency": "USD",
        "basis": "On-demand, Linux, shared tenancy, per instance-hour (AWS Price List API).",
        "instance_types": {
            s.name: {"vcpus": s.vcpus, "memory_mib": s.memory_mib, "on_demand": prices.get(s.name)}
            for s in sorted(specs, key=lambda s: s.name)
        },
    }


def refresh_snapshot(pricing: Any, region: str, specs: list[InstanceSpec], folder: Path) -> Path:
    """Write ``prices-<region>-<today>.json`` from the Price List API (run by hand with real credentials)."""
    source = PriceList(pricing, region, cache=None)
    prices = {s.name: p for s in specs if (p := source.on_demand(s.name)) is not None}
    today = datetime.now(UTC).date()
    path = folder / f"prices-{region}-{today.isoformat()}.json"
    path.write_text(json.dumps(snapshot_document(region, specs, prices, today), indent=1) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------------------
# The Price List API, cached per region
# ---------------------------------------------------------------------------------------------------------------


def price_list_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    wanted = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in wanted.items()]


def on_demand_from_products(price_list: list[str]) -> float | None:
    """The hourly USD price in a GetProducts answer (its PriceList entries are JSON documents)."""
    for text in price_list:
        product = json.loads(text)
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if dimension.get("unit", "Hrs").startswith("Hr") and usd is not None and float(usd) > 0:
                    return float(usd)
    return None


class PriceList:
    """On-demand prices from ``pricing:GetProducts``; answers are kept in a per-region cache file."""

    def __init__(self, pricing: Any, region: str, cache: Path | None, today: date | None = None) -> None:
        self.pricing = pricing
        self.region = region
        self.cache = cache / f"{region}.json" if cache is not None else None
        self.today = today or datetime.now(UTC).date()
        self.failed = False  # one failed call (no permission, no network): stop asking

    @cached_property
    def _cached(self) -> dict[str, dict[str, Any]]:
        if self.cache is None or not self.cache.is_file():
            return {}
        try:
            data = json.loads(self.cache.read_text())
        except (OSError, ValueError):
            return {}
        return dict(data.get("on_demand", {}))

    def _fresh(self, entry: dict[str, Any]) -> bool:
        try:
            fetched = date.fromisoformat(str(entry["fetched"]))
        except (KeyError, ValueError):
            return False
        return self.today - fetched <= timedelta(days=CACHE_DAYS)

    def on_demand(self, instance_type: str) -> float | None:
        entry = self._cached.get(instance_type)
        if entry is not None and self._fresh(entry):
            return float(entry["usd"])
        if self.failed:
            return None
        try:
            answer = self.pricing.get_products(
                ServiceCode="AmazonEC2", Filters=price_list_filters(self.region, instance_type), MaxResults=10
            )
        except Exception:  # no permission, no network, throttled past the retries: the snapshot answers instead
            self.failed = True
            return None
        usd = on_demand_from_products(answer.get("PriceList", []))
        if usd is not None:
            self._cached[instance_type] = {"usd": usd, "fetched": self.today.isoformat()}
            self._save()
        return usd

    def _save(self) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        document = {"region": self.region, "on_demand": self._cached}
        self.cache.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Spot price history
# ---------------------------------------------------------------------------------------------------------------


def time_weighted(history: list[tuple[datetime, float]], start: datetime, stop: datetime) -> float | None:
    """The average price over [start, stop] of a step function given as (effective from, price) points."""
    points = sorted(history)
    if not points:
        return None
    if stop <= start:
        before = [p for t, p in points if t <= start]
        return before[-1] if before else points[0][1]
    total = 0.0
    covered = 0.0
    for n, (begin, price) in enumerate(points):
        end = points[n + 1][0] if n + 1 < len(points) else stop
        lo, hi = max(begin, start), min(end, stop)
        if hi > lo:
            seconds = (hi - lo).total_seconds()
            total += price * seconds
            covered += seconds
    if covered == 0:  # every point is after the window: the first known price
        return points[0][1]
    first = points[0][0]
    if first > start:  # no price known for the start of the window: the first one stands in for it
        gap = (min(first, stop) - start).total_seconds()
        total += points[0][1] * gap
        covered += gap
    return total / covered


class SpotHistory:
    def __init__(self, ec2: Any) -> None:
        self.ec2 = ec2
        self.failed = False

    def price(self, instance_type: str, zone: str | None, start: datetime, stop: datetime) -> tuple[float, str] | None:
        """(average USD/hour over the window, zone) in the given zone, else in the cheapest zone."""
        if self.failed:
            return None
        kwargs: dict[str, Any] = {
            "InstanceTypes": [instance_type],
            "ProductDescriptions": [SPOT_PRODUCT],
            "StartTime": start,
            "EndTime": max(stop, start),
        }
        if zone:
            kwargs["AvailabilityZone"] = zone
        by_zone: dict[str, list[tuple[datetime, float]]] = {}
        try:
            while True:
                page = self.ec2.describe_spot_price_history(**kwargs)
                for item in page.get("SpotPriceHistory", []):
                    stamp = item["Timestamp"]
                    if isinstance(stamp, str):
                        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                    by_zone.setdefault(item["AvailabilityZone"], []).append((stamp, float(item["SpotPrice"])))
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        except Exception:  # no permission or no network: on-demand stands in
            self.failed = True
            return None
        averages = {z: avg for z, h in by_zone.items() if (avg := time_weighted(h, start, stop)) is not None}
        if not averages:
            return None
        best = zone if zone in averages else min(averages, key=lambda z: averages[z])
        return averages[best], best


# ---------------------------------------------------------------------------------------------------------------
# Everything together
# ---------------------------------------------------------------------------------------------------------------


class Pricer:
    """Prices for one region: live sources first (when given), the snapshot last."""

    def __init__(
        self,
        region: str,
        price_list: PriceList | None = None,
        spot_history: SpotHistory | None = None,
        snapshot: Snapshot | None = None,
        offline_reason: str | None = None,
    ) -> None:
        self.region = region
        self.price_list = price_list
        self.spot_history = spot_history
        self.snapshot = snapshot if snapshot is not None else Snapshot.load(region)
        self.offline_reason = offline_reason  # why no live source is asked (e.g. "the emulator has no prices")

    def spec(self, instance_type: str) -> InstanceSpec | None:
        return self.snapshot.specs.get(instance_type) if self.snapshot else None

    def on_demand(self, instance_type: str) -> Price | None:
        if self.price_list is not None:
            usd = self.price_list.on_demand(instance_type)
            if usd is not None:
                return Price(usd, "price list", "on-demand")
        if self.snapshot is not None and instance_type in self.snapshot.prices:
            return Price(self.snapshot.prices[instance_type], f"snapshot {self.snapshot.name}", "on-demand")
        return None

    def spot(self, instance_type: str, zone: str | None, start: datetime, stop: datetime) -> Price | None:
        if self.spot_history is not None:
            found = self.spot_history.price(instance_type, zone, start, stop)
            if found is not None:
                usd, where = found
                label = "spot price history" + (f" {where}" if zone else f" {where} (cheapest zone)")
                return Price(usd, label, "spot")
        fallback = self.on_demand(instance_type)
        if fallback is None:
            return None
        return Price(fallback.usd_per_hour, f"{fallback.source}, on-demand as spot upper bound", "spot")
