"""Full-text search over the learning log: SQLite FTS5 or PostgreSQL ``tsvector``.

One function answers the log's pages, the API and ``lessonloop lessons search``
(:func:`search`); another finds lessons like a free text (:func:`similar`), for showing past
lessons beside a new review. A query is cut into words here and never reaches either engine's
query syntax, so no input can make a query fail: ``"`` ``*`` ``:`` ``NEAR`` and the like are
only characters.

Ranking: lessons whose title matches every word come first, then by each engine's relevance
(BM25 in SQLite with the title weighted 10 to 1, ``ts_rank`` over the weighted vector in
PostgreSQL), then newest first. Both stem English words (Porter), so ``timeouts`` finds
``timeout``.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.sql.elements import ColumnElement

from service.store import typed_refs
from service.store.schema import incident_labels, incidents, lessons
from service.trackers.registry import tracker

SECTION_COLUMNS = ("what_happened", "what_we_expected", "why_different", "what_we_learned", "what_we_will_change")
MIN_PREFIX = 3
"""The last word is also matched as a prefix (``canar`` finds ``canary``) from this length on:
shorter ones match too much of any log to narrow it."""
MAX_WORDS = 12
"""Words beyond this in one query are dropped: a pasted page must not become a huge query."""
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "had",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "will",
        "with",
        "would",
        "not",
        "no",
        "yes",
    }
)


@dataclass(frozen=True)
class Filters:
    """What the log can be narrowed to. Each tuple holds the values any of which a lesson may
    have (``label=sev1&label=sev2`` is either); empty means any. Labels and services are
    compared without case, as people type them (``SEV1``, ``Checkout``). Dates are the lesson's
    capture day (UTC), both ends included."""

    source: tuple[str, ...] = ()  # the incident's tracker: github, jira, pagerduty
    tracker: tuple[str, ...] = ()  # the review's tracker: github, jira
    label: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None


def words(query: str, limit: int = MAX_WORDS) -> list[str]:
    """The words of a query, lower-cased, in order, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:limit]


