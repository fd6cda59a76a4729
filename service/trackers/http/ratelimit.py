"""One rate limiter per tracker and credential, shared by every worker through Redis.

Each tracker documents a ceiling: GitHub at most 80 content-generating requests a minute and 500
an hour (its secondary rate limits), PagerDuty 900 REST requests a minute, Jira no fixed number
but a 429 with ``Retry-After``. Workers on many machines share those budgets, so the budget lives
in Redis and is taken atomically by a Lua script, *before* the request is sent: a request the
limiter refuses never goes out.

The algorithm is a sliding-window log: a sorted set of the times of the requests sent, checked
against every window of the budget at once (GitHub's minute and hour together). It guarantees at
most N requests in *any* window of the given length, whatever way the tracker counts (fixed or
rolling windows), while letting a burst up to N go at once. The clock is Redis's own (``TIME``),
so workers whose clocks differ still agree.

The tracker counts a request when it *arrives*, somewhere between our reserving the slot and our
hearing the answer; a worker descheduled in between could make two requests reserved a window
apart arrive closer than that. So once the answer is in (or the request failed), the entry's
time is moved to then (:meth:`RateLimiter.settle`): the next window is measured from a moment no
earlier than the arrival, whatever the delays. Every window is taken ``SLACK`` longer than the
tracker's, so an answer heard within half that slack of the reservation needs no move (it
arrived no later than that): most answers, which saves a Redis round trip a limited request.

A 429 (or GitHub's rate-limit 403) with a wait, and Jira's ``X-RateLimit-NearLimit``, put a
*hold* in Redis: every worker using that credential waits until it passes, not only the one that
was refused.

Keys: ``lessonloop:ratelimit:{<tracker>:<hash>}:...`` where the hash is of the tracker's API URL
and the credential (never the credential itself), so two installs with different tokens sharing
one Redis keep separate budgets. Losing the keys (Redis flushed or restarted) only forgets the
recent past: the next call starts a fresh log; the script is loaded again when Redis forgot it.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from redis import Redis
from redis.exceptions import RedisError

from service.infra import logs
from service.trackers.errors import TransientTrackerError

log = logs.get(__name__)

SLACK = 0.01
"""Windows are taken 1% longer than the tracker's (0.6 s on a minute): rounding, and a tracker
that counts in whole seconds."""

NEAR_LIMIT_HOLD = 1.0
"""Seconds every worker pauses when Jira says ``X-RateLimit-NearLimit: true`` (under 20% of a
budget left) without saying for how long."""

MAX_HOLD = 3600.0
"""The longest any tracker's answer may hold the workers (GitHub's hourly reset): a wait of a
year in a hostile or broken header holds them an hour, and the job retries then."""

GITHUB_UNHINTED_HOLD = 60.0
"""GitHub: a secondary rate limit answered with no ``retry-after`` means wait at least a minute."""

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

# KEYS[1] hold, KEYS[2] log (optional). ARGV: member, then (limit, window ms) pairs.
# Returns 0 when a slot was taken, else the milliseconds until one may be free.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local wait = 0
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > now then wait = hold - now end
if #KEYS < 2 then return math.ceil(wait) end
local longest = 0
for i = 2, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1])
  if window > longest then longest = window end
  local since = '(' .. tostring(now - window)
  local count = redis.call('ZCOUNT', KEYS[2], since, '+inf')
  if count >= limit then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
    local free = tonumber(oldest[2]) + window - now
    if free > wait then wait = free end
  end
end
if wait > 0 then return math.max(1, math.ceil(wait)) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - longest)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], math.ceil(longest) + 1000)
return 0
"""

# KEYS: logs. ARGV[1] member. Moves the member, if still there, to now: its request is answered.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1])
end
return 0
"""

# KEYS[1] hold. ARGV[1] milliseconds from now. The later hold wins.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local hold_until = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < hold_until then
  redis.call('SET', KEYS[1], tostring(hold_until), 'PX', math.ceil(tonumber(ARGV[1])) + 1000)
end
return 0
"""


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


