"""A small, realistic learning log for the README's screenshots: a team's last ten months of
incidents, written the blameless way (systems, signals and assumptions, never a person's
fault), with follow-ups in every state. Test data proves the pages are safe; this shows what
people will read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select, update

from service.store import followups
from service.store.schema import lessons, reviews
from tests.web_data import backdate, keep, share


@dataclass(frozen=True)
class Task:
    text: str
    state: str = followups.OPEN
    due_in_days: int | None = 14
    """Days from the incident's close to the follow-up's due day."""
    done_after_days: int | None = None
    """Days from the incident's close to the day it was done (``state`` done)."""


@dataclass(frozen=True)
class Example:
    number: int
    title: str
    days_ago: int
    hours_to_lesson: float
    service: str
    labels: tuple[str, ...]
    priority: str
    source: str = "jira"
    tracker: str = "jira"
    sections: dict[str, str] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()


LESSONS = (
    Example(
        12,
        "Checkout returned 502s for 40 minutes after a config push",
        days_ago=9,
        hours_to_lesson=30,
        service="checkout",
        labels=("sev1", "config"),
        priority="P1",
        sections={
            "what_happened": "14:02 config change merged: connection pool size 200 → 20\n"
            "14:06 deploy reached all regions\n14:09 5xx alert fired on the load balancer\n"
            "14:31 the pool change identified from the deploy diff\n14:42 rolled back; errors stopped",
            "what_we_expected": "A config change goes out like code: canaried in one region first, "
            "with the error rate watched before it spreads.",
            "why_different": "Config pushes skip the canary stage: the pipeline treats them as "
            "data, not code. The 5xx alert is on the load balancer as a whole, so it fired only "
            "once every region was affected.",
            "what_we_learned": "Config is code for outages. An alert per route would have pointed "
            "at checkout in the first minute.",
            "what_we_will_change": "- [x] Config pushes go through the canary stage\n"
            "- [ ] 5xx ratio alert per route\n- [ ] Schema check for pool sizes in CI",
        },
        tasks=(
            Task("Config pushes go through the canary stage", followups.DONE, 7, 4),
            Task("5xx ratio alert per route", due_in_days=7),
            Task("Schema check for pool sizes in CI", due_in_days=21),
        ),
    ),
    Example(
        11,
        "Payment confirmations delayed by up to 25 minutes",
        days_ago=23,
        hours_to_lesson=52,
        service="billing",
        labels=("sev2", "queue"),
        priority="P2",
        source="pagerduty",
        sections={
            "what_happened": "The confirmation queue backed up after the card processor slowed "
            "from 200 ms to 4 s a call; workers kept their fixed concurrency, so the backlog grew "
            "to 18,000 messages.",
            "what_we_expected": "Retries with back-off, and an alert on queue age before customers noticed.",
            "why_different": "The queue alert watched depth, which is normal at month end; age "
            "had no alert. Retries were immediate, adding load to a slow dependency.",
            "what_we_learned": "Queue age tells how customers feel; depth does not.",
            "what_we_will_change": "- [x] Alert on oldest message age\n- [x] Exponential back-off "
            "with jitter on processor calls\n- [ ] Load test at 10x processor latency",
        },
        tasks=(
            Task("Alert on oldest message age", followups.DONE, 10, 3),
            Task("Exponential back-off with jitter on processor calls", followups.DONE, 14, 12),
            Task("Load test at 10x processor latency", due_in_days=30),
        ),
    ),
    Example(
        10,
        "SSO logins failed after a certificate rotation",
        days_ago=51,
        hours_to_lesson=20,
        service="auth",
        labels=("sev1", "certificates"),
        priority="P1",
        source="github",
        tracker="github",
        sections={
            "what_happened": "The identity provider's signing certificate rotated on schedule; "
            "our service had pinned the old one and rejected every assertion for 55 minutes.",
            "what_we_expected": "Metadata refreshed from the provider's URL, as the runbook says.",
            "why_different": "The metadata refresh had been turned off during a migration two "
            "years ago and the runbook did not say how to check it.",
            "what_we_learned": "A setting that is off for a migration needs an owner and an end date.",
            "what_we_will_change": "- [x] Re-enable metadata refresh\n- [x] Expiry alert 30 days ahead\n"
            "- [ ] Runbook: how to check which certificate is trusted",
        },
        tasks=(
            Task("Re-enable metadata refresh", followups.DONE, 3, 1),
            Task("Expiry alert 30 days ahead", followups.DONE, 14, 9),
            Task("Runbook: how to check which certificate is trusted", due_in_days=21),
        ),
    ),
    Example(
        9,
        "Search results were stale for three hours",
        days_ago=80,
        hours_to_lesson=70,
        service="search",
        labels=("sev3", "indexing"),
        priority="P3",
        source="pagerduty",
        sections={
            "what_happened": "The indexer stopped consuming after a schema change; the search "
            "page kept answering from the old index.",
            "what_we_expected": "The indexer's lag alert to page within 15 minutes.",
            "why_different": "Lag was measured by the indexer itself, which had stopped reporting.",
            "what_we_learned": "A metric a stalled process reports cannot tell that it stalled.",
            "what_we_will_change": "- [x] Measure lag from the queue side\n- [x] Schema changes run "
            "an indexing smoke test",
        },
        tasks=(
            Task("Measure lag from the queue side", followups.DONE, 14, 10),
            Task("Schema changes run an indexing smoke test", followups.DONE, 21, 30),
        ),
    ),
    Example(
        8,
        "Primary database replica ran out of disk",
        days_ago=118,
        hours_to_lesson=44,
        service="database",
        labels=("sev2", "capacity"),
        priority="P2",
        sections={
            "what_happened": "A long-running analytics query held a replication slot; write-ahead "
            "log files piled up until the replica's disk was full and it fell out of the pool.",
            "what_we_expected": "Disk alerts at 80 % with days of headroom.",
            "why_different": "The alert used a weekly trend; the slot filled the disk in six hours.",
            "what_we_learned": "Replication slots are a disk risk of their own and need their own alert.",
            "what_we_will_change": "- [x] Alert on replication slot size\n- [ ] Analytics queries "
            "move to a dedicated replica",
        },
        tasks=(
            Task("Alert on replication slot size", followups.DONE, 7, 5),
            Task("Analytics queries move to a dedicated replica", followups.NOT_DOING, 60),
        ),
    ),
    Example(
        7,
        "Push notifications were sent twice",
        days_ago=165,
        hours_to_lesson=96,
        service="notifications",
        labels=("sev3", "retries"),
        priority="P3",
        source="github",
        tracker="github",
        sections={
            "what_happened": "A timeout from the push provider was retried although the first "
            "request had succeeded; 12 % of users got the same notification twice.",
            "what_we_expected": "Retries to be safe to repeat.",
            "why_different": "The provider's idempotency key was not sent by our client library.",
            "what_we_learned": "A retry is only safe when the receiver can tell it is one.",
            "what_we_will_change": "- [x] Send idempotency keys on every push",
        },
        tasks=(Task("Send idempotency keys on every push", followups.DONE, 14, 6),),
    ),
    Example(
        6,
        "DNS resolver timeouts during a deploy",
        days_ago=214,
        hours_to_lesson=28,
        service="edge",
        labels=("sev2", "dns"),
        priority="P2",
        sections={
            "what_happened": "Restarting the resolver fleet all at once during a deploy left "
            "lookups failing for 12 minutes.",
            "what_we_expected": "Rolling restarts, a third of the fleet at a time.",
            "why_different": "The deploy tool's batch size defaulted to 100 % for this service.",
            "what_we_learned": "Defaults in deploy tooling are part of every service's availability.",
            "what_we_will_change": "- [x] Batch size set explicitly for every service",
        },
        tasks=(Task("Batch size set explicitly for every service", followups.DONE, 14, 8),),
    ),
    Example(
        5,
        "Old assets served for 40 minutes after a CDN purge",
        days_ago=262,
        hours_to_lesson=120,
        service="web",
        labels=("sev3", "cdn"),
        priority="P3",
        source="github",
        tracker="github",
        sections={
            "what_happened": "A purge request was accepted but applied to one of two CDN configurations.",
            "what_we_expected": "One purge to clear every edge.",
            "why_different": "The second configuration was added for a test and never documented.",
            "what_we_learned": "Asset names with content hashes make purges unnecessary.",
            "what_we_will_change": "- [x] Content-hashed asset names",
        },
        tasks=(Task("Content-hashed asset names", followups.DONE, 30, 21),),
    ),
)

