"""What lessonloop wrote to trackers: one row per (item, kind, key), so a retry edits or skips
instead of writing again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, delete, func, select

from service.store.deliveries import now
from service.store.engine import begin_write, insert_or
from service.store.schema import effects

INTENT = ""
"""The comment id of a row recorded just before a comment is added: the write may have
happened. Such a row says nothing was written (yet) wherever the store is asked what was."""

WRITTEN = effects.c.comment_id != INTENT
"""The rows of comments that were written (not just intended)."""

UNSETTLED = "unsettled:"
"""Prefix of the kind of a row that says a write of ``kind``/``key`` may still land late: a run
looked for it after a crash, so every run that follows looks again (and tidies up a duplicate)
until the row is dropped. Its comment id holds when it was first set (ISO 8601)."""


@dataclass(frozen=True)
class Effect:
    item_ref: str
    kind: str
    key: str
    comment_id: str
    digest: str


def get(engine: Engine, item_ref: str, kind: str, key: str) -> Effect | None:
    with engine.connect() as connection:
        row = connection.execute(_get, {"item_ref": item_ref, "kind": kind, "key": key}).first()
    return None if row is None else Effect(*row)


_get = select(effects.c.item_ref, effects.c.kind, effects.c.key, effects.c.comment_id, effects.c.digest).where(
    effects.c.item_ref == bindparam("item_ref"), effects.c.kind == bindparam("kind"), effects.c.key == bindparam("key")
)
"""Built once: every job asks this a few times, and building a statement (and its cache key)
costs more CPU than running it. The same holds for the other statements built at import."""


def get_with_mark(engine: Engine, item_ref: str, kind: str, key: str) -> tuple[Effect | None, Effect | None]:
    """The row of ``kind``/``key`` and its :data:`UNSETTLED` row, in one query: every write asks."""
    found: dict[str, Effect] = {}
    with engine.connect() as connection:
        rows = connection.execute(_get_with_mark, {"item_ref": item_ref, "kinds": [kind, UNSETTLED + kind], "key": key})
        for row in rows:
            found[row.kind] = Effect(*row)
    return found.get(kind), found.get(UNSETTLED + kind)


_get_with_mark = select(
    effects.c.item_ref, effects.c.kind, effects.c.key, effects.c.comment_id, effects.c.digest
).where(
    effects.c.item_ref == bindparam("item_ref"),
    effects.c.kind.in_(bindparam("kinds", expanding=True)),
    effects.c.key == bindparam("key"),
)


def drop(engine: Engine, item_ref: str, kind: str, key: str) -> None:
    with begin_write(engine) as connection:
        connection.execute(
            delete(effects).where(effects.c.item_ref == item_ref, effects.c.kind == kind, effects.c.key == key)
        )


def put(engine: Engine, item_ref: str, kind: str, key: str, comment_id: str, digest: str) -> None:
    moment = now()
    values = dict(
        item_ref=item_ref,
        kind=kind,
        key=key,
        comment_id=comment_id,
        digest=digest,
        created_at=moment,
        updated_at=moment,
    )
    with begin_write(engine) as connection:
        connection.execute(
            *insert_or(
                effects, values, conflict=("item_ref", "kind", "key"), update=("comment_id", "digest", "updated_at")
            )
        )


def count(engine: Engine, kind: str | None = None) -> int:
    query = select(func.count()).select_from(effects)
    if kind is not None:
        query = query.where(effects.c.kind == kind)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def count_since(engine: Engine, kind: str, moment: datetime) -> int:
    """How many effects of ``kind`` were first recorded at or after ``moment``."""
    query = select(func.count()).select_from(effects).where(effects.c.kind == kind, effects.c.created_at >= moment)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())
