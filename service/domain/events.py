"""lessonloop's own words for what a tracker told us: items, refs and events.

The per-source parsers turn each tracker's payload into these; nothing downstream of a parser
looks at a tracker's payload shape again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, cast

from config.sources import Source

Markup = Literal["markdown", "jira", "plain"]
"""What text in a tracker is written in: GitHub Markdown, Jira wiki markup, PagerDuty's plain
notes. Each tracker client says its own as ``markup``; ``service.trackers.registry.markup_of``
answers for a source without credentials."""

ReviewMarkup = Literal["markdown", "jira"]
"""The markups a review is written in. Reviews open only where there are tasks (GitHub, Jira: see
``config.rules.ReviewTarget``), and a review's stub needs section headings, which plain text has
not; so the stub and the importer take only these."""


def review_markup(markup: Markup) -> ReviewMarkup:
    """``markup`` as a review's; ValueError for plain text, in which no review is written."""
    if markup == "plain":
        raise ValueError("a review is never written in plain text: PagerDuty has no tasks to hold one")
    return markup


class EventKind(StrEnum):
    INCIDENT_CLOSED = "incident_closed"
    REVIEW_UPDATED = "review_updated"
    REVIEW_CLOSED = "review_closed"
    ITEM_STATE = "item_state"  # an item closed or reopened that is not an incident close: maybe a follow-up
    PING = "ping"
    NOT_RELEVANT = "not_relevant"


_GITHUB_REF = re.compile(r"^github:(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)#(?P<number>[0-9]+)$")
_JIRA_REF = re.compile(r"^jira:(?P<key>[A-Z][A-Z0-9_]*-[0-9]+)$")
_PAGERDUTY_REF = re.compile(r"^pagerduty:(?P<id>[A-Z0-9]+)$")


@dataclass(frozen=True, order=True)
class ItemRef:
    """Names one item in one tracker: ``github:acme/web#42``, ``jira:OPS-42``, ``pagerduty:PGR0VU2``."""

    source: Source
    key: str  # "acme/web#42", "OPS-42", "PGR0VU2"

    def __str__(self) -> str:
        return f"{self.source}:{self.key}"

    @classmethod
    def parse(cls, text: str) -> ItemRef:
        text = text.strip()
        if _GITHUB_REF.match(text) or _JIRA_REF.match(text) or _PAGERDUTY_REF.match(text):
            source, key = text.split(":", 1)
            return cls(cast(Source, source), key)
        raise ValueError(f"not an item ref: {text!r} (expected github:owner/repo#N, jira:KEY-N or pagerduty:ID)")

    @classmethod
    def github(cls, repository: str, number: int) -> ItemRef:
        return cls("github", f"{repository}#{number}")

    @property
    def github_parts(self) -> tuple[str, str, int]:
        """(owner, repo, number) of a GitHub ref."""
        match = _GITHUB_REF.match(str(self))
        if match is None:
            raise ValueError(f"{self} is not a GitHub issue ref")
        return match["owner"], match["repo"], int(match["number"])


@dataclass(frozen=True)
class Item:
    """The facts lessonloop needs about one tracker item, whatever the tracker."""

    ref: ItemRef
    title: str
    url: str
    status: str = ""
    body: str = ""
    labels: tuple[str, ...] = ()
    issue_type: str = ""
    priority: str = ""
    urgency: str = ""
    service: str = ""
    project: str = ""
    assignees: tuple[str, ...] = ()
    created_at: datetime | None = None
    closed_at: datetime | None = None
    author: str = ""
    """Who created it, as the tracker's API names users (GitHub login, Jira accountId or name):
    a review lessonloop opened without a record in the store must be authored by lessonloop."""
    done: bool = False
    """The tracker counts it finished: a closed issue, a status in Jira's done category, a
    resolved incident (``status`` is the tracker's own name for it, which varies)."""
    resolution: str = ""
    """How it was finished: GitHub's ``state_reason`` (``completed``, ``not_planned``), Jira's
    resolution name (``Done``, ``Won't Do``); empty while open."""


@dataclass(frozen=True)
class Event:
    """What one delivery means to lessonloop."""

    source: Source
    kind: EventKind
    name: str  # the tracker's own event name, e.g. "issues.closed", "jira:issue_updated"
    item: Item | None = None
    reason: str = ""
    delivery_id: str | None = None  # an id the body itself carries (PagerDuty's event id)
    actor: str = ""


def not_relevant(source: Source, name: str, reason: str, item: Item | None = None) -> Event:
    return Event(source=source, kind=EventKind.NOT_RELEVANT, name=name, item=item, reason=reason)


class UnreadableBody(ValueError):
    """The body is not what this tracker sends: not JSON, or JSON of the wrong shape."""
