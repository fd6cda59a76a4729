"""A learning log filled in bulk for ``bench/web.py``: incidents with labels and services,
reviews, lessons with five sections of about 60 words each (words drawn with Zipf frequencies,
as prose has), three follow-ups each, each lesson's comment on its incident, its review and up
to two related items, and the full-text index. The same seed gives the same log, so runs on
both stores and before/after a change read the same lessons."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from sqlalchemy import Engine, insert, text

from service.store import search
from service.store.schema import effects, followups, incident_labels, incidents, lessons, reviews

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
CUMULATIVE = list(accumulate(WEIGHTS))
"""The weights summed once: ``random.choices`` given ``weights`` sums all 4,000 of them on every
call, which was most of the time filling 100,000 lessons took (the words drawn are the same)."""
RARE = WORDS[-1]
"""The least frequent word of the vocabulary: in about 1 % of the lessons."""


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, cum_weights=CUMULATIVE, k=words)) + "."


def fill(engine: Engine, count: int, queries: tuple[str, ...] = ()) -> dict[str, int]:
    """Fill an empty, migrated store with ``count`` reviews (9 in 10 with a lesson); returns, for
    each of ``queries`` (words separated by spaces), how many lessons hold all its words."""
    from service.text.markers import LESSON

    wanted = {query: query.split() for query in queries}
    matches = dict.fromkeys(queries, 0)
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
        service = rng.choice(SERVICES)
        incident_rows.append(
            dict(
                ref=incident,
                title=title,
                url=f"https://tracker.example/{number}",
                body="",
                priority="P2",
                urgency="high",
                service=service,
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
        held = set(" ".join([title.lower(), *sections.values()]).replace(".", " ").split())
        for query, terms in wanted.items():
            matches[query] += all(term in held for term in terms)
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
                service=service,  # the incident's, as lessons.save copies it
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
            rows.reverse()  # number 1 is the newest: stored oldest first, as a log grows, ids follow time
            for start in range(0, len(rows), 1000):
                connection.execute(insert(table), rows[start : start + 1000])
        if engine.dialect.name == "sqlite":  # PostgreSQL's column fills itself
            for row in connection.execute(lessons.select()).mappings():
                search.index_lesson(connection, row["id"], row)
    if engine.dialect.name == "postgresql":
        # what autovacuum does to a log in use (statistics, the visibility map), to these tables
        # only: a bare VACUUM would visit every schema of the shared database
        names = ", ".join(table.name for table in (incidents, reviews, incident_labels, lessons, followups, effects))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"VACUUM (ANALYZE) {names}"))
    return matches
