"""What one installation generates once and every host sharing its store agrees on: today, the
key that signs markers when ``LESSONLOOP_MARKER_KEY`` is not set (so ``serve`` works with no
settings at all, and a second worker host verifies what the first one wrote)."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, select

from config.settings import Settings
from service.markers import MarkerKeys
from service.store.deliveries import now
from service.store.engine import begin_write, insert
from service.store.schema import instance

MARKER_KEY = "marker_key"


def generated_marker_key(engine: Engine) -> str:
    """The store's marker key, made on first use. Two processes racing both insert; the first
    one wins and both read the winner's key back."""
    with engine.connect() as connection:
        found = connection.execute(select(instance.c.value).where(instance.c.name == MARKER_KEY)).scalar()
    if found:
        return str(found)
    with begin_write(engine) as connection:
        connection.execute(
            insert(engine, instance).on_conflict_do_nothing(),
            {"name": MARKER_KEY, "value": secrets.token_hex(32), "created_at": now()},
        )
        return str(connection.execute(select(instance.c.value).where(instance.c.name == MARKER_KEY)).scalar_one())


def marker_keys(engine: Engine, settings: Settings) -> MarkerKeys:
    """``LESSONLOOP_MARKER_KEY`` when set (the first signs, all verify), else the store's key."""
    if settings.marker_keys:
        return MarkerKeys([key.get_secret_value() for key in settings.marker_keys])
    return MarkerKeys([generated_marker_key(engine)])
