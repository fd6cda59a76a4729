"""Finding recorded deliveries whose job is gone, and queueing them again.

A delivery is answered 2xx once it is in the store, so its job must run even when Redis was
down at that moment, lost its data in a restart, or the worker running it was killed. The
store says which deliveries are unfinished; Redis says which of those still have a live job.

Two passes, for two kinds of loss:

- :func:`recover`, every few seconds, from Redis alone: jobs a dead worker held (started, or
  taken and never started) and scheduled jobs nobody moved to the queue (the worker running
  RQ's scheduler died, and RQ's scheduler lock outlives it by a minute). This is what bounds
  the recovery from a killed worker (docs/guarantees.md).
- :func:`sweep`, every ``sweep_seconds``, store against Redis: deliveries whose job Redis lost
  (Redis restarted empty, or was down when the web recorded them), and retention. Run at once
  when Redis is seen to have lost its data.

Neither queues a delivery again while its job is live: waiting in the queue, scheduled, taken
by a worker that is about to start it, or started by a worker that is alive. A second copy would
only wait on the first's incident lock.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.exceptions import LockError, RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from service.infra import logs
from service.infra.queue import fetch_job, job_state, requeue_delivery
from service.infra.runtime import Runtime
from service.store import deliveries
from workers import retention

log = logs.get(__name__)

_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
_LOCK = "lessonloop:sweep"
_LOCK_LEASE_SECONDS = 60
"""The sweep's lock lapses this long after a worker killed mid-sweep took it: no longer, or the
next sweeps would wait for it."""
_RECOVER_LOCK = "lessonloop:recover"
_RECOVER_LEASE_SECONDS = 10

RECOVER_SECONDS = 2.0
"""How often :func:`recover` looks for the jobs of dead workers."""

TAKEN_GRACE_SECONDS = 2.0
"""A job a worker took (RQ moved its id to the intermediate list) is started within
milliseconds by a live worker; one still not started after this long, seen by an earlier look,
was taken by a worker that died."""

LATE_SECONDS = 5.0
"""A scheduled job this far past its time is not being moved by RQ's scheduler (whose worker
died: its lock lives on for a minute, and other workers try to take over only in their
maintenance): :func:`recover` moves it to the queue itself."""

REDIS_EPOCH = "lessonloop:redis-epoch"
"""A key that is there as long as Redis keeps its data: when a worker finds it gone, Redis lost
everything (restarted empty), and the store-side sweep runs at once instead of at its period."""


def _taken_and_dropped(runtime: Runtime, job_id: str, state: JobStatus | None) -> bool:
    """A job marked queued that is neither waiting in the queue nor running. When it is in RQ's
    intermediate list (a worker took it) it counts as lost only once an earlier look saw it there
    :data:`TAKEN_GRACE_SECONDS` ago: a live worker starts it long before; one that died never
    will. Anywhere else, it is lost now."""
    if state != JobStatus.QUEUED:
        return False
    if runtime.redis.lpos(runtime.queue.key, job_id) is not None:
        return False
    if job_id in StartedJobRegistry(queue=runtime.queue):
        return False
    intermediate = runtime.queue.intermediate_queue
    if runtime.redis.lpos(intermediate.key, job_id) is None:
        return True
    intermediate.set_first_seen(job_id)
    first_seen = intermediate.get_first_seen(job_id)
    return first_seen is not None and (datetime.now(UTC) - first_seen).total_seconds() >= TAKEN_GRACE_SECONDS


def _orphaned(runtime: Runtime, job_id: str, state: JobStatus | None) -> bool:
    """A job marked started whose worker is dead: killed outright (SIGKILL, the OOM killer, a
    crash), so nobody is left to say the job stopped. RQ notices when the worker's heartbeat
    lapses, about 90 s later; a worker started in its place notices now. Only a worker that ran
    on this host can be checked; for one elsewhere RQ's heartbeat decides."""
    if state != JobStatus.STARTED:
        return False
    try:
        worker_name = fetch_job(job_id, runtime.redis).worker_name
    except NoSuchJobError:
        return False
    if not worker_name:
        return False
    hostname, pid = runtime.redis.hmget(Worker.redis_worker_namespace_prefix + worker_name, "hostname", "pid")
    if hostname is None and pid is None:
        return True  # its registration is gone: it stopped long ago without finishing the job
    if hostname is None or pid is None:
        return False
    if (hostname.decode() if isinstance(hostname, bytes) else hostname) != socket.gethostname():
        return False
    return not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process holds that pid now
        return True
    return True


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)
    skipped: bool = False  # another sweep held the lock
    bodies_dropped: int = 0


def _live(runtime: Runtime, job_id: str) -> bool:
    """The job is waiting, scheduled, about to start, or running in a live worker."""
    state = job_state(runtime.redis, job_id)
    return state in _LIVE and not _taken_and_dropped(runtime, job_id, state) and not _orphaned(runtime, job_id, state)


