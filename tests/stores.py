"""The tests' stores: an empty one per test (a SQLite file, or a PostgreSQL schema of its own),
and, where a test wants it migrated, the migrated state copied from a template migrated once per
test process.

Running the migrations costs a test 30 ms on SQLite and 130 ms on PostgreSQL (Alembic loads
its scripts and each migration checks the schema as it goes); copying costs about a
millisecond. The template is made by the migrations themselves: on SQLite it is a migrated file,
copied; on PostgreSQL it is the statements the migrations sent to a schema of their own,
recorded as the driver received them and sent again to the test's schema (search paths, not
names, place every table, so they land there). ``test_store.py`` checks that a store from the
template is the store the migrations make, and still migrates from nothing where that is what
it tests (the ``migrated_from_scratch`` mark).

A template fills only a store that is still empty: one a test has written to already (a
``lessonloop`` process it ran migrated it, say) is left as it is.
"""

from __future__ import annotations

import functools
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from service.store import migrate
from service.store.engine import make_engine, sqlalchemy_url


@functools.cache
def admin_engine(postgres_url: str) -> Engine:
    """One engine per test process for creating and dropping the tests' schemas."""
    return create_engine(sqlalchemy_url(postgres_url), pool_size=1)


@functools.cache
def postgres_problem(postgres_url: str) -> str | None:
    """Why PostgreSQL at ``postgres_url`` cannot be used, or None; asked once per test process."""
    try:
        with admin_engine(postgres_url).connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as error:  # noqa: BLE001 - any failure to connect means "skip", with the reason
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def schema_url(postgres_url: str, schema: str) -> str:
    """``postgres_url`` with every connection's search path set to ``schema``."""
    separator = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{separator}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema of its own, dropped with everything in it when the block ends; its name."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = admin_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


class Templates:
    """Migrated stores to copy, made on first use, once per test process; and the empty stores
    of the current test that may still be filled from them."""

    def __init__(self, folder: Path, postgres_url: str) -> None:
        self.folder = folder
        self.postgres_url = postgres_url
        self._fresh: dict[str, str | None] = {}  # store URL -> its PostgreSQL schema, None for SQLite
        self._sqlite: Path | None = None
        self._postgres: list[tuple[str, Any]] | None = None

    def offer(self, database_url: str, schema: str | None = None) -> None:
        """``database_url`` is a store of this test's own, empty: :meth:`fill` may fill it."""
        self._fresh[make_url(sqlalchemy_url(database_url)).render_as_string(hide_password=False)] = schema

    def withdraw(self, database_url: str) -> None:
        """The test is over: its store is no longer to be filled."""
        self._fresh.pop(make_url(sqlalchemy_url(database_url)).render_as_string(hide_password=False), None)

    def fill(self, engine: Engine) -> None:
        """Copy the migrated template into the store of ``engine`` (not connected to yet) if it
        is one of this test's fresh stores and nothing has been written to it; else do nothing."""
        key = engine.url.render_as_string(hide_password=False)
        if key not in self._fresh:
            return
        schema = self._fresh.pop(key)
        if schema is None:
            path = Path(engine.url.database or "")
            if not path.exists():
                shutil.copyfile(self.sqlite_template(), path)
            return
        statements = self.postgres_template()
        with engine.begin() as connection:
            if not _has_tables(connection, schema):
                for statement, parameters in statements:
                    connection.exec_driver_sql(statement, parameters)

    def sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self.folder / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()  # the last connection closed: the WAL is folded into the file
            self._sqlite = path
        return self._sqlite

    def postgres_template(self) -> list[tuple[str, Any]]:
        if self._postgres is None:
            recorded: list[tuple[str, Any]] = []

            def record(_conn: Connection, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
                recorded.append((statement, parameters))

            with postgres_schema(self.postgres_url) as schema:
                engine = create_engine(sqlalchemy_url(schema_url(self.postgres_url, schema)))
                event.listen(engine, "before_cursor_execute", record)
                try:
                    # the migrations alone, without migrate.upgrade's lock: nothing else uses this schema
                    command.upgrade(migrate.alembic_config(engine), "head")
                finally:
                    engine.dispose()
            self._postgres = recorded
        return self._postgres


def _has_tables(connection: Connection, schema: str) -> bool:
    return bool(inspect(connection).get_table_names(schema=schema))
