"""The two expected ways a piece of work can fail, and what a worker does about each.

:class:`RetryLater`: not now (a tracker's 429 or 5xx, a timeout, an incident another job holds);
the job runs again, after ``wait`` seconds when someone said how long. :class:`Permanent`: retrying
will not help (a tracker refused the request, a credential is missing); the job stops, the
delivery is failed with ``str(error)`` as its reason, and ``lessonloop replay --failed`` runs it
again once the cause is fixed. Both are expected: the worker logs one line for them, no
traceback. Any other exception is a bug or a fault nobody foresaw: the job fails too, and its
traceback is logged.

Tracker errors (:mod:`service.trackers.errors`) subclass these; workers decide retry or fail by
these two classes alone.
"""

from __future__ import annotations

from typing import ClassVar


class RetryLater(Exception):
    """Not now: run the job again later, after ``wait`` seconds when that is known."""

    held_back: ClassVar[bool] = False
    """True for a call lessonloop held back itself (the shared rate limit had no slot): nothing
    failed and nothing was sent, so it never counts towards giving up."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class Permanent(Exception):
    """Retrying will not help: stop, and show ``str(error)``, which says what is wrong (and,
    where lessonloop knows, what to change)."""
