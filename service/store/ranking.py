"""The statements the full-text search runs on each engine: which lessons hold the words, and
the best first among a bounded set of them.

A query with words ranks at most :data:`MAX_RANKED` lessons: those most recently added to the
log (highest ``lessons.id``) among the ones holding the words and passing the filters. Ranking
costs a relevance score per lesson (BM25 in SQLite, ``ts_rank`` in PostgreSQL), so ranking
every match of a word in 80 % of 90,000 lessons cost about 250 ms on SQLite; reading the
matches newest first and stopping at the bound costs what the bound costs, whatever the log's
size (docs/web.md, "Search", has the figures). Both engines read the matches in that order
without sorting them all: FTS5 walks its doclists by rowid (= ``lessons.id``) backwards, and
PostgreSQL's planner picks between its GIN index (a rare word) and the primary key read
backwards with the match checked per row (a common word), from the lexeme statistics ANALYZE
keeps.

Every word a query holds is quoted here, so nothing typed is ever read as an operator of
FTS5's or ``tsquery``'s syntax.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG

from service.store.schema import lessons

MAX_RANKED = 500
"""Lessons a query with words ranks at most (and so counts and lists): the most recently added
of those it matches, 20 pages of 25. Past it, the count is a lower bound, and older lessons are
reached by narrowing (more words, a filter, dates). The cost grows with it, and more so under a
filter, which reads matches until this many pass: at 90,000 lessons, ``deploy`` narrowed to one
service in eight and half a year cost 20 ms on SQLite and 29 on PostgreSQL at 500, 31 and 46 at
1,000 (docs/web.md, "Search")."""
MIN_PREFIX = 3
"""The last word is taken as the start of a word (``canar`` finds ``canary``) from this length
on, when no lesson holds it whole: shorter ones match too much of any log to narrow it."""

_FTS = table("lessons_fts", column("rowid", Integer))


def match_params(dialect: str, terms: Sequence[str], *, all_words: bool, prefix: bool = False) -> dict[str, str]:
    """The values of the statements' parameters for ``terms``: with ``all_words`` every word,
    the last one also as a prefix when ``prefix`` (see :func:`completes`); else any word.

    Each engine's query syntax is written here from words of ``\\w`` characters only, quoted,
    so nothing typed is ever read as an operator."""
    postgresql = dialect == "postgresql"
    quoted = [f"'{term}'" if postgresql else f'"{term}"' for term in terms]
    if not all_words:
        joined = (" | " if postgresql else " OR ").join(quoted)
    else:
        if prefix:
            last = quoted[-1]
            quoted[-1] = f"({last} | {last}:*)" if postgresql else f"({last} OR {last}*)"
        joined = (" & " if postgresql else " AND ").join(quoted)
    if postgresql:
        return {"tsquery": joined}
    return {"match": joined, "title_match": f"{{title}} : ({joined})"}


def _tsquery() -> ColumnElement[Any]:
    return func.to_tsquery(literal("english", type_=REGCONFIG), bindparam("tsquery", type_=String))


def completes(connection: Connection, word: str) -> bool:
    """Whether a search should take ``word``, its last, as the start of longer words: when it is
    :data:`MIN_PREFIX` characters or more and no lesson holds it whole (``canar``), as when
    people stop typing midway. A word some lesson holds (``deploy``, ``time``) is searched as
    typed: the prefix would add words that only begin like it (``timestamp``), and on SQLite
    it costs a merge of every such word's entries, 6 ms for a word in 80 % of 90,000 lessons,
    where this check reads one entry."""
    if len(word) < MIN_PREFIX:
        return False
    dialect = connection.dialect.name
    statement = (
        select(lessons.c.id).where(matching(dialect))
        if dialect == "postgresql"
        else select(_FTS.c.rowid).where(literal_column("lessons_fts").op("MATCH")(bindparam("match", type_=String)))
    )
    found = connection.execute(statement.limit(1), match_params(dialect, [word], all_words=True)).first()
    return found is None


@functools.cache
def matching(dialect: str) -> ColumnElement[bool]:
    """The lessons holding the words :func:`match_params` binds, as a condition on ``lessons``."""
    if dialect == "postgresql":
        return literal_column("lessons.search_vector").bool_op("@@")(_tsquery())
    hits = select(_FTS.c.rowid).where(literal_column("lessons_fts").op("MATCH")(bindparam("match", type_=String)))
    return lessons.c.id.in_(hits)


def candidates(dialect: str, conditions: Sequence[ColumnElement[bool]], bound: int) -> CTE:
    """The ``bound`` lessons most recently added that hold the words and pass ``conditions``,
    with what ordering them needs: on SQLite each one's BM25 (title weighted 10 to 1),
    computed for these rows only."""
    dates = (lessons.c.captured_at, lessons.c.incident_closed_at)
    if dialect == "postgresql":
        statement = select(lessons.c.id, *dates).where(matching(dialect)).order_by(lessons.c.id.desc())
    else:
        statement = (
            select(
                _FTS.c.rowid.label("id"), literal_column("bm25(lessons_fts, 10.0, 1.0)", Float).label("rank"), *dates
            )
            .select_from(_FTS.join(lessons, lessons.c.id == _FTS.c.rowid))
            .where(literal_column("lessons_fts").op("MATCH")(bindparam("match", type_=String)))
            .order_by(_FTS.c.rowid.desc())
        )
    return statement.where(*conditions).limit(bound).cte("candidates")


def best_first(dialect: str, found: CTE) -> Select[Any]:
    """``found``'s lessons, those whose title holds the words first, then by relevance, then
    newest captured first."""
    if dialect == "postgresql":
        query = _tsquery()
        vector: ColumnElement[Any] = literal_column("lessons.search_vector")
        in_title = literal_column("lessons.title_vector").bool_op("@@")(query)
        return (
            select(found.c.id)
            .join(lessons, lessons.c.id == found.c.id)
            .order_by(
                in_title.desc(), func.ts_rank(vector, query).desc(), found.c.captured_at.desc(), found.c.id.desc()
            )
        )
    # the title matches among the candidates only: FTS5 starts its walk at the oldest candidate
    oldest = select(func.min(found.c.id)).scalar_subquery()
    titled = select(_FTS.c.rowid).where(
        literal_column("lessons_fts").op("MATCH")(bindparam("title_match", type_=String)), _FTS.c.rowid >= oldest
    )
    return select(found.c.id).order_by(
        found.c.id.in_(titled).desc(), found.c.rank, found.c.captured_at.desc(), found.c.id.desc()
    )


def serial_plan(connection: Connection) -> None:
    """On PostgreSQL, plan this transaction's statements without parallel workers (``SET
    LOCAL``: the connection goes back to the pool as it was). A search is one request among
    many at once on the same cores: the workers a filtered search was given took 19 ms of its
    27 to start, and eight users' searches, each with two workers, waited for cores (p95 340
    ms through the web, 136 – 238 without them; docs/web.md, "Search")."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def by_date(found: CTE, order: str) -> Select[Any]:
    """``found``'s lessons newest first by ``order``: ``captured`` or ``incident`` (its close;
    unknown last)."""
    if order == "incident":
        return select(found.c.id).order_by(found.c.incident_closed_at.desc().nulls_last(), found.c.id.desc())
    return select(found.c.id).order_by(found.c.captured_at.desc(), found.c.id.desc())
