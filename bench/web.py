"""Learning log benchmark: list, search, the API, insights and /metrics over HTTP with 10,000 lessons,
on SQLite and on PostgreSQL.

    .venv/bin/python bench/web.py [--lessons 10000] [--requests 100] [--store sqlite|postgresql|both]

The store is filled in bulk (incidents with labels and services, reviews, lessons with five
sections of about 60 words each, three follow-ups each, each lesson's comment on its incident,
its review and up to two related items, the full-text index), then the real app is served by
werkzeug's threaded server on loopback and asked one request at a time over a keep-alive
connection; the figures are whole HTTP round trips, client in the same process included.
PostgreSQL runs in a schema of its own in $LESSONLOOP_TEST_POSTGRES_URL (default the test
database), dropped at the end; Redis database 13 is emptied before and after.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from config.settings import load_settings  # noqa: E402
from service.entry.app import create_app  # noqa: E402
from service.infra.runtime import Runtime  # noqa: E402
from service.store import migrate, search  # noqa: E402
from service.store.engine import make_engine, sqlalchemy_url  # noqa: E402
from service.store.schema import effects, followups, incident_labels, incidents, lessons, reviews  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"
FRESH_RUNS = 5
"""Times a view of /insights is computed afresh (its cache dropped before each): the machine
is shared, so one run says little. The CPU time is this process's (server and client): all of
the work on SQLite, the Python side alone on PostgreSQL."""
POSTGRES_URL = os.environ.get("LESSONLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DOMAIN = [
    "deploy",
    "rollback",
    "cache",
    "resolver",
    "timeout",
    "queue",
    "backlog",
    "retry",
    "alert",
    "pager",
    "database",
    "replica",
    "failover",
    "disk",
    "latency",
    "certificate",
    "expiry",
    "config",
    "flag",
    "canary",
    "region",
    "network",
    "partition",
    "balancer",
    "connection",
    "pool",
    "memory",
    "leak",
    "thread",
    "lock",
    "deadlock",
    "migration",
    "schema",
    "index",
    "vacuum",
    "batch",
    "cron",
    "scheduler",
    "webhook",
    "token",
    "quota",
    "storage",
    "bucket",
    "permission",
    "secret",
    "rotation",
    "dns",
    "ttl",
    "proxy",
    "gateway",
    "checkout",
    "payment",
    "invoice",
    "cluster",
    "shard",
    "node",
    "kernel",
    "upgrade",
    "dependency",
    "version",
    "release",
    "pipeline",
    "build",
    "monitor",
    "dashboard",
    "runbook",
    "escalation",
    "handover",
    "signal",
    "threshold",
    "noise",
    "metric",
    "trace",
    "sampling",
    "budget",
    "capacity",
    "autoscaling",
    "container",
    "image",
    "registry",
    "restart",
    "probe",
    "health",
    "readiness",
    "liveness",
    "traffic",
    "spike",
    "backpressure",
    "consumer",
]
FILLER = [
    "the",
    "a",
    "we",
    "our",
    "it",
    "was",
    "when",
    "then",
    "because",
    "after",
    "before",
    "during",
    "and",
    "but",
    "so",
    "to",
    "of",
    "in",
    "on",
    "for",
    "with",
]


def vocabulary(size: int = 4000) -> tuple[list[str], list[float]]:
    """Words with Zipf frequencies, as prose has: fillers most common, then the domain words
    spread over the ranks (``deploy`` common, ``resolver`` middling, ``failover`` rare), then
    made-up words for the long tail. Returns the words and their weights."""
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "de", "fo", "gu", "hi", "ja"]
    tail = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size * 2)})
    rng.shuffle(tail)
    words = list(FILLER)
    for index, word in enumerate(DOMAIN):  # domain words at ranks 20, 30, 40, … 1190
        while len(words) < 20 + index * 10:
            words.append(tail.pop())
        words.append(word)
    words += tail[: size - len(words)]
    return words, [1 / rank for rank in range(1, len(words) + 1)]


SERVICES = ("checkout", "payments", "search", "identity", "storage", "edge", "billing", "notifications")
LABELS = ("incident", "sev1", "sev2", "sev3", "customer-facing", "internal", "security", "data")


WORDS, WEIGHTS = vocabulary()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, WEIGHTS, k=words)) + "."


def fill(engine, count: int) -> None:
    from service.text.markers import LESSON

    rng = random.Random(10)
    now = datetime.now(UTC)
    sources = ("github", "jira", "pagerduty")
    incident_rows, review_rows, lesson_rows, label_rows, followup_rows, comment_rows = [], [], [], [], [], []
    for number in range(1, count + 1):
        source = sources[number % 3]
        incident = {
            "github": f"github:acme/web#{number}",
            "jira": f"jira:OPS-{number}",
            "pagerduty": f"pagerduty:P{number:07d}",
        }[source]
        review = f"github:acme/postmortems#{number}" if number % 2 else f"jira:PIR-{number}"
        closed = now - timedelta(days=365 * number / count, hours=rng.random() * 24)
        captured = closed + timedelta(hours=2 + rng.random() * 200)
        title = " ".join(rng.choices(DOMAIN, k=rng.randint(3, 6))).capitalize()
        incident_rows.append(
            dict(
                ref=incident,
                title=title,
                url=f"https://tracker.example/{number}",
                body="",
                priority="P2",
                urgency="high",
                service=rng.choice(SERVICES),
                responders=[],
                opened_at=closed - timedelta(hours=1),
                closed_at=closed,
                recorded_at=closed,
            )
        )
        review_rows.append(
            dict(
                incident_ref=incident,
                ref=review,
                url=f"https://tracker.example/r{number}",
                template=None,
                status="closed" if number % 5 else "open",
                due_on=(closed + timedelta(days=5)).date(),
                opened_at=closed + timedelta(minutes=1),
                closed_at=None,
            )
        )
        label_rows += [dict(incident_ref=incident, label=label) for label in rng.sample(LABELS, 2)]
        if number % 10 == 0:
            continue  # a review without a lesson yet
        sections = {name: " ".join(sentence(rng, 12) for _ in range(5)) for name in search.SECTION_COLUMNS}
        for position, state in enumerate(rng.sample(("open", "open", "done", "done", "not doing"), 3)):
            followup_rows.append(
                dict(
                    review_ref=review,
                    item_key=f"k{position}",
                    ref=f"github:acme/tasks#{number * 3 + position}",
                    url="",
                    text=sentence(rng, 8),
                    origin="opened",
                    state=state,
                    reason="",
                    position=position,
                    due_on=(captured + timedelta(days=14)).date(),
                    created_at=captured,
                    done_at=captured + timedelta(days=rng.randint(1, 30)) if state == "done" else None,
                )
            )
        related = [f"github:acme/web#{count + number * 2 + extra}" for extra in range(rng.randint(0, 2))]
        for item in (incident, review, *related):
            comment_rows.append(
                dict(
                    item_ref=item,
                    kind=LESSON,
                    key=review,
                    comment_id=str(len(comment_rows) + 1),
                    digest="d",
                    created_at=captured,
                    updated_at=captured,
                )
            )
        lesson_rows.append(
            dict(
                review_ref=review,
                incident_ref=incident,
                incident_title=title,
                incident_url=f"https://tracker.example/{number}",
                priority="P2",
                review_url=f"https://tracker.example/r{number}",
                other_sections={},
                digest=str(number),
                incident_closed_at=closed,
                captured_at=captured,
                updated_at=captured,
                seconds_to_lesson=int((captured - closed).total_seconds()),
                **sections,
            )
        )
    with engine.begin() as connection:
        for table, rows in (
            (incidents, incident_rows),
            (reviews, review_rows),
            (incident_labels, label_rows),
            (lessons, lesson_rows),
            (followups, followup_rows),
            (effects, comment_rows),
        ):
            for start in range(0, len(rows), 1000):
                connection.execute(insert(table), rows[start : start + 1000])
        if engine.dialect.name == "sqlite":  # PostgreSQL's column fills itself
            for row in connection.execute(lessons.select()).mappings():
                search.index_lesson(connection, row["id"], row)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def measure(port: int, paths: list[str], requests: int) -> dict[str, list[float]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    timings: dict[str, list[float]] = {}
    for path in paths:
        for attempt in range(requests + 5):
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}")
            if attempt >= 5:  # the first few warm caches up
                timings.setdefault(path, []).append(elapsed)
    connection.close()
    return timings


def measure_once(port: int, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path)
    connection.getresponse().read()
    connection.close()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def run(store: str, count: int, requests: int) -> None:
    cleanup = None
    if store == "sqlite":
        directory = tempfile.mkdtemp(prefix="lessonloop-webbench-")
        database_url = f"sqlite:///{directory}/bench.db"

        def cleanup() -> None:
            shutil.rmtree(directory, ignore_errors=True)
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(sqlalchemy_url(POSTGRES_URL))
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        database_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

        def cleanup() -> None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    try:
        settings = load_settings(
            {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "LESSONLOOP_LOG_LEVEL": "warning"}, config_file=None
        )
        engine = make_engine(database_url)
        migrate.upgrade(engine)
        started = time.perf_counter()
        fill(engine, count)
        print(
            f"{store}: filled {count} reviews ({count - count // 10} lessons) in {time.perf_counter() - started:.1f} s"
        )
        app = create_app(settings, Runtime.build(settings))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        paths = [
            "/lessons",
            "/lessons?page=300",
            "/lessons?sort=incident",
            "/lessons?sort=incident&page=300",
            "/lessons?q=deploy&sort=incident",
            "/lessons?source=jira&label=sev1",
            "/lessons?q=deploy",
            "/lessons?q=resolver",
            "/lessons?q=resolver+timeout",
            "/lessons?q=failover",
            "/lessons?q=deploy&service=checkout&from=2026-01-01",
            "/lessons?q=nomatchword",
            "/api/v1/lessons",
            "/api/v1/lessons?q=deploy",
            "/api/v1/lessons?sort=incident",
            "/api/v1/lessons?q=resolver+timeout",
            "/api/v1/lessons/jira%3APIR-4",
            "/api/v1/stats",
            "/lessons?page=10000",
            "/insights",
            "/insights?service=checkout&from=2026-01-01",
            "/insights.csv?table=months",
            "/metrics",
        ]
        measure_once(server.server_port, "/insights")  # warm the process up, then drop the cached figures
        for path in ("/insights", "/insights?service=checkout"):
            fresh, busy = [], []
            for _ in range(FRESH_RUNS):
                app.extensions.pop("lessonloop_cache", None)
                started, cpu = time.perf_counter(), time.process_time()
                measure_once(server.server_port, path)
                fresh.append((time.perf_counter() - started) * 1000)
                busy.append((time.process_time() - cpu) * 1000)
            print(
                f"{store}: {path} computed (not from its cache), {FRESH_RUNS} runs: "
                f"median {statistics.median(fresh):.0f} ms, fastest {min(fresh):.0f} ms; "
                f"this process's CPU median {statistics.median(busy):.0f} ms"
            )
        app.extensions.pop("lessonloop_cache", None)
        started = time.perf_counter()
        measure_once(server.server_port, "/api/v1/stats")
        print(f"{store}: /api/v1/stats computed (not from its cache): {(time.perf_counter() - started) * 1000:.0f} ms")
        timings = measure(server.server_port, paths, requests)
        server.shutdown()
        thread.join(timeout=5)
        print(f"{'path':<55} {'p50 ms':>8} {'p95 ms':>8}")
        for path, values in timings.items():
            print(f"{path:<55} {statistics.median(values):8.1f} {p95(values):8.1f}")
        related = related_lessons_timings(engine, requests)
        print(
            f"{'related lessons for a new incident (no HTTP)':<55} {statistics.median(related):8.1f} "
            f"{p95(related):8.1f}"
        )
        scoped = related_lessons_timings(engine, requests, reviewed_in=("github:acme/postmortems",))
        print(
            f"{'  the same, from one review target (its scope)':<55} {statistics.median(scoped):8.1f} "
            f"{p95(scoped):8.1f}"
        )
        engine.dispose()
    finally:
        redis.flushdb()
        if cleanup:
            cleanup()


def related_lessons_timings(engine, requests: int, reviewed_in: tuple[str, ...] | None = None) -> list[float]:
    """What a review's opening spends finding past lessons like its incident (issue: < 50 ms);
    ``reviewed_in``: only those reviewed there, as a review's header asks."""
    from service.learning.similar import telling
    from service.store import lessons

    rng = random.Random(7)
    timings = []
    for _ in range(requests):
        about = f"{sentence(rng, 8)} {sentence(rng, 40)}"
        started = time.perf_counter()
        telling(lessons.similar(engine, about, limit=6, reviewed_in=reviewed_in), about)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", type=int, default=10_000, help="reviews to make (9 in 10 get a lesson)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per path")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    for store in ("sqlite", "postgresql") if args.store == "both" else (args.store,):
        run(store, args.lessons, args.requests)


if __name__ == "__main__":
    main()
