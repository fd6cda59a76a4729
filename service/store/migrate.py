"""Bringing the store's schema up to date with Alembic, safely from many processes at once.

``serve``, ``web`` and ``worker`` all migrate on start so that a fresh machine needs no extra
step; when several start together (workers on many machines), a lock lets one migrate while
the others wait: a PostgreSQL advisory lock, or a lock file beside the SQLite database.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from service.store.engine import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x1E550_1009  # "lessonloop", roughly


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), "head")


def pending(engine: Engine) -> bool:
    """True when the database is behind the code (``lessonloop check`` reports it)."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current != head


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    try:
        handle = open(lock_path, "w")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as error:
        raise StoreUnavailable(f"DATABASE_URL: cannot write {lock_path}: {error.strerror}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