OPEN_REVIEWS = (
    (13, "Checkout latency doubled during a traffic spike", 2, "checkout"),
    (4, "Scheduled reports were not delivered", 290, "reports"),
)
"""Reviews still waiting for their lesson: one fresh, one long forgotten (a capture rate below 100 %)."""


def fill(engine: Engine) -> None:
    today = datetime.now(UTC).date()
    for one in LESSONS:
        review = keep(
            engine,
            one.number,
            one.title,
            source=one.source,
            tracker=one.tracker,
            labels=one.labels,
            service=one.service,
            priority=one.priority,
            **one.sections,
        )
        backdate(engine, review, days=one.days_ago, hours_to_lesson=one.hours_to_lesson)
        _review_dates(engine, review, closed=True)
        closed = today - timedelta(days=one.days_ago)
        for position, task in enumerate(one.tasks, start=1):
            _follow(engine, review, position, task, closed)
        with engine.connect() as connection:
            incident = connection.execute(
                select(lessons.c.incident_ref).where(lessons.c.review_ref == review)
            ).scalar_one()
        for item in (incident, review):  # the lesson's comment, as the worker posts it
            share(engine, review, item)
    for number, title, days_ago, service in OPEN_REVIEWS:
        review = keep(engine, number, title, service=service, captured=False)
        backdate(engine, review, days=days_ago, hours_to_lesson=0)
        _review_dates(engine, review, closed=False)


