"""Finding recorded deliveries whose job is gone, and queueing them again.

A delivery is answered 2xx once it is in the store, so its job must run even when Redis was
down at that moment, lost its data in a restart, or the worker running it was killed. The
store says which deliveries are unfinished; Redis says which of those still have a live job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.exceptions import RedisError
from rq.job import JobStatus
from rq.registry import StartedJobRegistry

from service import logs
from service.queue import job_state, requeue_delivery
from service.runtime import Runtime
from service.store import deliveries

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


@dataclass
class SweepReport:
    checked: int = 0
    requeued: list[int] = field(default_factory=list)
    skipped: bool = False  # another sweep held the lock


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
            if state in _LIVE and not _stranded(runtime, job_id, state):
                continue
            # a retry that was waiting out a tracker fault keeps its time
            at = pending.retry_at if pending.retry_at and pending.retry_at > deliveries.now() else None
            requeue_delivery(runtime.queue, pending.id, pending.event_kind, job_id,
                             runtime.settings.server.job_timeout_seconds, at=at)
            report.requeued.append(pending.id)
    finally:
        try:
            lock.release()
        except RedisError:
            pass
    if report.requeued:
        log.info("sweep queued lost deliveries again", deliveries=report.requeued)
    return report
