"""An incident's history as lessonloop puts it into a review: what happened, when, and who acted.

Each tracker keeps it its own way (PagerDuty's log entries, GitHub's issue timeline, Jira's
changelog and comments); the tracker clients turn theirs into :class:`History` and the stub
renders it (service/lesson/timeline.py). Names here are the tracker's own display names, and
``person`` the tracker's id for that person, so that ``[people]`` can name them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from service.domain.events import Item

OPENING_KINDS = frozenset({"trigger"})
"""Entries that open an item: PagerDuty's trigger."""
CLOSING_KINDS = frozenset({"resolve", "closed"})
"""Entries that close an item: PagerDuty's resolve, GitHub's closed."""


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    what: str
    """What happened, in a few words: "acknowledged", "assigned to Ada", "labelled sev1"."""
    who: str = ""
    """The actor's name in that tracker, if the tracker says."""
    person: str = ""
    """The tracker's id of the person this entry shows acting or being given the incident."""
    responder: str = ""
    """Set when the entry shows someone responding (acknowledged, was assigned, commented): their
    name; the header lists these people, never only the final assignee."""
    kind: str = ""
    """A short word for the kind of entry (``assign``, ``acknowledge``...), for the people mapping."""


@dataclass(frozen=True)
class History:
    entries: tuple[HistoryEntry, ...] = ()
    url: str = ""
    """Where a person reads the whole history."""
    omitted: int = 0
    """Entries the tracker has between the first and last ones read, left unread."""
    problem: str = ""
    """What could not be read, said in the review instead of failing it."""

    @classmethod
    def unreadable(cls, problem: str, url: str = "") -> History:
        return cls(problem=problem, url=url)

    def people(self) -> list[str]:
        """Who responded, in the order they first acted, each once."""
        return list(dict.fromkeys(entry.responder for entry in self.entries if entry.responder))


def with_times_from(item: Item, history: History) -> Item:
    """``item`` with the opening and closing times its tracker's answer left out taken from its
    history: the first trigger, the last resolve or close. PagerDuty's incident may lack
    ``resolved_at`` while its log holds the resolve entry; the review's "Closed" and "Lasted"
    then come from the log instead of saying "unknown". Times the item has are kept."""
    opened = item.created_at
    closed = item.closed_at
    if opened is None:
        opened = min((e.at for e in history.entries if e.kind in OPENING_KINDS), default=None)
    if closed is None and item.done:
        closed = max((e.at for e in history.entries if e.kind in CLOSING_KINDS), default=None)
    if (opened, closed) == (item.created_at, item.closed_at):
        return item
    return replace(item, created_at=opened, closed_at=closed)
