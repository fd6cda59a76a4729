"""``/metrics``: figures from the store, the queue and the counters workers keep in Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from config.settings import Settings
from service.entry.app import create_app
from service.infra import counters
from service.infra.runtime import Runtime
from service.store import followups
from service.store.schema import followups as followups_table
from tests import loop
from tests.web_data import keep


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_learning_figures_queue_and_up(client, runtime: Runtime) -> None:
    keep(runtime.engine, 1, "One")
    keep(runtime.engine, 2, "Two", captured=False)
    runtime.queue.enqueue("builtins.print", "queued but never run")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    found = samples(response.get_data(as_text=True))
    assert found[("lessonloop_lessons_captured", ())] == 1
    assert found[("lessonloop_reviews_opened", ())] == 2
    assert found[("lessonloop_reviews_open", ())] == 2
    assert found[("lessonloop_reviews_overdue", ())] == 0
    assert found[("lessonloop_capture_ratio", ())] == 0.5
    assert found[("lessonloop_queue_jobs", (("state", "queued"),))] == 1
    assert found[("lessonloop_up", (("part", "store"),))] == 1
    assert found[("lessonloop_up", (("part", "redis"),))] == 1


def test_the_logs_figures_are_kept_until_a_lesson_or_follow_up_is_saved(client, runtime: Runtime) -> None:
    """Lessons and follow-ups are counted once per log generation and day (a pass over every
    follow-up); reviews and deliveries at every scrape. A follow-up written behind the log's
    back (its generation not replaced) is not seen until a real write replaces it."""
    review = keep(runtime.engine, 1, "One")
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("lessonloop_lessons_captured", ())] == 1 and found[("lessonloop_followups_open", ())] == 0
    now = datetime.now(UTC)
    with runtime.engine.begin() as connection:
        connection.execute(
            insert(followups_table).values(
                review_ref=review,
                item_key="k8",
                ref="github:acme/tasks#8",
                url="",
                text="Behind the back",
                origin=followups.OPENED,
                state=followups.OPEN,
                reason="",
                position=8,
                created_at=now,
            )
        )
    keep(runtime.engine, 2, "Two", captured=False)  # a review opened: counted at once
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("lessonloop_followups_open", ())] == 0  # kept
    assert found[("lessonloop_reviews_opened", ())] == 2 and found[("lessonloop_capture_ratio", ())] == 0.5
    followups.add(
        runtime.engine,
        review_ref=review,
        item_key="k9",
        text="Add an alert",
        origin=followups.OPENED,
        position=9,
        due_on=None,
        ref="github:acme/tasks#9",
        url="",
    )
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("lessonloop_followups_open", ())] == 2  # both, counted afresh


def test_jobs_and_tracker_requests_counted_by_workers(client, runtime: Runtime, github_double) -> None:
    delivery = loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed")
    loop.accept(client, delivery)
    loop.work(runtime)
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("lessonloop_deliveries", (("source", "github"), ("status", "done")))] == 1
    assert found[("lessonloop_jobs_total", (("kind", "open_review"), ("result", "done")))] == 1
    assert found[("lessonloop_job_duration_seconds_count", (("kind", "open_review"), ("result", "done")))] == 1
    assert (
        found[("lessonloop_job_duration_seconds_bucket", (("kind", "open_review"), ("le", "+Inf"), ("result", "done")))]
        == 1
    )
    assert found[("lessonloop_tracker_requests_total", (("status", "200"), ("tracker", "github")))] >= 1
    assert found[("lessonloop_tracker_requests_total", (("status", "201"), ("tracker", "github")))] >= 1


def test_a_job_adds_to_one_bucket_and_the_buckets_read_cumulative(redis) -> None:
    """One HINCRBY a job (the bucket its duration falls in); /metrics sees Prometheus's
    cumulative buckets, every bound counting all jobs at or under it."""
    counters.install(redis)
    try:
        for seconds in (0.05, 0.3, 0.3, 7.0, 400.0):
            counters.job_finished("open_review", "done", seconds)
        assert len(redis.hgetall(counters.JOB_BUCKETS)) == 4  # 0.1, 0.5, 10 and +Inf: one field each
        buckets = counters.read(redis).job_buckets[("open_review", "done")]
    finally:
        counters.install(None)
    assert buckets == {
        "0.1": 1,
        "0.25": 1,
        "0.5": 3,
        "1": 3,
        "2.5": 3,
        "5": 3,
        "10": 4,
        "30": 4,
        "60": 4,
        "300": 4,
        "+Inf": 5,
    }


def test_counting_never_fails_a_job() -> None:
    from redis import Redis

    counters.install(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    try:
        counters.job_finished("open_review", "done", 0.5)
        counters.tracker_answered("github", "200")
    finally:
        counters.install(None)


@pytest.mark.parametrize(
    "header, status", [(None, 401), ("Bearer wrong-token-000000", 401), ("Bearer scrape-token-123456", 200)]
)
def test_bearer_token(
    runtime: Runtime,
    make_settings: Callable[..., Settings],
    trackers,
    header: str | None,
    status: int,
) -> None:
    settings = make_settings(**trackers, LESSONLOOP_METRICS_TOKEN="scrape-token-123456")
    client = create_app(settings, Runtime(settings, runtime.engine, runtime.redis, runtime.queue)).test_client()
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == status
    assert "scrape-token" not in response.get_data(as_text=True)
