"""What every delivery job shares: load the delivery, run the step once, and turn an expected
failure into a retry at the time the tracker asked for (:class:`~service.infra.failures.RetryLater`) or
a failed delivery with its reason (:class:`~service.infra.failures.Permanent`)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.lock import Lock

from service.domain.events import Event
from service.infra import counters, logs
from service.infra.failures import Permanent, RetryLater
from service.infra.queue import enqueue_delivery
from service.infra.runtime import Runtime
from service.store import deliveries
from service.trackers.http.retry import MAX_WAIT_SECONDS, capped_wait
from service.trackers.registry import SOURCES
from workers import context

log = logs.get(__name__)

MAX_ATTEMPTS = 10
"""Transient faults are retried this often (nine waits: about two hours of backoff from the
default 15 s, more when trackers ask for longer) before the delivery is failed for
`lessonloop replay --failed`."""

Step = Callable[[Runtime, deliveries.Delivery, Event], tuple[str, str]]
"""(runtime, delivery, event) -> (final delivery status, outcome)."""


class IncidentBusy(RetryLater):
    """Another job holds the incident's lock: nothing was tried and nothing failed. The delivery
    runs again once the lock's lease would lapse (``wait``), with no attempt counted and no
    backoff: a worker killed while holding the lock delays the next job by its lease at most,
    and copies of a delivery waiting on each other never push it towards giving up."""

    held_back = True


class DeliveryFailed(Exception):
    """A delivery job met an expected failure and has recorded it on the delivery and logged it
    in one line: RQ marks the job failed, and the worker (``workers/runner.py``) logs no
    traceback for it. ``__cause__`` is the failure itself."""


def backoff_seconds(attempt: int, retry_after: float | None, first: float = 15.0) -> float:
    """Exponential from ``first`` seconds, never sooner than the tracker asked, and never more
    than an hour whatever either says (a hint is hostile input; see ``capped_wait``)."""
    exponential = first * 2.0 ** min(max(attempt - 1, 0), 64)
    return min(MAX_WAIT_SECONDS, max(capped_wait(retry_after) or 0.0, exponential))


@counters.timed_job
def run_delivery(delivery_pk: int, step: Step) -> str:
    """Run ``step`` on the delivery: its outcome, a retry, or a failure.

    An expected failure (:class:`Permanent`: a tracker refused, a credential is missing; or
    :class:`RetryLater` past ``MAX_ATTEMPTS``) fails the delivery with its reason, logs one line
    and raises :class:`DeliveryFailed`, for which no traceback is logged: an expected failure is
    no bug. The delivery stays failed in the store, which is where ``lessonloop replay
    --failed`` finds it. Any other exception fails the delivery too and is raised as it is, so
    its traceback is logged."""
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
    except IncidentBusy as error:
        return _wait_for_lock(runtime, delivery, error, bound)
    except RetryLater as error:
        # held back by the shared rate limiter: nothing failed and nothing was sent, so it runs
        # again when the limit has room, and it never counts towards giving up
        if attempt >= MAX_ATTEMPTS and not error.held_back:
            deliveries.finish(runtime.engine, delivery_pk, deliveries.FAILED, error=str(error))
            bound.error("delivery failed: gave up after repeated faults", error=str(error))
            raise DeliveryFailed(str(error)) from error
        wait = (
            (capped_wait(error.wait) or 1.0)
            if error.held_back
            else backoff_seconds(attempt, error.wait, runtime.settings.server.retry_seconds)
        )
        retry_at = deliveries.now() + timedelta(seconds=wait)
        job_id = f"{deliveries.job_id_for(delivery_pk)}-retry-{attempt}"
        deliveries.reschedule(runtime.engine, delivery_pk, job_id, retry_at, str(error))
        _enqueue_retry(runtime, delivery, job_id, retry_at, bound)
        if error.held_back:
            bound.info("held back by the rate limit; will run again", error=str(error), wait_seconds=round(wait, 1))
        else:
            bound.warning("will retry", error=str(error), wait_seconds=round(wait, 1))
        return f"retrying in {wait:.1f} s: {error}"
    except Permanent as error:
        deliveries.finish(runtime.engine, delivery_pk, deliveries.FAILED, error=str(error))
        bound.error("delivery failed", error=str(error))
        raise DeliveryFailed(str(error)) from error
    except (RedisConnectionError, RedisTimeoutError) as error:
        return _left_for_the_sweep(runtime, delivery, error, bound)
    except Exception as error:
        described = f"{type(error).__name__}: {error}"
        deliveries.finish(runtime.engine, delivery_pk, deliveries.FAILED, error=described)
        bound.error("delivery failed unexpectedly", error=described)
        raise
    deliveries.finish(runtime.engine, delivery_pk, status, outcome)
    bound.info("delivery handled", status=status, outcome=outcome)
    return outcome


def _enqueue_retry(
    runtime: Runtime, delivery: deliveries.Delivery, job_id: str, at: datetime, bound: structlog.stdlib.BoundLogger
) -> None:
    """Schedule the job the store now names for the delivery. When Redis is away (often the very
    fault that made the step retry: the rate limiter lives there), the store's record is enough:
    the sweep queues the delivery again at its time once Redis answers."""
    try:
        enqueue_delivery(
            runtime.queue, delivery.id, delivery.event_kind, job_id, runtime.settings.server.job_timeout_seconds, at=at
        )
    except (RedisConnectionError, RedisTimeoutError) as error:
        bound.warning("could not schedule the retry; the sweep will queue it", error=f"{type(error).__name__}: {error}")


def _left_for_the_sweep(
    runtime: Runtime, delivery: deliveries.Delivery, error: RedisError, bound: structlog.stdlib.BoundLogger
) -> str:
    """Redis went away mid-job (restarted, unreachable): the delivery is not at fault, so it is
    neither failed nor charged an attempt. It stays ``received``, due now, and the sweep (or the
    pass a worker runs when it finds Redis emptied) queues it again once Redis answers; the
    step is safe to run again, as after a killed worker. Failing it would leave the incident
    waiting until someone ran ``lessonloop replay --failed``."""
    described = f"{type(error).__name__}: {error}"
    due = deliveries.now()
    reason = f"Redis failed: {described}"
    deliveries.reschedule(runtime.engine, delivery.id, delivery.job_id, due, reason, count_attempt=False)
    bound.warning("Redis failed during the job; the sweep will queue it again", error=described)
    return f"left for the sweep: Redis failed ({described})"


def _wait_for_lock(
    runtime: Runtime, delivery: deliveries.Delivery, busy: IncidentBusy, bound: structlog.stdlib.BoundLogger
) -> str:
    """Reschedule a delivery whose incident another job holds, for when that lock's lease
    lapses, and give back the attempt ``claim`` counted: waiting is not failing."""
    wait = max(busy.wait or 0.0, MIN_LOCK_RETRY_SECONDS)
    retry_at = deliveries.now() + timedelta(seconds=wait)
    job_id = f"{deliveries.job_id_for(delivery.id)}-wait-{delivery.attempts}-{uuid.uuid4().hex[:8]}"
    deliveries.reschedule(runtime.engine, delivery.id, job_id, retry_at, str(busy), count_attempt=False)
    _enqueue_retry(runtime, delivery, job_id, retry_at, bound)
    bound.info("incident held by another job; will run when its lock lapses", wait_seconds=round(wait, 1))
    return f"waiting {wait:.1f} s for the incident's lock"


LOCK_LEASE_SECONDS = 30
"""A lock's lease, renewed every third of it while its job runs: a worker killed while holding
one holds up the next job on the same incident for at most this long."""

LOCK_WAIT_SECONDS = 5.0
"""How long a job waits for an incident another job holds before it gives way and is
rescheduled. Well under the job timeout (at most a quarter of it): RQ's timeout must never be
what ends the wait, or the delivery would be failed instead of retried. Short, too, because a
waiting job holds a worker that could run other incidents' jobs meanwhile."""


