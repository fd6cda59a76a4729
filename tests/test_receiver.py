"""The webhook receiver through the app, with real signatures, a real Redis and both stores.

Every refusal is checked twice: the answer says why, and nothing was recorded or queued.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import Flask
from redis import Redis

from service.infra.queue import fetch_job
from service.infra.queue import queue as make_queue
from service.infra.runtime import Runtime
from service.store import deliveries, migrate
from tests import payloads
from tests.conftest import GITHUB_SECRET, JIRA_SECRET, JIRA_TOKEN, PAGERDUTY_SECRET, HungRedis


def post(client, delivery: payloads.Delivery):
    return client.post(delivery.path, data=delivery.body, headers=delivery.headers)


def nothing_changed(runtime: Runtime) -> None:
    assert sum(deliveries.counts(runtime.engine).values()) == 0
    assert runtime.queue.count == 0


# --- accepted -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET),
        lambda: payloads.jira(payloads.raw("jira/issue_updated.incident_done"), JIRA_SECRET),
        lambda: payloads.jira_automation(
            {"issue": payloads.load("jira/issue_updated.incident_done")["issue"]}, JIRA_TOKEN
        ),
        lambda: payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), "retired-secret", PAGERDUTY_SECRET),
        lambda: payloads.github(payloads.github_review_edited(), GITHUB_SECRET),
        lambda: payloads.jira(payloads.jira_review_edited(), JIRA_SECRET),
    ],
    ids=["github-closed", "jira-done", "jira-automation", "pagerduty-resolved", "github-review", "jira-review"],
)
def test_a_signed_relevant_delivery_is_recorded_and_queued(client, runtime: Runtime, make) -> None:
    delivery = make()
    response = post(client, delivery)
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "queued" and answer["queued"] is True
    recorded = deliveries.get(runtime.engine, answer["delivery"])
    assert recorded is not None
    assert recorded.status == deliveries.RECEIVED
    assert recorded.body == delivery.body
    assert runtime.queue.job_ids == [answer["job"]] == [recorded.job_id]
    job = fetch_job(answer["job"], runtime.redis)
    expected = (
        "workers.open_review.open_review"
        if recorded.event_kind == "incident_closed"
        else "workers.sync_lesson.sync_lesson"
    )
    assert job.func_name == expected and job.args == [recorded.id]  # JSON: a list


def test_delivery_ids_come_from_each_trackers_header(client, runtime: Runtime) -> None:
    post(client, payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET, delivery_id="gh-guid"))
    post(client, payloads.jira(payloads.raw("jira/issue_updated.incident_done"), JIRA_SECRET, identifier="ji-1"))
    post(
        client, payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), PAGERDUTY_SECRET, webhook_id="pd-hook")
    )
    automation = payloads.jira_automation(
        {"issue": payloads.load("jira/issue_updated.incident_done")["issue"]}, JIRA_TOKEN
    )
    post(client, automation)
    assert deliveries.find(runtime.engine, "github", "gh-guid") is not None
    assert deliveries.find(runtime.engine, "jira", "ji-1") is not None
    # PagerDuty signs its event id with the body; the X-Webhook-Id header is not signed
    event_id = payloads.load("pagerduty/incident.resolved")["event"]["id"]
    assert deliveries.find(runtime.engine, "pagerduty", event_id) is not None
    assert deliveries.find(runtime.engine, "pagerduty", "pd-hook") is None
    assert deliveries.find(runtime.engine, "jira", deliveries.body_digest(automation.body)) is not None


# --- answered 200, nothing recorded -------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda: payloads.github(payloads.raw("github/ping"), GITHUB_SECRET, event="ping"), "ping", "pong"),
        (lambda: payloads.pagerduty(payloads.raw("pagerduty/pagey.ping"), PAGERDUTY_SECRET), "ping", "pong"),
        (lambda: payloads.github(payloads.raw("github/issues.opened"), GITHUB_SECRET), "not relevant", "opened"),
        (
            lambda: payloads.github(payloads.raw("github/issue_comment.created"), GITHUB_SECRET, event="issue_comment"),
            "not relevant",
            "comments",
        ),
        (lambda: payloads.github(b'{"ref": "main"}', GITHUB_SECRET, event="push"), "not relevant", "'push'"),
        (
            lambda: payloads.github(payloads.github_closed(labels=("bug",)), GITHUB_SECRET),
            "not relevant",
            "no github rule",
        ),
        (
            lambda: payloads.pagerduty(payloads.pagerduty_resolved(urgency="low"), PAGERDUTY_SECRET),
            "not relevant",
            "no pagerduty rule",
        ),
        (
            lambda: payloads.pagerduty(payloads.raw("pagerduty/incident.priority_updated"), PAGERDUTY_SECRET),
            "not relevant",
            "incident.priority_updated",
        ),
        (lambda: payloads.jira(payloads.raw("jira/comment_created"), JIRA_SECRET), "not relevant", "comments"),
    ],
    ids=[
        "github-ping",
        "pagerduty-ping",
        "opened",
        "comment",
        "unknown-event",
        "no-rule",
        "low-urgency",
        "pd-other-event",
        "jira-comment",
    ],
)
def test_pings_and_irrelevant_events_are_answered_200_and_not_recorded(
    client, runtime: Runtime, make, status: str, reason: str
) -> None:
    response = post(client, make())
    assert response.status_code == 200
    assert response.get_json()["status"] == status
    assert reason in response.get_json()["reason"]
    nothing_changed(runtime)


def test_pagerduty_without_a_rule_is_answered_with_that_reason(make_settings, redis: Redis) -> None:
    from service.entry.app import create_app
    from service.store import migrate
    from service.store.engine import make_engine

    settings = make_settings(config_file=None)  # defaults: no PagerDuty rule
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    app = create_app(settings, Runtime(settings, engine, redis, make_queue(redis)))
    response = post(
        app.test_client(), payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), PAGERDUTY_SECRET)
    )
    assert response.status_code == 200
    assert "PagerDuty has no tasks" in response.get_json()["reason"]
    engine.dispose()


def _merged_pagerduty() -> payloads.Delivery:
    payload = payloads.load("pagerduty/incident.resolved")
    payload["event"]["data"]["resolve_reason"] = {
        "type": "merge_resolve_reason",
        "incident": {"id": "PXP12GZ", "type": "incident_reference"},
    }
    return payloads.pagerduty(payload, PAGERDUTY_SECRET)


def _duplicate_jira() -> payloads.Delivery:
    payload = payloads.load("jira/issue_updated.incident_done")
    payload["issue"]["fields"]["resolution"] = {"id": "10002", "name": "Duplicate"}
    return payloads.jira(payload, JIRA_SECRET)


@pytest.mark.parametrize(
    ("make", "resolution", "rule"),
    [
        (
            lambda: payloads.github(payloads.github_closed(state_reason="duplicate"), GITHUB_SECRET),
            "duplicate",
            "github",
        ),
        (_duplicate_jira, "Duplicate", "jira"),
        (_merged_pagerduty, "merged", "pagerduty"),
    ],
    ids=["github-duplicate", "jira-duplicate", "pagerduty-merge"],
)
def test_a_duplicate_or_a_merge_is_answered_not_relevant_with_the_reason(
    client, runtime: Runtime, make, resolution: str, rule: str
) -> None:
    response = post(client, make())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "not relevant"
    assert response.get_json()["reason"] == (
        f"closed as '{resolution}', which {rule} rule #1 does not review (skip_resolutions): not an incident of its own"
    )
    nothing_changed(runtime)


def test_text_that_looks_like_a_review_elsewhere_is_not_recorded(client, runtime: Runtime) -> None:
    """An edit anywhere that quotes a review marker is no review of ours: only one the store
    knows, or one where a rule opens reviews, is recorded (and read back from the API)."""
    elsewhere = post(client, payloads.github(payloads.github_review_edited("someone/else"), GITHUB_SECRET))
    assert elsewhere.status_code == 200
    assert elsewhere.get_json()["reason"] == "not a review lessonloop knows, nor where a rule opens reviews"
    nothing_changed(runtime)


def test_a_review_the_store_knows_is_recorded_wherever_it_lives(client, runtime: Runtime) -> None:
    from datetime import date

    from service.domain.events import ItemRef
    from service.store import reviews

    reviews.save_review(
        runtime.engine,
        incident_ref=ItemRef.parse("github:someone/else#7"),
        ref=ItemRef.parse("github:someone/else#1"),
        url="https://github.com/someone/else/issues/1",
        template=None,
        due_on=date(2030, 1, 1),
    )
    known = post(client, payloads.github(payloads.github_review_edited("someone/else"), GITHUB_SECRET))
    assert known.status_code == 202 and known.get_json()["kind"] == "review_updated"


# --- refused ------------------------------------------------------------------------------------


def _unsigned(delivery: payloads.Delivery, drop: str) -> payloads.Delivery:
    delivery.headers.pop(drop)
    return delivery


def _resigned(delivery: payloads.Delivery, header: str, value: str) -> payloads.Delivery:
    delivery.headers[header] = value
    return delivery


def _tampered(delivery: payloads.Delivery) -> payloads.Delivery:
    delivery.body = delivery.body.replace(b"closed", b"opened", 1)
    return delivery


GH = lambda: payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)  # noqa: E731
PD = lambda: payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), PAGERDUTY_SECRET)  # noqa: E731
JI = lambda: payloads.jira(payloads.raw("jira/issue_updated.incident_done"), JIRA_SECRET)  # noqa: E731


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _unsigned(GH(), "X-Hub-Signature-256"), "missing X-Hub-Signature-256"),
        (lambda: _resigned(GH(), "X-Hub-Signature-256", "sha256=" + "ab" * 32), "does not match"),
        (lambda: _resigned(GH(), "X-Hub-Signature-256", "sha1=" + "ab" * 20), "must be sha256="),
        (lambda: payloads.github(payloads.raw("github/issues.closed"), "another secret"), "does not match"),
        (lambda: _tampered(GH()), "does not match"),
        (lambda: _unsigned(PD(), "X-PagerDuty-Signature"), "missing X-PagerDuty-Signature"),
        (lambda: payloads.pagerduty(payloads.raw("pagerduty/incident.resolved"), "x", "y"), "does not match"),
        (lambda: _resigned(PD(), "X-PagerDuty-Signature", "v2=abc"), "no v1="),
        (lambda: _unsigned(JI(), "X-Hub-Signature"), "missing X-Hub-Signature"),
        (lambda: _resigned(JI(), "X-Hub-Signature", "sha256=00"), "does not match"),
        (lambda: payloads.jira_automation(payloads.raw("jira/issue_updated.incident_done"), "guess"), "does not match"),
    ],
    ids=[
        "gh-missing",
        "gh-wrong",
        "gh-sha1",
        "gh-other-secret",
        "gh-tampered",
        "pd-missing",
        "pd-wrong",
        "pd-version",
        "jira-missing",
        "jira-wrong",
        "jira-token-wrong",
    ],
)
def test_signature_faults_are_401_and_change_nothing(client, runtime: Runtime, make, reason: str) -> None:
    response = post(client, make())
    assert response.status_code == 401
    assert reason in response.get_json()["reason"]
    nothing_changed(runtime)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: payloads.github(payloads.raw("github/issues.closed")[:500], GITHUB_SECRET), "not valid JSON"),
        (lambda: payloads.github(b"", GITHUB_SECRET), "empty body"),
        (lambda: payloads.github(b"<xml/>", GITHUB_SECRET), "not valid JSON"),
        (lambda: payloads.github(b'"just a string"', GITHUB_SECRET), "not an object"),
        (
            lambda: _unsigned(payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET), "X-GitHub-Event"),
            "missing X-GitHub-Event",
        ),
        (lambda: payloads.pagerduty(b'{"event": {"event_type": "incident.resolved"}}', PAGERDUTY_SECRET), "event.data"),
        (lambda: payloads.jira(b"\xff\xfe\x00", JIRA_SECRET), "not UTF-8"),
    ],
    ids=["truncated", "empty", "xml", "not-object", "no-event-header", "pd-no-data", "binary"],
)
def test_unreadable_bodies_are_400_and_change_nothing(client, runtime: Runtime, make, reason: str) -> None:
    response = post(client, make())
    assert response.status_code == 400
    assert reason in response.get_json()["reason"]
    nothing_changed(runtime)


def test_a_body_over_the_limit_is_413_before_it_is_read(make_settings, redis: Redis) -> None:
    from service.entry.app import create_app
    from service.store import migrate
    from service.store.engine import make_engine

    settings = make_settings(LESSONLOOP_MAX_BODY_BYTES="4096")
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime(settings, engine, redis, make_queue(redis))
    client = create_app(settings, runtime).test_client()
    big = payloads.github_closed()
    big["issue"]["body"] = "x" * 10_000
    response = post(client, payloads.github(big, GITHUB_SECRET))
    assert response.status_code == 413
    assert "LESSONLOOP_MAX_BODY_BYTES" in response.get_json()["reason"]
    small = post(client, payloads.github(payloads.github_closed(), GITHUB_SECRET))
    assert small.status_code == 413  # the sample itself is over 4 KiB
    nothing_changed(runtime)
    engine.dispose()


def test_the_default_limit_is_one_mebibyte(client, runtime: Runtime) -> None:
    huge = payloads.github_closed()
    huge["issue"]["body"] = "x" * (1024 * 1024)
    assert post(client, payloads.github(huge, GITHUB_SECRET)).status_code == 413
    nothing_changed(runtime)


def test_a_chunked_body_over_the_limit_is_413(live_server: str, runtime: Runtime) -> None:
    delivery = payloads.github(payloads.github_closed(), GITHUB_SECRET)
    chunks = iter([delivery.body] + [b" " * 65536] * 20)  # no Content-Length: sent chunked
    response = requests.post(live_server + delivery.path, data=chunks, headers=delivery.headers, timeout=10)
    assert response.status_code == 413
    nothing_changed(runtime)


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/webhooks/gitlab", 404, "unknown source"),
        ("/webhooks/", 404, ""),
        ("/nowhere", 404, ""),
    ],
)
def test_unknown_routes(client, runtime: Runtime, path: str, status: int, reason: str) -> None:
    response = client.post(path, data=b"{}")
    assert response.status_code == status
    body = response.get_json()  # a webhook path answers as webhooks do; any other path, as problem details
    assert response.is_json and reason in (body["reason"] if path.startswith("/webhooks/") else body["detail"])
    nothing_changed(runtime)


def test_get_on_a_webhook_route_is_405(client) -> None:
    assert client.get("/webhooks/github").status_code == 405


def test_a_source_without_a_secret_is_404_even_when_signed(make_settings, redis: Redis) -> None:
    from service.entry.app import create_app
    from service.store import migrate
    from service.store.engine import make_engine

    settings = make_settings(config_file=None, LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET=None)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime(settings, engine, redis, make_queue(redis))
    client = create_app(settings, runtime).test_client()
    response = post(client, PD())
    assert response.status_code == 404
    assert "not enabled" in response.get_json()["reason"]
    nothing_changed(runtime)
    engine.dispose()


@pytest.mark.parametrize("signed_with", ["It's a Secret, to Everybody", "the old one, rotated out"])
def test_a_secret_with_a_comma_and_its_previous_one_both_verify(make_settings, make_runtime, signed_with: str) -> None:
    """A comma is part of a secret: GitHub's documentation uses one with a comma in it."""
    from service.entry.app import create_app

    settings = make_settings(
        LESSONLOOP_GITHUB_WEBHOOK_SECRET="It's a Secret, to Everybody",
        LESSONLOOP_GITHUB_WEBHOOK_SECRET_PREVIOUS="the old one, rotated out",
    )
    runtime = make_runtime(settings)
    client = create_app(settings, runtime).test_client()
    accepted = post(client, payloads.github(payloads.raw("github/issues.closed"), signed_with))
    assert accepted.status_code == 202, accepted.get_json()
    refused = post(client, payloads.github(payloads.raw("github/issues.closed"), "It's a Secret"))
    assert refused.status_code == 401


