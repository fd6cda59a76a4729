"""The inbox: recording deliveries once, and following each through its job."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from sqlalchemy import Engine, bindparam, func, select, update

from service.store.engine import begin_write, insert_or
from service.store.schema import deliveries

RECEIVED = "received"  # recorded; its job is queued, running, or lost and due for the sweep
DONE = "done"
IGNORED = "ignored"  # handled, and nothing was to be done (no rule, already handled)
FAILED = "failed"  # its job stopped on a permanent error; `lessonloop replay --failed` retries
STATUSES = (RECEIVED, DONE, IGNORED, FAILED)


@dataclass(frozen=True)
class Delivery:
    id: int
    source: str
    delivery_id: str
    event_name: str
    event_kind: str
    item_ref: str | None
    headers: dict[str, str]
    body: bytes
    status: str
    attempts: int
    outcome: str | None
    last_error: str | None
    received_at: datetime
    updated_at: datetime
    current_job: str | None = None
    retry_at: datetime | None = None

    @property
    def job_id(self) -> str:
        """The RQ job in charge: ``delivery-<id>``, or the one that waits out a tracker fault."""
        return self.current_job or job_id_for(self.id)


def job_id_for(delivery_pk: int) -> str:
    """The RQ job id of a delivery: one delivery, one job id, however often it is enqueued."""
    return f"delivery-{delivery_pk}"


@dataclass(frozen=True)
class Recorded:
    delivery_pk: int
    new: bool


def now() -> datetime:
    return datetime.now(UTC)


def record(
    engine: Engine,
    *,
    source: str,
    delivery_id: str,
    event_name: str,
    event_kind: str,
    item_ref: str | None,
    headers: Mapping[str, str],
    body: bytes,
) -> Recorded:
    """Insert the delivery unless the same (source, delivery id), or the same body from the same
    source, is already there: a body replayed under a fresh, unsigned delivery header is the same
    delivery.

    One statement with ON CONFLICT DO NOTHING, so fifty concurrent copies of one delivery give
    one row and exactly one caller sees ``new=True``.
    """
    moment = now()
    digest = body_digest(body)
    values = dict(
        source=source,
        delivery_id=delivery_id,
        event_name=event_name,
        event_kind=event_kind,
        item_ref=item_ref,
        headers=dict(headers),
        body=body,
        body_digest=digest,
        status=RECEIVED,
        attempts=0,
        received_at=moment,
        updated_at=moment,
    )
    with begin_write(engine) as connection:
        inserted = connection.execute(*insert_or(deliveries, values, returning="id")).scalar_one_or_none()
        if inserted is not None:
            return Recorded(inserted, True)
        existing = (
            connection.execute(_find_id, {"source": source, "delivery_id": delivery_id, "body_digest": digest})
            .scalars()
            .first()
        )
        if existing is None:  # the row that conflicted was removed in between: very unlikely
            raise RuntimeError("delivery conflicted with a row that is gone; the sender will retry")
        return Recorded(existing, False)


def body_digest(body: bytes) -> str:
    """What identifies a body: the delivery id of one whose tracker sends none, and the check
    that makes a replayed body a duplicate whatever its delivery header says."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


_find_id = (
    select(deliveries.c.id)
    .where(deliveries.c.source == bindparam("source"))
    .where(
        (deliveries.c.delivery_id == bindparam("delivery_id")) | (deliveries.c.body_digest == bindparam("body_digest"))
    )
    .order_by(deliveries.c.id)
)


def get(engine: Engine, delivery_pk: int) -> Delivery | None:
    with engine.connect() as connection:
        row = connection.execute(select(deliveries).where(deliveries.c.id == delivery_pk)).mappings().first()
    return None if row is None else _delivery(row)


def find(engine: Engine, source: str, delivery_id: str) -> Delivery | None:
    with engine.connect() as connection:
        row = (
            connection.execute(
                select(deliveries).where(deliveries.c.source == source, deliveries.c.delivery_id == delivery_id)
            )
            .mappings()
            .first()
        )
    return None if row is None else _delivery(row)


def list_by_status(engine: Engine, statuses: Sequence[str], limit: int = 100) -> list[Delivery]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries).where(deliveries.c.status.in_(statuses)).order_by(deliveries.c.id).limit(limit)
        ).mappings()
        return [_delivery(row) for row in rows]


@dataclass(frozen=True)
class Pending:
    """What the sweep needs of an unfinished delivery (not its body)."""

    id: int
    event_kind: str
    current_job: str | None
    retry_at: datetime | None

    @property
    def job_id(self) -> str:
        return self.current_job or job_id_for(self.id)


def unfinished_before(engine: Engine, cutoff: datetime, limit: int = 500) -> list[Pending]:
    """Deliveries still waiting for their job, last touched before ``cutoff``."""
    columns = (deliveries.c.id, deliveries.c.event_kind, deliveries.c.job_id, deliveries.c.retry_at)
    with engine.connect() as connection:
        rows = connection.execute(
            select(*columns)
            .where(deliveries.c.status == RECEIVED, deliveries.c.updated_at < cutoff)
            .order_by(deliveries.c.id)
            .limit(limit)
        ).all()
    return [Pending(row[0], row[1], row[2], utc(row[3])) for row in rows]


