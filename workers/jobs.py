"""What every delivery job shares: load the delivery, run the step once, and turn a tracker
fault into a retry at the time the tracker asked for, or a failure with its message."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

from service import logs
from service.events import Event
from service.queue import enqueue_delivery
from service.runtime import Runtime
from service.sources import SOURCES
from service.store import deliveries
from service.trackers.errors import TrackerError, TransientTrackerError
from service.trackers.ratelimit import RateLimitDeferred
from workers import context

log = logs.get(__name__)

MAX_ATTEMPTS = 10
"""Transient faults are retried this often (about seven hours of backoff) before the
delivery is failed for `lessonloop replay --failed`."""

Step = Callable[[Runtime, deliveries.Delivery, Event], tuple[str, str]]
"""(runtime, delivery, event) -> (final delivery status, outcome)."""


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential from 15 s, capped at an hour, never sooner than the tracker asked."""
    return max(retry_after or 0.0, min(15.0 * 2 ** (attempt - 1), 3600.0))


def run_delivery(delivery_pk: int, step: Step) -> str:
    runtime = context.runtime()
    delivery = deliveries.get(runtime.engine, delivery_pk)
    if delivery is None:
        log.warning("job for an unknown delivery", delivery=delivery_pk)
        return "no such delivery"
    if delivery.status != deliveries.RECEIVED:
        return f"already {delivery.status}"
    deliveries.start_attempt(runtime.engine, delivery_pk)
    attempt = delivery.attempts + 1
    bound = log.bind(delivery=delivery_pk, source=delivery.source, item=delivery.item_ref, attempt=attempt)
    try:
        # the same pure parser the web ran, on the same bytes: the job needs nothing else
        event = SOURCES[delivery.source].parse(delivery.body, delivery.headers)
        status, outcome = step(runtime, delivery, event)
    except TransientTrackerError as error:
        # held back by the shared rate limiter: nothing failed and nothing was sent, so it runs
        # again when the limit has room, and it never counts towards giving up
        deferred = isinstance(error, RateLimitDeferred)
        if attempt >= MAX_ATTEMPTS and not deferred:
            deliveries.finish(runtime.engine, delivery_pk, deliveries.FAILED, error=_describe(error))
            bound.error("gave up after repeated tracker faults", error=_describe(error))
            raise
        wait = (error.retry_after or 1.0) if deferred else backoff_seconds(attempt, error.retry_after)
        retry_at = deliveries.now() + timedelta(seconds=wait)
        job_id = f"{deliveries.job_id_for(delivery_pk)}-retry-{attempt}"
        deliveries.reschedule(runtime.engine, delivery_pk, job_id, retry_at, _describe(error))
        enqueue_delivery(runtime.queue, delivery_pk, delivery.event_kind, job_id,
                         runtime.settings.server.job_timeout_seconds, at=retry_at)
        if deferred:
            bound.info("held back by the rate limit; will run again", error=_describe(error),
                       wait_seconds=round(wait, 1))
        else:
            bound.warning("tracker fault; will retry", error=_describe(error), wait_seconds=round(wait, 1))
        return f"retrying in {wait:.0f} s: {_describe(error)}"
    except Exception as error:
        deliveries.finish(runtime.engine, delivery_pk, deliveries.FAILED, error=_describe(error))
        bound.error("delivery failed", error=_describe(error))
        raise
    deliveries.finish(runtime.engine, delivery_pk, status, outcome)
    bound.info("delivery handled", status=status, outcome=outcome)
    return outcome


LOCK_LEASE_SECONDS = 30
"""A lock's lease, renewed every third of it while its job runs: a worker killed while holding
one holds up the next job on the same incident for at most this long."""


@contextlib.contextmanager
def exclusive(runtime: Runtime, ref: str) -> Iterator[None]:
    """One job at a time per incident or review, across all workers: two deliveries about the
    same incident must not both find no review and both open one."""
    lock = runtime.redis.lock(f"lessonloop:lock:{ref}", timeout=LOCK_LEASE_SECONDS,
                              blocking_timeout=runtime.settings.server.job_timeout_seconds)
    if not lock.acquire():
        raise TransientTrackerError("lessonloop", "wait for " + ref, "another job held it too long",
                                    retry_after=LOCK_LEASE_SECONDS, may_have_applied=False)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(LOCK_LEASE_SECONDS / 3):
            try:
                lock.reacquire()
            except Exception:  # noqa: BLE001 - lost it; the job's writes are idempotent anyway
                return

    renewer = threading.Thread(target=renew, name=f"lease {ref}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - the lease lapsed; nothing to release
            pass


def _describe(error: BaseException) -> str:
    """A tracker error already says which tracker, what call and the tracker's own message."""
    return str(error) if isinstance(error, TrackerError) else f"{type(error).__name__}: {error}"