def test_a_nul_character_is_refused_with_400_on_either_store(client, runtime: Runtime) -> None:
    """PostgreSQL cannot keep U+0000 in text: the answer was 503, and PagerDuty retried for ever."""
    payload = payloads.load("pagerduty/incident.resolved")
    payload["event"]["id"] = "\u0000"
    response = post(client, payloads.pagerduty(payload, PAGERDUTY_SECRET))
    assert response.status_code == 400
    assert response.get_json()["reason"] == (
        "the delivery id holds a NUL character (U+0000), which lessonloop does not keep"
    )
    nothing_changed(runtime)


# --- duplicates and failures --------------------------------------------------------------------


def test_the_same_delivery_twice_is_one_record_and_one_job(client, runtime: Runtime) -> None:
    delivery = GH()
    first, second = post(client, delivery), post(client, delivery)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.get_json()["status"] == "duplicate"
    assert second.get_json()["delivery"] == first.get_json()["delivery"]
    assert deliveries.counts(runtime.engine)[deliveries.RECEIVED] == 1
    assert runtime.queue.count == 1


def test_a_replayed_body_under_a_new_delivery_id_is_a_duplicate(client, runtime: Runtime) -> None:
    body = payloads.raw("github/issues.closed")
    assert post(client, payloads.github(body, GITHUB_SECRET, delivery_id="a")).status_code == 202
    again = post(client, payloads.github(body, GITHUB_SECRET, delivery_id="b"))
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert runtime.queue.count == 1


