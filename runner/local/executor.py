"""The local AWS Batch: jobs submitted to the emulator run as Docker containers (mode ``docker``).

Installed into the emulator process (``runner.local.batch_api.install``, called by ``runner.local.emulator``) when
``runner local up`` chose the docker mode. It takes over moto's SubmitJob, DescribeJobs, ListJobs, CancelJob and
TerminateJob; moto keeps compute environments, queues and job definitions, and its logs backend receives the jobs'
output.

Threads: one scheduler and a fixed pool of workers (``RUNNER_LOCAL_WORKERS``, default 16), whatever the number of
jobs. The scheduler sleeps on a condition variable until something happens (a submission, an attempt that ends, a
cancel, a deadline: attempt timeouts and queues' ``jobStateTimeLimitActions``) and then starts the RUNNABLE jobs
that fit (``policy.place``: higher-priority queues first, within each compute environment's ``maxvCpus``).
A worker runs one attempt end to end: image check, create, start, log lines into CloudWatch as they come, wait,
outcome (retry or not, by ``policy``). Containers are made by ``runner.local.containers`` (confined: the local
Batch's own network, the env's job credentials, allowed host folders only); each carries the label
``runner.local.emulator=<pid>``, and shutdown removes exactly those.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import queue
import re
import shutil
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from runner.local import confine, docker, moto_contract, policy, reclaim, shim
from runner.local.containers import ContainerFactory
from runner.local.credentials import KeyPair
from runner.local.jobs import LocalJob, now_ms
from runner.local.logs import LogSink, stream_target

log = logging.getLogger("runner.local.executor")

MOTO = moto_contract.current()
ClientException: Any = MOTO.ClientException

LABEL = docker.EMULATOR_LABEL
WORKERS_VAR = "RUNNER_LOCAL_WORKERS"
PULL_TIMEOUT_VAR = "RUNNER_LOCAL_PULL_TIMEOUT"
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")  # Batch: 1-128 letters, digits, - and _


START_PREFIX = "CannotStartContainerError: "


class Executor:
    def __init__(
        self,
        port: int,
        engine: docker.Engine,
        workers: int | None = None,
        *,
        network: tuple[str, str],
        credentials: KeyPair,
        rules: confine.Rules,
        home_id: str,
    ) -> None:
        self.port = port
        self.network, self.gateway = network
        self.endpoint = f"http://{self.gateway}:{port}"
        self.engine = engine
        self.ident = str(os.getpid())
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.fresh: list[LocalJob] = []
        self.runnable: dict[str, dict[str, LocalJob]] = defaultdict(dict)  # queue arn -> RUNNABLE jobs in order
        self.dependants: dict[str, list[LocalJob]] = defaultdict(list)
        self.used: dict[str, float] = defaultdict(float)
        self.deadlines: list[tuple[float, int, str, LocalJob, int]] = []
        self.work: queue.SimpleQueue[LocalJob | None] = queue.SimpleQueue()
        self.size = workers or int(os.environ.get(WORKERS_VAR) or 16)
        self.busy = 0
        self.stopping = False
        self.counter = itertools.count()
        self.sinks: dict[tuple[str, str], LogSink] = {}
        self.shim_dir = shim.write()
        self.pull_timeout = float(os.environ.get(PULL_TIMEOUT_VAR) or 30)
        self.host_cpus = int((engine.call("GET", "/info") or {}).get("NCPU") or os.cpu_count() or 1)
        self.containers = ContainerFactory(
            port, self.ident, home_id, self.network, self.endpoint, credentials, rules, self.shim_dir, self.host_cpus
        )
        self.image_paths: dict[str, str] = {}
        self.threads = [threading.Thread(target=self._schedule, name="batch-scheduler", daemon=True)]
        self.threads += [
            threading.Thread(target=self._work, name=f"batch-worker-{i}", daemon=True) for i in range(self.size)
        ]
        for thread in self.threads:
            thread.start()

    # -----------------------------------------------------------------------------------------------------------
    # API calls (request threads)
    # -----------------------------------------------------------------------------------------------------------

    def submit(
        self,
        backend: Any,
        job_name: str,
        job_def_id: str,
        job_queue: str,
        array_properties: dict[str, Any] | None = None,
        depends_on: list[dict[str, str]] | None = None,
        container_overrides: dict[str, Any] | None = None,
        timeout: dict[str, int] | None = None,
        parameters: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        retry_strategy: dict[str, Any] | None = None,
    ) -> tuple[str, str, str]:
        if JOB_NAME.match(job_name or "") is None:
            raise ClientException("jobName: 1-128 letters, digits, hyphens and underscores, starting alphanumeric")
        job_def = backend.get_job_definition(job_def_id)
        if job_def is None:
            raise ClientException(f"Job definition {job_def_id} does not exist")
        if job_def.container_properties is None:
            raise ClientException(f"Job definition {job_def_id}: the local Batch runs container jobs only")
        queue_ = backend.get_job_queue(job_queue)
        if queue_ is None:
            raise ClientException(f"Job queue {job_queue} does not exist")
        size = int((array_properties or {}).get("size") or 0)
        if array_properties and "size" in array_properties and not 2 <= size <= 10000:
            raise ClientException("arrayProperties.size must be between 2 and 10000")
        with self.lock:
            deps = self._resolve_dependencies(backend, depends_on or [], size)

            def make(parent: LocalJob | None = None, index: int | None = None) -> LocalJob:
                return LocalJob(
                    job_name,
                    job_def,
                    queue_,
                    backend,
                    log_backend=backend.logs_backend,
                    container_overrides=container_overrides,
                    eks_properties_override=None,
                    depends_on=depends_on,
                    parameters=parameters,
                    all_jobs=backend._jobs,
                    timeout=timeout,
                    array_properties=(
                        {"statusSummary": {}, "index": index} if index is not None else dict(array_properties or {})
                    ),
                    provided_job_id=f"{parent.job_id}:{index}" if parent else None,
                    tags=tags if parent is None else None,
                    lock=self.lock,
                    seq=next(self.counter),
                    retry_strategy=retry_strategy,
                    parent=parent,
                    index=index,
                )

            job = make()
            backend._jobs[job.job_id] = job
            if size:
                for i in range(size):
                    child = make(job, i)
                    queue_.jobs.remove(child)  # ListJobs by queue shows the parent; children via arrayJobId
                    backend._jobs[child.job_id] = child
                    job.children.append(child)
                job._child_jobs = list(job.children)
                job.status = "PENDING"
            for target, needs in deps(job):
                self._wait_for(target, needs)
            self.fresh.extend(job.children or [job])
            self.cond.notify_all()
        return job_name, job.job_id, job.arn

    def _resolve_dependencies(self, backend: Any, depends_on: list[dict[str, str]], size: int) -> Any:
        """Check dependsOn now (unknown ids are refused, as Batch does); return a function of the new job
        yielding (job that waits, jobs it waits for)."""
        plain: list[LocalJob] = []
        n_to_n: list[LocalJob] = []
        sequential = False
        for dep in depends_on:
            kind = (dep.get("type") or "").upper()
            if kind == "SEQUENTIAL" and not dep.get("jobId"):
                if not size:
                    raise ClientException("dependsOn: SEQUENTIAL applies to array jobs only")
                sequential = True
                continue
            found = backend.get_job_by_id(str(dep.get("jobId", "")))
            if not isinstance(found, LocalJob):
                raise ClientException(f"dependsOn: job {dep.get('jobId')} does not exist")
            if kind == "N_TO_N":
                if not size or len(found.children) != size:
                    raise ClientException("dependsOn: N_TO_N needs two array jobs of the same size")
                n_to_n.append(found)
            else:
                plain.append(found)

        def pairs(job: LocalJob) -> Any:
            for i, target in enumerate(job.children or [job]):
                needs = list(plain)
                needs += [other.children[i] for other in n_to_n]
                if sequential and i > 0:
                    needs.append(job.children[i - 1])
                yield target, needs

        return pairs

    def _wait_for(self, job: LocalJob, needs: list[LocalJob]) -> None:
        for dep in needs:
            if dep.status == "SUCCEEDED":
                continue
            job.pending_deps.add(dep.job_id)
            self.dependants[dep.job_id].append(job)

    def describe(self, backend: Any, ids: list[str] | None) -> list[dict[str, Any]]:
        with self.lock:
            if ids is None:
                return [job.describe() for job in list(backend._jobs.values())]
            result = []
            for ident in ids:
                job = backend._jobs.get(ident) or backend._jobs.get(ident.rsplit("/", 1)[-1])
                if job is not None:
                    result.append(job.describe())
            return result

    def cancel(self, backend: Any, job_id: str, reason: str) -> None:
        self._stop(backend, job_id, reason, running_too=False)

    def terminate(self, backend: Any, job_id: str, reason: str) -> None:
        if reclaim.is_request(reason):  # `runner local reclaim`: the instance goes away, the job is not terminated
            reclaim.request(self, backend, job_id)
            return
        self._stop(backend, job_id, reason, running_too=True)

    def _stop(self, backend: Any, job_id: str, reason: str, running_too: bool) -> None:
        kills: list[str] = []
        with self.lock:
            job = backend.get_job_by_id(job_id)
            if not isinstance(job, LocalJob):
                return
            for target in job.children or [job]:
                if target.terminal:
                    continue
                if target.status in ("SUBMITTED", "PENDING", "RUNNABLE"):
                    self._finish(target, "FAILED", reason)
                elif running_too:
                    target.terminate_reason = reason
                    if target.container_id:
                        kills.append(target.container_id)
            self.cond.notify_all()
        for cid in kills:
            self._kill(cid)

    # -----------------------------------------------------------------------------------------------------------
    # State changes (under the lock)
    # -----------------------------------------------------------------------------------------------------------

    def _set(self, job: LocalJob, status: str) -> None:
        job.status = status
        if status == "RUNNABLE":
            job.runnable_epoch += 1
            self.runnable[job.job_queue.arn][job.job_id] = job
            for action in getattr(job.job_queue, "job_state_time_limit_actions", None) or []:
                if str(action.get("state", "RUNNABLE")).upper() == "RUNNABLE":
                    when = time.monotonic() + float(action.get("maxTimeSeconds", 0))
                    self._deadline(when, "runnable", job, job.runnable_epoch)
        else:
            self.runnable[job.job_queue.arn].pop(job.job_id, None)
        if job.parent is not None:
            self._refresh_parent(job.parent)

    def _deadline(self, when: float, kind: str, job: LocalJob, token: int) -> None:
        heapq.heappush(self.deadlines, (when, next(self.counter), kind, job, token))

    def _finish(self, job: LocalJob, status: str, reason: str | None) -> None:
        if job.terminal:
            return
        job.status_reason = reason
        job.stopped_ms = now_ms()
        self._set(job, status)
        self._settled(job)

    def _settled(self, job: LocalJob) -> None:
        """A job reached SUCCEEDED or FAILED: release or fail the jobs waiting on it."""
        for waiting in self.dependants.pop(job.job_id, []):
            if waiting.terminal:
                continue
            if job.status == "SUCCEEDED":
                waiting.pending_deps.discard(job.job_id)
                if not waiting.pending_deps and waiting.status == "PENDING":
                    self._set(waiting, "RUNNABLE")
            else:
                self._finish(waiting, "FAILED", f"{policy.DEPENDENCY_REASON}: {job.job_id}")

    def _refresh_parent(self, parent: LocalJob) -> None:
        states = [c.status for c in parent.children]
        if all(s in ("SUCCEEDED", "FAILED") for s in states):
            if parent.terminal:
                return
            failed = states.count("FAILED")
            parent.status_reason = f"{failed} of {len(states)} child jobs failed" if failed else None
            parent.stopped_ms = now_ms()
            parent.status = "FAILED" if failed else "SUCCEEDED"
            self._settled(parent)
        elif any(s in ("STARTING", "RUNNING", "SUCCEEDED", "FAILED") for s in states):
            if parent.status != "RUNNING":
                parent.status = "RUNNING"
                parent.started_ms = min((c.started_ms for c in parent.children if c.started_ms), default=now_ms())
        elif any(s == "RUNNABLE" for s in states):
            parent.status = "RUNNABLE"

    # -----------------------------------------------------------------------------------------------------------
    # The scheduler thread
    # -----------------------------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        while True:
            kills: list[str] = []
            with self.cond:
                if self.stopping:
                    return
                self._admit()
                kills += self._fire_deadlines()
                self._dispatch()
                wait = self.deadlines[0][0] - time.monotonic() if self.deadlines else None
                if not kills and (wait is None or wait > 0):
                    self.cond.wait(wait)
            for cid in kills:
                self._kill(cid)

    def _admit(self) -> None:
        fresh, self.fresh = self.fresh, []
        for job in fresh:
            if job.terminal:
                continue
            self._set(job, "PENDING")
            if not job.pending_deps:
                self._set(job, "RUNNABLE")

    def _fire_deadlines(self) -> list[str]:
        kills = []
        now = time.monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, kind, job, token = heapq.heappop(self.deadlines)
            if kind == "timeout" and job.status == "RUNNING" and job.attempt_no == token:
                job.timed_out_attempt = token
                if job.container_id:
                    kills.append(job.container_id)
            elif kind == "runnable" and job.status == "RUNNABLE" and job.runnable_epoch == token:
                for action in getattr(job.job_queue, "job_state_time_limit_actions", None) or []:
                    if str(action.get("action", "CANCEL")).upper() == "CANCEL":
                        self._finish(job, "FAILED", str(action.get("reason") or "RUNNABLE time limit"))
                        break
        return kills

    def _dispatch(self) -> None:
        free = self.size - self.busy
        if free <= 0:
            return
        views = []
        for jobs in self.runnable.values():
            if not jobs:
                continue
            q = next(iter(jobs.values())).job_queue
            if str(q.state).upper() != "ENABLED":
                continue
            slots = tuple(
                policy.Slot(
                    ce.name,
                    (float(ce.compute_resources["maxvCpus"]) if (ce.compute_resources or {}).get("maxvCpus") else None),
                    str(ce.state).upper() == "ENABLED",
                )
                for ce in q.environments
            )
            views.append(policy.QueueView(int(q.priority), slots, ((k, j.vcpus) for k, j in jobs.items())))
        for key, ce_name in policy.place(views, self.used, free):
            job = next(jobs[key] for jobs in self.runnable.values() if key in jobs)
            job.ce_name = ce_name
            self.used[ce_name] += job.vcpus
            self.busy += 1
            self._set(job, "STARTING")
            self.work.put(job)

    # -----------------------------------------------------------------------------------------------------------
    # Workers
    # -----------------------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self.work.get()
            if job is None:
                return
            try:
                self._attempt(job)
            except Exception as exc:  # an engine failure ends the attempt, never the worker
                log.exception("job %s: attempt failed in the executor", job.job_id)
                with self.lock:
                    self._end_attempt(job, None, None, f"executor error: {exc}")
            finally:
                with self.lock:
                    self.busy -= 1
                    if job.ce_name:
                        self.used[job.ce_name] = max(0.0, self.used[job.ce_name] - job.vcpus)
                    job.container_id = None
                    self.cond.notify_all()

    def _sink(self, job: LocalJob) -> LogSink:
        key = (job.backend.account_id, job.backend.region_name)
        if key not in self.sinks:
            self.sinks[key] = LogSink(*key)
        return self.sinks[key]

    def _attempt(self, job: LocalJob) -> None:
        with self.lock:
            if job.terminate_reason:
                self._finish(job, "FAILED", job.terminate_reason)
                return
            job.attempt_no += 1
            attempt = job.attempt_no
            task_id = uuid.uuid4().hex
            group, stream = stream_target(job.job_definition.name, job.props, task_id)
            job.log_group, job.log_stream = group, stream
            job.exit_code = job.container_reason = None
            job.attempts.append(
                {
                    "container": {
                        "taskArn": f"arn:aws:ecs:{job.backend.region_name}:{job.backend.account_id}:task/{task_id}",
                        "logStreamName": stream,
                        "networkInterfaces": [],
                    }
                }
            )
        try:
            image_path = self._image_path(job.image)
        except (docker.EngineError, OSError) as exc:
            reason = f"{policy.PULL_PREFIX}{getattr(exc, 'message', str(exc))}"
            recipe = job.image.removeprefix("batch-platform/").split(":")[0]
            if job.image.startswith("batch-platform/"):
                reason += f" (build it offline: runner local image build {recipe})"
            with self.lock:
                self._end_attempt(job, None, reason, reason)
            return
        try:
            config = self.containers.config(job, attempt, image_path)
        except confine.Refused as exc:  # a host path that appeared since registration: the job never runs
            with self.lock:
                self._end_attempt(job, None, f"{START_PREFIX}{exc}", f"{START_PREFIX}{exc}")
            return
        name = f"runner-local-{self.port}-{job.job_id.replace(':', '-')}-{attempt}"
        cid = self.engine.create(name, config)
        try:
            self._sink(job).open(group, stream)
            with self.lock:
                job.container_id = cid
            try:
                self.engine.start(cid)
            except docker.EngineError as exc:  # e.g. a user the image does not know
                with self.lock:
                    self._end_attempt(job, None, f"{START_PREFIX}{exc.message}", f"{START_PREFIX}{exc.message}")
                return
            with self.lock:
                job.started_ms = now_ms()
                job.attempts[-1]["startedAt"] = job.started_ms
                self._set(job, "RUNNING")
                reclaim.started(self, job)
                if job.timeout_s:
                    self._deadline(time.monotonic() + job.timeout_s, "timeout", job, attempt)
                    self.cond.notify_all()
                stop_now = bool(job.terminate_reason)
            if stop_now:
                self._kill(cid)
            sink = self._sink(job)
            for _, line in self.engine.logs(cid):
                sink.write(group, stream, [line.decode(errors="replace")])
            code = self.engine.wait(cid)
            oom = bool(self.engine.inspect(cid).get("State", {}).get("OOMKilled"))
        finally:
            with contextlib.suppress(docker.EngineError, OSError):
                self.engine.remove(cid)
        with self.lock:
            if oom:
                self._end_attempt(job, code, policy.OOM_REASON, policy.OOM_REASON)
            else:
                self._end_attempt(job, code, None, policy.EXIT_REASON if code else None)

    def _end_attempt(self, job: LocalJob, code: int | None, reason: str | None, status_reason: str | None) -> None:
        """Record the attempt's outcome; then SUCCEEDED, FAILED, or RUNNABLE again for a retry."""
        code, reason, status_reason = reclaim.outcome(job, code, reason, status_reason)
        if job.timed_out_attempt == job.attempt_no and job.attempt_no:
            reason = status_reason = policy.TIMEOUT_REASON
        elif job.terminate_reason:
            status_reason = job.terminate_reason
        job.exit_code = code
        job.container_reason = reason
        if job.attempts:
            last = job.attempts[-1]
            last["stoppedAt"] = now_ms()
            last.setdefault("startedAt", last["stoppedAt"])
            if code is not None:
                last["container"]["exitCode"] = code
            if reason:
                last["container"]["reason"] = reason
            if status_reason:
                last["statusReason"] = status_reason
        if code == 0 and not job.terminate_reason and job.timed_out_attempt != job.attempt_no:
            self._finish(job, "SUCCEEDED", None)
            return
        own_failure = not job.terminate_reason and job.timed_out_attempt != job.attempt_no
        if own_failure and policy.should_retry(job.retry_strategy, job.attempt_no, code, reason, status_reason):
            job.status_reason = status_reason
            self._set(job, "RUNNABLE")
            return
        self._finish(job, "FAILED", status_reason)

    def _image_path(self, image: str) -> str:
        """The image's PATH (pulling the image first when the daemon lacks it; failing quickly when it cannot)."""
        if image in self.image_paths:
            return self.image_paths[image]
        if not image:
            raise docker.EngineError(400, "no image in the job definition")
        if not self.engine.image_exists(image):
            self.engine.pull(image, timeout=self.pull_timeout)
        info = self.engine.call("GET", f"/images/{image}/json")
        env = dict(e.split("=", 1) for e in (info.get("Config") or {}).get("Env") or [] if "=" in e)
        path = env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        self.image_paths[image] = path
        return path

    def _kill(self, cid: str) -> None:
        with contextlib.suppress(docker.EngineError, OSError):
            self.engine.kill(cid)

    # -----------------------------------------------------------------------------------------------------------
    # Shutdown
    # -----------------------------------------------------------------------------------------------------------

    def shutdown(self) -> int:
        """Stop scheduling and remove every container this emulator started; returns how many."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        removed = docker.remove_labelled(self.engine, f"{LABEL}={self.ident}")
        shutil.rmtree(self.shim_dir, ignore_errors=True)
        return removed
