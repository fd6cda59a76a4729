"""The rows ``lessonloop lessons stats`` is computed from: each review opened in a window, with
its incident's close, its lesson (if captured) and the items the lesson was posted on."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, func, select

from service.store.deliveries import utc
from service.store.effects import WRITTEN
from service.store.schema import effects, imports, incident_labels, incidents, lessons, reviews
from service.text import markers


@dataclass(frozen=True)
class ReviewProgress:
    incident_ref: str
    review_ref: str
    status: str  # open or closed
    due_on: date | None
    opened_at: datetime
    incident_closed_at: datetime | None
    lesson_captured_at: datetime | None  # None: no complete lesson yet
    shared_on: tuple[str, ...]  # the items carrying the lesson comment
    service: str = ""  # the incident's service, when its tracker names one
    labels: tuple[str, ...] = ()  # the incident's labels


def load(engine: Engine, since: datetime) -> list[ReviewProgress]:
    query = (
        select(
            reviews.c.incident_ref,
            reviews.c.ref,
            reviews.c.status,
            reviews.c.due_on,
            reviews.c.opened_at,
            incidents.c.closed_at,
            lessons.c.incident_closed_at,
            lessons.c.captured_at,
            incidents.c.service,
        )
        .select_from(
            reviews.outerjoin(incidents, incidents.c.ref == reviews.c.incident_ref).outerjoin(
                lessons, lessons.c.review_ref == reviews.c.ref
            )
        )
        .where(reviews.c.opened_at >= since)
        .order_by(reviews.c.id)
    )
    shared: dict[str, list[str]] = defaultdict(list)
    labels: dict[str, list[str]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        for incident_ref, label in connection.execute(
            select(incident_labels.c.incident_ref, incident_labels.c.label)
            .where(
                incident_labels.c.incident_ref.in_(select(reviews.c.incident_ref).where(reviews.c.opened_at >= since))
            )
            .order_by(incident_labels.c.label)
        ):
            labels[incident_ref].append(label)
        for item_ref, review_ref in connection.execute(
            select(effects.c.item_ref, effects.c.key).where(effects.c.kind == markers.LESSON, WRITTEN)
        ):
            shared[review_ref].append(item_ref)
    return [
        ReviewProgress(
            incident_ref=incident_ref,
            review_ref=ref,
            status=status,
            due_on=due_on,
            opened_at=utc(opened_at),  # the column is NOT NULL
            incident_closed_at=utc(lesson_closed_at or closed_at),
            lesson_captured_at=utc(captured_at),
            shared_on=tuple(sorted(shared.get(ref, ()))),
            service=service or "",
            labels=tuple(labels.get(incident_ref, ())),
        )
        for incident_ref, ref, status, due_on, opened_at, closed_at, lesson_closed_at, captured_at, service in rows
    ]


def imported_since(engine: Engine, since: datetime) -> int:
    """Lessons ``lessonloop import`` brought into the log since ``since``: they have no review
    lessonloop opened, so the review figures leave them out."""
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(imports).where(imports.c.imported_at >= since)).scalar()
            or 0
        )
