"""Incidents and the reviews opened for them: one incident, one review."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, Select, bindparam, delete, select, update
from sqlalchemy import insert as insert_into

from service.domain.events import Item, ItemRef
from service.store.deliveries import now, utc
from service.store.engine import begin_write, insert_or
from service.store.schema import incident_labels, incidents, lessons, reviews


@dataclass(frozen=True)
class IncidentRecord:
    ref: str
    title: str
    url: str
    body: str
    priority: str
    urgency: str
    service: str
    responders: list[str]
    opened_at: datetime | None
    closed_at: datetime | None

    def as_item(self) -> Item:
        return Item(
            ref=ItemRef.parse(self.ref),
            title=self.title,
            url=self.url,
            body=self.body,
            priority=self.priority,
            urgency=self.urgency,
            service=self.service,
            assignees=tuple(self.responders),
            created_at=self.opened_at,
            closed_at=self.closed_at,
        )


@dataclass(frozen=True)
class ReviewRecord:
    incident_ref: str
    ref: str
    url: str
    template: str | None
    status: str
    due_on: date | None
    opened_at: datetime
    closed_at: datetime | None
    reminded_on: date | None
    rule: str | None = None
    """The rule that selected the incident (``service.loop.scope.rule_key``); None for reviews
    opened before it was kept, or adopted after a crash."""
    header: str | None = None
    """The header lessonloop wrote in the review (``service.lesson.header``)."""


def save_incident(engine: Engine, item: Item) -> None:
    """Record the incident's facts; a later close (reopened and closed again) updates them."""
    values = dict(
        title=item.title,
        url=item.url,
        body=item.body,
        priority=item.priority,
        urgency=item.urgency,
        service=item.service,
        responders=list(item.assignees),
        opened_at=item.created_at,
        closed_at=item.closed_at,
    )
    row = dict(ref=str(item.ref), recorded_at=now(), **values)
    with begin_write(engine) as connection:
        connection.execute(*insert_or(incidents, row, conflict=("ref",), update=tuple(values)))
        save_labels(connection, str(item.ref), item.labels)
        # the copy the service filter reads on the lesson's own row (lessons.save takes it from
        # here), written only when it changed: PostgreSQL rewrites the row and its search vector
        connection.execute(
            update(lessons)
            .where(lessons.c.incident_ref == str(item.ref), lessons.c.service != item.service)
            .values(service=item.service)
        )


def save_labels(connection: Connection, incident_ref: str, labels: Sequence[str]) -> None:
    """The incident's labels as they are now (the log is filtered and counted by them)."""
    connection.execute(_forget_labels, {"ref": incident_ref})
    kept = sorted({label[:200] for label in labels if label})
    if kept:
        connection.execute(
            insert_into(incident_labels), [{"incident_ref": incident_ref, "label": label} for label in kept]
        )


_forget_labels = delete(incident_labels).where(incident_labels.c.incident_ref == bindparam("ref"))


def incident(engine: Engine, ref: ItemRef | str) -> IncidentRecord | None:
    with engine.connect() as connection:
        row = connection.execute(select(incidents).where(incidents.c.ref == str(ref))).mappings().first()
    if row is None:
        return None
    return IncidentRecord(
        **{key: row[key] for key in IncidentRecord.__dataclass_fields__}
        | {"opened_at": utc(row["opened_at"]), "closed_at": utc(row["closed_at"])}
    )


def save_review(
    engine: Engine,
    *,
    incident_ref: ItemRef,
    ref: ItemRef,
    url: str,
    template: str | None,
    due_on: date | None,
    rule: str | None = None,
    header: str | None = None,
) -> ReviewRecord:
    """Record the review of an incident; the first one recorded stays (one incident, one review)."""
    record = ReviewRecord(
        incident_ref=str(incident_ref),
        ref=str(ref),
        url=url,
        template=template,
        status="open",
        due_on=due_on,
        opened_at=now(),
        closed_at=None,
        reminded_on=None,
        rule=rule,
        header=header,
    )
    row = {column: getattr(record, column) for column in _WRITTEN_ON_OPEN}
    with begin_write(engine) as connection:
        inserted = connection.execute(*insert_or(reviews, row, conflict=("incident_ref",))).rowcount == 1
    if inserted:  # what was written is the record: no need to read it back
        return record
    found = review_of(engine, incident_ref)
    assert found is not None
    return found


_WRITTEN_ON_OPEN = ("incident_ref", "ref", "url", "template", "status", "due_on", "opened_at", "rule", "header")


def review_of(engine: Engine, incident_ref: ItemRef | str) -> ReviewRecord | None:
    return _one(engine, _review_of, str(incident_ref))


def review(engine: Engine, ref: ItemRef | str) -> ReviewRecord | None:
    return _one(engine, _review, str(ref))


# built once, not per call: every job asks one of them
_review_of = select(reviews).where(reviews.c.incident_ref == bindparam("ref"))
_review = select(reviews).where(reviews.c.ref == bindparam("ref"))


def set_status(engine: Engine, ref: ItemRef | str, status: str) -> None:
    values: dict[str, object] = {"status": status, "closed_at": now() if status == "closed" else None}
    with begin_write(engine) as connection:
        connection.execute(update(reviews).where(reviews.c.ref == str(ref)).values(**values))


def overdue(engine: Engine, today: date) -> list[ReviewRecord]:
    """Open reviews past their due date and not yet reminded today."""
    with engine.connect() as connection:
        rows = (
            connection.execute(
                select(reviews)
                .where(
                    reviews.c.status == "open",
                    reviews.c.due_on < today,
                    (reviews.c.reminded_on.is_(None)) | (reviews.c.reminded_on < today),
                )
                .order_by(reviews.c.id)
            )
            .mappings()
            .all()
        )
    return [_record(row) for row in rows]


def mark_reminded(engine: Engine, ref: str, today: date) -> None:
    with begin_write(engine) as connection:
        connection.execute(update(reviews).where(reviews.c.ref == ref).values(reminded_on=today))


def _one(engine: Engine, query: Select, ref: str) -> ReviewRecord | None:
    with engine.connect() as connection:
        row = connection.execute(query, {"ref": ref}).mappings().first()
    return None if row is None else _record(row)


def _record(row: Mapping) -> ReviewRecord:
    values = {key: row[key] for key in ReviewRecord.__dataclass_fields__}
    values["opened_at"] = utc(values["opened_at"])
    values["closed_at"] = utc(values["closed_at"])
    return ReviewRecord(**values)
