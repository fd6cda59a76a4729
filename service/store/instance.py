"""What one installation generates once and every host sharing its store agrees on: today, the
key that signs markers when ``LESSONLOOP_MARKER_KEY`` is not set, and the one that signs session
cookies when ``LESSONLOOP_SESSION_KEY`` is not set (so ``serve`` works with no
settings at all, and a second worker host verifies what the first one wrote)."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, select

from config.settings import Settings
from service.store.deliveries import now
from service.store.engine import begin_write, insert
from service.store.schema import instance
from service.text.markers import MarkerKeys

MARKER_KEY = "marker_key"
SESSION_KEY = "session_key"


def generated_marker_key(engine: Engine) -> str:
    """The store's marker key, made on first use."""
    return generated(engine, MARKER_KEY)


def generated_session_key(engine: Engine) -> str:
    """The key that signs the learning log's session cookies when ``LESSONLOOP_SESSION_KEY``
    is not set: every web process sharing the store signs and accepts the same cookies."""
    return generated(engine, SESSION_KEY)


def generated(engine: Engine, name: str) -> str:
    """A random value kept under ``name``, made on first use. Two processes racing both insert;
    the first one wins and both read the winner's value back."""
    with engine.connect() as connection:
        found = connection.execute(select(instance.c.value).where(instance.c.name == name)).scalar()
    if found:
        return str(found)
    with begin_write(engine) as connection:
        connection.execute(
            insert(engine, instance).on_conflict_do_nothing(),
            {"name": name, "value": secrets.token_hex(32), "created_at": now()},
        )
        return str(connection.execute(select(instance.c.value).where(instance.c.name == name)).scalar_one())


def marker_keys(engine: Engine, settings: Settings) -> MarkerKeys:
    """``LESSONLOOP_MARKER_KEY`` when set (the first signs, all verify), else the store's key."""
    if settings.marker_keys:
        return MarkerKeys([key.get_secret_value() for key in settings.marker_keys])
    return MarkerKeys([generated_marker_key(engine)])
