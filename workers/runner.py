"""Running an RQ worker with lessonloop's housekeeping: migrate, sweep on start, sweep on a timer."""

from __future__ import annotations

import threading
import time
from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.worker import BaseWorker

from service.infra import counters, logs
from service.infra.queue import QUEUE_NAME, SERIALIZER
from service.infra.runtime import Runtime
from service.store import migrate
from workers import context, remind
from workers.jobs import DeliveryFailed
from workers.sweep import RECOVER_SECONDS, recover, redis_lost_its_data, sweep

log = logs.get(__name__)


class _SweepTimer(threading.Thread):
    """Every :data:`~workers.sweep.RECOVER_SECONDS`, recovers what dead workers held; every
    ``interval`` seconds, sweeps the store against Redis, and at once (after a short grace, for
    deliveries on their way) when Redis is found to have lost its data. One round failing
    never stops the next."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="lessonloop-sweep", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.stopped = threading.Event()
        self.next_sweep = time.monotonic() + interval
        self.sweep_age = float(interval)

    def run(self) -> None:
        while not self.stopped.wait(min(RECOVER_SECONDS, self.interval)):
            try:
                self._round()
            except Exception as error:  # noqa: BLE001 - Redis or the store away; try next round
                log.warning("sweep failed; will try again", error=f"{type(error).__name__}: {error}")

    def _round(self) -> None:
        recover(self.runtime)
        if redis_lost_its_data(self.runtime):
            log.warning("Redis lost its data: sweeping the store for deliveries to queue again")
            self.next_sweep = min(self.next_sweep, time.monotonic() + RECOVER_SECONDS)
            self.sweep_age = RECOVER_SECONDS
        if time.monotonic() < self.next_sweep:
            return
        sweep(self.runtime, older_than_seconds=self.sweep_age)
        remind.schedule(self.runtime)
        counters.flush()  # what jobs other than deliveries counted since
        self.next_sweep = time.monotonic() + self.interval
        self.sweep_age = float(self.interval)


class ExpectedFailuresInOneLine(BaseWorker):
    """RQ logs the traceback of every job that raises. A delivery job that met an expected
    failure (:class:`~workers.jobs.DeliveryFailed`: a tracker refused, a credential is missing)
    has logged one line with the reason already, so RQ only marks the job failed; any other
    exception keeps RQ's traceback."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if isinstance(exc_info[1], DeliveryFailed):
            return
        super().handle_exception(job, *exc_info)


class PromptShutdown(BaseWorker):
    """Stops its pub/sub thread without waiting out RQ's 60 s poll.

    RQ subscribes to the worker's command channel with ``run_in_thread(sleep_time=60)`` and, on
    shutdown, calls the thread's ``stop()`` and then joins it. From redis-py 8.2 ``stop()``
    itself joins the thread, which sits in a read of up to 60 s: a worker asked to stop took a
    minute (rq/rq#1613, "Worker.unsubscribe() stucks on self.pubsub_thread.join()"; the fix
    upstream is rq/rq PR #2228, "Add Timeout in PubSub thread"). Here ``stop()`` runs in a
    short-lived daemon thread, the join is bounded and the pub/sub connection is closed, which
    ends the read: with any redis-py, shutdown takes at most about a second more."""

    unsubscribe_wait_seconds = 1.0

    def unsubscribe(self) -> None:
        thread = self.pubsub_thread
        if not thread or self.pubsub is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        try:
            self.pubsub.unsubscribe()
        except RedisError as error:  # Redis away: the connection is closed below anyway
            log.warning("could not unsubscribe from the worker's channel", error=type(error).__name__)
        threading.Thread(target=thread.stop, name="lessonloop-pubsub-stop", daemon=True).start()
        thread.join(timeout=self.unsubscribe_wait_seconds)
        self.pubsub.close()


class ForkingWorker(ExpectedFailuresInOneLine, PromptShutdown, Worker):
    """RQ's Worker (a work horse forked per job), logging expected failures in one line."""


class LeanWorker(ExpectedFailuresInOneLine, PromptShutdown, SimpleWorker):
    """RQ's SimpleWorker: the job runs in the worker's own process. No fork per job, which took
    about three quarters of a worker's CPU."""


def run_worker(runtime: Runtime, *, burst: bool = False, forking: bool = False, name: str | None = None) -> bool:
    """Run until stopped (or, with ``burst``, until the queue is empty). Returns RQ's answer."""
    migrate.upgrade(runtime.engine)
    context.install(runtime)
    # at start, anything unfinished without a live job is lost: the idempotent job makes a
    # second copy harmless, so no grace period is needed here
    report = sweep(runtime, older_than_seconds=0)
    if report.requeued:
        log.info("queued deliveries found unfinished at start", count=len(report.requeued))
    remind.schedule(runtime)
    worker_class = ForkingWorker if forking else LeanWorker
    # RQ's own housekeeping (abandoned and stranded jobs) every sweep interval, not every 10 min
    worker = worker_class(
        [QUEUE_NAME],
        connection=runtime.redis,
        name=name,
        maintenance_interval=runtime.settings.server.sweep_seconds,
        serializer=SERIALIZER,
    )
    timer = None if burst else _SweepTimer(runtime, runtime.settings.server.sweep_seconds)
    if timer:
        timer.start()
    try:
        return worker.work(burst=burst, logging_level=runtime.settings.server.log_level.upper(), with_scheduler=True)
    finally:
        if timer:
            timer.stopped.set()
