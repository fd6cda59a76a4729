"""``GET /metrics`` in Prometheus' text format.

The answer is the same from every web process or thread and after a restart. Deliveries and
reviews are counted in the store at scrape time (indexed ``COUNT`` queries); the queue's depth
is asked of RQ, and the counters workers add to (``service.infra.counters``) are read from Redis
in one round trip. The lessons and their follow-ups change only with a lesson or follow-up
write, which replaces the log's generation (:mod:`service.store.generation`), and overdue
only with the day: their figures are kept per process under the generation and the day
(:mod:`service.web.cache`), exact whichever process answers, since counting them is a pass over
every follow-up (three per lesson: 100 – 160 ms at 100,000 reviews, on every scrape). A part
that does not answer is reported as ``lessonloop_up{part=…} 0`` instead of failing the scrape.

``LESSONLOOP_METRICS_TOKEN``, when set, is required as ``Authorization: Bearer …``.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import Date, Engine, Select, and_, bindparam, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from service.infra import counters, logs
from service.infra.runtime import Runtime
from service.store.followups import ADOPTED, DONE, OPEN, OPENED, UNLISTED
from service.store.schema import deliveries, followups, lessons, reviews
from service.web.auth import is_loopback
from service.web.cache import cached

log = logs.get(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LessonloopCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("lessonloop_up", "1 when the part answered this scrape, else 0", labels=["part"])
        try:
            yield from self._store()
            up.add_metric(["store"], 1)
        except SQLAlchemyError as error:
            log.warning("metrics: the store did not answer", error=type(error).__name__)
            up.add_metric(["store"], 0)
        try:
            yield from self._redis()
            up.add_metric(["redis"], 1)
        except RedisError as error:
            log.warning("metrics: Redis did not answer", error=type(error).__name__)
            up.add_metric(["redis"], 0)
        yield up

    def _store(self) -> Iterator[Metric]:
        today = datetime.now(UTC).date()
        with self.runtime.engine.connect() as connection:
            by_status = connection.execute(
                select(deliveries.c.source, deliveries.c.status, func.count()).group_by(
                    deliveries.c.source, deliveries.c.status
                )
            ).all()
            opened = connection.execute(select(func.count()).select_from(reviews)).scalar_one()
            still_open = connection.execute(
                select(func.count()).select_from(reviews).where(reviews.c.status == "open")
            ).scalar_one()
            overdue = connection.execute(
                select(func.count()).select_from(reviews).where(reviews.c.status == "open", reviews.c.due_on < today)
            ).scalar_one()
        kept: LogFigures = cached(("metrics", today), lambda: _log_figures(self.runtime.engine, today))
        captured = kept.captured
        open_followups, overdue_followups, done_followups, dated, within = kept.followups
        family = GaugeMetricFamily(
            "lessonloop_deliveries",
            "Deliveries the store holds, by source and status (received, done, ignored, failed)",
            labels=["source", "status"],
        )
        for source, status, count in by_status:
            family.add_metric([source, status], count)
        yield family
        yield GaugeMetricFamily("lessonloop_reviews_opened", "Reviews opened, all time", value=opened)
        yield GaugeMetricFamily("lessonloop_reviews_open", "Reviews not yet closed", value=still_open)
        yield GaugeMetricFamily("lessonloop_reviews_overdue", "Open reviews past their due date", value=overdue)
        yield GaugeMetricFamily("lessonloop_lessons_captured", "Lessons in the learning log", value=captured)
        yield GaugeMetricFamily(
            "lessonloop_capture_ratio",
            "Lessons captured per review opened, all time",
            value=captured / opened if opened else 0.0,
        )

        yield GaugeMetricFamily(
            "lessonloop_followups_open", "Follow-ups listed in lessons whose task is open", value=open_followups
        )
        yield GaugeMetricFamily(
            "lessonloop_followups_overdue", "Open follow-ups past their due date", value=overdue_followups
        )
        yield GaugeMetricFamily(
            "lessonloop_followups_done", "Follow-ups listed in lessons whose task is done", value=done_followups
        )
        yield GaugeMetricFamily(
            "lessonloop_followups_done_within_due_ratio",
            "Of the follow-ups done that had a due date, the share done by it (NaN while there are none)",
            value=within / dated if dated else math.nan,
        )

    def _redis(self) -> Iterator[Metric]:
        queue = self.runtime.queue
        depth = GaugeMetricFamily("lessonloop_queue_jobs", "Jobs in the RQ queue, by state", labels=["state"])
        pipe = self.runtime.redis.pipeline(transaction=False)
        pipe.llen(queue.key)
        for registry in (
            queue.started_job_registry,
            queue.scheduled_job_registry,
            queue.failed_job_registry,
            queue.deferred_job_registry,
        ):
            pipe.zcard(registry.key)
        for state, count in zip(("queued", "started", "scheduled", "failed", "deferred"), pipe.execute(), strict=True):
            depth.add_metric([state], count)
        yield depth

        snapshot = counters.read(self.runtime.redis)
        jobs = CounterMetricFamily(
            "lessonloop_jobs", "Delivery jobs run, by kind and result", labels=["kind", "result"]
        )
        for (kind, result), count in sorted(snapshot.jobs.items()):
            jobs.add_metric([kind, result], count)
        yield jobs
        durations = HistogramMetricFamily(
            "lessonloop_job_duration_seconds", "How long delivery jobs ran", labels=["kind", "result"]
        )
        for (kind, result), buckets in sorted(snapshot.job_buckets.items()):
            ordered = [(counters.le(bound), buckets.get(counters.le(bound), 0)) for bound in counters.BUCKETS]
            durations.add_metric([kind, result], ordered, snapshot.job_seconds.get((kind, result), 0.0))
        yield durations
        requests = CounterMetricFamily(
            "lessonloop_tracker_requests",
            "Requests to tracker APIs, by tracker and HTTP status (error: no answer)",
            labels=["tracker", "status"],
        )
        for (tracker, status), count in sorted(snapshot.tracker_requests.items()):
            requests.add_metric([tracker, status], count)
        yield requests


@dataclass(frozen=True)
class LogFigures:
    """What the log's own rows say: lessons captured, and the follow-ups open, overdue, done,
    done with a due date and done by it."""

    captured: int
    followups: tuple[int, int, int, int, int]


def _log_figures(engine: Engine, today: date) -> LogFigures:
    with engine.connect() as connection:
        captured = connection.execute(select(func.count()).select_from(lessons)).scalar_one()
        counts = connection.execute(_followup_counts(connection.dialect.name), {"today": today}).one()
    open_followups, overdue, done, dated, within = (int(one or 0) for one in counts)
    return LogFigures(int(captured), (open_followups, overdue, done, dated, within))


@cache
def _followup_counts(dialect: str) -> Select[Any]:
    """Open, overdue, done, done with a due date and done by it: in one pass over the
    follow-ups, counting those ``lessons stats`` counts (listed, with a task lessonloop
    follows). The day a task was done is its UTC day, as ``lessons stats`` reads it."""
    tracked = and_(
        followups.c.position != UNLISTED, followups.c.ref.is_not(None), followups.c.origin.in_([ADOPTED, OPENED])
    )
    is_open = and_(tracked, followups.c.state == OPEN)
    overdue = and_(is_open, followups.c.due_on < bindparam("today", type_=Date))
    done = and_(tracked, followups.c.state == DONE)
    dated = and_(done, followups.c.due_on.is_not(None), followups.c.done_at.is_not(None))
    done_day = (
        func.date(func.timezone("UTC", followups.c.done_at))
        if dialect == "postgresql"
        else func.date(followups.c.done_at)
    )
    within = and_(dated, done_day <= followups.c.due_on)
    return select(*(func.sum(case((condition, 1), else_=0)) for condition in (is_open, overdue, done, dated, within)))


def install(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LessonloopCollector(app.extensions["lessonloop"]))

    @app.get("/metrics")
    def metrics() -> Response:
        web = current_app.extensions["lessonloop"].settings.web
        token = web.metrics_token
        if token is None and not web.metrics_public and not is_loopback(request.remote_addr):
            return Response(
                "/metrics answers other machines only with LESSONLOOP_METRICS_TOKEN set "
                "(or LESSONLOOP_METRICS_PUBLIC=1)\n",
                403,
                {"Content-Type": "text/plain; charset=utf-8"},
            )
        if token is not None:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {token.get_secret_value()}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return Response(
                    "bearer token required (LESSONLOOP_METRICS_TOKEN)\n",
                    401,
                    {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain; charset=utf-8"},
                )
        return Response(generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
