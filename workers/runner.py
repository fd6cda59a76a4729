"""Running an RQ worker with lessonloop's housekeeping: migrate, sweep on start, sweep on a timer."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from redis.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
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


COMMAND_THREAD_NAME = "lessonloop-worker-commands"


class CommandListener(threading.Thread):
    """Reads the worker's command channel (RQ's shutdown, kill-horse and stop-job commands) and
    hands each message to its handler, until :meth:`stop`.

    RQ reads it on redis-py's ``PubSub.run_in_thread``, whose stop flag is read only between reads
    of up to 60 s, and only once the thread's ``run`` has started: a flag cleared after the
    channel's last message, or before ``run`` sets it, leaves that thread reading for a minute
    more, and RQ closes the connection under that read, which then raises in the thread. Here the
    flag is this thread's own, set before the UNSUBSCRIBE whose reply ends the read in progress;
    the thread then closes its connection itself, so it never outlives it."""

    def __init__(self, pubsub: PubSub, poll_seconds: float) -> None:
        super().__init__(name=COMMAND_THREAD_NAME, daemon=True)
        self.pubsub = pubsub
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    self.pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_seconds)
                except RedisConnectionError as error:
                    if self.stopping.is_set():  # Redis went away as the worker stops: nothing to read
                        return
                    # as RQ does: wait, then read again; redis-py reconnects and subscribes again
                    log.warning("the worker's command channel lost Redis; trying again", error=str(error))
                    self.stopping.wait(2.0)
        finally:
            self.pubsub.close()

    def stop(self, within: float) -> bool:
        """Stop reading and wait up to ``within`` seconds for the thread to end; whether it did.
        Only a Redis that never answers the UNSUBSCRIBE keeps it past the bound (it ends after
        its current read, with the process if that is sooner)."""
        self.stopping.set()
        try:
            self.pubsub.unsubscribe()
        except RedisError as error:  # Redis away: the read in progress ends with its connection
            log.warning("could not unsubscribe from the worker's channel", error=type(error).__name__)
        self.join(timeout=within)
        return not self.is_alive()


class PromptShutdown(BaseWorker):
    """Listens to its command channel on a :class:`CommandListener` instead of RQ's pub/sub
    thread, so a worker asked to stop ends that thread at once instead of waiting out a 60 s
    read (rq/rq#1613; upstream, rq/rq PR #2228 bounds the wait). Same channel, same handler,
    public API only."""

    unsubscribe_wait_seconds = 1.0
    """How long a stop waits for the listener: a Redis answering UNSUBSCRIBE takes milliseconds."""

    command_poll_seconds = 60.0
    """Each read's timeout, as RQ's: the listener wakes this often when nothing is sent."""

    command_listener: CommandListener | None = None

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.command_listener = CommandListener(self.pubsub, self.command_poll_seconds)
        self.command_listener.start()

    def unsubscribe(self) -> None:
        listener, self.command_listener = self.command_listener, None
        if listener is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        if not listener.stop(within=self.unsubscribe_wait_seconds):
            log.warning("the worker's command channel did not close in time", seconds=self.unsubscribe_wait_seconds)


class ForkingWorker(ExpectedFailuresInOneLine, PromptShutdown, Worker):
    """RQ's Worker (a work horse forked per job), logging expected failures in one line."""


class LeanWorker(ExpectedFailuresInOneLine, PromptShutdown, SimpleWorker):
    """RQ's SimpleWorker: the job runs in the worker's own process. No fork per job, which took
    about three quarters of a worker's CPU."""


def run_worker(runtime: Runtime, *, burst: bool = False, forking: bool = False, name: str | None = None) -> bool:
    """Run until stopped (or, with ``burst``, until the queue is empty). Returns RQ's answer.

    RQ installs its own SIGINT and SIGTERM handlers for the worker; once it returns, the
    process's own are put back, so a process that goes on (the tests run burst workers in
    theirs) does not take a later Ctrl-C for a stop request to a worker that is gone."""
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
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return worker.work(burst=burst, logging_level=runtime.settings.server.log_level.upper(), with_scheduler=True)
    finally:
        if timer:
            timer.stopped.set()
        for signum, handler in handlers.items():
            if handler is not None:  # None: set outside Python, nothing to put back
                signal.signal(signum, handler)
