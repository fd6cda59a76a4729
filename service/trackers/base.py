"""The one interface every tracker client implements, and the small values it passes around.

Workers talk to GitHub, Jira and PagerDuty only through :class:`TrackerClient`. Where a tracker
cannot do something (PagerDuty has no tasks and its notes cannot be edited) the client raises
:class:`~service.trackers.errors.UnsupportedOperation` and says so up front in ``capabilities``,
so a worker can decide before it calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol, runtime_checkable

from service.domain.events import Item, ItemRef, Markup, Source
from service.domain.history import History
from service.text.markers import FOLLOWUP, LINK, REVIEW, Marker, MarkerKeys

REVIEW_PROPERTY_KEY = "lessonloop"
"""Jira issue entity property written on every review lessonloop opens (and label on it)."""


@dataclass(frozen=True)
class Capabilities:
    """What a tracker allows, so workers can choose a path without trying and failing."""

    edit_comments: bool  # a comment lessonloop wrote can be edited in place


@dataclass(frozen=True)
class ReviewDraft:
    """A review task to open. ``body`` is in the tracker's markup, without the marker."""

    container: str  # where it goes: GitHub "owner/repo", Jira project key "OPS"
    title: str
    body: str
    incident: ItemRef
    incident_url: str
    incident_title: str = ""
    labels: tuple[str, ...] = ()
    assignee: str | None = None  # GitHub login; Jira accountId (Cloud) or user name (Data Center)
    due: date | None = None  # Jira only: GitHub issues have no due date
    issue_type: str = "Task"  # Jira only
    link_type: str = "Relates"  # Jira only, when the incident is a Jira issue too


@dataclass(frozen=True)
class Review:
    """A review task that exists in a tracker, found or just opened."""

    ref: ItemRef
    url: str
    incident: ItemRef
    title: str = ""
    closed_as_duplicate: bool = False
    """lessonloop already closed it as a duplicate of another review of the same incident."""


@dataclass(frozen=True)
class TaskDraft:
    """A task to open (a follow-up). ``body`` is in the tracker's markup, without the marker;
    ``marker`` is sealed by the client for the container, as a review's is, because the task's
    own number is not known before it exists."""

    container: str  # GitHub "owner/repo", Jira project key "OPS"
    title: str
    body: str
    marker: Marker
    labels: tuple[str, ...] = ()
    due: date | None = None  # Jira's due date; GitHub has none (say it in the body)
    issue_type: str = "Task"  # Jira only
    related: ItemRef | None = None  # the item the task comes from (the review): linked from the task
    related_url: str = ""
    related_title: str = ""


@dataclass(frozen=True)
class Task:
    """A task that exists in a tracker, found or just opened."""

    ref: ItemRef
    url: str
    title: str = ""


@dataclass(frozen=True)
class Comment:
    """A comment (GitHub, Jira) or note (PagerDuty). ``body`` is as stored, marker included."""

    id: str
    body: str
    marker: Marker | None
    """Set only when the comment is lessonloop's own: its marker verifies for the item it is on
    and the tracker says lessonloop's identity wrote it."""
    url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Identity:
    """Who the configured credentials act as."""

    source: Source
    id: str  # GitHub login, Jira accountId (Cloud) or user key/name (Data Center), PagerDuty user id
    name: str
    email: str = ""
    kind: Literal["user", "account", "app"] = "user"
    """"account": a PagerDuty account-level token; "app": a GitHub App, acting as ``<slug>[bot]``."""


@runtime_checkable
class TrackerClient(Protocol):
    """One tracker, seen the way lessonloop needs it. Every method makes as few calls as it can.

    All methods raise only :class:`~service.trackers.errors.TrackerError` subclasses: a
    ``TransientTrackerError`` (a :class:`~service.infra.failures.RetryLater`) or a
    ``PermanentTrackerError`` (a :class:`~service.infra.failures.Permanent`; ``NotSent`` when an argument
    was refused before any request, ``UnsupportedOperation`` when the tracker has no such thing).
    """

    source: Source
    markup: Markup
    capabilities: Capabilities

    def whoami(self) -> Identity:
        """Who our credentials are (``lessonloop check --online``, ignoring our own events)."""
        ...

    def get_item(self, ref: ItemRef) -> Item:
        """Read an issue or incident: title, body, status, labels, assignees, URL, timestamps."""
        ...

    def history(self, ref: ItemRef) -> History:
        """What happened to the item, as the tracker records it (timeline, changelog, log entries)."""
        ...

    def get_item_with_history(self, ref: ItemRef) -> tuple[Item, History | None]:
        """``get_item``, with the history too where the tracker gives both in one answer (Jira
        expands an issue's changelog); None where that would cost a request more (GitHub,
        PagerDuty): call ``history`` once it is known to be needed."""
        ...

    def open_review(self, draft: ReviewDraft) -> Review:
        """Create the review task, marked, and linked to its incident from the review's side."""
        ...

    def find_review(self, container: str, incident: ItemRef, since: datetime | None = None) -> Review | None:
        """The review lessonloop already opened in ``container`` for ``incident``, if any.

        ``since`` (when the incident closed, say) lets the tracker skip older reviews.
        """
        ...

    def open_task(self, draft: TaskDraft) -> Task:
        """Create a task carrying ``draft.marker`` (sealed for the container), linked to
        ``draft.related``; UnsupportedOperation where there are no tasks (PagerDuty)."""
        ...

    def find_task(self, container: str, marker: Marker, since: datetime | None = None) -> Task | None:
        """The task lessonloop opened in ``container`` whose verified marker has ``marker``'s kind
        and every one of its attributes, if any (a retry after a crash looks for it)."""
        ...

    def link(self, item: ItemRef, target: ItemRef, target_url: str, title: str) -> None:
        """Make ``item`` point at ``target``; idempotent (a second call adds nothing)."""
        ...

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        """Post ``text`` with ``marker`` attached the way this tracker hides it best."""
        ...

    def edit_comment(self, item: ItemRef, comment_id: str, text: str, marker: Marker) -> Comment:
        """Replace a comment lessonloop wrote; UnsupportedOperation where comments are append-only."""
        ...

    def comments(self, item: ItemRef) -> list[Comment]:
        """Every comment on ``item``, oldest first, each with its marker if it has one."""
        ...

    def find_comments(self, item: ItemRef, kind: str | None = None) -> list[Comment]:
        """lessonloop's own comments on ``item`` (of one marker ``kind`` if given), oldest first."""
        ...


