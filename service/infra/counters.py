"""Counters the worker processes add to and ``/metrics`` reads: jobs by kind and result with
their durations, tracker requests by tracker and status.

They live in Redis (``HINCRBY``/``HINCRBYFLOAT`` on a few hashes), not in process memory: jobs
run in RQ's forked work horses and in workers on other hosts, while ``/metrics`` is answered by
the web process, so only a shared place adds them up. Counting never fails a job: a Redis error
loses those increments and is logged at debug level.

Tracker answers are counted in the process and written with the job's own counts when a
delivery job ends (one round trip a job, not one more per request); what other jobs (a reminder,
a refresh) counted is written by the next request after :data:`FLUSH_SECONDS`, by the worker's
sweep timer, or when the worker stops.
"""

from __future__ import annotations

import atexit
import functools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from service.infra import logs

log = logs.get(__name__)

JOBS = "lessonloop:metrics:jobs"  # "kind result" -> count
JOB_SECONDS = "lessonloop:metrics:job_seconds"  # "kind result" -> total seconds
JOB_BUCKETS = "lessonloop:metrics:job_bucket_counts"  # "kind result le" -> count in (previous bound, le]
"""Each job adds to the one bucket its duration falls in, and :func:`read` sums them into
Prometheus's cumulative buckets: one ``HINCRBY`` a job instead of one per bucket at or above its
duration (up to eleven). Its name differs from ``lessonloop:metrics:job_buckets``, which holds
cumulative counts wherever an earlier lessonloop wrote them: summing those again would count
them twice."""
TRACKER_REQUESTS = "lessonloop:metrics:tracker_requests"  # "tracker status" -> count
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, math.inf)

FLUSH_SECONDS = 5.0

_redis: Redis | None = None
_answers: Counter[str] = Counter()  # "tracker status" -> answers not yet written to Redis
_answers_lock = threading.Lock()
_last_flush = time.monotonic()


def install(redis: Redis | None) -> None:
    """Count into ``redis`` from now on in this process (the worker does this at start)."""
    global _redis
    _redis = redis


def job_finished(kind: str, result: str, seconds: float) -> None:
    if _redis is None:
        return
    name = f"{kind} {result}"
    pipe = _redis.pipeline(transaction=False)
    pipe.hincrby(JOBS, name, 1)
    pipe.hincrbyfloat(JOB_SECONDS, name, seconds)
    bound = next(b for b in BUCKETS if seconds <= b)  # the last bound is infinite
    pipe.hincrby(JOB_BUCKETS, f"{name} {le(bound)}", 1)
    _write(pipe, "a job's counts were lost")


def tracker_answered(tracker: str, status: str) -> None:
    if _redis is None:
        return
    with _answers_lock:
        _answers[f"{tracker} {status}"] += 1
        due = time.monotonic() - _last_flush >= FLUSH_SECONDS
    if due:
        flush()


def flush() -> None:
    """Write the tracker answers counted so far."""
    if _redis is not None:
        _write(_redis.pipeline(transaction=False), "tracker request counts were lost")


atexit.register(flush)  # what the last jobs counted, when the worker stops


def _write(pipe: Pipeline, lost: str) -> None:
    """Execute ``pipe`` with the pending tracker answers added to it."""
    global _last_flush
    with _answers_lock:
        pending = dict(_answers)
        _answers.clear()
        _last_flush = time.monotonic()
    for name, count in pending.items():
        pipe.hincrby(TRACKER_REQUESTS, name, count)
    try:
        pipe.execute()
    except RedisError as error:
        log.debug(lost, error=type(error).__name__)


Run = TypeVar("Run", bound=Callable[..., str])


def timed_job(run: Run) -> Run:
    """Count each run of a delivery job ``run(delivery_pk, step)``: its kind is the step's
    module (``open_review``, ``sync_lesson``), its result ``done``, ``retry``, ``skipped`` or
    ``failed``."""

    @functools.wraps(run)
    def counted(delivery_pk: int, step: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        kind = str(getattr(step, "__module__", "") or "job").rsplit(".", 1)[-1]
        started = time.monotonic()
        try:
            outcome = run(delivery_pk, step, *args, **kwargs)
        except BaseException:
            job_finished(kind, "failed", time.monotonic() - started)
            raise
        job_finished(kind, _result(outcome), time.monotonic() - started)
        return outcome

    return counted  # type: ignore[return-value]  # same signature as run


def _result(outcome: str) -> str:
    if outcome.startswith("retrying in"):
        return "retry"
    if outcome.startswith("already ") or outcome == "no such delivery":
        return "skipped"
    return "done"


def counted_request(tracker: str, send: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``send(*args, **kwargs)`` (a requests session's ``request``), counting its answer by
    status, or ``error`` when no answer came; what ``send`` raised is raised unchanged."""
    try:
        response = send(*args, **kwargs)
    except Exception as error:
        answer = getattr(error, "response", None)
        tracker_answered(tracker, str(getattr(answer, "status_code", None) or "error"))
        raise
    tracker_answered(tracker, str(response.status_code))
    return response


@dataclass(frozen=True)
class Snapshot:
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    job_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    job_buckets: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    tracker_requests: dict[tuple[str, str], int] = field(default_factory=dict)


def read(redis: Redis) -> Snapshot:
    """Every counter, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for key in (JOBS, JOB_SECONDS, JOB_BUCKETS, TRACKER_REQUESTS):
        pipe.hgetall(key)
    jobs, seconds, buckets, requests = pipe.execute()
    snapshot = Snapshot()
    for raw, value in jobs.items():
        snapshot.jobs[_pair(raw)] = int(value)
    for raw, value in seconds.items():
        snapshot.job_seconds[_pair(raw)] = float(value)
    within: dict[tuple[str, str], dict[str, int]] = {}
    for raw, value in buckets.items():
        kind, result, bound = raw.decode().rsplit(" ", 2)
        within.setdefault((kind, result), {})[bound] = int(value)
    for pair, counts in within.items():
        total = 0
        cumulative = snapshot.job_buckets.setdefault(pair, {})
        for bound in map(le, BUCKETS):  # Prometheus's buckets count everything at or under their bound
            total += counts.get(bound, 0)
            cumulative[bound] = total
    for raw, value in requests.items():
        snapshot.tracker_requests[_pair(raw)] = int(value)
    return snapshot


def _pair(raw: bytes) -> tuple[str, str]:
    first, _, second = raw.decode().partition(" ")
    return first, second


def le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"
