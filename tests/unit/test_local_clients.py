"""What real Batch clients need of the local env's containers: ``privileged`` where Docker's privileged mode cannot
start (runner/local/containers.py)."""

from __future__ import annotations

from runner.local import containers

EVERY = (1 << len(containers.CAPABILITIES)) - 1
SYS_RESOURCE = 1 << containers.CAPABILITIES.index("SYS_RESOURCE")


def test_privileged_is_dockers_privileged_mode_where_the_host_has_every_capability() -> None:
    assert containers.privileged_config(EVERY) == {"Privileged": True}
    assert containers.privileged_config(-1) == {"Privileged": True}


def test_privileged_on_a_host_without_every_capability_is_every_capability_it_has() -> None:
    """A Docker daemon inside a container whose bounding set lacks CAP_SYS_RESOURCE cannot start a privileged
    container at all (runc: "unable to apply caps"): the job gets every capability the host has instead."""
    config = containers.privileged_config(EVERY & ~SYS_RESOURCE)
    assert "Privileged" not in config
    assert set(config["CapAdd"]) == set(containers.CAPABILITIES) - {"SYS_RESOURCE"}
    assert config["SecurityOpt"] == ["seccomp=unconfined", "apparmor=unconfined"]


def test_capabilities_are_in_linux_number_order() -> None:
    names = containers.CAPABILITIES
    assert (names[0], names[21], names[24], names[37]) == ("CHOWN", "SYS_ADMIN", "SYS_RESOURCE", "AUDIT_READ")
