"""The shared rate limiter: many clients, one budget per credential, kept in Redis; and the
doubles that enforce the trackers' limits and count who broke them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis

from config.settings import SettingsError, load_settings
from service.infra.queue import SERIALIZER, fetch_job
from service.trackers.clients import build_clients, limiters
from service.trackers.errors import TransientTrackerError
from service.trackers.github.client import GitHubClient
from service.trackers.http.ratelimit import (
    WRITE_METHODS,
    Budget,
    RateLimitDeferred,
    RateLimited,
    RateLimiter,
    Window,
    credential_key,
    github_budgets,
    per_minute,
)
from service.trackers.http.retry import NO_RETRY, RetryPolicy
from service.trackers.jira.client import JiraClient
from service.trackers.pagerduty.client import PagerDutyClient
from tests.doubles.base import RateLimit
from tests.doubles.github import CONTENT_METHODS, GitHubDouble
from tests.doubles.jira import JiraDouble
from tests.doubles.pagerduty import PagerDutyDouble
from tests.doubles.pytest_plugin import MARKER_KEYS
from tests.processes import wait_for

TEST_SLACK = 0.1  # short test windows: room for a thread that reserved a slot to be scheduled late


def github_limiter(
    redis: Redis,
    double: GitHubDouble,
    token: str,
    limit: int,
    window: float = 60.0,
    max_wait: float = 5.0,
    **kwargs: object,
) -> RateLimiter:
    """Writes: ``limit`` per ``window`` seconds (and a generous hour)."""
    budget = Budget("writes", (Window(limit, window), Window(10_000, 3600)), WRITE_METHODS)
    return RateLimiter(
        redis,
        "github",
        credential_key("github", double.base_url, token),
        (budget,),
        max_wait,
        slack=TEST_SLACK,
        **kwargs,
    )


def github_client(double: GitHubDouble, limiter: RateLimiter | None, token: str = "test-token") -> GitHubClient:
    client = GitHubClient(token, double.base_url, retry=NO_RETRY, timeout=(5.0, 10.0), keys=MARKER_KEYS)
    client.api.limiter = limiter
    return client


def jira_client(double: JiraDouble, limiter: RateLimiter) -> JiraClient:
    return JiraClient(
        double.base_url,
        email=double.email,
        api_token=double.api_token,
        retry=NO_RETRY,
        limiter=limiter,
        keys=MARKER_KEYS,
    )


def post_comment(client: GitHubClient) -> None:
    client.api.request("add_comment", "POST", "/repos/acme/web/issues/1/comments", json={"body": "lesson"})


@pytest.fixture
def issue(github_double: GitHubDouble) -> None:
    github_double.add_issue("acme/web", "Checkout returns 502", labels=("incident",))


# --- the limiter ------------------------------------------------------------------------------


def test_threads_with_their_own_clients_never_exceed_the_shared_limit(
    redis: Redis, github_double: GitHubDouble, issue: None
) -> None:
    github_double.enforce_limits(RateLimit(4, 0.5, CONTENT_METHODS, "writes"))
    errors: list[BaseException] = []

    def hammer() -> None:
        client = github_client(github_double, github_limiter(redis, github_double, "test-token", 4, 0.5))
        try:
            for _ in range(5):
                post_comment(client)
                client.api.request("get_issue", "GET", "/repos/acme/web/issues/1")  # reads are not limited
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert github_double.counts()["create_comment"] == 30
    assert github_double.limit_report()["violations"] == 0
    # and the double does refuse when nobody paces: the same burst without the limiter
    github_double.enforce_limits(RateLimit(4, 60, CONTENT_METHODS, "writes"))
    unpaced = github_client(github_double, None)
    with pytest.raises(TransientTrackerError):
        for _ in range(5):
            post_comment(unpaced)
    assert github_double.limit_report()["violations"] == 1


def test_worker_processes_share_the_budget(redis: Redis, github_double: GitHubDouble, issue: None) -> None:
    """Separate processes, as RQ workers are: the budget lives in Redis, not in any of them."""
    import multiprocessing

    github_double.enforce_limits(RateLimit(3, 0.5, CONTENT_METHODS, "writes"))
    where = {k: redis.connection_pool.connection_kwargs[k] for k in ("host", "port", "db")}
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_process_hammer, args=(github_double.base_url, where, 4)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert github_double.counts()["create_comment"] == 12
    assert github_double.limit_report()["violations"] == 0


def _process_hammer(base_url: str, redis_kwargs: dict, writes: int) -> None:
    connection = Redis(
        host=redis_kwargs.get("host", "127.0.0.1"), port=redis_kwargs.get("port", 6379), db=redis_kwargs.get("db", 0)
    )
    budget = Budget("writes", (Window(3, 0.5),), WRITE_METHODS)
    limiter = RateLimiter(
        connection, "github", credential_key("github", base_url, "test-token"), (budget,), 5.0, slack=TEST_SLACK
    )
    client = GitHubClient("test-token", base_url, retry=NO_RETRY, keys=MARKER_KEYS)
    client.api.limiter = limiter
    for _ in range(writes):
        post_comment(client)


def test_a_refused_request_is_never_sent_and_asks_to_be_rescheduled(
    redis: Redis, github_double: GitHubDouble, issue: None
) -> None:
    client = github_client(github_double, github_limiter(redis, github_double, "test-token", 2, max_wait=0))
    post_comment(client)
    post_comment(client)
    with pytest.raises(TransientTrackerError) as refused:
        post_comment(client)
    assert isinstance(refused.value, RateLimitDeferred)
    assert refused.value.may_have_applied is False
    assert refused.value.status is None
    assert 0 < (refused.value.retry_after or 0) <= 60 * (1 + TEST_SLACK)
    assert "rate limit" in str(refused.value)
    assert github_double.arrivals("create_comment") == 2


def test_short_waits_happen_in_the_client(redis: Redis, github_double: GitHubDouble, issue: None) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    limiter = github_limiter(redis, github_double, "test-token", 2, 1.0, max_wait=2.0, sleep=sleep)
    client = github_client(github_double, limiter)
    for _ in range(3):
        post_comment(client)
    assert github_double.counts()["create_comment"] == 3
    assert len(waits) >= 1 and 0.5 < sum(waits) <= 2.0


def test_limiter_keys_are_per_credential_and_never_hold_it(
    redis: Redis, github_double: GitHubDouble, issue: None
) -> None:
    github_double.tokens["other-install-token"] = "other-bot"
    github_double.enforce_limits(RateLimit(2, 60, CONTENT_METHODS, "writes"))
    mine = github_client(github_double, github_limiter(redis, github_double, "test-token", 2, max_wait=0))
    theirs = github_client(
        github_double,
        github_limiter(redis, github_double, "other-install-token", 2, max_wait=0),
        token="other-install-token",
    )
    for _ in range(2):
        post_comment(mine)
        post_comment(theirs)  # a budget of its own: no wait, no refusal
    with pytest.raises(TransientTrackerError):
        post_comment(mine)
    keys = [key.decode() if isinstance(key, bytes) else key for key in redis.keys("*")]
    assert not any("test-token" in key or "other-install-token" in key for key in keys)
    keys = [key for key in keys if key.startswith("lessonloop:ratelimit:")]  # not the request counters
    assert len({key.rsplit(":", 1)[0] for key in keys}) == 2
    assert not any("test-token" in key or "other-install-token" in key for key in keys)
    assert github_double.limit_report()["violations"] == 0
    assert credential_key("github", "https://api.github.com", "a") != credential_key(
        "github", "https://ghe.example/api/v3", "a"
    )


def test_the_limiter_survives_redis_being_flushed(redis: Redis) -> None:
    limiter = RateLimiter(redis, "pagerduty", credential_key("pagerduty", "https://x", "t"), per_minute(2), max_wait=0)
    limiter.acquire("GET")
    limiter.acquire("GET")
    with pytest.raises(RateLimited):
        limiter.acquire("GET")
    redis.flushdb()
    redis.script_flush()  # Redis restarted: the keys and the loaded script are gone
    limiter.acquire("GET")  # the state starts again, the script is loaded again
    limiter.acquire("GET")
    with pytest.raises(RateLimited):
        limiter.acquire("GET")


def test_every_window_of_a_budget_counts(redis: Redis) -> None:
    limiter = RateLimiter(
        redis,
        "github",
        "lessonloop:ratelimit:{github:test}",
        (Budget("writes", (Window(5, 0.2), Window(3, 60)), WRITE_METHODS),),
        max_wait=1.0,
    )
    for _ in range(3):
        limiter.acquire("PATCH")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("DELETE")  # the minute's 5 would allow it, the hour's 3 does not
    assert refused.value.wait > 50
    limiter.acquire("GET")  # not a write


def test_a_jira_429_makes_the_other_client_wait_too(redis: Redis, jira_double: JiraDouble) -> None:
    def client(sleep: list[float], max_wait: float) -> JiraClient:
        def record(seconds: float) -> None:
            sleep.append(seconds)
            time.sleep(seconds)

        limiter = RateLimiter(
            redis, "jira", credential_key("jira", jira_double.base_url, "same"), (), max_wait, sleep=record
        )
        return jira_client(jira_double, limiter)

    first_waits: list[float] = []  # each client asks who it is once: three clients, three requests
    second_waits: list[float] = []
    impatient_waits: list[float] = []
    first, second, impatient = client(first_waits, 5), client(second_waits, 5), client(impatient_waits, 0)
    jira_double.fail_next(1, 429, retry_after=1)
    with pytest.raises(TransientTrackerError) as limited:
        first.whoami()
    assert limited.value.status == 429
    before = jira_double.arrivals("get_current_user")
    with pytest.raises(TransientTrackerError) as deferred:
        impatient.whoami()  # would have to wait longer than it may: rescheduled, not sent
    assert deferred.value.may_have_applied is False and 0 < (deferred.value.retry_after or 0) <= 1
    assert jira_double.arrivals("get_current_user") == before
    assert second.whoami().source == "jira"  # waited for the hold, then went
    assert 0.5 < sum(second_waits) <= 1.1
    assert first_waits == []


def test_jira_near_limit_warning_pauses_everyone_briefly(redis: Redis, jira_double: JiraDouble) -> None:
    jira_double.enforce_limits(RateLimit(10, 60, None, "requests"))
    waits: list[float] = []
    limiter = RateLimiter(
        redis,
        "jira",
        credential_key("jira", jira_double.base_url, "x"),
        (),
        5.0,
        sleep=waits.append,
        near_limit_hold=0.2,
    )
    client = jira_client(jira_double, limiter)
    for _ in range(8):
        client.api.json("whoami", "GET", "/myself")  # the 8th leaves 2 of 10: not yet under 20%
    assert not redis.exists(limiter.hold_key)
    client.api.json("whoami", "GET", "/myself")  # leaves 1
    assert jira_double.calls()[-1].status == 200
    assert redis.exists(limiter.hold_key)
    wait_for(lambda: not redis.exists(limiter.hold_key))  # the brief hold lapses on its own
    client.api.json("whoami", "GET", "/myself")


def test_github_rate_limit_403_holds_every_worker(redis: Redis, github_double: GitHubDouble, issue: None) -> None:
    github_double.enforce_limits(RateLimit(1, 60, CONTENT_METHODS, "writes"))
    unpaced = github_client(github_double, github_limiter(redis, github_double, "test-token", 1000, max_wait=0))
    post_comment(unpaced)
    with pytest.raises(TransientTrackerError) as limited:
        post_comment(unpaced)  # lessonloop thought it had room (a limit set too high): GitHub says no
    assert limited.value.status == 403 and 55 < (limited.value.retry_after or 0) <= 61
    other = github_client(github_double, github_limiter(redis, github_double, "test-token", 1000, max_wait=0))
    with pytest.raises(TransientTrackerError) as held:
        other.api.request("get_issue", "GET", "/repos/acme/web/issues/1")  # even a read waits out the hold
    assert held.value.may_have_applied is False and (held.value.retry_after or 0) > 55


def test_redis_away_is_a_transient_error_and_nothing_is_sent(github_double: GitHubDouble, issue: None) -> None:
    gone = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    client = github_client(github_double, RateLimiter(gone, "github", "k", github_budgets(80, 500), 1.0))
    with pytest.raises(TransientTrackerError) as error:
        post_comment(client)
    assert error.value.may_have_applied is False
    assert github_double.arrivals("create_comment") == 0


# --- settings and wiring ----------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lessonloop.toml"
    path.write_text(text)
    return path


def test_default_limits_are_the_documented_ones(tmp_path: Path) -> None:
    settings = load_settings({}, write(tmp_path, ""))
    assert (settings.github.writes_per_minute, settings.github.writes_per_hour) == (80, 500)
    assert settings.pagerduty.requests_per_minute == 900
    assert settings.jira.requests_per_minute is None
    assert (settings.rate_limits.max_wait_seconds, settings.rate_limits.time_scale) == (5.0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[github]\nwrites_per_minute = 0", "github.writes_per_minute: must be a positive whole number, got 0"),
        ("[github]\nwrites_per_hour = 2.5", "github.writes_per_hour: must be a positive whole number, got 2.5"),
        ("[pagerduty]\nrequests_per_minute = -1", "pagerduty.requests_per_minute: must be a positive whole number"),
        ('[jira]\nrequests_per_minute = "60"', "jira.requests_per_minute: must be a positive whole number, got '60'"),
        ("[jira]\nrequests_per_minute = true", "jira.requests_per_minute: must be a positive whole number, got True"),
        ("[rate_limits]\ntime_scale = 0", "rate_limits.time_scale:"),
        ("[rate_limits]\nburst = 3", "unknown setting 'rate_limits.burst'"),
    ],
)
def test_bad_limits_are_one_line_naming_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({}, write(tmp_path, text))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_clients_get_the_limits_from_the_settings(tmp_path: Path, redis: Redis) -> None:
    path = write(
        tmp_path,
        "[github]\nwrites_per_minute = 40\nwrites_per_hour = 300\n"
        "[jira]\nrequests_per_minute = 100\n[pagerduty]\nrequests_per_minute = 600\n"
        "[rate_limits]\nmax_wait_seconds = 2\ntime_scale = 0.5\n",
    )
    env = {
        "LESSONLOOP_GITHUB_TOKEN": "ghp-secret",
        "LESSONLOOP_JIRA_URL": "https://acme.atlassian.net",
        "LESSONLOOP_JIRA_EMAIL": "bot@acme.example",
        "LESSONLOOP_JIRA_API_TOKEN": "jira-secret",
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "pd-secret",
        "LESSONLOOP_PAGERDUTY_FROM": "bot@acme.example",
    }
    settings = load_settings(env, path)
    found = limiters(settings, redis)
    assert found["github"].budgets == (Budget("writes", (Window(40, 30), Window(300, 1800)), WRITE_METHODS),)
    assert found["jira"].budgets == (Budget("requests", (Window(100, 30),)),)
    assert found["pagerduty"].budgets == (Budget("requests", (Window(600, 30),)),)
    assert {limiter.max_wait for limiter in found.values()} == {2.0}
    assert not any(
        secret in limiter.key
        for limiter in found.values()
        for secret in ("ghp-secret", "jira-secret", "pd-secret", "bot@acme")
    )
    clients = build_clients(settings, MARKER_KEYS, RetryPolicy(), redis)
    github, jira, pagerduty = clients["github"], clients["jira"], clients["pagerduty"]
    assert isinstance(github, GitHubClient) and github.api.limiter is not None
    assert github.api.limiter.budgets == found["github"].budgets
    assert isinstance(jira, JiraClient) and jira.api.limiter is not None
    assert isinstance(pagerduty, PagerDutyClient) and pagerduty.api.limiter is not None
    unpaced = build_clients(settings, MARKER_KEYS)["github"]  # no Redis (check --online): unpaced
    assert isinstance(unpaced, GitHubClient) and unpaced.api.limiter is None


# --- the doubles enforce limits ---------------------------------------------------------------


@pytest.fixture
def admin_github() -> Iterator[GitHubDouble]:
    from tests.doubles.__main__ import ADMIN_PATH, admin_app

    double = GitHubDouble()
    double.mount(ADMIN_PATH, admin_app(double))
    with double:
        yield double
    double.assert_clean()


def test_github_double_answers_a_secondary_limit_and_counts_it(admin_github: GitHubDouble) -> None:
    admin_github.add_issue("acme/web", "x")
    admin = f"{admin_github.base_url}/_double/limits"
    assert requests.put(admin, json={"vendor": True, "scale": 0.5}, timeout=5).json()["limits"] == [
        {
            "name": "content-generating requests",
            "limit": 80,
            "window": 30.0,
            "methods": sorted(CONTENT_METHODS),
            "accepted": 0,
        },
        {
            "name": "content-generating requests",
            "limit": 500,
            "window": 1800.0,
            "methods": sorted(CONTENT_METHODS),
            "accepted": 0,
        },
    ]
    assert (
        requests.put(admin, json={"limits": [{"limit": 1, "window": 30, "methods": ["post"]}]}, timeout=5).status_code
        == 200
    )
    headers = {"Authorization": "Bearer test-token"}
    url = f"{admin_github.base_url}/repos/acme/web/issues/1/comments"
    assert requests.post(url, json={"body": "a"}, headers=headers, timeout=5).status_code == 201
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    over = requests.post(url, json={"body": "b"}, headers=headers, timeout=5)
    assert over.status_code == 403 and "secondary rate limit" in over.json()["message"]
    assert 25 <= int(over.headers["retry-after"]) <= 30 and over.headers["x-ratelimit-remaining"] == "0"
    report = requests.get(admin, timeout=5).json()
    assert report["violations"] == 1 and "over 1 requests per 30 s" in report["recent"][0]
    assert requests.put(admin, json={"limits": [{"limit": 0, "window": 1}]}, timeout=5).status_code == 400
    assert requests.put(admin, json={"limits": []}, timeout=5).json() == {"limits": [], "violations": 0, "recent": []}


def test_pagerduty_and_jira_doubles_answer_over_limit_their_way(
    pagerduty_double: PagerDutyDouble, jira_double: JiraDouble
) -> None:
    assert pagerduty_double.vendor_limits(scale=0.5) == (RateLimit(900, 30, None, "REST requests"),)
    pagerduty_double.enforce_limits(RateLimit(1, 20, None))
    headers = {"Authorization": "Token token=user-token", "Accept": "application/vnd.pagerduty+json;version=2"}
    url = f"{pagerduty_double.base_url}/users/me"
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    over = requests.get(url, headers=headers, timeout=5)
    assert over.status_code == 429 and over.headers["ratelimit-remaining"] == "0"
    assert 15 <= int(over.headers["ratelimit-reset"]) <= 20 and over.headers["ratelimit-limit"] == "1"
    assert pagerduty_double.limit_report()["violations"] == 1
    other_token = {**headers, "Authorization": "Token token=account-token"}
    assert (
        requests.get(f"{pagerduty_double.base_url}/abilities", headers=other_token, timeout=5).status_code == 200
    )  # a budget per credential

    jira_double.enforce_limits(RateLimit(1, 20, None))
    auth = (jira_double.email, jira_double.api_token)
    assert requests.get(f"{jira_double.base_url}/rest/api/2/myself", auth=auth, timeout=5).status_code == 200
    over = requests.get(f"{jira_double.base_url}/rest/api/2/myself", auth=auth, timeout=5)
    assert over.status_code == 429 and 15 <= int(over.headers["Retry-After"]) <= 20
    assert over.headers["X-RateLimit-Remaining"] == "0" and over.headers["X-RateLimit-Reset"].endswith("Z")
    assert jira_double.limit_report()["violations"] == 1


# --- the worker side --------------------------------------------------------------------------


def test_a_rescheduled_job_calls_its_function_with_the_delivery_alone(redis: Redis) -> None:
    """A job held back by the limiter (or any transient fault) is queued again with a time; its
    timeout must be the job's, not an argument of the job function (RQ 3 read it as one and
    every rescheduled job failed with ``unexpected keyword argument 'timeout'``)."""
    from datetime import datetime, timedelta

    from service.infra.queue import enqueue_delivery, queue

    job = enqueue_delivery(
        queue(redis), 7, "incident_closed", "delivery-7-retry-1", 321, at=datetime.now(UTC) + timedelta(seconds=30)
    )
    stored = fetch_job(job.id, redis)
    assert (stored.args, stored.kwargs, stored.timeout) == ([7], {}, 321)  # JSON: a list
    now = enqueue_delivery(queue(redis), 8, "incident_closed", "delivery-8", 321)
    assert (fetch_job(now.id, redis).kwargs, now.timeout) == ({}, 321)


def test_a_storm_held_back_by_the_limit_is_rescheduled_and_never_fails(
    make_settings: Any, trackers: dict[str, str], redis: Redis, github_double: GitHubDouble, tmp_path: Path
) -> None:
    """Through the real RQ path: three GitHub incidents, room for one write per 0.6 s and no
    waiting in the worker, so jobs are put off again and again; each runs when the limit has room,
    none fails, and GitHub never sees a request over the limit."""
    from rq import SimpleWorker
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry

    from service.entry.app import create_app
    from service.infra.queue import queue as make_queue
    from service.infra.runtime import Runtime
    from service.store import deliveries, migrate
    from service.store.engine import make_engine
    from tests import loop
    from tests.conftest import RULES_TOML
    from workers import context

    config = tmp_path / "storm.toml"
    config.write_text(
        RULES_TOML + "\n[rate_limits]\nmax_wait_seconds = 0\ntime_scale = 0.01\n[github]\nwrites_per_minute = 1\n"
    )
    settings = make_settings(config_file=config, **trackers)
    github_double.enforce_limits(RateLimit(1, 0.6, CONTENT_METHODS, "writes"))
    for n in range(2, 4):
        github_double.add_issue("Codertocat/Hello-World", f"Incident {n}", labels=("incident",), state="closed")
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime(settings, engine, redis, make_queue(redis)).with_clients()
    context.install(runtime)
    client = create_app(settings, runtime).test_client()
    for number in (1, 2, 3):
        delivery = loop.github_issue_event(github_double, "Codertocat/Hello-World", number, "closed")
        assert client.post(delivery.path, data=delivery.body, headers=delivery.headers).status_code == 202
    scheduled = ScheduledJobRegistry(queue=runtime.queue)
    worker = SimpleWorker([runtime.queue], connection=redis, serializer=SERIALIZER)
    deadline = time.monotonic() + 30
    while deliveries.counts(engine).get(deliveries.DONE, 0) < 3 and time.monotonic() < deadline:
        worker.work(burst=True)  # not run_worker: its sweep at start would replace the put-off jobs
        time.sleep(0.2)
        for job_id in scheduled.get_jobs_to_schedule():  # what RQ's scheduler does when their time comes
            job = runtime.queue.fetch_job(job_id)
            scheduled.remove(job_id)
            if job is not None:
                runtime.queue.enqueue_job(job)
    counts = deliveries.counts(engine)
    assert counts.get(deliveries.DONE) == 3 and not counts.get(deliveries.FAILED)
    attempts = [getattr(deliveries.get(engine, pk), "attempts", 0) for pk in (1, 2, 3)]
    assert sum(attempts) > 3  # some were put off
    assert FailedJobRegistry(queue=runtime.queue).count == 0  # no job broke (the sweep would hide it)
    assert github_double.limit_report()["violations"] == 0
    assert len(github_double.issues["acme/postmortems"]) == 3
    engine.dispose()


@pytest.mark.parametrize("wait", [float("inf"), 10.0**12, float("nan"), -5.0])
def test_a_wild_wait_from_a_tracker_holds_at_most_an_hour(redis: Redis, wait: float) -> None:
    limiter = RateLimiter(redis, "jira", "lessonloop:ratelimit:{jira:wild}", (), max_wait=0)
    limiter.observe(True, {"Retry-After": "whatever"}, wait)
    ttl = redis.pttl(limiter.hold_key)
    if wait > 0:
        assert 3_599_000 < ttl <= 3_601_000
        with pytest.raises(RateLimited) as held:
            limiter.acquire("GET")
        assert 3590 < held.value.wait <= 3600
    else:
        assert ttl == -2  # no hold at all
        limiter.acquire("GET")


def test_a_slot_is_moved_to_its_answer_only_when_the_answer_came_later_than_the_slack_covers(redis: Redis) -> None:
    """Windows are taken 10 % longer here: an answer heard within half that (3 s of a minute's
    window) leaves the stamp where Redis put it; one heard later (0.2 s, past the 0.05 s of a
    one-second window) moves it to the answer."""

    def limiter(window_seconds: float) -> RateLimiter:
        budgets = per_minute(60, window_seconds / 60)
        return RateLimiter(
            redis, "pagerduty", f"lessonloop:ratelimit:{{pd:{window_seconds}}}", budgets, slack=TEST_SLACK
        )

    minute = limiter(60.0)
    quick = minute.acquire("GET")
    assert quick is not None and quick.margin == pytest.approx(3.0)
    log_key = minute.log_key(minute.budgets[0])
    stamped = redis.zscore(log_key, quick.member)
    minute.settle(quick)  # well within 3 s: no round trip, the stamp stays
    assert stamped is not None and redis.zscore(log_key, quick.member) == stamped

    second = limiter(1.0)
    slow = second.acquire("GET")
    assert slow is not None and slow.margin == pytest.approx(0.05)
    log_key = second.log_key(second.budgets[0])
    stamped = redis.zscore(log_key, slow.member)
    time.sleep(0.2)  # the request took 0.2 s: it may have arrived up to then
    second.settle(slow)
    moved = redis.zscore(log_key, slow.member)
    assert stamped is not None and moved is not None and moved - stamped >= 150  # milliseconds
