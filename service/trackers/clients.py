"""Build the tracker clients whose credentials are set, keyed by source, each with its share of
the rate limiter when a Redis is given (workers); without one (``check --online``) they send
unpaced. Each registry entry names the module that builds its tracker's client (``build``); it
is imported here only, so the HTTP stack is loaded by the processes that talk to trackers."""

from __future__ import annotations

import importlib
from types import ModuleType

from redis import Redis

from config.settings import Settings
from service.domain.events import Source
from service.text.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.http.ratelimit import RateLimiter
from service.trackers.http.retry import RetryPolicy
from service.trackers.registry import TRACKERS


def _builder(name: str) -> ModuleType:
    return importlib.import_module(TRACKERS[name].build)


def build_clients(
    settings: Settings, keys: MarkerKeys, retry: RetryPolicy = RetryPolicy(), redis: Redis | None = None
) -> dict[Source, TrackerClient]:
    """One client per tracker with credentials; a tracker without them is simply absent. Every
    client signs the markers it writes, and believes only the ones it can verify, with ``keys``.
    ``redis`` keeps what all workers share (a GitHub App's installation tokens, the rate limits)."""
    clients: dict[Source, TrackerClient] = {}
    shared = limiters(settings, redis)
    for name, entry in TRACKERS.items():
        client = _builder(name).build_client(settings, keys, retry, redis, shared.get(name))
        if client is not None:
            clients[entry.name] = client
    return clients


def limiters(settings: Settings, redis: Redis | None) -> dict[str, RateLimiter]:
    """The shared limiter of each tracker with credentials, at the limits the settings give."""
    if redis is None:
        return {}
    found: dict[str, RateLimiter] = {}
    for name in TRACKERS:
        limiter = _builder(name).limiter(settings, redis)
        if limiter is not None:
            found[name] = limiter
    return found
