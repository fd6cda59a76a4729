"""The reviews' figures of one view of ``/insights``, counted and ranked by the database: per
month, per incident tracker, service and label, and over the whole view.

The view's reviews are joined with their incidents, lessons and lesson comments once, into a
materialised ``facts`` table of a few numbers each; every figure is a grouped query over it,
all in one statement. Reading the reviews whole and grouping them in Python was most of the
cost of a fresh ``/insights``. Medians and 90th percentiles are nearest-rank, the ranks
``service.learning.figures.spread`` takes (⌈n/2⌉ and ⌈9n/10⌉), so two values per group leave
the database, not every duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Engine, Select, and_, case, func, null, select

from service.store import calendar_sql
from service.store.effects import WRITTEN
from service.store.insight_scope import (
    GROUP_KINDS,
    TOTAL,
    Scope,
    at_ranks,
    blank,
    constant,
    flag,
    narrowed,
    source,
    with_incidents,
)
from service.store.schema import effects, incident_labels, incidents, lessons, reviews
from service.text import markers

WIDTH = 6
"""Columns of every row of the statement: ``(section, key, count, a, b, c)``."""


@dataclass(frozen=True)
class Ranked:
    """How many values, and the nearest-rank median and 90th percentile of them."""

    count: int = 0
    median: int | None = None
    p90: int | None = None


@dataclass(frozen=True)
class OpenedMonth:
    month: str  # YYYY-MM, UTC
    reviews_opened: int
    captured_by_now: int  # of those, with a lesson now
    still_open: int
    past_due: int  # still open after their due day


@dataclass(frozen=True)
class GroupCount:
    kind: str  # one of GROUP_KINDS
    name: str
    reviews_opened: int
    lessons_captured: int


@dataclass(frozen=True)
class ReviewRows:
    opened: list[OpenedMonth]
    reach: dict[str, Ranked]
    """Items each lesson comment was written on, per month captured (``count``: the lessons
    captured that month, before the view's end); ``TOTAL``: every lesson of the view."""
    close_to_lesson: dict[str, Ranked]
    """Seconds from the incident's close to the lesson, keyed as ``reach``."""
    groups: list[GroupCount]
    group_close_to_lesson: dict[tuple[str, str], Ranked]  # per (kind, name)
    comments_by_tracker: dict[str, int]  # lesson comments, by the tracker of the item carrying each


def load(engine: Engine, scope: Scope, today: date) -> ReviewRows:
    """The view's review figures: two statements."""
    opened: list[OpenedMonth] = []
    groups: list[GroupCount] = []
    ranked: dict[str, dict[str, Ranked]] = {}
    reached: dict[str, list[tuple[int, int]]] = {}
    with engine.connect() as connection:
        rows = connection.execute(_figures(engine.dialect.name, scope, today)).all()
        comments = {str(name): int(count) for name, count in connection.execute(_comments(scope))}
    for section, key, count, a, b, c in rows:
        name, count = str(key), int(count)
        if section == "opened":
            opened.append(OpenedMonth(name, count, int(a), int(b), int(c)))
        elif section.startswith("group:"):
            groups.append(GroupCount(section.removeprefix("group:"), name, count, int(a)))
        elif section == "reached":  # a: how many items; count: how many lessons reached that many
            reached.setdefault(name, []).append((int(a), count))
        else:  # a value at a rank: a is the rank, b the value
            found = ranked.setdefault(section, {}).get(name, Ranked(count))
            median = int(b) if int(a) == (count + 1) // 2 else found.median
            p90 = int(b) if int(a) == (count * 9 + 9) // 10 else found.p90
            ranked[section][name] = Ranked(count, median, p90)
    return ReviewRows(
        opened=sorted(opened, key=lambda row: row.month),
        reach={name: _ranked_counts(counts) for name, counts in reached.items()},
        close_to_lesson=ranked.get("speed", {}),
        groups=groups,
        group_close_to_lesson={
            (section.removeprefix("speed:"), name): one
            for section, by_name in ranked.items()
            if section.startswith("speed:")
            for name, one in by_name.items()
        },
        comments_by_tracker=comments,
    )


def _ranked_counts(counts: list[tuple[int, int]]) -> Ranked:
    """The nearest-rank median and 90th percentile of values given as ``(value, how many
    times)``: items reached are a few small numbers, so the database counts them rather than
    ranking every lesson."""
    total = sum(times for _, times in counts)
    ranks = ((total + 1) // 2, (total * 9 + 9) // 10)
    found: list[int] = []
    seen = 0
    for value, times in sorted(counts):
        seen += times
        found += [value for rank in ranks[len(found) :] if seen >= rank]
    return Ranked(total, found[0], found[1])


def _view(scope: Scope) -> list[ColumnElement[bool]]:
    """The reviews of the view, on ``reviews`` joined with ``incidents``."""
    return [reviews.c.opened_at >= scope.start, reviews.c.opened_at < scope.end, *narrowed(scope)]


def _seconds_to_lesson(dialect: str) -> ColumnElement[int]:
    """Whole seconds from the incident's close (as the lesson recorded it, else as the
    incident did) to the lesson's capture; NULL when either is unknown or the close comes
    after the capture (a tracker's clock), as ``service.learning.figures`` leaves them out."""
    closed = calendar_sql.microseconds(dialect, func.coalesce(lessons.c.incident_closed_at, incidents.c.closed_at))
    took = calendar_sql.microseconds(dialect, lessons.c.captured_at) - closed
    return case((took >= 0, took // 1_000_000), else_=null())


def _figures(dialect: str, scope: Scope, today: date) -> CompoundSelect:
    """Rows of ``(section, key, count, a, b, c)``: ``opened`` per month opened (a: with a
    lesson now, b: still open, c: past due); ``group:<kind>`` per group (a: lessons
    captured); ``reached`` per month captured and over the view (``TOTAL``): how many lessons
    (count) reached how many items (a); ``speed`` per month captured and over the view, and
    ``speed:<kind>`` per group, as :func:`~service.store.insight_scope.at_ranks` gives them."""
    posted = (
        select(effects.c.key.label("review_ref"), func.count().label("comments"))
        .where(effects.c.kind == markers.LESSON, WRITTEN)
        .group_by(effects.c.key)
        .subquery("posted")
    )
    still_open = reviews.c.status == "open"
    captured_month = calendar_sql.month(dialect, lessons.c.captured_at)
    facts = (
        select(
            reviews.c.incident_ref.label("incident_ref"),
            calendar_sql.month(dialect, reviews.c.opened_at).label("opened_month"),
            case((lessons.c.captured_at < scope.end, captured_month), else_=null()).label("captured_month"),
            flag(lessons.c.captured_at.is_not(None)).label("captured"),
            _seconds_to_lesson(dialect).label("to_lesson"),
            func.coalesce(posted.c.comments, 0).label("reached"),
            flag(still_open).label("still_open"),
            flag(and_(still_open, reviews.c.due_on < today)).label("past_due"),
            source(reviews.c.incident_ref).label("source"),
            func.coalesce(incidents.c.service, "").label("service"),
        )
        .select_from(
            with_incidents()
            .outerjoin(lessons, lessons.c.review_ref == reviews.c.ref)
            .outerjoin(posted, posted.c.review_ref == reviews.c.ref)
        )
        .where(*_view(scope))
        .cte("facts")
        .prefix_with("MATERIALIZED")  # read by every part below: joined once
    )
    labelled = (
        select(incident_labels.c.label.label("label"), facts.c.captured, facts.c.to_lesson)
        .select_from(facts.join(incident_labels, incident_labels.c.incident_ref == facts.c.incident_ref))
        .cte("labelled")
        .prefix_with("MATERIALIZED")  # a review once per label, joined once for both label figures
    )
    keys: dict[str, tuple[Any, Any]] = {
        "source": (facts.c.source, facts),
        "service": (facts.c.service, facts),
        "label": (labelled.c.label, labelled),
    }
    in_a_month = [facts.c.captured_month.is_not(None)]
    every_lesson = [facts.c.captured == 1]

    def ranked(
        section: str, key: Any, value: Any, joined: Any, conditions: Sequence[ColumnElement[bool]]
    ) -> Select[Any]:
        return at_ranks(section, key, value, joined, conditions, lambda n: [(n + 1) // 2, (n * 9 + 9) // 10], WIDTH)

    parts: list[Select[Any]] = [
        select(
            constant("opened"),
            facts.c.opened_month,
            func.count(),
            func.sum(facts.c.captured),
            func.sum(facts.c.still_open),
            func.sum(facts.c.past_due),
        ).group_by(facts.c.opened_month),
        select(constant("reached"), facts.c.captured_month, func.count(), facts.c.reached, blank(), blank())
        .where(*in_a_month)
        .group_by(facts.c.captured_month, facts.c.reached),
        select(constant("reached"), constant(TOTAL), func.count(), facts.c.reached, blank(), blank())
        .where(*every_lesson)
        .group_by(facts.c.reached),
        ranked("speed", facts.c.captured_month, facts.c.to_lesson, facts, in_a_month),
        ranked("speed", None, facts.c.to_lesson, facts, every_lesson),
    ]
    for kind in GROUP_KINDS:
        key, rows = keys[kind]
        named = [key != constant("")]
        parts.append(
            select(constant(f"group:{kind}"), key, func.count(), func.sum(rows.c.captured), blank(), blank())
            .where(*named)
            .group_by(key)
        )
        parts.append(ranked(f"speed:{kind}", key, rows.c.to_lesson, rows, [*named, rows.c.captured == 1]))
    first, *rest = parts
    return first.union_all(*rest)


def _comments(scope: Scope) -> Select[Any]:
    """Rows of ``(tracker, lesson comments)`` for the view's lessons."""
    tracker = source(effects.c.item_ref)
    return (
        select(tracker, func.count())
        .select_from(with_incidents().join(effects, effects.c.key == reviews.c.ref))
        .where(*_view(scope), effects.c.kind == markers.LESSON, WRITTEN)
        .group_by(tracker)
        .order_by(tracker)
    )
