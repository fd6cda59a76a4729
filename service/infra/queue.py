"""The RQ side of ingest: one queue, one job per recorded delivery, with a deterministic id."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

QUEUE_NAME = "lessonloop"

# which job acts on a delivery, by the kind of event it carries
JOBS = {
    "incident_closed": "workers.open_review.open_review",
    "review_updated": "workers.sync_lesson.sync_lesson",
    "review_closed": "workers.sync_lesson.sync_lesson",
    "item_state": "workers.track_followups.followup_state",
}


RESULT_TTL = 24 * 3600
FAILURE_TTL = 30 * 24 * 3600

# the web's Redis: a tracker waits 10 s at most, and a recorded delivery the web could not queue
# is queued by the worker's sweep, so the web gives Redis half a second and never retries
WEB_TIMEOUT_SECONDS = 0.5


def connect(redis_url: str, *, web: bool = False) -> Redis:
    """A Redis client. Workers wait for Redis (2 s to connect, 5 s per answer, redis-py's
    retries); ``web=True`` gives up after :data:`WEB_TIMEOUT_SECONDS` with no retry (redis-py
    retries timeouts ten times by default, which would hold a request for a minute)."""
    if web:
        return Redis.from_url(
            redis_url,
            socket_connect_timeout=WEB_TIMEOUT_SECONDS,
            socket_timeout=WEB_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
    return Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


SERIALIZER = JSONSerializer
"""RQ's job data as JSON, not pickle: a job's arguments are a delivery's id, and with pickle
whoever can write to Redis could make a worker run code of their choosing."""


def queue(redis: Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=redis, serializer=SERIALIZER)


def fetch_job(job_id: str, redis: Redis) -> Job:
    """A job record as lessonloop's queue wrote it (JSON); NoSuchJobError when Redis has none."""
    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER)


def enqueue_delivery(
    q: Queue, delivery_pk: int, event_kind: str, job_id: str, timeout: int, at: datetime | None = None
) -> Job:
    """Save and push the job in one round trip to Redis (RQ alone would take two); with
    ``at``, RQ's scheduler starts it then instead."""
    description = f"{event_kind.replace('_', ' ')}: delivery {delivery_pk}"
    function = JOBS[event_kind]
    if at is not None:
        # enqueue_at reads RQ's options from the keyword arguments, where the timeout is named
        # ``job_timeout``: any other name (``timeout``) would be passed on to the job function
        return q.enqueue_at(
            at,
            function,
            delivery_pk,
            job_timeout=timeout,
            job_id=job_id,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=description,
        )
    with q.connection.pipeline() as pipeline:
        job = q.enqueue_call(
            function,
            args=(delivery_pk,),
            timeout=timeout,
            job_id=job_id,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=description,
            pipeline=pipeline,
        )
        pipeline.execute()
    return job


def job_state(redis: Redis, job_id: str) -> JobStatus | None:
    """The job's status, or None when Redis has no such job (never queued, or Redis lost it)."""
    try:
        return fetch_job(job_id, redis).get_status(refresh=False)
    except NoSuchJobError:
        return None


def requeue_delivery(
    q: Queue,
    delivery_pk: int,
    event_kind: str,
    job_id: str,
    timeout: int,
    stale_job_ids: Iterable[str] = (),
    at: datetime | None = None,
) -> Job:
    """Queue a delivery's job again, after dropping what is left of earlier ones: their job
    records, and their ids in RQ's intermediate list (where a worker that took a job and died
    leaves it, and where RQ's own cleanup would later fail the new copy), with the time it was
    first seen there (or the new copy, once taken, would look long stranded)."""
    for stale in {job_id, *stale_job_ids}:
        try:
            fetch_job(stale, q.connection).delete()
        except NoSuchJobError:  # its record expired or was never written: nothing to drop
            pass
        q.intermediate_queue.remove(stale)
        q.connection.delete(q.intermediate_queue.get_first_seen_key(stale))
    return enqueue_delivery(q, delivery_pk, event_kind, job_id, timeout, at=at)
