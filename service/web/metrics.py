"""``GET /metrics`` in Prometheus' text format.

Nothing is kept in this process, so the answer is the same from every web process or thread and
after a restart: the learning figures and deliveries are counted in the store at scrape time
(a few indexed ``COUNT`` queries), the queue's depth is asked of RQ, and the counters workers
add to (``service.counters``) are read from Redis in one round trip. A part that does not
answer is reported as ``lessonloop_up{part=…} 0`` instead of failing the scrape.

``LESSONLOOP_METRICS_TOKEN``, when set, is required as ``Authorization: Bearer …``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from service import counters, logs
from service.runtime import Runtime
from service.store.schema import deliveries, lessons, reviews
from service.web.auth import is_loopback

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
            captured = connection.execute(select(func.count()).select_from(lessons)).scalar_one()
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