def test_a_changed_body_under_a_new_delivery_id_is_a_new_delivery(client, runtime: Runtime) -> None:
    body = payloads.raw("github/issues.closed")
    assert post(client, payloads.github(body, GITHUB_SECRET, delivery_id="a")).status_code == 202
    assert post(client, payloads.github(body + b" ", GITHUB_SECRET, delivery_id="b")).status_code == 202
    assert runtime.queue.count == 2


def test_fifty_concurrent_copies_are_one_record_and_one_job(live_server: str, runtime: Runtime) -> None:
    delivery = PD()

    def send(_: int) -> tuple[int, dict]:
        response = requests.post(live_server + delivery.path, data=delivery.body, headers=delivery.headers, timeout=30)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(send, range(50)))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * 49 + [202], [a for a in answers if a[0] != 200]
    assert {answer["delivery"] for _, answer in answers} == {answers[0][1]["delivery"]}
    assert deliveries.counts(runtime.engine)[deliveries.RECEIVED] == 1
    assert runtime.queue.count == 1


def test_store_unavailable_is_503_so_the_tracker_retries(client, runtime: Runtime) -> None:
    from sqlalchemy import text

    with runtime.engine.begin() as connection:
        connection.execute(text("DROP TABLE deliveries"))
    response = post(client, GH())
    assert response.status_code == 503
    assert "retry" in response.get_json()["reason"]
    assert runtime.queue.count == 0


