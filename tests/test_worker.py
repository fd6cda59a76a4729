"""The worker side of ingest with real RQ workers: in-process for the plain path, a real
``lessonloop worker`` process for the kill tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rq import Worker
from rq.job import Job, JobStatus
from sqlalchemy import text, update

from service.runtime import Runtime
from service.store import deliveries
from service.store.schema import deliveries as deliveries_table
from tests import loop, payloads
from tests.conftest import GITHUB_SECRET, PAGERDUTY_SECRET, base_env
from tests.processes import kill_worker, wait_for, work_horse
from workers.sweep import sweep


def test_a_closed_incident_is_handled_by_a_worker(client, runtime: Runtime) -> None:
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    loop.work(runtime)
    handled = deliveries.get(runtime.engine, delivery_pk)
    assert handled is not None
    assert handled.status == deliveries.DONE
    assert handled.attempts == 1
    assert handled.outcome is not None and "review github:acme/postmortems#1 open" in handled.outcome
    assert Job.fetch(handled.job_id, connection=runtime.redis).get_status() == JobStatus.FINISHED


def test_running_the_job_twice_changes_nothing_the_second_time(client, runtime: Runtime) -> None:
    from workers.open_review import open_review

    delivery_pk = loop.accept(client, payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), PAGERDUTY_SECRET))
    first = open_review(delivery_pk)
    second = open_review(delivery_pk)
    assert "review jira:OPS-" in first and "open for pagerduty:PGR0VU2" in first
    assert second == "already done"
    assert deliveries.get(runtime.engine, delivery_pk).attempts == 1


def test_rq_suspend_is_honoured_and_rq_resume_lets_the_job_run(client, runtime: Runtime) -> None:
    """The worker looks for ``rq suspend`` at most once a second, not before every job; a
    worker started while suspended still runs nothing."""
    from rq.suspension import resume, suspend

    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    suspend(runtime.redis)
    loop.work(runtime)  # burst mode: a suspended worker stops at once
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.RECEIVED
    resume(runtime.redis)
    loop.work(runtime)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE


def test_redis_losing_its_queue_is_recovered_by_the_sweep(client, runtime: Runtime) -> None:
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    runtime.redis.flushdb()  # Redis restarted with nothing on disk
    assert sweep(runtime, older_than_seconds=60).requeued == []  # too young: may still be on its way
    report = sweep(runtime, older_than_seconds=0)
    assert report.requeued == [delivery_pk]
    assert sweep(runtime, older_than_seconds=0).requeued == []  # queued now: left alone
    loop.work(runtime)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE


def test_a_delivery_recorded_while_redis_was_down_runs_once_the_worker_starts(runtime: Runtime) -> None:
    from rq import Queue

    from service.app import create_app
    from service.queue import connect

    dead = connect("redis://127.0.0.1:1/0")
    app = create_app(
        runtime.settings, Runtime(runtime.settings, runtime.engine, dead, Queue("lessonloop", connection=dead))
    )
    delivery_pk = loop.accept(app.test_client(), payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    assert runtime.queue.count == 0
    loop.work(runtime)  # the start-up sweep finds it
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_queued_again(client, runtime: Runtime) -> None:
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    job_id = deliveries.job_id_for(delivery_pk)
    # what an RQ worker does when it takes a job: move its id to the intermediate list
    runtime.redis.lmove(runtime.queue.key, runtime.queue.intermediate_queue_key, "LEFT", "RIGHT")
    assert runtime.queue.count == 0
    assert Job.fetch(job_id, connection=runtime.redis).get_status() == JobStatus.QUEUED
    assert sweep(runtime, older_than_seconds=0).requeued == [delivery_pk]
    assert runtime.queue.job_ids == [job_id]
    assert runtime.redis.lrange(runtime.queue.intermediate_queue_key, 0, -1) == []
    loop.work(runtime)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE


def test_sweep_runs_once_at_a_time(runtime: Runtime) -> None:
    lock = runtime.redis.lock("lessonloop:sweep", timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert sweep(runtime, older_than_seconds=0).skipped
    finally:
        lock.release()


def test_a_failing_job_is_recorded_and_replay_runs_it_again(client, runtime: Runtime, tmp_path: Path) -> None:
    from service import cli

    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    good_body = deliveries.get(runtime.engine, delivery_pk).body
    with runtime.engine.begin() as connection:  # a row an older release could not read back
        connection.execute(update(deliveries_table).where(deliveries_table.c.id == delivery_pk).values(body=b"{broken"))
    loop.work(runtime)
    failed = deliveries.get(runtime.engine, delivery_pk)
    assert failed is not None and failed.status == deliveries.FAILED
    assert failed.last_error is not None and "not valid JSON" in failed.last_error
    assert Job.fetch(failed.job_id, connection=runtime.redis).get_status() == JobStatus.FAILED
    assert sweep(runtime, older_than_seconds=0).requeued == []  # failed is final until replayed

    with runtime.engine.begin() as connection:  # the cause is fixed
        connection.execute(update(deliveries_table).where(deliveries_table.c.id == delivery_pk).values(body=good_body))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (base_env() | {"DATABASE_URL": runtime.settings.database_url}).items():
            patch.setenv(key, value)
        assert cli.main(["--config", str(runtime.settings.config_file), "replay", "--failed"]) == 0
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.RECEIVED
    loop.work(runtime)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE


# --- a real worker process, killed halfway ------------------------------------------------------


def _hold_the_row(runtime: Runtime, delivery_pk: int):
    """Open a transaction that locks the delivery's row, so the job blocks on its first write."""
    connection = runtime.engine.connect()
    if runtime.engine.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(text("SELECT id FROM deliveries WHERE id = :id FOR UPDATE"), {"id": delivery_pk})
    return connection


