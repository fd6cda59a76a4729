"""Tracker faults and contention on the worker side, run to their end: RQ's own scheduler
starts the rescheduled job (no sweep, no direct call), and the job finishes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry

from config.settings import Settings
from service.infra.queue import QUEUE_NAME, SERIALIZER, fetch_job
from service.infra.runtime import Runtime
from service.store import deliveries
from service.text import markers
from tests import loop
from tests.processes import wait_for
from workers.jobs import MAX_ATTEMPTS

MAX_WAIT_SECONDS = 3600  # no tracker hint makes a job wait longer
RETRY_SECONDS = 0.2
JOB_TIMEOUT = 4


@pytest.fixture
def settings(make_settings, trackers: dict[str, str]) -> Settings:
    """A short first backoff and job timeout, so that the retries come within the test."""
    return make_settings(
        **trackers, LESSONLOOP_RETRY_SECONDS=str(RETRY_SECONDS), LESSONLOOP_JOB_TIMEOUT_SECONDS=str(JOB_TIMEOUT)
    )


def rq_until_final(runtime: Runtime, delivery_pk: int, seconds: float = 30) -> deliveries.Delivery:
    """Plain RQ, as a worker runs it, over and over until the delivery is final: each burst
    starts with RQ's scheduler moving the due scheduled jobs to the queue. lessonloop's sweep
    never runs here, so a retry that finishes was started by the scheduler."""
    deadline = time.monotonic() + seconds
    while True:
        SimpleWorker([QUEUE_NAME], connection=runtime.redis, serializer=SERIALIZER).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        found = deliveries.get(runtime.engine, delivery_pk)
        assert found is not None
        if found.status != deliveries.RECEIVED:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery still {found.status} after {seconds} s: {found.last_error}")
        time.sleep(0.05)


def test_a_rescheduled_job_is_started_by_rqs_scheduler_and_runs_to_its_end(
    client, runtime: Runtime, jira_double
) -> None:
    jira_double.fail_next(2, 500, operation="create_issue")  # the review create, twice
    delivery_pk = loop.accept(client, loop.jira_issue_event(jira_double, "OPS-42"))
    handled = rq_until_final(runtime, delivery_pk)
    assert handled.status == deliveries.DONE, handled.last_error
    assert handled.attempts == 3
    assert handled.current_job == f"delivery-{delivery_pk}-retry-2"
    for job_id in (f"delivery-{delivery_pk}-retry-1", f"delivery-{delivery_pk}-retry-2"):
        assert fetch_job(job_id, runtime.redis).get_status() == JobStatus.FINISHED
    assert len(jira_double.calls("create_issue")) == 3
    reviews = [
        key
        for key, issue in jira_double.issues.items()
        if issue["fields"]["summary"].startswith("Post-incident review")
    ]
    assert len(reviews) == 1
    assert (
        len(
            [
                c
                for c in jira_double.issue("OPS-42")["_comments"]
                if markers.find_kind(c.get("body") or "", markers.REVIEW_OPENED)
            ]
        )
        == 1
    )


HELD_LEASE_SECONDS = 3


def _give_way_once(runtime: Runtime) -> None:
    """One burst of a plain RQ worker: the job finds its incident held and gives way."""
    SimpleWorker([QUEUE_NAME], connection=runtime.redis, serializer=SERIALIZER).work(
        burst=True, logging_level="WARNING"
    )


def test_a_job_that_finds_its_incident_held_gives_way_and_runs_when_the_lease_lapses(
    client, runtime: Runtime, jira_double
) -> None:
    """Held by another job: rescheduled for when that lock's lease lapses (not after a backoff),
    and the wait is no attempt."""
    held = runtime.redis.lock("lessonloop:lock:jira:OPS-42", timeout=HELD_LEASE_SECONDS)
    assert held.acquire(blocking=False)  # another worker is busy with this incident
    delivery_pk = loop.accept(client, loop.jira_issue_event(jira_double, "OPS-42"))
    try:
        _give_way_once(runtime)
        waiting = deliveries.get(runtime.engine, delivery_pk)
        assert waiting is not None
        assert waiting.status == deliveries.RECEIVED, waiting.last_error
        assert waiting.attempts == 0  # waiting is not failing
        assert waiting.current_job.startswith(f"delivery-{delivery_pk}-wait-")
        assert "held by another job" in (waiting.last_error or "")
        assert waiting.retry_at is not None
        assert waiting.retry_at - waiting.updated_at <= timedelta(seconds=HELD_LEASE_SECONDS)
        assert waiting.current_job in ScheduledJobRegistry(queue=runtime.queue).get_job_ids()
        assert not jira_double.calls("create_issue")
    finally:
        held.release()
    handled = rq_until_final(runtime, delivery_pk)
    assert handled.status == deliveries.DONE, handled.last_error
    assert handled.attempts == 1
    assert len(jira_double.calls("create_issue")) == 1


@pytest.mark.slow
def test_waiting_for_an_incident_again_and_again_counts_no_attempt_and_never_backs_off(
    client, runtime: Runtime, jira_double
) -> None:
    """Copies of a delivery (or deliveries of one incident) waiting on each other's lock: each
    wait is rescheduled for the lease's end, however many there were, and none nears giving up.
    (Counted as faults, ten waits failed the delivery, and the backoff had reached 16 min.)"""
    delivery_pk = loop.accept(client, loop.jira_issue_event(jira_double, "OPS-42"))
    held = runtime.redis.lock("lessonloop:lock:jira:OPS-42", timeout=HELD_LEASE_SECONDS)
    assert held.acquire(blocking=False)
    try:
        for round_ in range(MAX_ATTEMPTS + 1):
            held.reacquire()  # the holder is alive and renews its lease
            if round_:  # run the waiting job now rather than at its time
                job_id = deliveries.get(runtime.engine, delivery_pk).current_job
                ScheduledJobRegistry(queue=runtime.queue).remove(job_id)
                runtime.queue.enqueue_job(fetch_job(job_id, runtime.redis))
            _give_way_once(runtime)
            waiting = deliveries.get(runtime.engine, delivery_pk)
            assert waiting is not None and waiting.status == deliveries.RECEIVED, waiting.last_error
            assert waiting.attempts == 0
            assert waiting.retry_at - waiting.updated_at <= timedelta(seconds=HELD_LEASE_SECONDS)
    finally:
        held.release()
    handled = rq_until_final(runtime, delivery_pk)
    assert handled.status == deliveries.DONE, handled.last_error
    assert handled.attempts == 1


def test_the_lock_wait_is_well_under_the_job_timeout() -> None:
    from workers.jobs import lock_wait_seconds

    for timeout in (2, 10, 600, 24 * 3600):
        assert lock_wait_seconds(timeout) <= timeout / 4


def test_an_incident_lock_is_renewed_while_its_job_runs(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """``exclusive()`` with a 0.6 s lease renewed every 0.2 s by the process's one renewer: the
    lock outlives its first lease by far, and is gone once the job is done. (The renewals used
    to fail on redis-py's thread-local token, so a job longer than the lease lost its lock.)"""
    from workers import jobs

    monkeypatch.setattr(jobs, "LOCK_LEASE_SECONDS", 0.6)
    monkeypatch.setattr(jobs, "_leases", jobs._Leases(0.2))
    key = "lessonloop:lock:github:acme/web#7"
    with jobs.exclusive(runtime, "github:acme/web#7"):
        outlived = time.monotonic() + 1.5
        while time.monotonic() < outlived:  # two and a half leases: only renewals keep it
            assert runtime.redis.exists(key), "the lease lapsed while the job ran"
            time.sleep(0.05)
    assert not runtime.redis.exists(key)


def test_a_lock_lost_to_redis_is_let_go_and_the_others_are_still_renewed(redis) -> None:
    """A renewal that fails (the key gone: Redis flushed, say) drops that lock and never ends
    the renewing thread: the process's other held locks keep their leases."""
    from workers.jobs import _Leases

    leases = _Leases(0.2)
    lost = redis.lock("lessonloop:lock:jira:OPS-1", timeout=0.6, thread_local=False)
    kept = redis.lock("lessonloop:lock:jira:OPS-2", timeout=0.6, thread_local=False)
    assert lost.acquire(blocking=False) and kept.acquire(blocking=False)
    leases.hold(lost, "jira:OPS-1")
    leases.hold(kept, "jira:OPS-2")
    redis.delete("lessonloop:lock:jira:OPS-1")
    deadline = time.monotonic() + 5
    while lost in leases.held:  # its renewal fails within a lease or so
        assert time.monotonic() < deadline, "the lost lock was never let go"
        time.sleep(0.05)
    outlived = time.monotonic() + 1.2
    while time.monotonic() < outlived:  # two leases more: only renewals keep it
        assert redis.exists("lessonloop:lock:jira:OPS-2"), "the renewer stopped after a failed renewal"
        time.sleep(0.05)
    leases.drop(kept)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Retry-After", "1e20"),
        ("Retry-After", "inf"),
        ("Retry-After", "1e308"),
        ("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("x-ratelimit-reset", "1e300"),
        ("x-ratelimit-reset", "9999-12-31T23:59:59Z"),
        ("ratelimit-reset", "Infinity"),
    ],
)
def test_an_absurd_wait_from_a_tracker_is_capped_at_an_hour(
    client, runtime: Runtime, github_double, name: str, value: str
) -> None:
    # a 503 (a 429 now holds every worker for GitHub's documented minute when it gives no usable
    # wait: that is the shared limiter's rule, tested in test_ratelimit.py)
    github_double.fail_next(1, 503, headers={name: value}, operation="get_issue")
    delivery_pk = loop.accept(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    before = deliveries.now()
    SimpleWorker([QUEUE_NAME], connection=runtime.redis, serializer=SERIALIZER).work(
        burst=True, logging_level="WARNING"
    )
    waiting = deliveries.get(runtime.engine, delivery_pk)
    assert waiting is not None and waiting.status == deliveries.RECEIVED, waiting and waiting.last_error
    assert waiting.retry_at is not None
    assert before < waiting.retry_at <= deliveries.now() + timedelta(seconds=MAX_WAIT_SECONDS)
    assert waiting.retry_at >= before + timedelta(seconds=MAX_WAIT_SECONDS - 60)
    assert waiting.current_job in ScheduledJobRegistry(queue=runtime.queue).get_job_ids()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Retry-After", "nan"),
        ("Retry-After", "-5"),
        ("Retry-After", "-inf"),
        ("Retry-After", "Mon, 01 Jan 1 00:00:00 GMT"),
        ("Retry-After", "9" * 5000),
    ],
)
def test_a_meaningless_or_past_wait_is_no_wait(client, runtime: Runtime, github_double, name: str, value: str) -> None:
    # a 503 (a 429 now holds every worker for GitHub's documented minute when it gives no usable
    # wait: that is the shared limiter's rule, tested in test_ratelimit.py)
    github_double.fail_next(1, 503, headers={name: value}, operation="get_issue")
    delivery_pk = loop.accept(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    SimpleWorker([QUEUE_NAME], connection=runtime.redis, serializer=SERIALIZER).work(
        burst=True, logging_level="WARNING"
    )
    handled = deliveries.get(runtime.engine, delivery_pk)
    assert handled is not None and handled.status == deliveries.DONE, handled and handled.last_error
    assert len(github_double.issues["acme/postmortems"]) == 1


def test_backoff_never_exceeds_an_hour() -> None:
    from workers.jobs import backoff_seconds

    assert backoff_seconds(1, None) == 15.0
    assert backoff_seconds(3, None, first=0.5) == 2.0
    assert backoff_seconds(2, 100.0) == 100.0
    for attempt in (1, 12, 10_000):
        for hint in (None, 1e20, float("inf"), float("nan"), -1.0):
            wait = backoff_seconds(attempt, hint)
            assert 0.0 <= wait <= MAX_WAIT_SECONDS


def test_a_scheduled_job_carries_the_timeout_for_rq_and_only_the_delivery_for_the_job(runtime: Runtime) -> None:
    from service.infra.queue import enqueue_delivery

    job = enqueue_delivery(
        runtime.queue, 7, "incident_closed", "delivery-7-retry-1", 123, at=deliveries.now() + timedelta(seconds=30)
    )
    stored = fetch_job(job.id, runtime.redis)
    assert stored.args == [7] and stored.kwargs == {}  # JSON: the arguments come back as a list
    assert stored.timeout == 123
    assert stored.get_status() == JobStatus.SCHEDULED


@pytest.mark.parametrize("trackers_reach_redis", [True, False], ids=["at the lock", "at the rate limiter"])
def test_redis_failing_mid_job_leaves_the_delivery_for_the_sweep_not_failed(
    client, runtime: Runtime, jira_double, trackers_reach_redis: bool
) -> None:
    """Redis restarted while a job ran: unreachable when the job takes the incident's lock, or
    already when the rate limiter asks it for a slot (and then when the retry is scheduled). The
    incident is not lost: the delivery stays waiting in the store, and the sweep queues it again
    once Redis answers. (Failed as "unexpected", it waited for an operator to run ``replay
    --failed``; a soak with a Redis restart lost one incident that way.)"""
    from service.infra.queue import connect
    from service.infra.queue import queue as make_queue
    from workers import context
    from workers.open_review import open_review
    from workers.sweep import sweep

    delivery_pk = loop.accept(client, loop.jira_issue_event(jira_double, "OPS-42"))
    dead = connect("redis://127.0.0.1:1/0")
    away = Runtime(runtime.settings, runtime.engine, dead, make_queue(dead))
    if trackers_reach_redis:
        away.clients = runtime.with_clients().clients
    else:
        away.with_clients()
    context.install(away)
    try:
        outcome = open_review(delivery_pk)
    finally:
        context.install(runtime)
    waiting = deliveries.get(runtime.engine, delivery_pk)
    assert waiting is not None and waiting.status == deliveries.RECEIVED, waiting.last_error
    if trackers_reach_redis:
        assert outcome.startswith("left for the sweep: Redis failed")
        assert waiting.attempts == 0  # Redis's fault, not the delivery's
        assert "Redis failed" in (waiting.last_error or "")
    else:
        assert outcome.startswith("retrying in")
        assert "rate limiter is unavailable" in (waiting.last_error or "")
    assert not jira_double.calls("create_issue")
    runtime.queue.empty()  # the web's job, taken by the worker that met the fault
    due = waiting.retry_at
    assert due is not None
    wait_for(lambda: deliveries.now() >= due, seconds=30)
    assert sweep(runtime, older_than_seconds=0).requeued == [delivery_pk]
    loop.work(runtime)
    handled = deliveries.get(runtime.engine, delivery_pk)
    assert handled is not None and handled.status == deliveries.DONE, handled.last_error
    assert len(jira_double.calls("create_issue")) == 1