def _review_dates(engine: Engine, review: str, *, closed: bool) -> None:
    """A review due a week after it opened, closed when its lesson was captured."""
    with engine.begin() as connection:
        opened = connection.execute(select(reviews.c.opened_at).where(reviews.c.ref == review)).scalar_one()
        captured = connection.execute(select(lessons.c.captured_at).where(lessons.c.review_ref == review)).scalar()
        values: dict[str, object] = {"due_on": (opened + timedelta(days=7)).date()}
        if closed:
            values |= {"status": "closed", "closed_at": captured}
        connection.execute(update(reviews).where(reviews.c.ref == review).values(**values))


def _follow(engine: Engine, review: str, position: int, task: Task, closed: date) -> None:
    number = 100 * int(review.rsplit("-", 1)[-1].rsplit("#", 1)[-1]) + position
    ref = f"jira:OPS-{number}" if review.startswith("jira:") else f"github:acme/web#{number}"
    key = f"k{position}"
    followups.add(
        engine,
        review_ref=review,
        item_key=key,
        text=task.text,
        origin="opened",
        position=position,
        due_on=closed + timedelta(days=task.due_in_days) if task.due_in_days is not None else None,
        ref=ref,
        url=f"https://tracker.example/{number}",
    )
    start = datetime.combine(closed, datetime.min.time(), UTC) + timedelta(days=1)
    followups.change(engine, review, key, created_at=start)
    if task.state != followups.OPEN:
        moment = start + timedelta(days=task.done_after_days or 1)
        done = moment if task.state == followups.DONE else None
        followups.change(engine, review, key, state=task.state, state_at=moment, done_at=done)
