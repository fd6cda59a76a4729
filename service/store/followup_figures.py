"""The follow-up figures of a window, counted by the database: ``lessons stats``,
``/api/v1/stats`` and ``/insights`` read them over up to a year of follow-ups, three or more
per lesson. Building a full ``Followup`` (text included, four dates converted) for each row
would be most of what those figures cost; so the counts are one grouped query and only the
follow-ups done are read, three dates each, for the two figures a median or a calendar
comparison needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Engine, and_, case, func, select

from service.store.deliveries import utc
from service.store.followups import ADOPTED, DONE, NOT_DOING, NOT_OPENED, OPEN, OPENED, UNLISTED
from service.store.schema import followups

_TRACKED = and_(followups.c.ref.is_not(None), followups.c.origin.in_((ADOPTED, OPENED)))


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass(frozen=True)
class FollowupCounts:
    """The follow-ups recorded in a window, counted, and the dates of those done: what
    :mod:`service.learning.stats` turns into the figures (the share done by their due date, the
    median days to done) without this module knowing how they are computed."""

    opened: int
    adopted: int
    not_opened: int
    done: int
    not_doing: int
    open: int
    open_past_due: int
    done_dates: list[tuple[datetime, datetime | None, date | None]]  # (recorded, done, due)


def since(engine: Engine, moment: datetime, today: date) -> FollowupCounts:
    """The follow-ups recorded since ``moment``, counted by the database, with no row loaded but
    the dates of those done."""
    window = and_(followups.c.created_at >= moment, followups.c.position != UNLISTED)
    counts = select(
        _count(followups.c.origin == OPENED),
        _count(followups.c.origin == ADOPTED),
        _count(followups.c.origin == NOT_OPENED),
        _count(and_(_TRACKED, followups.c.state == DONE)),
        _count(and_(_TRACKED, followups.c.state == NOT_DOING)),
        _count(and_(_TRACKED, followups.c.state == OPEN)),
        _count(and_(_TRACKED, followups.c.state == OPEN, followups.c.due_on < today)),
    ).where(window)
    done = select(followups.c.created_at, followups.c.done_at, followups.c.due_on).where(
        window, _TRACKED, followups.c.state == DONE
    )
    with engine.connect() as connection:
        opened, adopted, not_opened, done_count, not_doing, still_open, past_due = connection.execute(counts).one()
        dates = [(utc(created), utc(finished), due) for created, finished, due in connection.execute(done)]
    return FollowupCounts(
        opened=int(opened),
        adopted=int(adopted),
        not_opened=int(not_opened),
        done=int(done_count),
        not_doing=int(not_doing),
        open=int(still_open),
        open_past_due=int(past_due),
        done_dates=dates,
    )
