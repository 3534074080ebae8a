"""What a local Batch job may have of the host (runner/local/confine.py): host volumes only from allowed folders,
never a protected path (not through symlinks or ..), privileged only when allowed, a well-formed user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner.core.errors import UsageError
from runner.local import confine


def _rules(tmp_path: Path, *allowed: Path, privileged: bool = False) -> confine.Rules:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / "data").mkdir(exist_ok=True)
    runner_home = tmp_path / "runner-home"
    runner_home.mkdir(exist_ok=True)
    return confine.Rules(
        allowed=tuple(os.path.realpath(a) for a in allowed),
        privileged=privileged,
        home=os.path.realpath(home),
        protected=confine.protected_paths(runner_home, "/var/run/docker.sock"),
    )


def _mounting(*sources: str, **extra: Any) -> dict[str, Any]:
    return {
        "image": "busybox",
        "volumes": [{"name": f"v{i}", "host": {"sourcePath": s}} for i, s in enumerate(sources)],
        "mountPoints": [{"sourceVolume": f"v{i}", "containerPath": f"/mnt/{i}"} for i in range(len(sources))],
        **extra,
    }


def test_protected_paths_are_refused_whatever_is_allowed(tmp_path: Path) -> None:
    rules = _rules(tmp_path, tmp_path)
    link = tmp_path / "root-link"
    link.symlink_to("/")
    for source in (
        "/",
        "/etc",
        "/etc/passwd",
        "/proc",
        "/sys/kernel",
        "/dev",
        "/var/run/docker.sock",
        "/var/run",  # holds the Docker socket
        "/var/lib/docker",
        str(tmp_path / "home"),  # the user's home
        str(tmp_path),  # holds the home and RUNNER_HOME
        str(tmp_path / "home" / ".ssh"),
        str(tmp_path / "runner-home" / "local"),
        str(link),  # a symlink to /
        str(link / "etc"),
        f"{tmp_path}/home/data/{'../' * 30}etc",  # .. out of an allowed folder
    ):
        with pytest.raises(confine.Refused) as refused:
            confine.check_definition(_mounting(source), rules)
        assert refused.value.field == "volumes", source
        assert str(refused.value).startswith("volumes: host path"), source


def test_allowed_folders_are_mounted_resolved_and_others_refused(tmp_path: Path) -> None:
    data = tmp_path / "home" / "data"
    rules = _rules(tmp_path, data)
    (data / "in").mkdir(parents=True)
    props = _mounting(str(data / "in"), str(data / "new"))
    props["mountPoints"][0]["readOnly"] = True
    confine.check_definition(props, rules)
    real = os.path.realpath(data)
    assert confine.host_binds(props, rules) == [f"{real}/in:/mnt/0:ro", f"{real}/new:/mnt/1"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(confine.Refused, match="not under a folder allowed by RUNNER_LOCAL_HOST_PATHS"):
        confine.check_definition(_mounting(str(elsewhere)), rules)
    # a symlink inside the allowed folder that leads out of it is judged by where it leads
    (data / "out").symlink_to(elsewhere)
    with pytest.raises(confine.Refused, match="not under a folder allowed"):
        confine.check_definition(_mounting(str(data / "out")), rules)
    with pytest.raises(confine.Refused, match="not an absolute path"):
        confine.check_definition(_mounting("relative/path"), rules)


def test_a_path_absent_here_mounts_nothing_and_is_refused_once_it_exists(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    absent = tmp_path / "opt-aws-cli"  # like the AMI's /opt/aws-cli on a laptop
    props = _mounting(str(absent))
    confine.check_definition(props, rules)
    assert confine.host_binds(props, rules) == []
    absent.mkdir()
    with pytest.raises(confine.Refused, match="volumes: host path"):
        confine.host_binds(props, rules)


def test_privileged_needs_the_users_opt_in_and_user_must_be_a_name(tmp_path: Path) -> None:
    with pytest.raises(confine.Refused) as refused:
        confine.check_definition({"image": "x", "privileged": True}, _rules(tmp_path))
    assert refused.value.field == "privileged" and confine.PRIVILEGED_VAR in str(refused.value)
    confine.check_definition({"image": "x", "privileged": True}, _rules(tmp_path, privileged=True))
    for user in ("65534", "65534:65534", "nobody", "app:staff"):
        confine.check_definition({"image": "x", "user": user}, _rules(tmp_path))
    for user in ("", "a b", "0;rm", "x:y:z", 7):
        with pytest.raises(confine.Refused) as bad:
            confine.check_definition({"image": "x", "user": user}, _rules(tmp_path))
        assert bad.value.field == "user"
    # multi-node job definitions are checked container by container
    nodes = {"nodeRangeProperties": [{"targetNodes": "0:", "container": _mounting("/")}]}
    with pytest.raises(confine.Refused, match="volumes"):
        confine.check_definition(None, _rules(tmp_path), nodes)


def test_allowed_folders_are_checked_at_local_up(tmp_path: Path) -> None:
    runner_home = tmp_path / "runner-home"
    runner_home.mkdir()
    good = tmp_path / "data"
    good.mkdir()
    assert confine.allowed_folders(f"{good}:{good}/", runner_home) == (os.path.realpath(good),)
    assert confine.allowed_folders("", runner_home) == ()
    for raw, reason in (
        ("/", "cannot be allowed"),
        ("/etc", "cannot be allowed"),
        (str(runner_home), "cannot be allowed"),
        (str(Path.home()), "cannot be allowed"),
        ("relative", "not an absolute path"),
        (str(tmp_path / "missing"), "not an existing folder"),
        (f"{good}:/proc", "cannot be allowed"),
    ):
        with pytest.raises(UsageError) as err:
            confine.allowed_folders(raw, runner_home)
        assert str(err.value).startswith(f"{confine.HOST_PATHS_VAR}: ") and reason in str(err.value), raw
        assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match=confine.PRIVILEGED_VAR):
        confine.privileged_allowed("maybe")
    assert confine.privileged_allowed("1") and not confine.privileged_allowed(None)