def sweep(runtime: Runtime, older_than_seconds: float) -> SweepReport:
    """Queue again every delivery unfinished for ``older_than_seconds`` whose job is not live
    (younger ones may still be on their way from the web to Redis), and apply retention."""
    report = SweepReport()
    runtime.redis.set(REDIS_EPOCH, "1")
    lock = runtime.redis.lock(_LOCK, timeout=_LOCK_LEASE_SECONDS, blocking=False)
    if not lock.acquire():
        report.skipped = True
        return report
    try:
        # jobs whose worker died mid-run (no heartbeat) move to the failed registry here
        StartedJobRegistry(queue=runtime.queue).cleanup()
        for pending in deliveries.unfinished_before(runtime.engine, deliveries.age_cutoff(older_than_seconds)):
            job_id = pending.job_id
            if _live(runtime, job_id):
                continue
            # a retry that was waiting out a tracker fault keeps its time
            at = pending.retry_at if pending.retry_at and pending.retry_at > deliveries.now() else None
            requeue_delivery(
                runtime.queue,
                pending.id,
                pending.event_kind,
                job_id,
                runtime.settings.server.job_timeout_seconds,
                at=at,
            )
            report.requeued.append(pending.id)
        report.bodies_dropped = retention.prune(runtime)
    finally:
        try:
            lock.release()
        except RedisError as error:  # its lease lapses on its own
            log.warning("could not release the sweep's lock", error=type(error).__name__)
    if report.requeued:
        log.info("sweep queued lost deliveries again", deliveries=report.requeued)
    return report


def redis_lost_its_data(runtime: Runtime) -> bool:
    """True once after Redis came back empty (or on the first look at a new Redis)."""
    return bool(runtime.redis.set(REDIS_EPOCH, "1", nx=True))


def recover(runtime: Runtime) -> list[int]:
    """From Redis alone, quickly: queue again the deliveries whose job a dead worker held, and
    move to the queue scheduled jobs RQ's scheduler has left lying. Returns the deliveries
    queued again. One worker at a time; a look that finds the lock taken does nothing."""
    lock = runtime.redis.lock(_RECOVER_LOCK, timeout=_RECOVER_LEASE_SECONDS, blocking=False)
    if not lock.acquire():
        return []
    try:
        suspects = set(StartedJobRegistry(queue=runtime.queue).get_job_ids(cleanup=False))
        suspects.update(runtime.queue.intermediate_queue.get_job_ids())
        requeued = [pk for job_id in sorted(suspects) if (pk := _requeue_if_lost(runtime, job_id)) is not None]
        _move_late_scheduled(runtime)
    finally:
        try:
            lock.release()
        except (LockError, RedisError):  # its lease lapses on its own
            pass
    if requeued:
        log.info("queued again the deliveries of a worker that died", deliveries=requeued)
    return requeued


def _requeue_if_lost(runtime: Runtime, job_id: str) -> int | None:
    """Queue the delivery of ``job_id`` again when the job is lost and is still the delivery's
    current job (a stale copy of a delivery that moved on is left to RQ's own clean-up)."""
    delivery_pk = _delivery_of(job_id)
    if delivery_pk is None:
        return None
    state = job_state(runtime.redis, job_id)
    if not (_taken_and_dropped(runtime, job_id, state) or _orphaned(runtime, job_id, state)):
        return None
    delivery = deliveries.get(runtime.engine, delivery_pk)
    if delivery is None or delivery.status != deliveries.RECEIVED or delivery.job_id != job_id:
        return None
    requeue_delivery(
        runtime.queue, delivery.id, delivery.event_kind, job_id, runtime.settings.server.job_timeout_seconds
    )
    return delivery.id


def _delivery_of(job_id: str) -> int | None:
    """The delivery a job id names (``delivery-<pk>``, then its retry's suffix), or None for
    jobs of other kinds."""
    prefix = deliveries.job_id_for(0).removesuffix("0")
    number = job_id.removeprefix(prefix).split("-", 1)[0] if job_id.startswith(prefix) else ""
    return int(number) if number.isdigit() else None


def _move_late_scheduled(runtime: Runtime) -> None:
    """Move scheduled jobs more than :data:`LATE_SECONDS` past their time to the queue, as RQ's
    scheduler would (and in one transaction, as it does)."""
    registry = ScheduledJobRegistry(queue=runtime.queue)
    due = registry.get_jobs_to_schedule(int(time.time() - LATE_SECONDS))
    for job_id in due:
        try:
            job = fetch_job(job_id, runtime.redis)
        except NoSuchJobError:
            registry.remove(job_id)
            continue
        with runtime.redis.pipeline() as pipeline:
            runtime.queue.enqueue_job(job, pipeline=pipeline)
            registry.remove(job, pipeline=pipeline)
            pipeline.execute()
    if due:
        log.info("moved scheduled jobs RQ's scheduler left lying", jobs=len(due))
