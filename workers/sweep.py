"""Finding recorded deliveries whose job is gone, and queueing them again.

A delivery is answered 2xx once it is in the store, so its job must run even when Redis was
down at that moment, lost its data in a restart, or the worker running it was killed. The
store says which deliveries are unfinished; Redis says which of those still have a live job.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from service import logs
from service.queue import job_state, requeue_delivery
from service.runtime import Runtime
from service.store import deliveries
from workers import retention

log = logs.get(__name__)

_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
_LOCK = "lessonloop:sweep"


def _stranded(runtime: Runtime, job_id: str, state: JobStatus) -> bool:
    """A job marked queued that is no longer waiting in the queue nor running: a worker took
    it and died before starting it. RQ notices this only in its ten-minute maintenance."""
    if state != JobStatus.QUEUED:
        return False
    if runtime.redis.lpos(runtime.queue.key, job_id) is not None:
        return False
    return job_id not in StartedJobRegistry(queue=runtime.queue)


def _orphaned(runtime: Runtime, job_id: str, state: JobStatus) -> bool:
    """A job marked started whose worker is dead: killed outright (SIGKILL, the OOM killer, a
    crash), so nobody is left to say the job stopped. RQ notices when the worker's heartbeat
    lapses, about 90 s later; a worker started in its place notices now. Only a worker that ran
    on this host can be checked; for one elsewhere the heartbeat decides, as before."""
    if state != JobStatus.STARTED:
        return False
    try:
        worker_name = Job.fetch(job_id, connection=runtime.redis).worker_name
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
    checked: int = 0
    requeued: list[int] = field(default_factory=list)
    skipped: bool = False  # another sweep held the lock
    bodies_dropped: int = 0


def sweep(runtime: Runtime, older_than_seconds: float) -> SweepReport:
    report = SweepReport()
    lock = runtime.redis.lock(_LOCK, timeout=300, blocking=False)
    if not lock.acquire():
        report.skipped = True
        return report
    try:
        # jobs whose worker died mid-run (no heartbeat) move to the failed registry here
        StartedJobRegistry(queue=runtime.queue).cleanup()
        for pending in deliveries.unfinished_before(runtime.engine, deliveries.age_cutoff(older_than_seconds)):
            report.checked += 1
            job_id = pending.job_id
            state = job_state(runtime.redis, job_id)
            if state in _LIVE and not _stranded(runtime, job_id, state) and not _orphaned(runtime, job_id, state):
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
