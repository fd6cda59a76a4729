"""Full-text search over the learning log: SQLite FTS5 or PostgreSQL ``tsvector``.

One function answers the log's pages, the API and ``lessonloop lessons search``
(:func:`search`); another finds lessons like a free text (:func:`similar`), for showing past
lessons beside a new review. A query is cut into words here and never reaches either engine's
query syntax, so no input can make a query fail: ``"`` ``*`` ``:`` ``NEAR`` and the like are
only characters.

Ranking: lessons whose title matches every word come first, then by each engine's relevance
(BM25 in SQLite with the title weighted 10 to 1, ``ts_rank`` over the weighted vector in
PostgreSQL), then newest first, among at most :data:`ranking.MAX_RANKED` lessons (the most
recently added that match: :mod:`service.store.ranking` has the statements and why). Both stem
English words (Porter), so ``timeouts`` finds ``timeout``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, exists, func, or_, select, text

from service.store import ranking, typed_refs
from service.store.schema import incident_labels, lessons
from service.trackers.registry import tracker

SECTION_COLUMNS = ("what_happened", "what_we_expected", "why_different", "what_we_learned", "what_we_will_change")
MAX_WORDS = 12
"""Words beyond this in one query are dropped: a pasted page must not become a huge query."""
SIMILAR_WORDS = 6
"""The most frequent words of a text that :func:`similar` looks for. Ranking by relevance
reads, for each word, every lesson holding it (SQLite's BM25 counts them for the word's
weight): at 90,000 lessons, 19 ms for twelve common words and 11 ms for six, on every lesson
page opened the first time (docs/web.md, "Search"). A lesson's six most frequent
words name what it is about; the lessons shown must still share two telling words with it
(:mod:`service.learning.similar`)."""
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


Remember = Callable[[Filters, Callable[[], int]], int]
"""What a caller may give :func:`find` to keep the log's count under some filters: called with
the filters and the function that counts, it returns the count (kept, or counted now)."""


def words(query: str, limit: int = MAX_WORDS) -> list[str]:
    """The words of a query, lower-cased, in order, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:limit]


@dataclass(frozen=True)
class Found:
    """One page of the log or of a search, and how many lessons its pages hold."""

    ids: list[int]
    next_page: int | None
    total: int
    """Lessons listed over all the pages."""
    more: bool = False
    """More lessons hold the words than the search ranks and lists (:data:`ranking.MAX_RANKED`,
    the most recently added): ``total`` is then a lower bound of the lessons that match."""


def find(
    engine: Engine,
    query: str,
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = 25,
    order: str | None = None,
    remember: Remember | None = None,
) -> Found:
    """One page of lessons and their count over all pages.

    With a blank ``query``, every lesson that passes the filters, newest first, all counted
    (through ``remember``, when given, which may keep a count per filters until the log changes);
    otherwise the lessons holding every word of it, in the title or any section, best first,
    among the :data:`ranking.MAX_RANKED` most recently added of them (``Found.more`` says when
    the bound cut some off). ``order`` (a key of :data:`ORDERS`) sorts either by a date
    instead."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    if order is not None and order not in ORDERS:
        raise ValueError(f"order: one of {', '.join(ORDERS)}")
    conditions = _conditions(filters or Filters())
    start = (page - 1) * per_page
    listed = _named(engine, query, conditions)
    more = False
    terms = words(query)
    if not listed and terms:
        listed = _ranked(engine, terms, conditions, order, all_words=True, bound=ranking.MAX_RANKED + 1)
        more = len(listed) > ranking.MAX_RANKED
        if more:  # the one past the bound, read to know there are more, is the oldest of them
            listed.remove(min(listed))
    if listed or query.strip():
        following = page + 1 if len(listed) > start + per_page else None
        return Found(listed[start : start + per_page], following, len(listed), more)
    statement = select(lessons.c.id).order_by(*ORDERS[order or "captured"]).where(*conditions)
    with engine.connect() as connection:
        ids = list(connection.execute(statement.limit(per_page + 1).offset(start)).scalars())
    filters = filters or Filters()
    total = remember(filters, lambda: listed_count(engine, filters)) if remember else listed_count(engine, filters)
    return Found(ids[:per_page], page + 1 if len(ids) > per_page else None, total)


def listed_count(engine: Engine, filters: Filters) -> int:
    """How many lessons pass ``filters``: the log's count under them, without words.

    The incidents a label filter selects are read from their index range (migration 0011) and
    their lessons counted, rather than each lesson's incident checked in turn as a page does: a
    page stops after its lessons, a count would check every one (51 ms for a label at 90,000
    lessons on SQLite against 12)."""
    statement = select(func.count()).select_from(lessons).where(*_conditions(filters, correlated=False))
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar_one())


def search(
    engine: Engine,
    query: str,
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = 25,
    order: str | None = None,
) -> tuple[list[int], int | None]:
    """The ids of one page of :func:`find`, and the next page's number (``None`` on the last)."""
    found = find(engine, query, filters, page, per_page, order)
    return found.ids, found.next_page


def count(engine: Engine, query: str, filters: Filters | None = None) -> int:
    """How many lessons :func:`find` lists over all its pages."""
    return find(engine, query, filters, per_page=1).total