def _start_worker(runtime: Runtime, trackers: dict[str, str], **more: str) -> subprocess.Popen[bytes]:
    env = (
        os.environ
        | base_env()
        | trackers
        | {"DATABASE_URL": runtime.settings.database_url, "LESSONLOOP_CONFIG": str(runtime.settings.config_file)}
        | more
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("what", ["worker process", "whole worker", "whole worker, long ago"])
def test_a_worker_killed_halfway_leaves_nothing_lost(client, runtime: Runtime, trackers, what: str) -> None:
    """The worker runs each job in its own process (no work horse): killing that process
    alone (its RQ scheduler child lives on) or with everything it started leaves the job
    marked started by a worker that is gone, which the sweep sees and queues again."""
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    job_id = deliveries.job_id_for(delivery_pk)
    holder = _hold_the_row(runtime, delivery_pk)
    worker = _start_worker(runtime, trackers)
    try:
        wait_for(lambda: Job.fetch(job_id, connection=runtime.redis).get_status() == JobStatus.STARTED)
        assert work_horse(worker.pid) is None  # the job runs in the worker process itself
        assert sweep(runtime, older_than_seconds=0).requeued == []  # its worker lives: left alone
        if what == "worker process":
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        else:
            kill_worker(worker)
    finally:
        holder.rollback()
        holder.close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        try:  # what it left behind in its session (the RQ scheduler)
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.RECEIVED
    # nobody is left to say the job died, and RQ would wait for the heartbeat to lapse
    # (about 90 s): the sweep sees that the job's worker is gone from this host
    assert Job.fetch(job_id, connection=runtime.redis).get_status() == JobStatus.STARTED
    if what == "whole worker, long ago":  # its registration has expired too: it names no host
        worker_key = Worker.redis_worker_namespace_prefix + Job.fetch(job_id, connection=runtime.redis).worker_name
        assert runtime.redis.delete(worker_key) == 1
    report = sweep(runtime, older_than_seconds=0)
    assert report.requeued == [delivery_pk]
    loop.work(runtime)
    handled = deliveries.get(runtime.engine, delivery_pk)
    assert handled is not None and handled.status == deliveries.DONE
    assert runtime.queue.count == 0


def test_a_job_that_hangs_is_stopped_at_its_timeout_and_the_worker_goes_on(
    make_settings, trackers, redis, github_double
) -> None:
    """A worker without work horses still enforces the job timeout (RQ's SIGALRM death
    penalty, in the worker's main thread), and goes on to the next job."""
    from service.app import create_app
    from service.queue import queue as make_queue
    from service.store import migrate
    from service.store.engine import make_engine

    settings = make_settings(**trackers, LESSONLOOP_JOB_TIMEOUT_SECONDS="2")  # the web gives jobs this
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime(settings, engine, redis, make_queue(redis))
    client = create_app(settings, runtime).test_client()
    github_double.slow_next(1, 120, operation="create_issue")  # the tracker never answers in time
    hanging = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    worker = _start_worker(runtime, trackers, LESSONLOOP_JOB_TIMEOUT_SECONDS="2")
    try:
        wait_for(lambda: deliveries.get(runtime.engine, hanging).status == deliveries.FAILED)
        stopped = deliveries.get(runtime.engine, hanging)
        assert stopped is not None and "JobTimeoutException" in (stopped.last_error or "")
        wait_for(lambda: Job.fetch(stopped.job_id, connection=runtime.redis).get_status() == JobStatus.FAILED)
        assert worker.poll() is None  # the same process, still working
        assert work_horse(worker.pid) is None
        following = loop.accept(
            client, payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), PAGERDUTY_SECRET)
        )
        wait_for(lambda: deliveries.get(runtime.engine, following).status == deliveries.DONE)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        runtime.engine.dispose()