@runtime_checkable
class Reconciles(Protocol):
    """A tracker where lessonloop can undo a duplicate of its own: a write the tracker applied
    after the worker that sent it had died or stopped waiting, so that a retry wrote it again.
    GitHub and Jira; PagerDuty's notes cannot be deleted and it has no reviews."""

    def find_reviews(self, container: str, incident: ItemRef, since: datetime | None = None) -> list[Review]:
        """Every review lessonloop opened in ``container`` for ``incident`` (its own identity
        created it and its marker verifies there), oldest first: one, unless a late write doubled it."""
        ...

    def close_duplicate_review(self, duplicate: Review, kept: Review) -> None:
        """Close ``duplicate`` (a review lessonloop opened) with a comment pointing at ``kept``;
        idempotent, so a retry after a crash adds no second comment."""
        ...

    def delete_comment(self, item: ItemRef, comment_id: str) -> None:
        """Delete a comment lessonloop wrote on ``item``; one already gone counts as deleted."""
        ...


@runtime_checkable
class TakesReviews(Protocol):
    """A tracker reviews open in (GitHub, Jira), which can say beforehand what would stop that."""

    def target_problems(self, container: str, issue_type: str, assignee: bool = True) -> list[str]:
        """What would stop lessonloop opening reviews in ``container`` (as ``issue_type`` where
        the tracker has issue types, assigned when ``assignee``), one sentence each; none: it can."""
        ...


def review_marker(incident: ItemRef) -> Marker:
    """The marker on a review: which incident it reviews."""
    return Marker(REVIEW, {"incident": str(incident)})


def followup_marker(review: ItemRef | str, key: str) -> Marker:
    """The marker on a follow-up task: the lesson (by its review) and the item's stable key."""
    return Marker(FOLLOWUP, {"review": str(review), "key": key})


def marker_matches(found: Marker | None, wanted: Marker) -> bool:
    return (
        found is not None
        and found.kind == wanted.kind
        and all(found.get(name) == value for name, value in wanted.attrs.items())
    )


def duplicate_note(kept: Review) -> str:
    """The comment on a review lessonloop closes as a duplicate: where the lesson is written."""
    return (
        f"lessonloop opened this review twice for {kept.incident}: a request the tracker carried out late. "
        f"The lesson is written in {kept.url}; this copy is closed as its duplicate."
    )


def link_marker(target: ItemRef) -> Marker:
    """The marker on a comment or note that only points at a related item."""
    return Marker(LINK, {"target": str(target)})


class MarkedComments:
    """What every client does alike with the comments lessonloop marks, on top of its own
    ``comments`` and ``add_comment``: which comments are lessonloop's, finding them, and a
    comment that points at another item written once however often a retry asks."""

    keys: MarkerKeys

    def comments(self, item: ItemRef) -> list[Comment]:
        raise NotImplementedError

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        raise NotImplementedError

    def find_comments(self, item: ItemRef, kind: str | None = None) -> list[Comment]:
        """lessonloop's own comments on ``item`` (of one marker ``kind`` if given), oldest first."""
        return [c for c in self.comments(item) if c.marker is not None and (kind is None or c.marker.kind == kind)]

    def _point_at(self, item: ItemRef, target: ItemRef, text: str) -> None:
        """A comment on ``item`` saying ``text``, marked as pointing at ``target``, unless
        lessonloop's own such comment is there already (1 read + 0 or 1 write)."""
        marker = link_marker(target)
        said = self.find_comments(item, marker.kind)
        if not any(comment.marker is not None and comment.marker.get("target") == str(target) for comment in said):
            self.add_comment(item, text, marker)

    def _our_marker(self, body: str, where: str, by_us: Callable[[], bool]) -> Marker | None:
        """The marker of a comment when it is lessonloop's own: its MAC verifies for ``where``
        (the item it is on) and ``by_us`` says lessonloop's identity wrote it. ``by_us`` is asked
        only of a verified marker, since knowing who we are may cost a request."""
        verified = self.keys.find(body, where)
        return verified[0] if verified and by_us() else None
