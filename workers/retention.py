"""Dropping the bodies of old deliveries, so that the store does not keep every webhook forever.

A delivery done or ignored keeps its body ``[server] keep_bodies_days`` (30) after it was
handled, a failed one until it is replayed or for 90 days; then the body is emptied and the row
stays (its status, outcome and dedupe key are still worth having). The sweep calls this.

Redis remembers the cutoff of the last complete run, so each run looks only at the rows that
crossed the cutoff since (rows older than it were emptied then; a row replayed or finished later
gets a new ``updated_at`` and comes round again). Without the mark (a new Redis, say) one run
looks at every old row, then the mark is set again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from redis.exceptions import RedisError

from service.infra import logs
from service.infra.runtime import Runtime
from service.store import deliveries

log = logs.get(__name__)

MARK = "lessonloop:retention"  # hash: class -> ISO cutoff of the last complete run


def prune(runtime: Runtime, now: datetime | None = None) -> int:
    """Empty the bodies that are due; returns how many were emptied."""
    now = now or deliveries.now()
    classes = (
        ("handled", (deliveries.DONE, deliveries.IGNORED), runtime.settings.server.keep_bodies_days),
        ("failed", (deliveries.FAILED,), deliveries.KEEP_FAILED_DAYS),
    )
    total = 0
    for name, statuses, days in classes:
        before = now - timedelta(days=days)
        since = _mark(runtime, name)
        if since is not None and since >= before:
            continue
        total += deliveries.drop_bodies(runtime.engine, statuses, before, since)
        try:
            runtime.redis.hset(MARK, name, before.isoformat())
        except RedisError as error:  # next time looks further back; nothing is missed
            log.warning("could not record how far retention got", error=type(error).__name__)
    if total:
        log.info("dropped the bodies of old deliveries", count=total)
    return total


def _mark(runtime: Runtime, name: str) -> datetime | None:
    try:
        raw = runtime.redis.hget(MARK, name)
        if not raw:
            return None
        return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
    except (RedisError, ValueError, UnicodeDecodeError) as error:  # then every old row is looked at
        log.warning("could not read how far retention got", error=type(error).__name__)
        return None