# --- what the log says about a failed job -------------------------------------------------------


def test_an_expected_failure_is_one_log_line_and_an_unexpected_one_keeps_its_traceback(
    make_settings, redis, tmp_path: Path
) -> None:
    """The newcomer's first delivery: no GitHub token is set, so the job cannot read the issue.
    That is expected and permanent: the worker's log says why in one line (no traceback), and
    the delivery is failed for ``replay --failed``. A delivery the job cannot read is no
    expected failure: its traceback is still logged."""
    from service import cli
    from service.app import create_app
    from service.queue import queue as make_queue
    from service.store import migrate
    from service.store.engine import make_engine

    settings = make_settings()  # webhook secrets only: no tracker credentials
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime(settings, engine, redis, make_queue(redis))
    client = create_app(settings, runtime).test_client()
    no_token = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    unreadable = loop.accept(client, payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), PAGERDUTY_SECRET))
    with engine.begin() as connection:
        connection.execute(update(deliveries_table).where(deliveries_table.c.id == unreadable).values(body=b"{broken"))

    env = os.environ | base_env() | {"DATABASE_URL": settings.database_url, "LESSONLOOP_LOG_FORMAT": "json"}
    worker = subprocess.run(
        [sys.executable, "-m", "service.cli", "--config", str(settings.config_file), "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 0, worker.stderr
    lines = worker.stderr.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(events) == len(lines), worker.stderr  # every line is one JSON event: no bare traceback lines

    def about(delivery_pk: int) -> list[dict]:
        """Its job's events (RQ names the job ``delivery-N``) and lessonloop's own."""
        job = re.compile(rf"\bdelivery-{delivery_pk}(?!\d)")
        return [e for e in events if e.get("delivery") == delivery_pk or job.search(e["event"])]

    assert not any("Traceback" in json.dumps(e) or "exception" in e for e in about(no_token)), worker.stderr
    (failed,) = [e for e in about(no_token) if e["level"] in ("warning", "error")]
    assert failed["event"] == "delivery failed"
    assert "no API credentials for github: set LESSONLOOP_GITHUB_TOKEN" in failed["error"]
    assert any("Traceback" in e["event"] or "exception" in e for e in about(unreadable)), worker.stderr

    stored = deliveries.get(engine, no_token)
    assert stored is not None and stored.status == deliveries.FAILED and stored.last_error == failed["error"]
    assert Job.fetch(stored.job_id, connection=redis).get_status() == JobStatus.FAILED
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (base_env() | {"DATABASE_URL": settings.database_url}).items():
            patch.setenv(key, value)
        assert cli.main(["--config", str(settings.config_file), "replay", "--failed"]) == 0
    assert deliveries.get(engine, no_token).status == deliveries.RECEIVED  # replay --failed found it
    engine.dispose()
