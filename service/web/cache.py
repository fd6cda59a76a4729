"""Figures over the whole log, and each lesson page's related lessons, computed once and shared
by every view until the log changes.

An entry is kept under the log's :mod:`~service.store.generation` token: a lesson or
follow-up saved by any process replaces the token, and the next view computes afresh. Entries
also expire after :data:`MAX_AGE`, for what changes the figures without a lesson or
follow-up write (a review opened, a new day). One thread computes a missing entry while the
others wanting it wait for it, so eight users arriving together cost one computation, not
eight. Each :class:`Space` keeps at most its number of entries (figures: ``MAX_ENTRIES``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from service.store import generation

MAX_AGE = 60.0
MAX_ENTRIES = 64
"""Entries kept per process, the least recently computed dropped first: the views a reader
can ask for (any dates, services and labels) are unbounded, the memory they take must not be."""
EXTENSION = "lessonloop_cache"


@dataclass(frozen=True)
class Space:
    """Entries of one kind, kept apart, so that many of them (a lesson's related lessons, one
    per lesson read) never push out another kind's (a view of /insights)."""

    extension: str
    entries: int


FIGURES = Space(EXTENSION, MAX_ENTRIES)
COUNTS = Space("lessonloop_count_cache", 256)
"""The log's count under each set of filters a list was asked for: a page of a filtered list
reads its 25 lessons and stops, its count reads every lesson the filters select (12 – 30 ms at
90,000 lessons, docs/web.md), and the filters people use are few and used again and again."""
RELATED = Space("lessonloop_related_cache", 256)
"""Each lesson page's related lessons: finding them ranks up to a thousand lessons
(:func:`service.store.search.similar`), while the lessons people open in a day are few and
opened again and again (the one in today's incident channel)."""


@dataclass(frozen=True)
class _Entry:
    token: str
    expires: float
    value: Any


class Cache:
    def __init__(self) -> None:
        self.entries: dict[Hashable, _Entry] = {}
        self.lock = threading.Lock()


def remembered_count(filters: Hashable, count: Callable[[], int]) -> int:
    """The log's count under ``filters``, kept among :data:`COUNTS` (what
    :func:`service.store.search.find` is given as ``remember``)."""
    return int(cached(("listed", filters), count, space=COUNTS))


def cached(key: Hashable, compute: Callable[[], Any], max_age: float = MAX_AGE, space: Space = FIGURES) -> Any:
    """``compute()``'s value, as computed at the log's current generation and at most
    ``max_age`` seconds ago, kept among ``space``'s entries."""
    store: Cache = current_app.extensions.setdefault(space.extension, Cache())
    token = generation.current(current_app.extensions["lessonloop"].engine)
    found = store.entries.get(key)
    if found is not None and found.token == token and found.expires > time.monotonic():
        return found.value
    with store.lock:
        found = store.entries.get(key)
        if found is not None and found.token == token and found.expires > time.monotonic():
            return found.value
        value = compute()
        store.entries.pop(key, None)
        while len(store.entries) >= space.entries:
            del store.entries[next(iter(store.entries))]
        store.entries[key] = _Entry(token, time.monotonic() + max_age, value)
        return value