MIN_LOCK_RETRY_SECONDS = 0.5
"""The soonest a job that found its incident held runs again (the lock may have lapsed, or have
no lease left to read)."""


def lock_wait_seconds(job_timeout_seconds: float) -> float:
    return min(LOCK_WAIT_SECONDS, job_timeout_seconds / 4)


@contextlib.contextmanager
def exclusive(runtime: Runtime, ref: str) -> Iterator[None]:
    """One job at a time per incident or review, across all workers: two deliveries about the
    same incident must not both find no review and both open one."""
    wait = lock_wait_seconds(runtime.settings.server.job_timeout_seconds)
    # thread_local=False: the lease is renewed from another thread, which must see the token
    # (with redis-py's default, a thread-local token, each renewal would find none and fail,
    # and the lease would lapse after 30 s however long the job still runs)
    lock = runtime.redis.lock(
        f"lessonloop:lock:{ref}", timeout=LOCK_LEASE_SECONDS, blocking_timeout=wait, thread_local=False
    )
    if not lock.acquire():
        raise IncidentBusy(f"{ref} is held by another job (waited {wait:g} s)", _remaining_lease(runtime, lock.name))
    _leases.hold(lock, ref)
    try:
        yield
    finally:
        _leases.drop(lock)
        try:
            lock.release()
        except (LockError, RedisError) as error:  # the lease lapsed, or Redis is away: it expires anyway
            log.warning("could not release the lock on an incident", ref=ref, error=type(error).__name__)


def _remaining_lease(runtime: Runtime, name: str) -> float:
    """Seconds until the lock ``name`` lapses unless renewed (Redis's PTTL); 0 when it is gone,
    and never more than a lease."""
    try:
        remaining = runtime.redis.pttl(name)
    except RedisError:
        return float(LOCK_LEASE_SECONDS)
    return min(max(int(remaining), 0) / 1000, float(LOCK_LEASE_SECONDS))


class _Leases:
    """Renews every lock this process holds, every third of its lease, from one thread: a
    thread started and joined per job would cost more than the job's lock itself.

    Renewals run under ``mutex``, so a job's :meth:`drop` waits for one in flight and no lock is
    renewed after its job released it. Nothing a renewal raises ends the thread: a renewer that
    died unseen would leave every lease in the process to lapse."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.held: dict[Lock, tuple[str, float]] = {}  # lock -> (ref, when it was last renewed)
        self.mutex = threading.Lock()
        self.pid = 0

    def hold(self, lock: Lock, ref: str) -> None:
        with self.mutex:
            self.held[lock] = (ref, time.monotonic())
            if self.pid != os.getpid():  # first use here, or a forked child: no renewer of ours yet
                self.pid = os.getpid()
                threading.Thread(target=self._renew, name="lessonloop-leases", daemon=True).start()

    def drop(self, lock: Lock) -> None:
        with self.mutex:
            self.held.pop(lock, None)

    def _renew(self) -> None:
        while True:
            time.sleep(self.every / 4)
            with self.mutex:
                for lock, (ref, renewed) in list(self.held.items()):
                    if time.monotonic() - renewed < self.every:
                        continue
                    try:
                        lock.reacquire()
                    except Exception as error:  # noqa: BLE001 - the job's writes are idempotent anyway
                        log.warning(
                            "lost the lock on an incident while its job ran", ref=ref, error=type(error).__name__
                        )
                        del self.held[lock]
                        continue
                    self.held[lock] = (ref, time.monotonic())


_leases = _Leases(LOCK_LEASE_SECONDS / 3)
