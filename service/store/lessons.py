"""The learning log: one lesson per review, its sections as separate fields."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, or_, select

from service.store import generation
from service.store import search as fulltext
from service.store.deliveries import now, utc
from service.store.engine import begin_write, insert
from service.store.schema import incident_labels, incidents, lessons
from service.store.search import Filters

__all__ = ["Filters", "Lesson", "LogPage", "find", "get", "listing", "log_page", "save", "search", "similar"]

SECTION_COLUMNS = ("what_happened", "what_we_expected", "why_different", "what_we_learned", "what_we_will_change")


@dataclass(frozen=True)
class Lesson:
    review_ref: str
    incident_ref: str
    incident_title: str
    incident_url: str
    priority: str
    review_url: str
    sections: dict[str, str]
    digest: str
    incident_closed_at: datetime | None
    captured_at: datetime
    updated_at: datetime
    seconds_to_lesson: int | None
    other_sections: dict[str, str] = field(default_factory=dict)


def save(
    engine: Engine,
    *,
    review_ref: str,
    incident_ref: str,
    incident_title: str,
    incident_url: str,
    priority: str,
    review_url: str,
    sections: Mapping[str, str],
    digest: str,
    incident_closed_at: datetime | None,
    captured_at: datetime | None = None,
) -> bool:
    """Keep the lesson; True when it is new or its text changed. ``captured_at`` is now, except
    for a lesson imported from before lessonloop, which keeps the date it was written."""
    existing = get(engine, review_ref)
    if existing is not None and existing.digest == digest:
        return False
    moment = now()
    columns = {name: sections.get(name, "") for name in SECTION_COLUMNS}
    others = {key: value for key, value in sections.items() if key not in SECTION_COLUMNS}
    values = dict(
        incident_ref=incident_ref,
        incident_title=incident_title,
        incident_url=incident_url,
        priority=priority,
        review_url=review_url,
        other_sections=others,
        digest=digest,
        incident_closed_at=incident_closed_at,
        updated_at=moment,
        service=func.coalesce(
            select(incidents.c.service).where(incidents.c.ref == incident_ref).scalar_subquery(), ""
        ),  # the incident's, as reviews.save_incident keeps it
        **columns,
    )
    seconds = None
    if incident_closed_at is not None and moment >= incident_closed_at:
        seconds = int((moment - incident_closed_at).total_seconds())
    statement = (
        insert(engine, lessons)
        .values(review_ref=review_ref, captured_at=captured_at or moment, seconds_to_lesson=seconds, **values)
        .on_conflict_do_update(index_elements=["review_ref"], set_=values)
        .returning(lessons.c.id)
    )  # first capture stays
    with begin_write(engine) as connection:
        lesson_id = connection.execute(statement).scalar_one()
        fulltext.index_lesson(connection, lesson_id, values)
        generation.bump(connection)
    return True


def get(engine: Engine, review_ref: str) -> Lesson | None:
    with engine.connect() as connection:
        row = connection.execute(select(lessons).where(lessons.c.review_ref == review_ref)).mappings().first()
    return None if row is None else _lesson(row)


def find(engine: Engine, ref: str) -> Lesson | None:
    """A lesson by its review's or its incident's ref."""
    with engine.connect() as connection:
        row = (
            connection.execute(select(lessons).where(or_(lessons.c.review_ref == ref, lessons.c.incident_ref == ref)))
            .mappings()
            .first()
        )
    return None if row is None else _lesson(row)


def having(engine: Engine, refs: Collection[str]) -> set[str]:
    """Which of ``refs`` name a lesson, by its review's or its incident's ref (one query)."""
    if not refs:
        return set()
    wanted = list(refs)
    query = select(lessons.c.review_ref, lessons.c.incident_ref).where(
        or_(lessons.c.review_ref.in_(wanted), lessons.c.incident_ref.in_(wanted))
    )
    with engine.connect() as connection:
        found = {ref for row in connection.execute(query) for ref in row}
    return found & set(wanted)


def listing(engine: Engine, limit: int = 50) -> list[Lesson]:
    """Newest first."""
    query = select(lessons).order_by(lessons.c.captured_at.desc(), lessons.c.id.desc()).limit(limit)
    with engine.connect() as connection:
        return [_lesson(row) for row in connection.execute(query).mappings()]


@dataclass(frozen=True)
class LogPage:
    """One page of the log or of a search, as :func:`service.store.search.find` describes it."""

    lessons: list[Lesson]
    next_page: int | None
    total: int
    more: bool
    """``total`` is a lower bound: more lessons hold the words than a search ranks."""


def log_page(
    engine: Engine,
    query: str = "",
    filters: Filters | None = None,
    number: int = 1,
    per_page: int = 25,
    order: str | None = None,
    remember: fulltext.Remember | None = None,
) -> LogPage:
    """Page ``number`` of the log or of a search, with the count of its pages' lessons, from one
    ranking (see :func:`service.store.search.find`, and ``remember`` there)."""
    found = fulltext.find(engine, query, filters, number, per_page, order, remember)
    return LogPage(by_ids(engine, found.ids), found.next_page, found.total, found.more)


def search(
    engine: Engine,
    query: str = "",
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = 25,
    order: str | None = None,
) -> tuple[list[Lesson], int | None]:
    """One page of the log (see :func:`service.store.search.find`) and the next page's number."""
    ids, following = fulltext.search(engine, query, filters, page, per_page, order)
    return by_ids(engine, ids), following


