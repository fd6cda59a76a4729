"""Bounded in-client retry that honours the trackers' rate-limit headers.

A client retries a transient failure a few times while the total wait stays under a cap; past
the cap it raises :class:`TransientTrackerError` carrying the wait, so the RQ worker can
reschedule the job rather than hold a worker process asleep. Writes that may already have taken
effect (a 5xx or a read timeout on a POST) are not repeated here: the worker first looks for the
marker of what it meant to write.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from service.trackers.errors import TransientTrackerError

T = TypeVar("T")

# an epoch above this is a point in time (x-ratelimit-reset on GitHub), below it a delay in seconds
_EPOCH_THRESHOLD = 1_000_000_000

MAX_WAIT_SECONDS = 3600.0
"""No tracker hint makes us wait longer than this: the headers are hostile input, and a wait of
1e20 s (or an HTTP date in the year 9999) would overflow date arithmetic or park a job for good.
An hour later the tracker can ask again."""


def capped_wait(seconds: float | None) -> float | None:
    """``seconds`` within [0, MAX_WAIT_SECONDS]; None for no usable number (None, NaN)."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(MAX_WAIT_SECONDS, max(0.0, seconds))


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a client tries before handing a transient failure to the worker."""

    attempts: int = 4  # total tries, the first included
    max_total_wait: float = 30.0  # seconds slept across all retries of one call
    base_delay: float = 0.5  # backoff when the tracker gives no hint: base * 2**retry
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


NO_RETRY = RetryPolicy(attempts=1)


def call_with_retry(policy: RetryPolicy, call: Callable[[], T], idempotent: bool) -> T:
    """Run ``call``; on a transient error wait and try again within ``policy``'s bounds."""
    waited = 0.0
    attempt = 1
    while True:
        try:
            return call()
        except TransientTrackerError as error:
            delay = capped_wait(error.retry_after)
            if delay is None:
                delay = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
            error.retry_after = delay  # always a hint for the worker, should it get the error
            if not idempotent and error.may_have_applied:
                raise
            if attempt >= policy.attempts or waited + delay > policy.max_total_wait:
                raise
            policy.sleep(delay)
            waited += delay
            attempt += 1


def wait_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from whichever hint the tracker sent.

    ``Retry-After`` (seconds or an HTTP date; all three trackers), ``x-ratelimit-reset`` (GitHub:
    epoch seconds; Jira Cloud: an ISO timestamp) and ``ratelimit-reset`` (PagerDuty: seconds
    until the window resets). The largest wait wins: waking early only earns another 429.
    """
    now = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    waits: list[float] = []
    for name in ("retry-after", "x-ratelimit-reset", "ratelimit-reset"):
        raw = lowered.get(name)
        if raw is None:
            continue
        wait = _parse_wait(raw.strip(), now)
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def _parse_wait(raw: str, now: float) -> float | None:
    if len(raw) > 100:  # no honest hint is this long; parsing it would only cost time
        return None
    try:
        number = float(raw)
    except ValueError:
        number = None
    if number is not None:  # inf caps at the maximum; nan is no hint
        return capped_wait(number - now if number > _EPOCH_THRESHOLD else number)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, OverflowError, IndexError):
        when = None
    if when is None:
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return capped_wait(when.timestamp() - now)
    except (OverflowError, ValueError):  # a date past what the platform's clock can express
        return MAX_WAIT_SECONDS
