"""The learning log's generation: a token every lesson or follow-up write replaces, in its own
transaction. Figures computed from the whole log (``/api/v1/stats``, ``/insights``, the filter
suggestions) are cached under the token they were computed at, so every web process sees a
saved lesson at its next view, whichever process or host saved it, and reads one indexed row
to know."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, Engine, select

from service.store.deliveries import now
from service.store.engine import insert
from service.store.schema import instance

NAME = "log_generation"


def bump(connection: Connection) -> None:
    """Mark the log changed, inside the caller's write transaction."""
    values = {"value": secrets.token_hex(8), "created_at": now()}
    statement = (
        insert(connection.dialect.name, instance)
        .values(name=NAME, **values)
        .on_conflict_do_update(index_elements=["name"], set_=values)
    )
    connection.execute(statement)


def current(engine: Engine) -> str:
    """The token of the log as it is now ("" before its first write)."""
    with engine.connect() as connection:
        return str(connection.execute(select(instance.c.value).where(instance.c.name == NAME)).scalar() or "")