@dataclass(frozen=True)
class Budget:
    """Requests of ``methods`` (None: every request) may number at most ``limit`` in each window."""

    name: str
    windows: tuple[Window, ...]
    methods: frozenset[str] | None = None

    def applies_to(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


class RateLimitDeferred(TransientTrackerError):
    """A request lessonloop did not send because the shared budget had no slot soon enough.

    ``retry_after`` is when one may be free; ``may_have_applied`` is always False. ``held_back``
    tells a worker it is no tracker's 429: it does not count as a failed attempt."""

    held_back = True


class RateLimited(Exception):
    """The wait for a slot is longer than the client may sleep: the job should be rescheduled.

    Deliberately not a :class:`TransientTrackerError`, so the client's own retry loop does not
    catch it and sleep; :meth:`as_tracker_error` is what leaves the client."""

    def __init__(self, tracker: str, budget: str, wait: float) -> None:
        super().__init__(f"{tracker}: {budget}: next slot in {wait:.1f} s")
        self.tracker = tracker
        self.budget = budget
        self.wait = wait

    def as_tracker_error(self, operation: str) -> RateLimitDeferred:
        return RateLimitDeferred(
            self.tracker,
            operation,
            f"rate limit ({self.budget}): not sent, next slot in {self.wait:.1f} s",
            None,
            self.wait,
            may_have_applied=False,
        )


def credential_key(tracker: str, api_url: str, credential: str) -> str:
    """A stable name for one credential on one tracker that does not reveal the credential."""
    digest = hashlib.sha256(f"{tracker}\0{api_url.rstrip('/')}\0{credential}".encode()).hexdigest()
    return f"lessonloop:ratelimit:{{{tracker}:{digest[:20]}}}"


@dataclass(frozen=True)
class Reservation:
    """The slots one request took: settle it once the request is answered or has failed.

    ``asked_at`` (``time.monotonic()``) is when the slot was asked for, before Redis stamped
    it; ``margin`` is how long after that an answer may come without moving the stamp: half
    the slack the shortest window was lengthened by."""

    member: str
    keys: tuple[str, ...]
    asked_at: float = 0.0
    margin: float = 0.0


@dataclass
class RateLimiter:
    """The budgets of one tracker credential. ``acquire`` before each request, ``observe`` after."""

    redis: Redis
    tracker: str
    key: str
    budgets: Sequence[Budget] = ()
    max_wait: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    unhinted_hold: float | None = None
    near_limit_hold: float = NEAR_LIMIT_HOLD
    slack: float = SLACK

    def __post_init__(self) -> None:
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._hold = self.redis.register_script(_HOLD)
        self._settle = self.redis.register_script(_SETTLE)

    @property
    def hold_key(self) -> str:
        return f"{self.key}:hold"

    def log_key(self, budget: Budget) -> str:
        return f"{self.key}:{budget.name}"

    def acquire(self, method: str) -> Reservation | None:
        """Take a slot in every budget ``method`` counts against, waiting up to ``max_wait`` in all.

        Raises :class:`RateLimited` when the wait would be longer, and a transient tracker error
        when Redis cannot be asked (sending blind could break the limit). Returns what to
        :meth:`settle` after the request (None when no budget counts it)."""
        waited = 0.0
        member = uuid.uuid4().hex
        taken: list[str] = []
        budgets: list[Budget | None] = [b for b in self.budgets if b.applies_to(method)] or [None]
        asked_at: float | None = None  # before the earliest stamp: the first slot taken
        for budget in budgets:
            while True:
                trying = time.monotonic()
                wait = self._try(budget, member)
                if wait <= 0:
                    asked_at = trying if asked_at is None else asked_at
                    break
                if waited + wait > self.max_wait:
                    raise RateLimited(self.tracker, budget.name if budget else "held after a 429", wait)
                self.sleep(wait)
                waited += wait
            if budget is not None:
                taken.append(self.log_key(budget))
        if not taken or asked_at is None:
            return None
        shortest = min(w.seconds for b in budgets if b is not None for w in b.windows)
        return Reservation(member, tuple(taken), asked_at, shortest * self.slack / 2)

    def settle(self, reservation: Reservation | None) -> None:
        """The request has been answered (or has failed): count it from now, the latest moment it
        can have reached the tracker."""
        if reservation is None or time.monotonic() - reservation.asked_at <= reservation.margin:
            return  # answered so soon that the slack covers it: the stamp can stay
        try:
            self._settle(keys=list(reservation.keys), args=[reservation.member])
        except RedisError as error:  # the slot stays counted from its reservation, a little early
            log.warning(
                "rate limiter: a request's slot was not moved to its answer",
                tracker=self.tracker,
                error=type(error).__name__,
            )

    def _try(self, budget: Budget | None, member: str) -> float:
        keys = [self.hold_key] if budget is None else [self.hold_key, self.log_key(budget)]
        args: list[str | int] = [member]
        if budget is not None:
            for window in budget.windows:
                args += [window.limit, round(window.seconds * (1 + self.slack) * 1000)]
        try:
            answer = self._acquire(keys=keys, args=args)
        except RedisError as error:
            raise TransientTrackerError(
                self.tracker,
                "rate limit",
                f"the shared rate limiter is unavailable: {type(error).__name__}",
                None,
                None,
                may_have_applied=False,
            ) from None
        return int(answer) / 1000.0

    def observe(self, rate_limited: bool, headers: Mapping[str, str], wait: float | None) -> None:
        """Share what the tracker said about its limits with every worker: a rate-limit answer
        holds them all for ``wait`` (the tracker's ``Retry-After`` or reset, else
        ``unhinted_hold``); Jira's near-limit warning holds them briefly."""
        hold: float | None = None
        if rate_limited:
            hold = wait if wait is not None else self.unhinted_hold
        elif _header(headers, "x-ratelimit-nearlimit").lower() == "true":
            hold = self.near_limit_hold
        if hold:
            self.hold(hold)

    def hold(self, seconds: float) -> None:
        if math.isnan(seconds) or seconds <= 0:
            return
        try:
            self._hold(keys=[self.hold_key], args=[max(1, round(min(seconds, MAX_HOLD) * 1000))])
        except RedisError as error:  # the refused call is retried with its own wait anyway
            log.warning(
                "rate limiter: the other workers were not told to wait",
                tracker=self.tracker,
                seconds=round(seconds, 1),
                error=type(error).__name__,
            )


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value.strip()
    return ""


def github_budgets(writes_per_minute: int, writes_per_hour: int, scale: float = 1.0) -> tuple[Budget, ...]:
    return (
        Budget("writes", (Window(writes_per_minute, 60 * scale), Window(writes_per_hour, 3600 * scale)), WRITE_METHODS),
    )


def per_minute(
    requests_per_minute: int | None, scale: float = 1.0, methods: Collection[str] | None = None
) -> tuple[Budget, ...]:
    if requests_per_minute is None:
        return ()
    return (
        Budget("requests", (Window(requests_per_minute, 60 * scale),), None if methods is None else frozenset(methods)),
    )


__all__ = [
    "WRITE_METHODS",
    "Budget",
    "RateLimitDeferred",
    "RateLimited",
    "RateLimiter",
    "Reservation",
    "Window",
    "credential_key",
    "github_budgets",
    "per_minute",
]
