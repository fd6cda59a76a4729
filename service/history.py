"""An incident's history as lessonloop puts it into a review: what happened, when, and who acted.

Each tracker keeps it its own way (PagerDuty's log entries, GitHub's issue timeline, Jira's
changelog and comments); the tracker clients turn theirs into :class:`History` and the stub
renders it (service/lesson/timeline.py). Names here are the tracker's own display names, and
``person`` the tracker's id for that person, so that ``[people]`` can name them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