def similar(
    engine: Engine,
    free_text: str,
    limit: int = 3,
    exclude: Sequence[str] = (),
    reviewed_in: Sequence[str] | None = None,
) -> list[Lesson]:
    """The lessons most like a free text, best first (for related lessons in a new review);
    ``reviewed_in`` keeps those whose review lives in one of these review targets."""
    return by_ids(engine, fulltext.similar(engine, free_text, limit, exclude, reviewed_in))


def by_ids(engine: Engine, ids: Sequence[int]) -> list[Lesson]:
    """Lessons in the order of ``ids``."""
    if not ids:
        return []
    with engine.connect() as connection:
        rows = {
            row["id"]: row for row in connection.execute(select(lessons).where(lessons.c.id.in_(list(ids)))).mappings()
        }
    return [_lesson(rows[lesson_id]) for lesson_id in ids if lesson_id in rows]


@dataclass(frozen=True)
class IncidentFacts:
    service: str
    labels: tuple[str, ...]


def incident_facts(engine: Engine, incident_ref: str) -> IncidentFacts:
    """The incident's service and labels, as recorded when it closed (empty when unknown)."""
    with engine.connect() as connection:
        service = connection.execute(select(incidents.c.service).where(incidents.c.ref == incident_ref)).scalar()
        labels = (
            connection.execute(
                select(incident_labels.c.label)
                .where(incident_labels.c.incident_ref == incident_ref)
                .order_by(incident_labels.c.label)
            )
            .scalars()
            .all()
        )
    return IncidentFacts(service or "", tuple(labels))


def facts_of(engine: Engine, incident_refs: Sequence[str]) -> dict[str, IncidentFacts]:
    """:func:`incident_facts` of many incidents in two queries (a page of the log); an
    unknown incident has empty facts."""
    refs = list(dict.fromkeys(incident_refs))
    if not refs:
        return {}
    with engine.connect() as connection:
        services = {
            ref: service
            for ref, service in connection.execute(
                select(incidents.c.ref, incidents.c.service).where(incidents.c.ref.in_(refs))
            ).tuples()
        }
        labels: dict[str, list[str]] = {}
        for ref, label in connection.execute(
            select(incident_labels.c.incident_ref, incident_labels.c.label)
            .where(incident_labels.c.incident_ref.in_(refs))
            .order_by(incident_labels.c.incident_ref, incident_labels.c.label)
        ).tuples():
            labels.setdefault(ref, []).append(label)
    return {ref: IncidentFacts(services.get(ref) or "", tuple(labels.get(ref, ()))) for ref in refs}


def count(engine: Engine, query: str = "", filters: Filters | None = None) -> int:
    """How many lessons :func:`search` lists in all its pages."""
    return fulltext.count(engine, query, filters)


@dataclass(frozen=True)
class FilterValues:
    """The labels and services of the log's incidents, most used first: what the filters
    suggest, so people pick a value the log has instead of guessing its spelling."""

    labels: list[str]
    services: list[str]


def filter_values(engine: Engine, limit: int = 200) -> FilterValues:
    """The ``limit`` most used labels and services of incidents with a lesson (two grouped
    queries over the whole log: callers cache them by :mod:`generation`)."""
    used = func.count().desc()
    labels = (
        select(incident_labels.c.label)
        .join(lessons, lessons.c.incident_ref == incident_labels.c.incident_ref)
        .group_by(incident_labels.c.label)
        .order_by(used, incident_labels.c.label)
        .limit(limit)
    )
    services = (
        select(incidents.c.service)
        .join(lessons, lessons.c.incident_ref == incidents.c.ref)
        .where(incidents.c.service != "")
        .group_by(incidents.c.service)
        .order_by(used, incidents.c.service)
        .limit(limit)
    )
    with engine.connect() as connection:
        return FilterValues(list(connection.execute(labels).scalars()), list(connection.execute(services).scalars()))


def _lesson(row: Mapping) -> Lesson:
    return Lesson(
        review_ref=row["review_ref"],
        incident_ref=row["incident_ref"],
        incident_title=row["incident_title"],
        incident_url=row["incident_url"],
        priority=row["priority"],
        review_url=row["review_url"],
        sections={name: row[name] for name in SECTION_COLUMNS},
        digest=row["digest"],
        incident_closed_at=utc(row["incident_closed_at"]),
        captured_at=utc(row["captured_at"]),
        updated_at=utc(row["updated_at"]),
        seconds_to_lesson=row["seconds_to_lesson"],
        other_sections=dict(row["other_sections"] or {}),
    )
