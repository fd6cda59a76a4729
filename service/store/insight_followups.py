"""The follow-ups' figures of one view of ``/insights``, counted by the database in one
statement: per month recorded, how they stand (done by their due day, done late, open past
due…), the middle of the days from record to done, and the follow-ups open past due per
incident tracker, service and label.

The same counts as ``service.store.followup_figures`` (which ``lessons stats`` and the API
read), over the view's span, services and labels; the listed follow-ups are read once into a
materialised table and grouped from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Engine, Select, and_, case, func, null, select

from service.store import calendar_sql
from service.store.followups import ADOPTED, DONE, NOT_DOING, NOT_OPENED, OPEN, OPENED, UNLISTED
from service.store.insight_scope import (
    GROUP_KINDS,
    Scope,
    at_ranks,
    blank,
    constant,
    flag,
    narrowed,
    source,
    with_incidents,
)
from service.store.schema import followups, incident_labels, incidents, reviews

COUNTS = ("opened", "adopted", "not_opened", "done", "done_by_due", "done_late", "open", "open_past_due", "not_doing")
WIDTH = 3 + len(COUNTS)
"""Columns of every row of the statement: ``(section, key, listed, *COUNTS)``."""


@dataclass(frozen=True)
class FollowupMonth:
    """The listed follow-ups recorded in one month, by where they came from and how they
    stand now. The states count only follow-ups with a task lessonloop follows."""

    month: str  # YYYY-MM, UTC
    listed: int
    opened: int
    adopted: int
    not_opened: int
    done: int
    done_by_due: int  # done on or before their due day (UTC)
    done_late: int  # done after it
    open: int
    open_past_due: int
    not_doing: int


@dataclass(frozen=True)
class FollowupRows:
    months: list[FollowupMonth]
    middle_days_to_done: tuple[float, ...]
    """The one or two middle values (two when their number is even) of the days from a
    follow-up's record to its done, over those done; empty when none is."""
    past_due: dict[tuple[str, str], int]  # open past their due day, per (kind, name)


def load(engine: Engine, scope: Scope, today: date) -> FollowupRows:
    with engine.connect() as connection:
        rows = connection.execute(_figures(engine.dialect.name, scope, today)).all()
    months: list[FollowupMonth] = []
    middle: list[float] = []
    past_due: dict[tuple[str, str], int] = {}
    for section, key, listed, *counts in rows:
        if section == "month":
            months.append(FollowupMonth(str(key), int(listed), *(int(count) for count in counts)))
        elif section == "to_done":  # listed is how many, counts[0] the rank, counts[1] the microseconds
            middle.append(int(counts[1]) / 10**6 / 86400)
        else:
            past_due[section.removeprefix("late:"), str(key)] = int(listed)
    return FollowupRows(sorted(months, key=lambda row: row.month), tuple(sorted(middle)), past_due)


def _tracked() -> ColumnElement[bool]:
    """A follow-up with a task lessonloop follows: the ones whose state counts."""
    return and_(followups.c.ref.is_not(None), followups.c.origin.in_((ADOPTED, OPENED)))


def followups_in(scope: Scope) -> list[ColumnElement[bool]]:
    """The listed follow-ups of the view: recorded within its span, of a review in its
    services and labels (those reviews found once, by a subquery, not joined row by row)."""
    conditions = [
        followups.c.created_at >= scope.start,
        followups.c.created_at < scope.end,
        followups.c.position != UNLISTED,
    ]
    wanted = narrowed(scope)
    if wanted:
        of_view = select(reviews.c.ref).select_from(with_incidents()).where(*wanted).correlate(None)
        conditions.append(followups.c.review_ref.in_(of_view))
    return conditions


def _figures(dialect: str, scope: Scope, today: date) -> CompoundSelect:
    """Rows of ``(section, key, listed, *COUNTS)``: ``month`` per month recorded;
    ``to_done`` the middle values (rank in the first count, microseconds in the second);
    ``late:<kind>`` per group, its number in ``listed``."""
    done = and_(_tracked(), followups.c.state == DONE)
    dated = and_(done, followups.c.done_at.is_not(None), followups.c.due_on.is_not(None))
    done_on = calendar_sql.day(dialect, followups.c.done_at)
    still_open = and_(_tracked(), followups.c.state == OPEN)
    took = calendar_sql.microseconds(dialect, followups.c.done_at) - calendar_sql.microseconds(
        dialect, followups.c.created_at
    )
    listed = (
        select(
            followups.c.review_ref.label("review_ref"),
            calendar_sql.month(dialect, followups.c.created_at).label("month"),
            flag(followups.c.origin == OPENED).label("opened"),
            flag(followups.c.origin == ADOPTED).label("adopted"),
            flag(followups.c.origin == NOT_OPENED).label("not_opened"),
            flag(done).label("done"),
            flag(and_(dated, done_on <= followups.c.due_on)).label("done_by_due"),
            flag(and_(dated, done_on > followups.c.due_on)).label("done_late"),
            flag(still_open).label("open"),
            flag(and_(still_open, followups.c.due_on < today)).label("open_past_due"),
            flag(and_(_tracked(), followups.c.state == NOT_DOING)).label("not_doing"),
            case((and_(done, followups.c.done_at >= followups.c.created_at), took), else_=null()).label("to_done"),
        )
        .where(*followups_in(scope))
        .cte("listed")
        .prefix_with("MATERIALIZED")  # read by every part below: scanned once
    )
    parts: list[Select[Any]] = [
        select(
            constant("month"), listed.c.month, func.count(), *(func.sum(listed.c[name]) for name in COUNTS)
        ).group_by(listed.c.month),
        at_ranks(
            "to_done",
            None,
            listed.c.to_done,
            listed,
            [],
            lambda n: [(n + 1) // 2, (n + 2) // 2],
            WIDTH,
        ),
    ]
    late = listed.join(reviews, reviews.c.ref == listed.c.review_ref)  # only the late ones are joined
    keys: dict[str, tuple[Any, Any]] = {
        "source": (source(reviews.c.incident_ref), late),
        "service": (incidents.c.service, late.join(incidents, incidents.c.ref == reviews.c.incident_ref)),
        "label": (
            incident_labels.c.label,
            late.join(incident_labels, incident_labels.c.incident_ref == reviews.c.incident_ref),
        ),
    }
    padding = [blank() for _ in COUNTS]
    for kind in GROUP_KINDS:
        key, joined = keys[kind]
        parts.append(
            select(constant(f"late:{kind}"), key, func.count(), *padding)
            .select_from(joined)
            .where(listed.c.open_past_due == 1, key != constant(""))
            .group_by(key)
        )
    first, *rest = parts
    return first.union_all(*rest)