def test_redis_down_after_recording_still_accepts_and_leaves_it_for_the_sweep(runtime: Runtime) -> None:
    from service.entry.app import create_app
    from service.infra.queue import connect

    dead = connect("redis://127.0.0.1:1/0")  # nothing listens on port 1
    broken = Runtime(runtime.settings, runtime.engine, dead, make_queue(dead))
    response = post(create_app(runtime.settings, broken).test_client(), GH())
    assert response.status_code == 202
    assert response.get_json()["queued"] is False
    assert deliveries.counts(runtime.engine)[deliveries.RECEIVED] == 1


def test_error_pages_carry_no_secret_or_trace(client, runtime: Runtime, caplog) -> None:
    from sqlalchemy import text

    with runtime.engine.begin() as connection:
        connection.execute(text("DROP TABLE deliveries"))
    response = post(client, GH())
    text_answer = response.get_data(as_text=True)
    assert GITHUB_SECRET not in text_answer and "Traceback" not in text_answer
    assert json.loads(text_answer)["status"] == "error"


# --- health -------------------------------------------------------------------------------------


def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"redis": "ok", "store": "ok"}


def test_readyz_is_503_when_redis_is_gone(runtime: Runtime) -> None:
    from service.entry.app import create_app
    from service.infra.queue import connect

    dead = connect("redis://127.0.0.1:1/0")
    app = create_app(runtime.settings, Runtime(runtime.settings, runtime.engine, dead, make_queue(dead)))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("unavailable")
    assert response.get_json()["checks"]["store"] == "ok"


