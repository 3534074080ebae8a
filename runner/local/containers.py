"""How the local Batch turns one attempt of a job into a Docker container: environment, limits, mounts, network,
identity. Used by `runner.local.executor`.

Confined as on a shared Batch host (`runner.local.confine`): the container runs on the local Batch's own bridge
network (``runner-local-<uid>``, labelled, created on first use and reused), whose gateway address is where the
emulator also listens (behind the same front door): jobs reach the emulator there, and not the host's loopback
services. It gets the env's *job* key pair (`runner.local.credentials`), never the user's, host volumes only from
the folders the user allowed, ``privileged`` only when the user allowed it, and its job definition's ``user`` and
``readonlyRootFilesystem``. Every container is labelled with the emulator's pid and its RUNNER_HOME's id, so a
later `runner local up` or `down` removes exactly the containers of a dead emulator of the same RUNNER_HOME.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.local import confine, docker, policy, shim
from runner.local.credentials import KeyPair

PORT_LABEL = "runner.local.port"
JOB_LABEL = "runner.local.job"
HOME_ID_VAR = "RUNNER_LOCAL_HOME_ID"


# Linux capabilities 0-37 in number order (CAP_CHOWN ... CAP_AUDIT_READ): the ones every Docker knows by name
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
)


def bounding_set() -> int:
    """This host's capability bounding set (of this process: the Docker daemon beside it shares it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return -1  # not Linux' /proc: assume every capability


def privileged_config(bounding: int | None = None) -> dict[str, Any]:
    """What a job definition's ``privileged`` becomes (once the user allowed it): Docker's privileged mode, unless
    the host's bounding set lacks a capability (a Docker daemon inside a container): there runc cannot apply every
    capability and no privileged container starts, so the job gets every capability the host has, with seccomp
    and AppArmor unconfined (no host devices)."""
    bounding = bounding_set() if bounding is None else bounding
    have = [name for bit, name in enumerate(CAPABILITIES) if bounding >> bit & 1]
    if len(have) == len(CAPABILITIES):
        return {"Privileged": True}
    return {"CapAdd": have, "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"]}


def network_name() -> str:
    return f"runner-local-{os.getuid()}"


def home_id(home: Path) -> str:
    """What identifies a RUNNER_HOME on the containers of its emulator (a digest of its resolved path)."""
    return hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]


def ensure_network(engine: docker.Engine) -> tuple[str, str]:
    """The local Batch's bridge network for this user: (name, gateway address)."""
    name = network_name()
    _, gateway = engine.network(name, {docker.NETWORK_LABEL: "1", "runner.local.uid": str(os.getuid())})
    labels = (engine.call("GET", f"/networks/{name}") or {}).get("Labels") or {}
    if docker.NETWORK_LABEL not in labels:
        raise docker.EngineError(409, f"network {name} exists and is not the local Batch's: remove or rename it")
    return name, gateway


@dataclass
class ContainerFactory:
    """Docker container configurations for one emulator's jobs."""

    port: int
    ident: str  # the emulator's pid
    home: str  # its RUNNER_HOME's id
    network: str
    endpoint: str  # the AWS endpoint jobs use (the gateway address)
    credentials: KeyPair  # the env's job key pair
    rules: confine.Rules
    shim_dir: Path
    host_cpus: int

    def config(self, job: Any, attempt: int, image_path: str) -> dict[str, Any]:
        """The create body of one attempt; `confine.Refused` when its host volumes are not allowed (now)."""
        env = dict(job.environment)
        env.update(self.environment(job, attempt))
        env["PATH"] = f"{shim.MOUNT}/bin:{env.get('PATH') or image_path}"
        env["PYTHONPATH"] = ":".join(p for p in (f"{shim.MOUNT}/python", job.environment.get("PYTHONPATH")) if p)
        host: dict[str, Any] = {
            "NetworkMode": self.network,
            "NanoCpus": policy.cpu_nanos(job.vcpus, self.host_cpus),
            "Binds": [f"{self.shim_dir}:{shim.MOUNT}:ro", *confine.host_binds(job.props, self.rules)],
            "ReadonlyRootfs": bool(job.props.get("readonlyRootFilesystem")),
        }
        if job.props.get("privileged"):
            if not self.rules.privileged:  # registered before the rules changed: still never privileged
                raise confine.Refused("privileged", f"not allowed: set {confine.PRIVILEGED_VAR}=1 at runner local up")
            host.update(privileged_config())
        memory = policy.memory_bytes(job.memory_mib)
        if memory:
            host["Memory"] = memory
            host["MemorySwap"] = memory
        config: dict[str, Any] = {
            "Image": job.image,
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Labels": {
                docker.EMULATOR_LABEL: self.ident,
                docker.HOME_LABEL: self.home,
                PORT_LABEL: str(self.port),
                JOB_LABEL: job.job_id,
            },
            "HostConfig": host,
        }
        if job.props.get("user"):
            config["User"] = str(job.props["user"])
        if job.command:
            config["Cmd"] = list(job.command)
        return config

    def environment(self, job: Any, attempt: int) -> dict[str, str]:
        """What Batch and the local env add to a job's own environment (nothing from the emulator's own)."""
        region = job.backend.region_name
        env = {
            "AWS_BATCH_JOB_ID": job.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt),
            "AWS_BATCH_JQ_NAME": job.job_queue.name,
            "AWS_BATCH_CE_NAME": job.ce_name or "",
            "AWS_EXECUTION_ENV": "AWS_ECS_EC2",  # what the ECS agent on a Batch EC2 host sets (Metaflow reads it)
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **self.credentials.env(),
        }
        if job.index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.index)
            env["AWS_BATCH_JOB_ARRAY_SIZE"] = str(len(job.parent.children))
        return env