def _ranked(
    engine: Engine,
    terms: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    order: str | None,
    *,
    all_words: bool,
    bound: int,
    first: int | None = None,
) -> list[int]:
    """Ids of the ``bound`` lessons most recently added that hold ``terms`` (every one, or
    any) and pass ``conditions``, best first (or by ``order``); the ``first`` of them."""
    dialect = engine.dialect.name
    found = ranking.candidates(dialect, conditions, bound)
    statement = ranking.best_first(dialect, found) if order is None else ranking.by_date(found, order)
    if first is not None:
        statement = statement.limit(first)
    with engine.connect() as connection:
        ranking.serial_plan(connection)
        prefix = all_words and ranking.completes(connection, terms[-1])
        parameters = ranking.match_params(dialect, terms, all_words=all_words, prefix=prefix)
        return list(connection.execute(statement, parameters).scalars())


def _named(engine: Engine, query: str, conditions: Sequence[ColumnElement[bool]]) -> list[int]:
    """The lessons whose incident or review ``query`` names (``OPS-3``, ``github:acme/web#1``),
    newest first; empty when it names none, and the query is then searched as words. Both ref
    columns are indexed, so this costs two index lookups."""
    refs = typed_refs.candidates(query)
    if not refs:
        return []
    statement = (
        select(lessons.c.id)
        .order_by(*ORDERS["captured"])
        .where(or_(lessons.c.review_ref.in_(refs), lessons.c.incident_ref.in_(refs)), *conditions)
        .limit(typed_refs.MAX_NAMED)
    )
    with engine.connect() as connection:
        return list(connection.execute(statement).scalars())


def similar(
    engine: Engine,
    free_text: str,
    limit: int = 3,
    exclude: Sequence[str] = (),
    reviewed_in: Sequence[str] | None = None,
) -> list[int]:
    """Ids of the lessons most like ``free_text`` (an incident's title and body): any of its
    most frequent words, best first among the :data:`ranking.MAX_RANKED` most recently added
    lessons holding one (a lesson's words are most of the log's, so ranking every lesson that
    shares one cost 1.5 s at 90,000 lessons). ``exclude`` names review refs to leave out;
    ``reviewed_in`` (review targets, ``github:owner/repo`` or ``jira:KEY``), when given, keeps
    only lessons whose review lives in one of them."""
    counts = Counter(
        word for word in _WORD.findall(free_text.lower()) if len(word) > 2 and word not in _STOP and not word.isdigit()
    )
    terms = [word for word, _ in counts.most_common(SIMILAR_WORDS)]
    if not terms or limit < 1 or (reviewed_in is not None and not reviewed_in):
        return []
    conditions: list[ColumnElement[bool]] = []
    if exclude:
        conditions.append(lessons.c.review_ref.not_in(list(exclude)))
    if reviewed_in is not None:
        reviewed = func.lower(lessons.c.review_ref)
        places = dict.fromkeys(reviewed_in)
        conditions.append(or_(*(reviewed.like(_review_prefix(place), escape="\\") for place in places)))
    return _ranked(engine, terms, conditions, None, all_words=False, bound=ranking.MAX_RANKED, first=limit)


def _review_prefix(target: str) -> str:
    """A LIKE pattern for the review refs of a review target: ``github:acme/web`` ->
    ``github:acme/web#%``, ``jira:OPS`` -> ``jira:OPS-%`` (lower case, as compared; ``%`` and
    ``_`` in the name are only characters)."""
    name, _, container = target.partition(":")
    head = f"{name}:{tracker(name).join_key(container, '')}".lower()
    return head.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


ORDERS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "captured": (lessons.c.captured_at.desc(), lessons.c.id.desc()),
    "incident": (lessons.c.incident_closed_at.desc().nulls_last(), lessons.c.id.desc()),
}
"""The dates the log can be sorted by, newest first: the lesson's capture, or the incident's
close (lessons whose incident has no close time last)."""


def _conditions(filters: Filters, *, correlated: bool = True) -> list[ColumnElement[bool]]:
    """The filters as conditions on ``lessons``, those read from the lesson's own row first: a
    search checks them lesson by lesson, and a lesson another one already rules out then costs
    no lookup in ``incident_labels``. Not ``correlated``, the label filter is instead the set of
    incident refs it selects, read from one index range: what a count of every lesson under it
    wants."""
    found: list[ColumnElement[bool]] = []
    if filters.date_from:
        found.append(lessons.c.captured_at >= datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to:
        found.append(
            lessons.c.captured_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        )
    if filters.source:
        found.append(or_(*(lessons.c.incident_ref.startswith(f"{one}:", autoescape=True) for one in filters.source)))
    if filters.tracker:
        found.append(or_(*(lessons.c.review_ref.startswith(f"{one}:", autoescape=True) for one in filters.tracker)))
    if filters.service:
        # the incident's service as the lesson's row keeps it: no lookup per lesson (migration 0011)
        found.append(func.lower(lessons.c.service).in_(sorted({one.lower() for one in filters.service})))
    if filters.label:
        labelled = func.lower(incident_labels.c.label).in_(sorted({one.lower() for one in filters.label}))
        found.append(
            exists().where(and_(incident_labels.c.incident_ref == lessons.c.incident_ref, labelled))
            if correlated
            else lessons.c.incident_ref.in_(select(incident_labels.c.incident_ref).where(labelled))
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
