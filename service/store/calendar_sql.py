"""A timestamp column's UTC month, UTC day and microseconds since the epoch, as SQL for the
store's database, so that figures can be grouped and compared by the database rather than
row by row in Python.

SQLite keeps a timestamp as UTC text without a zone, as SQLAlchemy writes it
(``YYYY-MM-DD HH:MM:SS.ffffff``; lessonloop writes only UTC); PostgreSQL keeps a
``timestamptz`` and reads it in the session's zone unless asked for UTC, so each expression
names UTC there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Date, cast, extract, func, literal_column

_UTC: ColumnElement[str] = literal_column("'UTC'")
"""Constants are written into the statement, not bound: an expression a query groups by must
read the same in its SELECT and its GROUP BY, and PostgreSQL numbers each bound value apart."""


def month(dialect: str, column: Any) -> ColumnElement[str]:
    """``YYYY-MM`` of the moment in UTC (on SQLite, the text's first seven characters: no
    date is parsed for it)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(_UTC, column), literal_column("'YYYY-MM'"))
    return func.substr(column, 1, 7)


def day(dialect: str, column: Any) -> ColumnElement[Any]:
    """The UTC day of the moment, comparable with a ``Date`` column."""
    if dialect == "postgresql":
        return cast(func.timezone(_UTC, column), Date)
    return func.date(column)


def microseconds(dialect: str, column: Any) -> ColumnElement[int]:
    """Microseconds since 1970, exactly: the difference of two is the duration Python's
    ``datetime`` subtraction gives, to the microsecond. SQLite's text is read as SQLAlchemy
    writes it, ``YYYY-MM-DD HH:MM:SS.ffffff`` (a value without the fraction reads as whole
    seconds)."""
    if dialect == "postgresql":
        return cast(extract("epoch", column) * 1_000_000, BigInteger)
    return cast(func.strftime(literal_column("'%s'"), column), BigInteger) * 1_000_000 + cast(
        func.substr(column, 21, 6), BigInteger
    )