def claim(engine: Engine, delivery_pk: int) -> Delivery | None:
    """Count one more attempt at a delivery still waiting for its job, and return it as it is
    now; None when it is not waiting (finished, or no such delivery). One statement where a
    read and then a write took two transactions: every job starts here."""
    with begin_write(engine) as connection:
        row = connection.execute(_claim, {"pk": delivery_pk, "now": now()}).mappings().first()
    return None if row is None else _delivery(row)


_claim = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("pk"), deliveries.c.status == RECEIVED)
    .values(attempts=deliveries.c.attempts + 1, updated_at=bindparam("now"))
    .returning(*deliveries.c)
)


def finish(engine: Engine, delivery_pk: int, status: str, outcome: str | None = None, error: str | None = None) -> bool:
    """Move a delivery out of ``received``. False when another run finished it first."""
    if status not in (DONE, IGNORED, FAILED):
        raise ValueError(f"not a final status: {status}")
    values = {"pk": delivery_pk, "status": status, "outcome": outcome, "last_error": error, "now": now()}
    with begin_write(engine) as connection:
        return connection.execute(_finish, values).rowcount == 1


_finish = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("pk"), deliveries.c.status == RECEIVED)
    .values(
        status=bindparam("status"),
        outcome=bindparam("outcome"),
        last_error=bindparam("last_error"),
        updated_at=bindparam("now"),
    )
)


def reopen(engine: Engine, delivery_pk: int) -> bool:
    """Put a failed (or finished) delivery back to ``received`` so its job runs again."""
    with begin_write(engine) as connection:
        result = connection.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_pk, deliveries.c.status != RECEIVED)
            .values(status=RECEIVED, last_error=None, job_id=None, retry_at=None, updated_at=now())
        )
        return result.rowcount == 1


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all()
    found = {status: count for status, count in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def _delivery(row: Mapping) -> Delivery:
    values = {key: row[key] for key in Delivery.__dataclass_fields__ if key not in ("current_job",)}
    values["current_job"] = row["job_id"]
    for key in ("received_at", "updated_at", "retry_at"):
        values[key] = utc(values[key])
    return Delivery(**values)


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """SQLite keeps no zone; we only ever write UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def reschedule(
    engine: Engine, delivery_pk: int, job_id: str, retry_at: datetime, error: str, *, count_attempt: bool = True
) -> None:
    """Hand the delivery to a new job that runs at ``retry_at`` (a tracker asked us to wait).
    ``count_attempt=False`` gives back the attempt ``claim`` counted: the job only waited (for
    an incident another job held), so it neither nears giving up nor lengthens the backoff."""
    values = {"job_id": job_id, "retry_at": retry_at, "last_error": error, "updated_at": now()}
    if not count_attempt:
        values["attempts"] = deliveries.c.attempts - 1
    with begin_write(engine) as connection:
        connection.execute(update(deliveries).where(deliveries.c.id == delivery_pk).values(**values))


def age_cutoff(seconds: float) -> datetime:
    return now() - timedelta(seconds=seconds)


# --- retention --------------------------------------------------------------------------------

PRUNED = b""
"""The body of a delivery whose body was dropped (the column is NOT NULL; a real delivery body
is never empty: the web refuses one it cannot parse)."""

KEEP_FAILED_DAYS = 90
"""A failed delivery keeps its body until it is replayed, or this long."""

PRUNE_BATCH = 500


def is_pruned(delivery: Delivery) -> bool:
    return delivery.body == PRUNED


def drop_bodies(
    engine: Engine, statuses: Sequence[str], before: datetime, since: datetime | None = None, batch: int = PRUNE_BATCH
) -> int:
    """Empty the bodies of deliveries in ``statuses`` last touched before ``before`` (and not
    before ``since``, when given: rows older than that were dropped by an earlier run). Their
    rows stay, for counts, outcomes and dedupe. ``batch`` rows per transaction, so that the
    store (SQLite's single writer above all) is never held for long."""
    total = 0
    conditions = [
        deliveries.c.status.in_(statuses),
        deliveries.c.updated_at < before,
        func.length(deliveries.c.body) > 0,
    ]
    if since is not None:
        conditions.append(deliveries.c.updated_at >= since)
    while True:
        with engine.connect() as connection:  # a read: no write lock while there is nothing to do
            ids = (
                connection.execute(select(deliveries.c.id).where(*conditions).order_by(deliveries.c.id).limit(batch))
                .scalars()
                .all()
            )
        if not ids:
            return total
        with begin_write(engine) as connection:
            # the conditions again: a row replayed since the select keeps its body
            total += connection.execute(
                update(deliveries).where(deliveries.c.id.in_(ids), *conditions[:2]).values(body=PRUNED)
            ).rowcount
        if len(ids) < batch:
            return total
