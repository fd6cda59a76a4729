"""Links between items: a review and its incident, items referenced in their text, and links
made by hand with ``lessonloop link``. Stored once per unordered pair."""

from __future__ import annotations

from sqlalchemy import Engine, or_, select

from service.domain.events import ItemRef
from service.store.deliveries import now
from service.store.engine import begin_write, insert_or
from service.store.schema import links

ORIGINS = ("opened", "text", "manual")


def add(engine: Engine, a: ItemRef, b: ItemRef, origin: str) -> bool:
    """True when the link is new."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown link origin: {origin}")
    if a == b:
        return False
    first, second = sorted((str(a), str(b)))
    row = dict(a_ref=first, b_ref=second, origin=origin, created_at=now())
    with begin_write(engine) as connection:
        result = connection.execute(*insert_or(links, row, conflict=("a_ref", "b_ref")))
        return result.rowcount == 1


def linked_with_origin(engine: Engine, ref: ItemRef) -> dict[ItemRef, str]:
    """Items linked to ``ref`` directly, each with how the link came about."""
    text = str(ref)
    with engine.connect() as connection:
        rows = connection.execute(
            select(links.c.a_ref, links.c.b_ref, links.c.origin)
            .where(or_(links.c.a_ref == text, links.c.b_ref == text))
            .order_by(links.c.id)
        ).all()
    return {ItemRef.parse(b if a == text else a): origin for a, b, origin in rows}
