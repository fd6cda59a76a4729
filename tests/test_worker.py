"""The worker side of ingest with real RQ workers: in-process for the plain path, a real
``lessonloop worker`` process for the kill tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq import Worker
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from rq.worker import WorkerStatus
from sqlalchemy import text, update

from service.infra.queue import SERIALIZER, fetch_job
from service.infra.queue import queue as make_queue
from service.infra.runtime import Runtime
from service.store import deliveries
from service.store.schema import deliveries as deliveries_table
from service.text import markers
from tests import loop, payloads
from tests.conftest import GITHUB_SECRET, PAGERDUTY_SECRET, base_env
from tests.processes import Lessonloop, kill_worker, lessonloop_env, wait_for, work_horse
from workers.runner import run_worker
from workers.sweep import LATE_SECONDS, TAKEN_GRACE_SECONDS, recover, sweep


def test_a_closed_incident_is_handled_by_a_worker(client, runtime: Runtime) -> None:
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    loop.work(runtime)
    handled = deliveries.get(runtime.engine, delivery_pk)
    assert handled is not None
    assert handled.status == deliveries.DONE
    assert handled.attempts == 1
    assert handled.outcome is not None and "review github:acme/postmortems#1 open" in handled.outcome
    assert fetch_job(handled.job_id, runtime.redis).get_status() == JobStatus.FINISHED


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

    from service.entry.app import create_app
    from service.infra.queue import connect

    dead = connect("redis://127.0.0.1:1/0")
    app = create_app(runtime.settings, Runtime(runtime.settings, runtime.engine, dead, make_queue(dead)))
    delivery_pk = loop.accept(app.test_client(), payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    assert runtime.queue.count == 0
    loop.work(runtime)  # the start-up sweep finds it
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE


@pytest.mark.parametrize("look", ["sweep", "recover"])
def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_queued_again(
    client, runtime: Runtime, look: str
) -> None:
    """Taken and not started is a moment for a live worker, and for ever for a dead one: the
    first look leaves the job alone (a live worker may be about to start it), a look after the
    grace queues it again."""
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    job_id = deliveries.job_id_for(delivery_pk)
    # what an RQ worker does when it takes a job: move its id to the intermediate list
    runtime.redis.lmove(runtime.queue.key, runtime.queue.intermediate_queue_key, "LEFT", "RIGHT")
    assert runtime.queue.count == 0
    assert fetch_job(job_id, runtime.redis).get_status() == JobStatus.QUEUED

    def requeued() -> list[int]:
        return sweep(runtime, older_than_seconds=0).requeued if look == "sweep" else recover(runtime)

    assert requeued() == []  # a worker may be starting it this very moment
    assert runtime.redis.lrange(runtime.queue.intermediate_queue_key, 0, -1) == [job_id.encode()]
    wait_for(lambda: requeued() == [delivery_pk], seconds=TAKEN_GRACE_SECONDS + 20)
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
    from service.entry import cli

    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    good_body = deliveries.get(runtime.engine, delivery_pk).body
    with runtime.engine.begin() as connection:  # a row an older release could not read back
        connection.execute(update(deliveries_table).where(deliveries_table.c.id == delivery_pk).values(body=b"{broken"))
    loop.work(runtime)
    failed = deliveries.get(runtime.engine, delivery_pk)
    assert failed is not None and failed.status == deliveries.FAILED
    assert failed.last_error is not None and "not valid JSON" in failed.last_error
    assert fetch_job(failed.job_id, runtime.redis).get_status() == JobStatus.FAILED
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
    return _worker_process(runtime.settings.database_url, runtime.settings.config_file, trackers, **more)


def _worker_process(
    database_url: str, config_file: Path | None, trackers: dict[str, str], **more: str
) -> subprocess.Popen[bytes]:
    """``lessonloop worker`` as a process of its own, in a session of its own."""
    env = (
        os.environ
        | base_env()
        | trackers
        | {"DATABASE_URL": database_url, "LESSONLOOP_CONFIG": str(config_file)}
        | more
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service.entry.cli", "worker"],
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
        wait_for(lambda: fetch_job(job_id, runtime.redis).get_status() == JobStatus.STARTED)
        assert work_horse(worker.pid) is None  # the job runs in the worker process itself
        assert sweep(runtime, older_than_seconds=0).requeued == []  # its worker lives: left alone
        assert recover(runtime) == []
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
    assert fetch_job(job_id, runtime.redis).get_status() == JobStatus.STARTED
    if what == "whole worker, long ago":  # its registration has expired too: it names no host
        worker_key = Worker.redis_worker_namespace_prefix + fetch_job(job_id, runtime.redis).worker_name
        assert runtime.redis.delete(worker_key) == 1
    report = sweep(runtime, older_than_seconds=0)
    assert report.requeued == [delivery_pk]
    loop.work(runtime)
    handled = deliveries.get(runtime.engine, delivery_pk)
    assert handled is not None and handled.status == deliveries.DONE
    assert runtime.queue.count == 0


@pytest.mark.slow
def test_a_job_that_hangs_is_stopped_at_its_timeout_and_the_worker_goes_on(
    make_settings, trackers, redis, github_double
) -> None:
    """A worker without work horses still enforces the job timeout (RQ's SIGALRM death
    penalty, in the worker's main thread), and goes on to the next job."""
    from service.entry.app import create_app
    from service.infra.queue import queue as make_queue
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
        wait_for(lambda: fetch_job(stopped.job_id, runtime.redis).get_status() == JobStatus.FAILED)
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


@pytest.mark.slow
def test_an_expected_failure_is_one_log_line_and_an_unexpected_one_keeps_its_traceback(
    make_settings, redis, tmp_path: Path
) -> None:
    """The newcomer's first delivery: no GitHub token is set, so the job cannot read the issue.
    That is expected and permanent: the worker's log says why in one line (no traceback), and
    the delivery is failed for ``replay --failed``. A delivery the job cannot read is no
    expected failure: its traceback is still logged."""
    from service.entry import cli
    from service.entry.app import create_app
    from service.infra.queue import queue as make_queue
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
        [sys.executable, "-m", "service.entry.cli", "--config", str(settings.config_file), "worker", "--burst"],
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
    assert fetch_job(stored.job_id, redis).get_status() == JobStatus.FAILED
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (base_env() | {"DATABASE_URL": settings.database_url}).items():
            patch.setenv(key, value)
        assert cli.main(["--config", str(settings.config_file), "replay", "--failed"]) == 0
    assert deliveries.get(engine, no_token).status == deliveries.RECEIVED  # replay --failed found it
    engine.dispose()


def _registered(redis: Redis, worker: subprocess.Popen[bytes]) -> bool:
    """The worker process has registered with RQ, subscribed to its command channel and is
    waiting for jobs (RQ installs its signal handlers just before); it must not have exited
    meanwhile."""
    assert worker.poll() is None, f"the worker exited with {worker.returncode}"
    for one in Worker.all(connection=redis):
        if one.pid == worker.pid:
            subscribed = bool(redis.pubsub_numsub(one.pubsub_channel_name)[0][1])
            return subscribed and one.get_state() == WorkerStatus.IDLE
    return False


def _stop_all(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        try:  # what it left behind in its session (the RQ scheduler)
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- stopping, starting, recovering ---------------------------------------------------------------

PROMPT_STOP_SECONDS = 20
"""Well under RQ's 60 s pub/sub poll, which a worker's shutdown waited out with redis-py 8.2."""


def test_workers_given_sigterm_stop_promptly(runtime: Runtime, trackers) -> None:
    """RQ's own shutdown with redis-py 8.2 waits out its pub/sub poll when the thread is back in
    ``get_message`` before ``stop()`` clears its flag: a race, lost in about one stop of four
    here, so three workers are stopped at once."""
    workers = [_start_worker(runtime, trackers) for _ in range(3)]
    try:
        for worker in workers:
            wait_for(lambda worker=worker: _registered(runtime.redis, worker), seconds=60)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            wait_for(lambda worker=worker: worker.poll() is not None, seconds=PROMPT_STOP_SECONDS)
            assert worker.returncode == 0
    finally:
        _stop_all(*workers)


def test_a_stopped_worker_leaves_no_thread_reading_its_command_channel(runtime: Runtime) -> None:
    """A worker reads RQ's command channel on a thread of its own. Stopped, it ends that thread
    and its connection before ``run_worker`` returns: no thread is left reading for up to a
    minute, or reading a connection closed under it (which raised in the thread). Burst runs in
    this process, as the tests make hundreds of. Only threads these runs started count: a test
    process shares its threads with the tests that ran in it before."""
    from redis.client import PubSubWorkerThread

    from workers.runner import COMMAND_THREAD_NAME

    def readers() -> set[threading.Thread]:
        return {
            thread
            for thread in threading.enumerate()
            if isinstance(thread, PubSubWorkerThread) or thread.name == COMMAND_THREAD_NAME
        }

    def subscribed() -> set[str]:
        return {client["id"] for client in runtime.redis.client_list(_type="pubsub")}

    threads_before, connections_before = readers(), subscribed()
    for _ in range(10):
        loop.work(runtime)
        assert readers() - threads_before == set()
        assert subscribed() - connections_before == set()  # its connection closed, not left to the server


def test_a_worker_run_in_a_process_that_goes_on_gives_back_its_signal_handlers(runtime: Runtime) -> None:
    """RQ sets its own SIGINT and SIGTERM handlers for a worker; once the worker returns, the
    process's own are back (RQ's took a later Ctrl-C for a stop request to a worker long gone)."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    loop.work(runtime)
    assert {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)} == before


@pytest.mark.slow
def test_a_worker_started_before_the_web_on_a_fresh_store_migrates_it_and_works(
    database_url: str, rules_file: Path, trackers, redis: Redis, tmp_path: Path
) -> None:
    """Start in any order: the worker first, on a store nothing has migrated (it stopped with
    "no such table: instance"), then the web; a delivery goes through."""
    from service.store.engine import make_engine

    worker = _worker_process(database_url, rules_file, trackers)
    engine = make_engine(database_url)
    try:
        wait_for(lambda: _registered(redis, worker), seconds=60)
        env = lessonloop_env(DATABASE_URL=database_url, LESSONLOOP_CONFIG=str(rules_file), **trackers)
        with Lessonloop("web", "--processes", "1", cwd=tmp_path, env=env, seconds=60) as web:
            web.wait_ready()
            delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
            answer = requests.post(web.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
            assert answer.status_code == 202, answer.text
            delivery_pk = int(answer.json()["delivery"])
            wait_for(lambda: _status(engine, delivery_pk) == deliveries.DONE, seconds=60)
    finally:
        _stop_all(worker)
        engine.dispose()


def _status(engine, delivery_pk: int) -> str | None:
    found = deliveries.get(engine, delivery_pk)
    return None if found is None else found.status


RECOVERY_SECONDS = 60
"""docs/guarantees.md: every delivery a killed worker held is done within this long of the kill."""


@pytest.mark.slow
def test_every_delivery_a_killed_worker_held_is_done_within_a_minute_of_the_kill(
    client, runtime: Runtime, trackers, github_double
) -> None:
    """The worker is killed mid-job, holding the incident's lock, after the tracker carried out
    its create (it answers late). Another worker, whose store-side sweep would come only in an
    hour, finishes the delivery within the bound: one review, one "review opened" comment."""
    github_double.slow_reply_next(1, 120, operation="create_issue")
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    hourly = {"LESSONLOOP_SWEEP_SECONDS": "3600"}
    killed = _start_worker(runtime, trackers, **hourly)
    survivor = None
    try:
        wait_for(lambda: bool(github_double.calls("create_issue")), seconds=60)
        survivor = _start_worker(runtime, trackers, **hourly)
        wait_for(lambda: _registered(runtime.redis, survivor), seconds=60)
        kill_worker(killed)
        wait_for(lambda: _status(runtime.engine, delivery_pk) == deliveries.DONE, seconds=RECOVERY_SECONDS)
    finally:
        _stop_all(killed, *([survivor] if survivor else []))
    assert len(github_double.issues["acme/postmortems"]) == 1
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.REVIEW_OPENED)) == 1


def test_a_delivery_redis_lost_is_queued_again_without_waiting_for_the_sweep_period(runtime: Runtime, trackers) -> None:
    """Recorded while Redis was down, then Redis came back empty: the worker sees Redis lost its
    data and sweeps at once, not at its (here hourly) period."""

    from service.entry.app import create_app
    from service.infra.queue import connect

    worker = _start_worker(runtime, trackers, LESSONLOOP_SWEEP_SECONDS="3600")
    try:
        wait_for(lambda: _registered(runtime.redis, worker), seconds=60)
        dead = connect("redis://127.0.0.1:1/0")
        away = Runtime(runtime.settings, runtime.engine, dead, make_queue(dead))
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        delivery_pk = loop.accept(create_app(runtime.settings, away).test_client(), delivery)
        runtime.redis.flushdb()  # Redis restarted with nothing on disk
        wait_for(lambda: _status(runtime.engine, delivery_pk) == deliveries.DONE, seconds=60)
    finally:
        _stop_all(worker)


def test_recover_leaves_a_scheduled_retry_alone_and_moves_one_the_scheduler_left_lying(
    client, runtime: Runtime, github_double
) -> None:
    """A retry waiting for its time is live: neither pass queues it again. One well past its
    time (RQ's scheduler died with its worker) is moved to the queue by recover."""
    github_double.fail_next(1, 500, operation="create_issue")
    delivery_pk = loop.accept(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET))
    Worker(["lessonloop"], connection=runtime.redis, serializer=SERIALIZER).work(burst=True, logging_level="WARNING")
    waiting = deliveries.get(runtime.engine, delivery_pk)
    assert waiting is not None and waiting.current_job == f"delivery-{delivery_pk}-retry-1"
    assert sweep(runtime, older_than_seconds=0).requeued == []
    assert recover(runtime) == []
    assert runtime.queue.count == 0
    registry = ScheduledJobRegistry(queue=runtime.queue)
    late = datetime.now(UTC) - timedelta(seconds=LATE_SECONDS + 5)
    registry.schedule(fetch_job(waiting.current_job, runtime.redis), late)
    recover(runtime)
    assert runtime.queue.job_ids == [waiting.current_job]
    assert waiting.current_job not in registry
    loop.work(runtime)
    assert _status(runtime.engine, delivery_pk) == deliveries.DONE


class _Touches:
    """A pickle that, when loaded, creates a file: the proof that loading ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.path),))  # type: ignore[return-value]


def test_a_pickle_written_into_redis_runs_no_code_in_a_worker(runtime: Runtime, tmp_path: Path) -> None:
    """Job data is JSON: someone who can write to Redis can queue a job, not make a worker load
    a pickle (which runs whatever its author chose)."""
    import pickle
    import zlib

    proof = tmp_path / "ran"
    job = runtime.queue.enqueue("workers.open_review.open_review", 1, job_id="poisoned")
    runtime.redis.hset(
        job.key, "data", zlib.compress(pickle.dumps(("workers.open_review.open_review", None, (_Touches(proof),), {})))
    )
    run_worker(runtime, burst=True)
    assert not proof.exists()
    assert fetch_job("poisoned", runtime.redis).get_status() == JobStatus.FAILED
