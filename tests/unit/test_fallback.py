"""The spot fallback's rules and the local reclamation's outcome, on plain job dicts (no AWS, no Docker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner.compute import spot
from runner.compute.resources import Capacity, InstanceSpec
from runner.compute.spot import Policy, on_demand_queue
from runner.core.errors import UsageError
from runner.local import reclaim
from runner.runs.fallback import decide

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOST = "Host EC2 (instance i-0123456789abcdef0) terminated."


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def job(status: str, *reasons: str | None, created: datetime = NOW) -> dict[str, Any]:
    stop = created
    attempts = []
    for reason in reasons:
        stop += timedelta(minutes=1)
        attempts.append({"startedAt": ms(stop), "stoppedAt": ms(stop), "statusReason": reason, "container": {}})
    return {"jobId": "j", "status": status, "createdAt": ms(created), "attempts": attempts}


def test_rows_reclaimed_often_enough_move_unless_running_or_failed_on_their_own() -> None:
    rules = Policy(max_spot_attempts=2, spot_patience_s=None)
    assert decide(job("FAILED", LOST, LOST), rules, NOW) == "reclaimed 2 times (--max-spot-attempts 2)"
    assert decide(job("RUNNABLE", LOST, LOST), rules, NOW) is not None  # waiting for a third spot attempt
    assert decide(job("RUNNING", LOST, LOST), rules, NOW) is None  # that attempt is under way: let it run
    assert decide(job("RUNNABLE", LOST), rules, NOW) is None  # once is below the limit
    assert decide(job("FAILED", LOST, "Essential container in task exited"), rules, NOW) is None  # its own error
    assert decide(job("SUCCEEDED", LOST, LOST, None), rules, NOW) is None


def test_rows_waiting_on_spot_past_the_patience_move() -> None:
    rules = Policy(max_spot_attempts=2, spot_patience_s=1800)
    waited = job("RUNNABLE", created=NOW - timedelta(minutes=45))
    assert decide(waited, rules, NOW) == "RUNNABLE on spot for 45 min (--spot-patience 30 min)"
    assert decide(job("RUNNABLE", created=NOW - timedelta(minutes=10)), rules, NOW) is None
    # the wait restarts when an attempt ends (a retry goes back to RUNNABLE)
    retried = job("RUNNABLE", LOST, created=NOW - timedelta(minutes=45))
    retried["attempts"][0]["stoppedAt"] = ms(NOW - timedelta(minutes=5))
    assert decide(retried, rules, NOW) is None
    assert decide(waited, Policy(2, None), NOW) is None  # --spot-patience never


def test_the_on_demand_queue_is_the_first_whose_environments_are_all_on_demand() -> None:
    large = (InstanceSpec("m5.large", 2, 8192),)
    capacities = {
        "q-default": [Capacity("spot", large, spot=True), Capacity("od", large)],
        "q-priority": [Capacity("od", large)],
        "q-head": [Capacity("od", large)],
    }
    queues = {"head": "q-head", "default": "q-default", "priority": "q-priority"}
    assert on_demand_queue(capacities.__getitem__, queues) == "q-priority"
    assert on_demand_queue(capacities.__getitem__, {"default": "q-default"}) is None


def test_spot_options_are_checked_and_default_from_the_env() -> None:
    assert spot.policy(2, None, {}) == Policy(2, 3600)
    assert spot.policy(3, "20m", {"spot_patience": "2h"}) == Policy(3, 1200)
    assert spot.policy(2, None, {"spot_patience": "2h"}) == Policy(2, 7200)
    assert spot.policy(2, "never", {}) == Policy(2, None)
    with pytest.raises(UsageError, match="^--max-spot-attempts: 0 must be at least 1"):
        spot.policy(0, None, {})
    with pytest.raises(UsageError, match="^--spot-patience: 'soon' is not a duration"):
        spot.policy(2, "soon", {})
    with pytest.raises(UsageError, match="^runner.toml spot_patience: "):
        spot.policy(2, None, {"spot_patience": "10"})
    assert spot.DEFAULT_MAX_SPOT_ATTEMPTS == 2


def test_a_reclaimed_attempt_ends_the_way_batch_ends_it() -> None:
    reason = reclaim.status_reason("job-1", 2)
    assert reason.startswith("Host EC2 (instance i-") and reason.endswith(") terminated.")
    assert reason == reclaim.status_reason("job-1", 2) != reclaim.status_reason("job-1", 3)
    marked = SimpleNamespace(reclaim_reason=reason)
    # the killed container's 137 and the executor's exit reason give way to Batch's reclamation outcome, once
    assert reclaim.outcome(marked, 137, None, "Essential container in task exited") == (None, None, reason)
    assert reclaim.outcome(marked, 0, None, None) == (0, None, None)
    assert reclaim.is_request(reclaim.RECLAIM_REQUEST) and not reclaim.is_request("cancelled by user")


def test_the_reclaim_fraction_is_read_from_the_emulator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, value in (("", 0.0), ("0.25", 0.25), ("1", 1.0), (" 0 ", 0.0)):
        monkeypatch.setenv(reclaim.FRACTION_VAR, raw)
        assert reclaim.fraction() == value
    for raw in ("7", "-1", "lots", "nan"):
        monkeypatch.setenv(reclaim.FRACTION_VAR, raw)
        with pytest.raises(UsageError, match=rf"^{reclaim.FRACTION_VAR}: '{raw}' must be a number from 0 to 1$"):
            reclaim.fraction()


def test_bad_reclaim_settings_stop_local_up_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`runner local up` refuses a reclaim setting the emulator would misread: one line naming it, no emulator."""
    from runner.local import server

    monkeypatch.setenv(server.BATCH_VAR, "instant")
    monkeypatch.setenv(reclaim.AFTER_VAR, "soon")
    with pytest.raises(UsageError, match=rf"^{reclaim.AFTER_VAR}: 'soon' must be a number"):
        server.up(tmp_path / "home", port=1)
    assert server.status(tmp_path / "home") is None and not (tmp_path / "home" / "local" / "moto.log").exists()
