"""Running an RQ worker with lessonloop's housekeeping: migrate, sweep on start, sweep on a timer."""

from __future__ import annotations

import threading
import time
from typing import Any

from redis.client import Pipeline
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.utils import now
from rq.worker import BaseWorker

from service import counters, logs
from service.queue import QUEUE_NAME
from service.runtime import Runtime
from service.store import migrate
from workers import context, remind
from workers.jobs import DeliveryFailed
from workers.sweep import sweep

log = logs.get(__name__)


class _SweepTimer(threading.Thread):
    """Sweeps every ``interval`` seconds until stopped; one sweep failing never stops the next."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="lessonloop-sweep", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                sweep(self.runtime, older_than_seconds=self.interval)
                remind.schedule(self.runtime)
                counters.flush()  # what jobs other than deliveries counted since
            except Exception as error:  # noqa: BLE001 - Redis or the store away; try next round
                log.warning("sweep failed; will try again", error=f"{type(error).__name__}: {error}")


class ExpectedFailuresInOneLine(BaseWorker):
    """RQ logs the traceback of every job that raises. A delivery job that met an expected
    failure (:class:`~workers.jobs.DeliveryFailed`: a tracker refused, a credential is missing)
    has logged one line with the reason already, so RQ only marks the job failed; any other
    exception keeps RQ's traceback."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if isinstance(exc_info[1], DeliveryFailed):
            return
        super().handle_exception(job, *exc_info)


class ForkingWorker(ExpectedFailuresInOneLine, Worker):
    """RQ's Worker (a work horse forked per job), logging expected failures in one line."""


class LeanWorker(ExpectedFailuresInOneLine, SimpleWorker):
    """RQ's SimpleWorker (the job runs in the worker's own process: no fork per job, which took
    about three quarters of a worker's CPU), with a cheaper heartbeat. RQ beats twice around
    every dequeue, three Redis round trips each; here one pipelined round trip, and the beat
    before a dequeue is skipped when the last was under a second ago (the worker's key lives
    for minutes: nothing reads a beat that fine). Beats RQ sends within a pipeline of its own
    (while a job runs) are left as they are. Likewise ``rq suspend`` is looked for at most once
    a second, not before every job: it takes effect within a second, as RQ's own suspended
    worker looks again once a second."""

    heartbeat_every_seconds = 1.0
    suspension_every_seconds = 1.0
    _suspension_checked = 0.0

    def check_for_suspension(self, burst: bool) -> None:
        moment = time.monotonic()
        if moment - self._suspension_checked < self.suspension_every_seconds:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        if (
            timeout is None
            and self.last_heartbeat is not None
            and (now() - self.last_heartbeat).total_seconds() < self.heartbeat_every_seconds
        ):
            return
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(timeout, batch)
            batch.execute()


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
        [QUEUE_NAME], connection=runtime.redis, name=name, maintenance_interval=runtime.settings.server.sweep_seconds
    )
    timer = None if burst else _SweepTimer(runtime, runtime.settings.server.sweep_seconds)
    if timer:
        timer.start()
    try:
        return worker.work(burst=burst, logging_level=runtime.settings.server.log_level.upper(), with_scheduler=True)
    finally:
        if timer:
            timer.stopped.set()
