"""Follow-ups: one row per item of a lesson's "What we'll change", keyed by (review, item key).

A row outlives its item: when the item leaves the list its ``position`` becomes -1 (no longer
listed), and the task it may have opened stays where people own it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, bindparam, select, true, update

from service.store import generation
from service.store.deliveries import now, utc
from service.store.engine import begin_write, insert
from service.store.schema import followups, lessons

OPEN, DONE, NOT_DOING, UNKNOWN = "open", "done", "not doing", "unknown"
ADOPTED, OPENED, OPENING, NOT_OPENED = "adopted", "opened", "opening", "not opened"
UNLISTED = -1


@dataclass(frozen=True)
class Followup:
    review_ref: str
    item_key: str
    ref: str | None
    url: str
    text: str
    origin: str
    state: str
    reason: str
    position: int
    due_on: date | None
    created_at: datetime
    state_at: datetime | None
    done_at: datetime | None
    checked_on: date | None

    @property
    def listed(self) -> bool:
        return self.position != UNLISTED

    @property
    def tracked(self) -> bool:
        """It names a task in a tracker whose state we follow."""
        return self.ref is not None and self.origin in (ADOPTED, OPENED)


_COLUMNS = [followups.c[name] for name in Followup.__dataclass_fields__]


def _row(row: Any) -> Followup:
    values = dict(row if isinstance(row, dict) else row._mapping)
    for name in ("created_at", "state_at", "done_at"):
        values[name] = utc(values[name])
    return Followup(**values)


def of_review(engine: Engine, review_ref: str) -> list[Followup]:
    """Every follow-up of one lesson, listed ones in list order first."""
    with engine.connect() as connection:
        rows = connection.execute(select(*_COLUMNS).where(followups.c.review_ref == review_ref)).all()
    found = [_row(r) for r in rows]
    return sorted(found, key=lambda f: (not f.listed, f.position, f.created_at))


def by_ref(engine: Engine, ref: str) -> list[Followup]:
    """The follow-ups a tracker item stands for (one item may follow up several lessons)."""
    with engine.connect() as connection:
        rows = connection.execute(select(*_COLUMNS).where(followups.c.ref == ref)).all()
    return [_row(r) for r in rows]


def is_followup(engine: Engine, ref: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(_is_followup, {"ref": ref}).first() is not None


_is_followup = select(followups.c.id).where(followups.c.ref == bindparam("ref")).limit(1)  # every job asks: built once


def add(
    engine: Engine,
    *,
    review_ref: str,
    item_key: str,
    text: str,
    origin: str,
    position: int,
    due_on: date | None,
    ref: str | None = None,
    url: str = "",
    state: str = OPEN,
    reason: str = "",
) -> Followup:
    """Record a follow-up; the first record of (review, key) stays (a retry adds nothing)."""
    statement = (
        insert(engine, followups)
        .values(
            review_ref=review_ref,
            item_key=item_key,
            ref=ref,
            url=url,
            text=text,
            origin=origin,
            state=state,
            reason=reason,
            position=position,
            due_on=due_on,
            created_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["review_ref", "item_key"])
    )
    with begin_write(engine) as connection:
        connection.execute(statement)
        generation.bump(connection)
    found = get(engine, review_ref, item_key)
    assert found is not None
    return found


def get(engine: Engine, review_ref: str, item_key: str) -> Followup | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(*_COLUMNS).where(followups.c.review_ref == review_ref, followups.c.item_key == item_key)
        ).first()
    return None if row is None else _row(row)


def change(engine: Engine, review_ref: str, item_key: str, **values: Any) -> None:
    with begin_write(engine) as connection:
        connection.execute(
            update(followups)
            .where(followups.c.review_ref == review_ref, followups.c.item_key == item_key)
            .values(**values)
        )
        generation.bump(connection)


def set_state(engine: Engine, ref: str, state: str, reason: str = "") -> list[str]:
    """The tracker's word on ``ref``; returns the lessons whose follow-up state changed."""
    moment = now()
    changed = [f.review_ref for f in by_ref(engine, ref) if f.state != state and f.tracked]
    values: dict[str, Any] = {"state": state, "reason": reason, "checked_on": moment.date()}
    with begin_write(engine) as connection:
        connection.execute(update(followups).where(followups.c.ref == ref).values(**values))
        if changed:
            connection.execute(
                update(followups)
                .where(followups.c.ref == ref, followups.c.review_ref.in_(changed))
                .values(state_at=moment, done_at=moment if state == DONE else None)
            )
            generation.bump(connection)
    return changed