def search(
    engine: Engine,
    query: str,
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = 25,
    order: str | None = None,
) -> tuple[list[int], int | None]:
    """The ids of one page of lessons, and the next page's number (``None`` on the last page).

    With a blank ``query``, every lesson that passes the filters, newest first; otherwise the
    lessons holding every word of it, in the title or any section, best first. ``order``
    (a key of :data:`ORDERS`) sorts either by a date instead."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    if order is not None and order not in ORDERS:
        raise ValueError(f"order: one of {', '.join(ORDERS)}")
    conditions = _conditions(filters or Filters())
    named = _named(engine, query, conditions)
    if named:
        start = (page - 1) * per_page
        return named[start : start + per_page], (page + 1 if len(named) > start + per_page else None)
    terms = words(query)
    if query.strip() and not terms:
        return [], None
    statement = _ranked(engine.dialect.name) if terms else _newest()
    if order is not None:
        statement = statement.order_by(None).order_by(*ORDERS[order])
    statement = statement.where(*conditions).limit(per_page + 1).offset((page - 1) * per_page)
    params = _match(engine.dialect.name, terms, all_words=True) if terms else {}
    with engine.connect() as connection:
        ids = list(connection.execute(statement, params).scalars())
    return ids[:per_page], (page + 1 if len(ids) > per_page else None)


def count(engine: Engine, query: str, filters: Filters | None = None) -> int:
    """How many lessons :func:`search` finds over all its pages: the same words and filters,
    nothing ranked."""
    conditions = _conditions(filters or Filters())
    named = _named(engine, query, conditions)
    if named:
        return len(named)
    terms = words(query)
    if query.strip() and not terms:
        return 0
    statement = select(func.count()).select_from(lessons).where(*conditions)
    params: dict[str, str] = {}
    if terms:
        statement = statement.where(_matching(engine.dialect.name))
        params = _match(engine.dialect.name, terms, all_words=True)
        params.pop("title_match", None)
    with engine.connect() as connection:
        return int(connection.execute(statement, params).scalar_one())


def _named(engine: Engine, query: str, conditions: Sequence[ColumnElement[bool]]) -> list[int]:
    """The lessons whose incident or review ``query`` names (``OPS-3``, ``github:acme/web#1``),
    newest first; empty when it names none, and the query is then searched as words. Both ref
    columns are indexed, so this costs two index lookups."""
    refs = typed_refs.candidates(query)
    if not refs:
        return []
    statement = (
        _newest()
        .where(or_(lessons.c.review_ref.in_(refs), lessons.c.incident_ref.in_(refs)), *conditions)
        .limit(typed_refs.MAX_NAMED)
    )
    with engine.connect() as connection:
        return list(connection.execute(statement).scalars())


@functools.cache
def _matching(dialect: str) -> ColumnElement[bool]:
    """The lessons holding every word :func:`_match` binds, unranked (for :func:`count`)."""
    if dialect == "postgresql":
        english = literal("english", type_=REGCONFIG)
        query = func.to_tsquery(english, bindparam("tsquery", type_=String))
        return literal_column("lessons.search_vector").bool_op("@@")(query)
    hits = text("SELECT rowid FROM lessons_fts WHERE lessons_fts MATCH :match").bindparams(
        bindparam("match", type_=String)
    )
    return lessons.c.id.in_(hits.columns(rowid=Integer))


def similar(
    engine: Engine,
    free_text: str,
    limit: int = 3,
    exclude: Sequence[str] = (),
    reviewed_in: Sequence[str] | None = None,
) -> list[int]:
    """Ids of the lessons most like ``free_text`` (an incident's title and body): any of its
    most frequent words, best first. ``exclude`` names review refs to leave out;
    ``reviewed_in`` (review targets, ``github:owner/repo`` or ``jira:KEY``), when given, keeps
    only lessons whose review lives in one of them."""
    counts = Counter(
        word for word in _WORD.findall(free_text.lower()) if len(word) > 2 and word not in _STOP and not word.isdigit()
    )
    terms = [word for word, _ in counts.most_common(MAX_WORDS)]
    if not terms or limit < 1 or (reviewed_in is not None and not reviewed_in):
        return []
    params = _match(engine.dialect.name, terms, all_words=False) | ({"exclude": list(exclude)} if exclude else {})
    places = list(dict.fromkeys(reviewed_in or ()))
    params |= {f"place_{n}": _review_prefix(place) for n, place in enumerate(places)}
    statement = _similar(engine.dialect.name, limit, bool(exclude), len(places))
    with engine.connect() as connection:
        return list(connection.execute(statement, params).scalars())


def _review_prefix(target: str) -> str:
    """A LIKE pattern for the review refs of a review target: ``github:acme/web`` ->
    ``github:acme/web#%``, ``jira:OPS`` -> ``jira:OPS-%`` (lower case, as compared; ``%`` and
    ``_`` in the name are only characters)."""
    name, _, container = target.partition(":")
    head = f"{name}:{tracker(name).join_key(container, '')}".lower()
    return head.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@functools.cache
def _similar(dialect: str, limit: int, excluding: bool, places: int = 0) -> Select[Any]:
    """Built once per shape: every review opened asks, and building the statement (and its
    cache key) cost more CPU than running it on an index of thousands of lessons."""
    statement = _ranked(dialect).limit(limit)
    if excluding:
        statement = statement.where(lessons.c.review_ref.not_in(bindparam("exclude", expanding=True)))
    if places:
        reviewed = func.lower(lessons.c.review_ref)
        statement = statement.where(
            or_(*(reviewed.like(bindparam(f"place_{n}", type_=String), escape="\\") for n in range(places)))
        )
    return statement


ORDERS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "captured": (lessons.c.captured_at.desc(), lessons.c.id.desc()),
    "incident": (lessons.c.incident_closed_at.desc().nulls_last(), lessons.c.id.desc()),
}
"""The dates the log can be sorted by, newest first: the lesson's capture, or the incident's
close (lessons whose incident has no close time last)."""


def _newest() -> Select[Any]:
    return select(lessons.c.id).order_by(lessons.c.captured_at.desc(), lessons.c.id.desc())


def _match(dialect: str, terms: Sequence[str], *, all_words: bool) -> dict[str, str]:
    """The values of :func:`_ranked`'s parameters for ``terms``: with ``all_words`` every word,
    the last one whole or as a prefix (people search as they type); else any word.

    Each engine's query syntax is written here from words of ``\\w`` characters only, quoted,
    so nothing typed is ever read as an operator."""
    postgresql = dialect == "postgresql"
    quoted = [f"'{term}'" if postgresql else f'"{term}"' for term in terms]
    if not all_words:
        joined = (" | " if postgresql else " OR ").join(quoted)
    else:
        if len(terms[-1]) >= MIN_PREFIX:
            last = quoted[-1]
            quoted[-1] = f"({last} | {last}:*)" if postgresql else f"({last} OR {last}*)"
        joined = (" & " if postgresql else " AND ").join(quoted)
    if postgresql:
        return {"tsquery": joined}
    return {"match": joined, "title_match": f"{{title}} : ({joined})"}


@functools.cache
def _ranked(dialect: str) -> Select[Any]:
    """Lesson ids matching the words :func:`_match` binds (every word, or any), best first."""
    if dialect == "postgresql":
        english = literal("english", type_=REGCONFIG)
        query = func.to_tsquery(english, bindparam("tsquery", type_=String))
        vector: ColumnElement[Any] = literal_column("lessons.search_vector")
        in_title = literal_column("lessons.title_vector").bool_op("@@")(query)
        return (
            select(lessons.c.id)
            .where(vector.bool_op("@@")(query))
            .order_by(
                in_title.desc(), func.ts_rank(vector, query).desc(), lessons.c.captured_at.desc(), lessons.c.id.desc()
            )
        )
    hits = (
        text(
            "SELECT rowid AS id, bm25(lessons_fts, 10.0, 1.0) AS rank, "
            "rowid IN (SELECT rowid FROM lessons_fts WHERE lessons_fts MATCH :title_match) AS in_title "
            "FROM lessons_fts WHERE lessons_fts MATCH :match"
        )
        .bindparams(bindparam("match", type_=String), bindparam("title_match", type_=String))
        .columns(id=Integer, rank=Float, in_title=Integer)
        .subquery("hits")
    )
    return (
        select(lessons.c.id)
        .join(hits, hits.c.id == lessons.c.id)
        .order_by(hits.c.in_title.desc(), hits.c.rank, lessons.c.captured_at.desc(), lessons.c.id.desc())
    )


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.source:
        found.append(or_(*(lessons.c.incident_ref.startswith(f"{one}:", autoescape=True) for one in filters.source)))
    if filters.tracker:
        found.append(or_(*(lessons.c.review_ref.startswith(f"{one}:", autoescape=True) for one in filters.tracker)))
    if filters.service:
        services = sorted({one.lower() for one in filters.service})
        found.append(
            exists().where(
                and_(incidents.c.ref == lessons.c.incident_ref, func.lower(incidents.c.service).in_(services))
            )
        )
    if filters.label:
        labels = sorted({one.lower() for one in filters.label})
        found.append(
            exists().where(
                and_(
                    incident_labels.c.incident_ref == lessons.c.incident_ref,
                    func.lower(incident_labels.c.label).in_(labels),
                )
            )
        )
    if filters.date_from:
        found.append(lessons.c.captured_at >= datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to:
        found.append(
            lessons.c.captured_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        )
    return found


# --- keeping the SQLite index in step ------------------------------------------------------------


def sqlite_document(row: Mapping[str, Any]) -> tuple[str, str]:
    """What the FTS5 table holds for one lesson row: its title, and every section's text."""
    others = row.get("other_sections") or {}
    body = "\n\n".join(
        [
            *(str(row.get(name) or "") for name in SECTION_COLUMNS),
            *(f"{key}\n{value}" for key, value in dict(others).items()),
        ]
    )
    return str(row.get("incident_title") or ""), body


def index_lesson(connection: Connection, lesson_id: int, row: Mapping[str, Any]) -> None:
    """Replace one lesson's entry in the SQLite index, inside the caller's transaction, so the
    lesson and its entry are written together or not at all. PostgreSQL's column is generated
    by the database and needs nothing."""
    if connection.dialect.name != "sqlite":
        return
    title, body = sqlite_document(row)
    connection.execute(text("DELETE FROM lessons_fts WHERE rowid = :id"), {"id": lesson_id})
    connection.execute(
        text("INSERT INTO lessons_fts (rowid, title, body) VALUES (:id, :title, :body)"),
        {"id": lesson_id, "title": title, "body": body},
    )
