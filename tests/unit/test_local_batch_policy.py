"""The local Batch's decisions without containers: evaluateOnExit, retries, limits, placement, mode selection."""

from __future__ import annotations

import pytest

from runner.core.errors import UsageError
from runner.local import policy, server
from runner.local.logs import stream_target
from runner.local.policy import QueueView, Slot

RULES = [
    {"onStatusReason": "Host EC2*", "action": "RETRY"},
    {"onExitCode": "13*", "onReason": "OutOfMemory*", "action": "RETRY"},
    {"onExitCode": "2", "action": "exit"},
]


@pytest.mark.parametrize(
    ("code", "reason", "status_reason", "expected"),
    [
        (None, None, "Host EC2 (instance i-0abc) terminated.", "RETRY"),  # spot reclamation
        (137, policy.OOM_REASON, policy.OOM_REASON, "RETRY"),  # both conditions of rule 2 match
        (137, None, policy.EXIT_REASON, "RETRY"),  # rule 2 needs its reason too: no rule matches, so RETRY
        (2, None, policy.EXIT_REASON, "EXIT"),  # lower-case action still counts
        (22, None, policy.EXIT_REASON, "RETRY"),  # "2" is exact, not a prefix
    ],
)
def test_first_matching_rule_wins_and_no_match_retries(code, reason, status_reason, expected) -> None:
    assert policy.exit_action(RULES, code, reason, status_reason) == expected


def test_catch_all_star_matches_a_missing_value() -> None:
    assert policy.pattern_matches("*", None)
    assert policy.exit_action([{"onReason": "*", "action": "EXIT"}], 1, None, None) == "EXIT"
    assert policy.pattern_matches("Host EC2*", "Host EC2 (instance i-1) terminated.")
    assert not policy.pattern_matches("Host EC2", "Host EC2 (instance i-1) terminated.")


def test_attempts_bound_retries() -> None:
    strategy = {"attempts": 2}
    assert policy.should_retry(strategy, 1, 1, None, None)
    assert not policy.should_retry(strategy, 2, 1, None, None)
    assert not policy.should_retry(None, 1, 1, None, None)  # no strategy: one attempt
    assert not policy.should_retry({"attempts": 3, "evaluateOnExit": RULES}, 1, 2, None, None)


def test_limits_are_clamped_to_the_host() -> None:
    assert policy.cpu_nanos(8, host_cpus=2) == 2_000_000_000
    assert policy.cpu_nanos(0.5, host_cpus=2) == 500_000_000
    assert policy.memory_bytes(96) == 96 * 1024 * 1024
    assert policy.memory_bytes(None) is None


def test_parameters_replace_refs_in_the_command() -> None:
    got = policy.substitute_parameters(["run", "Ref::input", "--x=Ref::x", "Ref::unknown"], {"input": "a", "x": "1"})
    assert got == ["run", "a", "--x=1", "Ref::unknown"]


def test_placement_respects_max_vcpus_priority_and_order() -> None:
    small, big = Slot("small", 2), Slot("big", 4)
    low = QueueView(1, (small,), [("low-1", 1), ("low-2", 1)])
    high = QueueView(10, (small, big), [("high-1", 2), ("high-2", 4)])
    # high-1 takes small (2/2), high-2 spills to big (4/4); no room for the low-priority ones.
    assert policy.place([low, high], {}, free_workers=10) == [("high-1", "small"), ("high-2", "big")]
    # Room already used elsewhere counts; a job too big for every environment waits while smaller ones start.
    waiting = QueueView(1, (small,), [("huge", 8), ("low-1", 1)])
    assert policy.place([waiting], {"small": 1}, 10) == [("low-1", "small")]
    # Free workers bound how many start at once; disabled environments take nothing; no cap = unmanaged.
    assert policy.place([low, high], {}, free_workers=1) == [("high-1", "small")]
    assert policy.place([QueueView(1, (Slot("off", 8, enabled=False),), [("a", 1)])], {}, 4) == []
    assert len(policy.place([QueueView(1, (Slot("any", None),), [(str(i), 1) for i in range(5)])], {}, 4)) == 4


def test_placement_stops_reading_a_queue_whose_environments_are_full() -> None:
    read: list[int] = []

    def jobs():
        for i in range(10_000):
            read.append(i)
            yield str(i), 1.0

    assert len(policy.place([QueueView(1, (Slot("ce", 3),), jobs())], {}, free_workers=100)) == 3
    assert len(read) == 4  # three placed, the fourth found the environment full: the other 9,996 never read


def test_log_stream_names_follow_batch() -> None:
    assert stream_target("jd", {}, "t1") == ("/aws/batch/job", "jd/default/t1")
    config = {
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/g", "awslogs-stream-prefix": "p"}}
    }
    assert stream_target("jd", config, "t1") == ("/g", "p/default/t1")


def test_batch_mode_selection(monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.delenv("RUNNER_LOCAL_BATCH", raising=False)
    assert server.batch_mode() == "instant"  # no daemon answers
    monkeypatch.setenv("RUNNER_LOCAL_BATCH", "instant")
    assert server.batch_mode() == "instant"
    monkeypatch.setenv("RUNNER_LOCAL_BATCH", "docker")
    with pytest.raises(UsageError, match="RUNNER_LOCAL_BATCH=docker: no Docker daemon answers; install docker.io"):
        server.batch_mode()
    monkeypatch.setenv("RUNNER_LOCAL_BATCH", "kubernetes")
    with pytest.raises(UsageError, match="RUNNER_LOCAL_BATCH: 'kubernetes' is not one of docker, instant"):
        server.batch_mode()