def unlist(engine: Engine, review_ref: str, keep: Iterable[str]) -> None:
    """Items no longer in the lesson's list: kept, no longer listed."""
    keys = set(keep)
    with begin_write(engine) as connection:
        query = update(followups).where(followups.c.review_ref == review_ref)
        if keys:
            query = query.where(followups.c.item_key.not_in(keys))
        connection.execute(query.values(position=UNLISTED))
        generation.bump(connection)


def of_reviews(engine: Engine, review_refs: Sequence[str]) -> dict[str, list[Followup]]:
    """The follow-ups of these lessons, grouped by lesson, in list order (a page of the log)."""
    if not review_refs:
        return {}
    return _grouped(engine, followups.c.review_ref.in_(list(review_refs)))


def by_review(engine: Engine) -> dict[str, list[Followup]]:
    """Every follow-up, grouped by lesson, each group in list order (for the exports)."""
    return _grouped(engine, true())


def _grouped(engine: Engine, condition: ColumnElement[bool]) -> dict[str, list[Followup]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(*_COLUMNS).where(condition).order_by(followups.c.review_ref, followups.c.position)
        ).all()
    grouped: dict[str, list[Followup]] = {}
    for row in rows:
        one = _row(row)
        grouped.setdefault(one.review_ref, []).append(one)
    return grouped


def since(engine: Engine, moment: datetime) -> list[Followup]:
    """Follow-ups recorded since ``moment`` (``lessons stats``' window)."""
    with engine.connect() as connection:
        rows = connection.execute(select(*_COLUMNS).where(followups.c.created_at >= moment)).all()
    return [_row(r) for r in rows]


def listing(engine: Engine) -> list[tuple[Followup, str]]:
    """Every listed follow-up with its lesson's incident title, oldest lesson first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(*_COLUMNS, lessons.c.incident_title)
            .select_from(followups.outerjoin(lessons, lessons.c.review_ref == followups.c.review_ref))
            .where(followups.c.position != UNLISTED)
            .order_by(followups.c.review_ref, followups.c.position)
        ).all()
    out = []
    for row in rows:
        values = dict(row._mapping)
        title = values.pop("incident_title") or ""
        out.append((_row(values), title))
    return out


def to_refresh(engine: Engine, today: date) -> list[Followup]:
    """Open, listed, tracked follow-ups not read today: the daily refresh's work."""
    return _open_and_tracked(engine, (followups.c.checked_on.is_(None)) | (followups.c.checked_on < today))


def overdue(engine: Engine, today: date) -> list[Followup]:
    """Open, listed, tracked follow-ups past their due date."""
    return _open_and_tracked(engine, followups.c.due_on < today)


def _open_and_tracked(engine: Engine, condition: ColumnElement[bool]) -> list[Followup]:
    """Open, listed follow-ups with an item lessonloop tracks, that also meet ``condition``."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(*_COLUMNS)
            .where(
                followups.c.state == OPEN,
                followups.c.ref.is_not(None),
                followups.c.position != UNLISTED,
                condition,
            )
            .order_by(followups.c.id)
        ).all()
    return [f for f in (_row(r) for r in rows) if f.tracked]


def mark_checked(engine: Engine, ref: str, today: date) -> None:
    with begin_write(engine) as connection:
        connection.execute(update(followups).where(followups.c.ref == ref).values(checked_on=today))
