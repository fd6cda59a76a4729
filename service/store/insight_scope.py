"""What one view of ``/insights`` covers, as SQL: its span and the services or labels asked
for, and the few expressions its grouped queries share (a ref's tracker, a constant, values at
given ranks).

The figures are grouped by the database, each statement reading the rows once into a
materialised ``WITH`` table and grouping that several ways; ``service.store.insight_reviews``
and ``service.store.insight_followups`` build those statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, case, cast, exists, func, literal_column, null, or_, select
from sqlalchemy.sql import FromClause

from config.settings import SOURCES
from service.store.schema import incident_labels, incidents, reviews

TOTAL = ""
"""The key of a figure over the whole view rather than one month or group."""
GROUP_KINDS = ("source", "service", "label")
"""What the per-group figures are grouped by: the incident's tracker, its service, its labels."""


@dataclass(frozen=True)
class Scope:
    """The reviews one view covers: opened from ``start`` (included) to ``end`` (excluded),
    and, when given, of an incident with any of ``services`` or any of ``labels`` (compared
    without case). Its follow-ups are those recorded in the same span, of a review (opened
    whenever) in those services and labels: a follow-up counts where it was recorded, as
    ``lessons stats`` counts it."""

    start: datetime
    end: datetime
    services: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


def narrowed(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's services and labels, on ``reviews`` joined with ``incidents``."""
    conditions: list[ColumnElement[bool]] = []
    if scope.services:
        conditions.append(func.lower(incidents.c.service).in_(sorted({one.lower() for one in scope.services})))
    if scope.labels:
        wanted = sorted({one.lower() for one in scope.labels})
        named = incident_labels.alias("named")  # apart from the labels a per-label figure joins
        conditions.append(
            exists().where(named.c.incident_ref == reviews.c.incident_ref, func.lower(named.c.label).in_(wanted))
        )
    return conditions


def with_incidents() -> FromClause:
    return reviews.outerjoin(incidents, incidents.c.ref == reviews.c.incident_ref)


def source(ref: Any) -> ColumnElement[str]:
    """The tracker of a ref (``jira:OPS-1`` → ``jira``), ``other`` for none of them."""
    return case(*((ref.like(constant(f"{name}:%")), constant(name)) for name in SOURCES), else_=constant("other"))


def constant(text: str) -> ColumnElement[str]:
    """A text written into the statement (a name from this code, never a value from a
    request): an expression grouped by must read the same in SELECT and GROUP BY, and
    PostgreSQL numbers each bound value apart."""
    return literal_column("'" + text.replace("'", "''") + "'")


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 or 0, to be summed."""
    return case((condition, 1), else_=0)


def blank() -> ColumnElement[int]:
    """A NULL that pads a row to the width its statement's UNION needs."""
    return cast(null(), Integer)


def at_ranks(
    section: str,
    key: Any | None,
    value: Any,
    joined: FromClause,
    conditions: Sequence[ColumnElement[bool]],
    ranks: Callable[[Any], Sequence[ColumnElement[int]]],
    width: int,
) -> Select[Any]:
    """Rows of ``(section, key, n, rank, value)`` padded to ``width`` columns: of the ``n``
    known ``value``s of each ``key`` (``None``: of the whole, keyed ``TOTAL``) in ascending
    order, those at the ``ranks(n)`` (whole numbers: ``(n + 1) // 2`` is ⌈n/2⌉ on both
    databases). One sort per key, since the count is taken over the same ordered window as
    the rank."""
    ordered = {"partition_by": key, "order_by": value}
    window = (
        select(
            (constant(TOTAL) if key is None else key).label("key"),
            value.label("value"),
            func.row_number().over(**ordered).label("rank"),
            func.count().over(**ordered, rows=(None, None)).label("n"),
        )
        .select_from(joined)
        .where(*conditions, value.is_not(None))
        .subquery()
    )
    padding = [blank() for _ in range(width - 5)]
    return select(constant(section), window.c.key, window.c.n, window.c.rank, window.c.value, *padding).where(
        or_(*(window.c.rank == rank for rank in ranks(window.c.n)))
    )
