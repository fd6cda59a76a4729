"""A small circuit breaker for the web's calls to Redis.

A Redis that accepts connections and never answers costs each request its socket timeout; with
requests handled by a few threads, the ones behind wait for the ones ahead, so answers pile up
past a tracker's deadline. After a failure the breaker stays open for a few seconds: requests
then skip Redis at once (the delivery is recorded, and the worker's sweep queues it). When the
pause is over, one request at a time tries Redis again; a success closes the breaker.
"""

from __future__ import annotations

import threading
import time

from flask import Flask


class CircuitBreaker:
    def __init__(self, open_seconds: float = 5.0) -> None:
        self.open_seconds = open_seconds
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether to call Redis now. While open, no; once the pause is over, yes for one
        caller (the probe) until it reports back."""
        with self._lock:
            if self._open_until == 0.0:
                return True
            if self._probing or time.monotonic() < self._open_until:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._open_until = 0.0
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self.open_seconds
            self._probing = False


_EXTENSION = "lessonloop_redis_breaker"


def install(app: Flask) -> CircuitBreaker:
    """Give ``app`` its breaker for Redis (one per app, shared by its threads)."""
    breaker = app.extensions[_EXTENSION] = CircuitBreaker()
    return breaker


def of(app: Flask) -> CircuitBreaker:
    breaker: CircuitBreaker = app.extensions[_EXTENSION]
    return breaker
