"""Lessons put straight into the store, for the learning log's tests and benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.domain.events import Item, ItemRef
from service.store import lessons, reviews

SECTIONS = ("what_happened", "what_we_expected", "why_different", "what_we_learned", "what_we_will_change")


def keep(
    engine: Engine,
    number: int,
    title: str,
    *,
    source: str = "github",
    tracker: str = "github",
    labels: tuple[str, ...] = (),
    service: str = "",
    incident_url: str | None = None,
    captured: bool = True,
    priority: str = "P2",
    **sections: str,
) -> str:
    """An incident, its review and (``captured``) its lesson; the review's ref is returned."""
    incident = {
        "github": f"github:acme/web#{number}",
        "jira": f"jira:OPS-{number}",
        "pagerduty": f"pagerduty:P{number:06d}",
    }[source]
    review = f"github:acme/postmortems#{number}" if tracker == "github" else f"jira:PIR-{number}"
    url = f"https://x.example/{number}" if incident_url is None else incident_url
    reviews.save_incident(
        engine,
        Item(
            ref=ItemRef.parse(incident),
            title=title,
            url=url,
            labels=labels,
            service=service,
            closed_at=datetime.now(UTC) - timedelta(hours=5),
        ),
    )
    reviews.save_review(
        engine,
        incident_ref=ItemRef.parse(incident),
        ref=ItemRef.parse(review),
        url=f"https://x.example/r{number}",
        template=None,
        due_on=datetime.now(UTC).date() + timedelta(days=5),
    )
    if not captured:
        return review
    text = {name: sections.get(name, f"Filler text number {number}.") for name in SECTIONS}
    text.update({key: value for key, value in sections.items() if key not in SECTIONS})
    lessons.save(
        engine,
        review_ref=review,
        incident_ref=incident,
        incident_title=title,
        incident_url=url,
        priority=priority,
        review_url=f"https://x.example/r{number}",
        sections=text,
        digest=f"d{number}-{hash(tuple(text.items()))}",
        incident_closed_at=datetime.now(UTC) - timedelta(hours=5),
    )
    return review


def share(engine: Engine, review_ref: str, item_ref: str) -> None:
    """Record that the review's lesson comment is on ``item_ref``, as the worker does."""
    from sqlalchemy import insert

    from service.store.schema import effects
    from service.text.markers import LESSON

    moment = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(effects).values(
                item_ref=item_ref,
                kind=LESSON,
                key=review_ref,
                comment_id="1",
                digest="d",
                created_at=moment,
                updated_at=moment,
            )
        )


def backdate(engine: Engine, review_ref: str, days: float, hours_to_lesson: float) -> None:
    """Move a review, its incident's close and its lesson ``days`` into the past (for charts
    that span months), the lesson ``hours_to_lesson`` after the close."""
    from sqlalchemy import update

    from service.store.schema import incidents, lessons, reviews

    closed = datetime.now(UTC) - timedelta(days=days)
    captured = closed + timedelta(hours=hours_to_lesson)
    with engine.begin() as connection:
        incident_ref = connection.execute(
            update(reviews)
            .where(reviews.c.ref == review_ref)
            .values(opened_at=closed + timedelta(minutes=5))
            .returning(reviews.c.incident_ref)
        ).scalar_one()
        connection.execute(update(incidents).where(incidents.c.ref == incident_ref).values(closed_at=closed))
        connection.execute(
            update(lessons)
            .where(lessons.c.review_ref == review_ref)
            .values(
                incident_closed_at=closed,
                captured_at=captured,
                updated_at=captured,
                seconds_to_lesson=int(hours_to_lesson * 3600),
            )
        )
