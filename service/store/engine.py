"""Building the SQLAlchemy engine for SQLite or PostgreSQL, tuned for a webhook inbox."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, Executable, Table, bindparam, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite import Insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError


def insert(engine: Engine | str, table: Table) -> Insert:
    """An INSERT that can take ``ON CONFLICT`` clauses for ``engine`` (or a dialect's name):
    SQLite and PostgreSQL spell them alike, but SQLAlchemy builds them from each dialect's own
    ``insert``."""
    name = engine if isinstance(engine, str) else engine.dialect.name
    return (postgresql if name == "postgresql" else sqlite).insert(table)


def insert_or(
    table: Table,
    values: Mapping[str, Any],
    *,
    conflict: tuple[str, ...] = (),
    update: tuple[str, ...] = (),
    returning: str | None = None,
) -> tuple[Executable, dict[str, Any]]:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING`` (or ``DO UPDATE SET`` the ``update``
    columns to the new values), ``RETURNING`` one column, with its parameters.

    The writes on the hot paths (a delivery recorded, a comment's record, an incident saved) go
    through here rather than through SQLAlchemy's dialect ``insert``: SQLAlchemy 2.0 caches no
    dialect INSERT (``inherit_cache = False``), so each call would compile the statement again,
    at more CPU than the write itself. This is the same SQL as text with binds typed by the
    table's columns, built once per shape and cached by SQLAlchemy like any text; SQLite and
    PostgreSQL spell it alike."""
    return _insert_or(table, tuple(values), conflict, update, returning), dict(values)


@functools.cache
def _insert_or(
    table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], update: tuple[str, ...], returning: str | None
) -> Executable:
    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    target = f" ({', '.join(map(quoted, conflict))})" if conflict else ""
    action = (
        "DO UPDATE SET " + ", ".join(f"{quoted(c)} = excluded.{quoted(c)}" for c in update) if update else "DO NOTHING"
    )
    sql = (
        f"INSERT INTO {quoted(table.name)} ({', '.join(map(quoted, columns))}) "
        f"VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT{target} {action}"
        + (f" RETURNING {quoted(returning)}" if returning else "")
    )
    statement = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    return statement.columns(table.c[returning]) if returning else statement


def sqlalchemy_url(database_url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver we install), not psycopg2."""
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


class StoreUnavailable(Exception):
    """The store cannot be opened as configured; ``str()`` is one line naming what to fix."""


def make_engine(database_url: str, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """``pool_size``: connections kept open; as many again may be opened at busy moments. The
    web passes its thread count, so no request thread ever waits for one.

    ``pre_ping`` (PostgreSQL) tests each connection with a round trip before lending it out. The
    web turns it off: that is a round trip on every delivery, and after a PostgreSQL restart the
    one request that meets a dead connection is answered 503 (SQLAlchemy then drops the whole
    pool), which the tracker retries."""
    url = make_url(sqlalchemy_url(database_url))
    if url.get_backend_name() == "sqlite":
        _check_sqlite_folder(url.database)
        engine = create_engine(
            url,
            # the web's threads and the RQ worker write one file: wait for the lock instead of
            # failing with "database is locked"
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=max(10, pool_size),
            pool_pre_ping=False,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=max(10, pool_size), pool_pre_ping=pre_ping, pool_recycle=1800
        )
    # a forked RQ work horse must not share the parent's sockets
    _engines.add(engine)
    return engine


def _check_sqlite_folder(database: str | None) -> None:
    """SQLite would create the file, and the migration lock its folder: a mistyped path must
    not quietly become a new, empty store somewhere else."""
    if not database or database == ":memory:":
        return
    path = Path(database)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StoreUnavailable(
            f"DATABASE_URL: the folder {folder} does not exist: create it, or fix the path "
            f"(sqlite:///relative/path.db, sqlite:////absolute/path.db)"
        )
    if path.is_dir():
        raise StoreUnavailable(f"DATABASE_URL: {path} is a folder; name a file in it, e.g. {path / 'lessonloop.db'}")
    if not os.access(folder, os.W_OK):
        raise StoreUnavailable(f"DATABASE_URL: cannot write in {folder}: make it writable for this user")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextlib.contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite, writers from every lessonloop process take turns on a
    lock file first: SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries, which
    under concurrent webhooks turns into tens of milliseconds of tail latency, while a waiter
    on the lock file wakes the moment the previous writer is done."""
    lock = _write_locks.get(engine)
    if lock is None and engine.dialect.name == "sqlite":
        lock = _write_locks.setdefault(engine, _WriteLock(engine.url.database))
    if lock is None:
        with engine.begin() as connection:
            yield connection
        return
    with lock, engine.begin() as connection:
        yield connection


class WriteLockUnavailable(SQLAlchemyError):
    """The SQLite write-lock file could not be opened or locked. A store error like any other,
    so callers answer it as they answer a store that is down (the web: 503)."""


class _WriteLock:
    """A thread lock (threads of one process) plus ``flock`` on a file (processes). The file
    stays open while the lock is in use and is closed when the lock is collected with its
    engine."""

    def __init__(self, database: str | None) -> None:
        self.path = None if not database or database == ":memory:" else Path(database + "-writelock")
        self.thread_lock = threading.Lock()
        self.handle: IO[str] | None = None
        self.pid = 0
        self._close_handle: weakref.finalize[[], _WriteLock] | None = None

    def _open(self) -> IO[str]:
        """This process's own handle on the lock file: a forked child closes the copy of its
        parent's (the parent's own stays open, and holds its lock) and opens one of its own."""
        assert self.path is not None
        if self._close_handle is not None:
            self._close_handle()
        handle = self.handle = self.path.open("a")
        self.pid = os.getpid()
        self._close_handle = weakref.finalize(self, handle.close)
        return handle

    def __enter__(self) -> None:
        self.thread_lock.acquire()
        if self.path is None:
            return
        try:
            if self.pid != os.getpid():  # a forked child must not share its parent's open file
                self._open()
            assert self.handle is not None  # opened above, in this process
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        except OSError as error:
            # released here: ``with`` calls no __exit__ when __enter__ raises, and a thread
            # lock held forever would hang every later write in this process
            self.thread_lock.release()
            raise WriteLockUnavailable(f"cannot lock {self.path}: {error.strerror or error}") from error
        except BaseException:
            self.thread_lock.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self.handle is not None:
                fcntl.flock(self.handle, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


_write_locks: weakref.WeakKeyDictionary[Engine, _WriteLock] = weakref.WeakKeyDictionary()

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Every engine this process made and still uses (weakly: an engine nobody holds is collected,
with its pool)."""


def _after_fork_in_child() -> None:
    """A forked child must not share its parent's store connections: it opens its own."""
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
