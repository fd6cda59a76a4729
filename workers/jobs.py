"""What every delivery job shares: load the delivery, run the step once, and turn a tracker
fault into a retry at the time the tracker asked for, or a failure with its message."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

from service import counters, logs
from service.events import Event
from service.queue import enqueue_delivery
from service.runtime import Runtime
from service.sources import SOURCES
from service.store import deliveries
from service.trackers.errors import TrackerError, TransientTrackerError
from service.trackers.ratelimit import RateLimitDeferred
from service.trackers.retry import MAX_WAIT_SECONDS, capped_wait
from workers import context

log = logs.get(__name__)

MAX_ATTEMPTS = 10
"""Transient faults are retried this often (nine waits: about two hours of backoff from the
default 15 s, more when trackers ask for longer) before the delivery is failed for
`lessonloop replay --failed`."""

Step = Callable[[Runtime, deliveries.Delivery, Event], tuple[str, str]]
"""(runtime, delivery, event) -> (final delivery status, outcome)."""


class RetryLater(Exception):
    """Not a fault of any tracker: this job cannot go on now (another job holds its incident)
    and should run again a little later, like a job that met a tracker fault."""


def backoff_seconds(attempt: int, retry_after: float | None, first: float = 15.0) -> float:
    """Exponential from ``first`` seconds, never sooner than the tracker asked, and never more
    than an hour whatever either says (a hint is hostile input; see ``capped_wait``)."""
    exponential = first * 2.0 ** min(max(attempt - 1, 0), 64)
    return min(MAX_WAIT_SECONDS, max(capped_wait(retry_after) or 0.0, exponential))


@counters.timed_job
def run_delivery(delivery_pk: int, step: Step) -> str:
    runtime = context.runtime()
    delivery = deliveries.claim(runtime.engine, delivery_pk)
    if delivery is None:
        known = deliveries.get(runtime.engine, delivery_pk)
        if known is None:
            log.warning("job for an unknown delivery", delivery=delivery_pk)
            return "no such delivery"
        return f"already {known.status}"
    attempt = delivery.attempts  # this one included
    bound = log.bind(delivery=delivery_pk, source=delivery.source, item=delivery.item_ref, attempt=attempt)
    try:
        # the same pure parser the web ran, on the same bytes: the job needs nothing else
        event = SOURCES[delivery.source].parse(delivery.body, delivery.headers)
        status, outcome = step(runtime, delivery, event)
    except (TransientTrackerError, RetryLater) as error:
        # held back by the shared rate limiter: nothing failed and nothing was sent, so it runs
        # again when the limit has room, and it never counts towards giving up
        deferred = isinstance(error, RateLimitDeferred)
        if attempt >= MAX_ATTEMPTS and not deferred:
            deliveries.finish(runtime.engine, delivery_pk, deliveries.FAILED, error=_describe(error))
            bound.error("gave up after repeated tracker faults", error=_describe(error))
            raise
        hint = error.retry_after if isinstance(error, TransientTrackerError) else None
        wait = (
            (capped_wait(hint) or 1.0)
            if deferred
            else backoff_seconds(attempt, hint, runtime.settings.server.retry_seconds)
        )
        retry_at = deliveries.now() + timedelta(seconds=wait)
        job_id = f"{deliveries.job_id_for(delivery_pk)}-retry-{attempt}"
        deliveries.reschedule(runtime.engine, delivery_pk, job_id, retry_at, _describe(error))
        enqueue_delivery(
            runtime.queue,
            delivery_pk,
            delivery.event_kind,
            job_id,
            runtime.settings.server.job_timeout_seconds,
            at=retry_at,
        )
        if deferred:
            bound.info(
                "held back by the rate limit; will run again", error=_describe(error), wait_seconds=round(wait, 1)
            )
        else:
            bound.warning("tracker fault; will retry", error=_describe(error), wait_seconds=round(wait, 1))
        return f"retrying in {wait:.1f} s: {_describe(error)}"
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

LOCK_WAIT_SECONDS = 5.0
"""How long a job waits for an incident another job holds before it gives way and is
rescheduled. Well under the job timeout (at most a quarter of it): RQ's timeout must never be
what ends the wait, or the delivery would be failed instead of retried. Short, too, because a
waiting job holds a worker that could run other incidents' jobs meanwhile."""


def lock_wait_seconds(job_timeout_seconds: float) -> float:
    return min(LOCK_WAIT_SECONDS, job_timeout_seconds / 4)


@contextlib.contextmanager
def exclusive(runtime: Runtime, ref: str) -> Iterator[None]:
    """One job at a time per incident or review, across all workers: two deliveries about the
    same incident must not both find no review and both open one."""
    wait = lock_wait_seconds(runtime.settings.server.job_timeout_seconds)
    lock = runtime.redis.lock(f"lessonloop:lock:{ref}", timeout=LOCK_LEASE_SECONDS, blocking_timeout=wait)
    if not lock.acquire():
        raise RetryLater(f"{ref} is held by another job (waited {wait:g} s); retrying later")
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
    return str(error) if isinstance(error, (TrackerError, RetryLater)) else f"{type(error).__name__}: {error}"