# --- Redis that hangs, a lock file that cannot be opened ------------------------------------------


@pytest.fixture
def web_server() -> Iterator[Callable[[Flask], str]]:
    """Serve an app over real HTTP in this process, on port 0, a thread a request (werkzeug's
    server: the app, not ``lessonloop web``'s own server, is under test here)."""
    from werkzeug.serving import make_server

    running = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_hung_redis_delays_no_answer_and_the_sweep_queues_later(
    make_settings, redis: Redis, hung_redis: HungRedis, web_server
) -> None:
    """Deliveries while Redis accepts and never answers. The first waits for Redis only as long
    as the web's Redis client allows, and opens the breaker; the seven after it, sent at once,
    and /readyz skip Redis altogether (the hung Redis sees no new connection), so none waits
    behind it (each used to wait 5 s, one after another). Each is recorded and answered 202
    queued:false, /readyz says 503, and the sweep queues them once Redis is back."""
    from service.entry.app import create_app
    from service.infra import breaker
    from service.infra.queue import WEB_TIMEOUT_SECONDS
    from service.infra.queue import queue as make_queue
    from workers.sweep import sweep

    app = create_app(make_settings(REDIS_URL=hung_redis.url))
    breaker.of(app).open_seconds = 3600  # still open at the end, however slow the machine
    web = app.extensions["lessonloop"]
    assert web.redis.connection_pool.connection_kwargs["socket_timeout"] == WEB_TIMEOUT_SECONDS
    migrate.upgrade(web.engine)
    base = web_server(app)
    # eight different deliveries (the same body twice would be one delivery)
    sent = [payloads.github(payloads.raw("github/issues.closed") + b" " * n, GITHUB_SECRET) for n in range(8)]

    def send(delivery: payloads.Delivery) -> requests.Response:
        return requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=30)

    first = send(sent[0])
    tried = hung_redis.connections()
    assert tried >= 1  # the first went to Redis
    with ThreadPoolExecutor(max_workers=7) as pool:
        answers = [first, *pool.map(send, sent[1:])]
    assert [answer.status_code for answer in answers] == [202] * 8, [answer.text for answer in answers]
    assert all(answer.json()["queued"] is False for answer in answers)
    ready = requests.get(base + "/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("unavailable")
    assert hung_redis.connections() == tried  # none of the others went to Redis
    assert deliveries.counts(web.engine)[deliveries.RECEIVED] == 8

    back = Runtime(web.settings, web.engine, redis, make_queue(redis))
    report = sweep(back, older_than_seconds=0)
    assert sorted(report.requeued) == sorted(answer.json()["delivery"] for answer in answers)
    assert back.queue.count == 8
    web.engine.dispose()


def test_a_write_lock_that_cannot_be_opened_is_503_and_later_writes_go_through(
    make_settings, redis: Redis, tmp_path: Path
) -> None:
    """The SQLite write-lock file cannot be opened for one request (its path is a folder): that
    request is answered 503 'could not record', and once the path is free again the next
    delivery is recorded. The thread lock taken before the open used to stay held, and every
    later write in the process hung."""
    from service.entry.app import create_app

    database = tmp_path / "lock-test.db"
    app = create_app(make_settings(DATABASE_URL=f"sqlite:///{database}"))
    engine = app.extensions["lessonloop"].engine
    migrate.upgrade(engine)
    lock_path = Path(f"{database}-writelock")
    lock_path.unlink(missing_ok=True)
    lock_path.mkdir()
    client = app.test_client()
    refused = post(client, GH())
    assert refused.status_code == 503, refused.get_json()
    assert "could not record" in refused.get_json()["reason"]
    lock_path.rmdir()

    with ThreadPoolExecutor(max_workers=1) as pool:  # a hang fails the test instead of stopping it
        later = pool.submit(post, app.test_client(), GH()).result(timeout=30)
    assert later.status_code == 202, later.get_json()
    assert deliveries.counts(engine)[deliveries.RECEIVED] == 1


# --- raw bytes, signed, through the app -----------------------------------------------------------


def _raw_mutations(original: bytes, rng: random.Random) -> Iterator[bytes]:
    """Bodies no json.dumps can make: cut, bytes flipped, huge or odd numbers, deep nesting,
    invalid UTF-8, duplicate keys, a string of a mebibyte."""
    yield b""
    yield original + b"\xff\xfe"
    yield b"\xc3\x28" + original
    yield original.replace(b"{", b'{"x": ' + b"9" * 5000 + b", ", 1)
    yield original.replace(b"{", b'{"x": -' + b"1" * 100_000 + b", ", 1)
    yield original.replace(b"{", b'{"x": 1e999999, "y": NaN, "z": -Infinity, ', 1)
    yield original.replace(b"{", b'{"action": "closed", "action": 7, ', 1)
    yield b"[" * 100_000 + b"]" * 100_000
    yield b'{"a": ' * 50_000 + b"1" + b"}" * 50_000
    yield original.replace(b"{", b'{"x": "' + b"a" * (1024 * 1024) + b'", ', 1)
    yield original.replace(b"{", b'{"x": "\\ud800\\udfff\\u0000", ', 1)
    yield b"NaN"
    yield b"\x00" * 64
    for _ in range(60):
        yield original[: rng.randrange(len(original))]
    for _ in range(120):
        flipped = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        yield bytes(flipped)
    for _ in range(60):
        start = rng.randrange(len(original))
        yield (
            original[:start]
            + rng.choice(
                [b"9" * 4400, b'"', b"\\u", b"]", b"}", b",", b"null", b"[" * 3000, b"\xed\xa0\x80", b"1e400", b"-0"]
            )
            + original[start:]
        )


@pytest.mark.parametrize(
    "name",
    sorted(str(path.relative_to(payloads.FIXTURES).with_suffix("")) for path in payloads.FIXTURES.glob("*/*.json")),
)
def test_raw_byte_fuzz_signed_bodies_are_never_a_500(client, runtime: Runtime, name: str) -> None:
    source = name.split("/")[0]
    original = payloads.raw(name)
    rng = random.Random(name)  # the same mutations on every run
    for body in _raw_mutations(original, rng):
        if source == "github":
            delivery = payloads.github(body, GITHUB_SECRET, event=name.split("/")[1].split(".")[0])
        elif source == "jira":
            delivery = payloads.jira(body, JIRA_SECRET)
        else:
            delivery = payloads.pagerduty(body, PAGERDUTY_SECRET)
        response = post(client, delivery)
        assert response.status_code in (200, 202, 400, 413), (body[:200], response.get_json())
        if response.status_code == 400:
            assert response.get_json()["reason"]


def test_the_redis_breaker_skips_redis_after_a_failure_and_lets_one_probe_through() -> None:
    from service.infra.breaker import CircuitBreaker

    held_open = CircuitBreaker(open_seconds=3600)
    assert held_open.allow()
    held_open.failed()
    assert not held_open.allow() and not held_open.allow()  # open: nobody calls Redis

    pause_over = CircuitBreaker(open_seconds=0)
    pause_over.failed()
    assert pause_over.allow()  # the probe
    assert not pause_over.allow()  # everyone else, while the probe is out
    pause_over.succeeded()
    assert pause_over.allow() and pause_over.allow()  # closed: everyone calls Redis again
