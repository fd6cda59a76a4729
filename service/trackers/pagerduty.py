"""PagerDuty incidents and their notes, through one HTTP transport (REST v2, plain text).

Plain HTTP rather than the ``pagerduty`` client library: we call four endpoints, need
our own error vocabulary and retry policy around every one, and the library adds its own retry
loop and exception types we would have to unwrap again.

PagerDuty has no tasks, so reviews of its incidents live in GitHub or Jira; notes are
append-only, so a changed lesson is a new note. The marker is a short bracketed prefix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.settings import PagerDutySettings
from service.events import Item, ItemRef, Markup, Source
from service.history import History, HistoryEntry
from service.markers import Marker, MarkerKeys, attach
from service.sources.pagerduty import resolution_of
from service.timestamps import parse_timestamp
from service.trackers.base import Capabilities, Comment, Identity, Review, ReviewDraft, Task, TaskDraft, link_marker
from service.trackers.errors import NotSent, PermanentTrackerError, UnsupportedOperation
from service.trackers.http import DEFAULT_TIMEOUT, HttpApi, response_message
from service.trackers.retry import RetryPolicy

ACCEPT = "application/vnd.pagerduty+json;version=2"


def _pagerduty_message(data: Any) -> str:
    error = data["error"]
    message = str(error.get("message", ""))
    details = [str(e) for e in error.get("errors") or []]
    return f"{message}: {'; '.join(details)}" if details else message


LOG_PAGE = 100

_LOG_WORDS = {
    "trigger": "triggered",
    "acknowledge": "acknowledged",
    "unacknowledge": "unacknowledged",
    "assign": "assigned",
    "escalate": "escalated",
    "annotate": "note added",
    "resolve": "resolved",
    "snooze": "snoozed",
    "urgency_change": "urgency changed",
    "priority_change": "priority changed",
    "reach_trigger_limit": "reached its trigger limit",
    "exhaust_escalation_path": "exhausted its escalation path",
}


def history_from_log_entries(log_entries: list[Any]) -> list[HistoryEntry]:
    """PagerDuty's log entries as history entries; an unknown type is named by its type."""
    entries = []
    for entry in log_entries:
        if not isinstance(entry, dict):
            continue
        at = parse_timestamp(entry.get("created_at"))
        kind = str(entry.get("type") or "").removesuffix("_log_entry")
        if at is None or not kind or kind == "notify":
            continue
        agent: dict[str, Any] = entry["agent"] if isinstance(entry.get("agent"), dict) else {}
        who = str(agent.get("summary") or "")
        by_person = agent.get("type") in ("user_reference", "user")
        what = _LOG_WORDS.get(kind, kind.replace("_", " "))
        if kind == "assign":
            assignees = [a for a in entry.get("assignees") or [] if isinstance(a, dict)]
            names = ", ".join(str(a.get("summary") or a.get("id") or "") for a in assignees)
            what = f"assigned to {names}" if names else what
            for assignee in assignees or [{}]:
                entries.append(
                    HistoryEntry(
                        at,
                        what,
                        who=who,
                        person=str(assignee.get("id") or ""),
                        responder=str(assignee.get("summary") or ""),
                        kind="assign",
                    )
                )
            continue
        responding = kind in ("acknowledge", "annotate") and by_person
        entries.append(
            HistoryEntry(
                at,
                what,
                who=who,
                person=str(agent.get("id") or "") if by_person else "",
                responder=who if responding else "",
                kind=kind,
            )
        )
    return entries


class PagerDutyClient:
    """Incidents, notes and identity on PagerDuty."""

    source: Source = "pagerduty"
    markup: Markup = "plain"
    capabilities = Capabilities(edit_comments=False)

    def __init__(
        self,
        api_token: str,
        from_email: str,
        api_url: str = "https://api.pagerduty.com",
        retry: RetryPolicy = RetryPolicy(),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        *,
        keys: MarkerKeys,
    ) -> None:
        self.keys = keys
        self._identity: Identity | None = None
        # PagerDuty's description marks Accept and Content-Type required on every call
        headers = {
            "Authorization": f"Token token={api_token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            "User-Agent": "lessonloop",
        }
        self.from_email = from_email
        self.api = HttpApi(
            "pagerduty", api_url, headers, lambda r: response_message(r, _pagerduty_message), retry, timeout
        )

    @classmethod
    def from_settings(
        cls, settings: PagerDutySettings, keys: MarkerKeys, retry: RetryPolicy = RetryPolicy()
    ) -> PagerDutyClient:
        if settings.api_token is None or not settings.from_email:
            raise ValueError("LESSONLOOP_PAGERDUTY_API_TOKEN and LESSONLOOP_PAGERDUTY_FROM are both required")
        return cls(settings.api_token.get_secret_value(), settings.from_email, settings.api_url, retry, keys=keys)

    def whoami(self) -> Identity:
        """``/users/me`` for a user token; an account-level token cannot call it (PagerDuty
        answers 4xx), so then ``/abilities`` proves the token works and the ``From`` email names
        us. Asked once per client."""
        if self._identity is None:
            self._identity = self._ask_identity()
        return self._identity

    def _ask_identity(self) -> Identity:
        try:
            user = self.api.json("whoami", "GET", "/users/me")["user"]
            return Identity("pagerduty", user["id"], user.get("name") or user["id"], user.get("email") or "")
        except PermanentTrackerError as error:
            if error.status in (401, None):  # a refused token, or no answer at all
                raise
        self.api.json("whoami", "GET", "/abilities")
        return Identity("pagerduty", self.from_email, self.from_email, self.from_email, kind="account")

    def get_item(self, ref: ItemRef) -> Item:
        incident_id = self._id(ref, "get_item")
        data = self.api.json("get_item", "GET", f"/incidents/{incident_id}")["incident"]
        priority = data.get("priority") or {}
        return Item(
            ref=ref,
            title=data.get("title") or data.get("summary") or "",
            url=data.get("html_url") or "",
            status=data.get("status") or "",
            body=(data.get("body") or {}).get("details") or data.get("description") or "",
            urgency=data.get("urgency") or "",
            priority=priority.get("summary") or priority.get("name") or "",
            service=(data.get("service") or {}).get("summary") or "",
            assignees=tuple(
                (a.get("assignee") or {}).get("summary") or (a.get("assignee") or {}).get("id", "")
                for a in data.get("assignments") or ()
            ),
            created_at=parse_timestamp(data.get("created_at")),
            closed_at=parse_timestamp(data.get("resolved_at")) if data.get("status") == "resolved" else None,
            done=data.get("status") == "resolved",
            resolution=resolution_of(data),
        )

    def get_item_with_history(self, ref: ItemRef) -> tuple[Item, History | None]:
        """The item alone: its history is a request of its own here, made only when needed."""
        return self.get_item(ref), None

    def history(self, ref: ItemRef) -> History:
        """The incident's log entries (PagerDuty's overview: no notifications): one request, two
        when there are more than a page (then both ends, and how many lie between)."""
        incident_id = self._id(ref, "history")
        path = f"/incidents/{incident_id}/log_entries"
        params: dict[str, str | int] = {"limit": LOG_PAGE, "is_overview": "true", "total": "true"}
        first = self.api.json("history", "GET", path, params=params)
        entries = list(first.get("log_entries") or [])
        total = first.get("total")
        omitted = 0
        if first.get("more") and isinstance(total, int) and total > len(entries):
            offset = max(len(entries), total - LOG_PAGE)
            tail = self.api.json("history", "GET", path, params=params | {"offset": offset})
            entries += list(tail.get("log_entries") or [])
            omitted = offset - LOG_PAGE if offset > LOG_PAGE else 0
        url = next((str((e.get("incident") or {}).get("html_url") or "") for e in entries if isinstance(e, dict)), "")
        return History(tuple(history_from_log_entries(entries)), url=url, omitted=omitted)

    def open_review(self, draft: ReviewDraft) -> Review:
        raise UnsupportedOperation(
            "pagerduty", "open_review", "PagerDuty has no tasks: open the review in GitHub or Jira"
        )

    def find_review(self, container: str, incident: ItemRef, since: datetime | None = None) -> Review | None:
        raise UnsupportedOperation("pagerduty", "find_review", "PagerDuty has no tasks: reviews live in GitHub or Jira")

    def open_task(self, draft: TaskDraft) -> Task:
        raise UnsupportedOperation(
            "pagerduty", "open_task", "PagerDuty has no tasks: open follow-ups in GitHub or Jira"
        )

    def find_task(self, container: str, marker: Marker, since: datetime | None = None) -> Task | None:
        raise UnsupportedOperation(
            "pagerduty", "find_task", "PagerDuty has no tasks: follow-ups live in GitHub or Jira"
        )

    def link(self, item: ItemRef, target: ItemRef, target_url: str, title: str) -> None:
        """A note with the URL, unless one for this target exists (1 read + 0 or 1 write)."""
        marker = link_marker(target)
        for note in self.find_comments(item, marker.kind):
            if note.marker is not None and note.marker.get("target") == str(target):
                return
        self.add_comment(item, f"{title or target}: {target_url}", marker)

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        incident_id = self._id(item, "add_comment")
        data = self.api.json(
            "add_comment",
            "POST",
            f"/incidents/{incident_id}/notes",
            json={"note": {"content": attach(text, self.keys.seal(marker, str(item)), "plain")}},
            headers={"From": self.from_email},
        )
        return self._note(item, data["note"])

    def edit_comment(self, item: ItemRef, comment_id: str, text: str, marker: Marker) -> Comment:
        raise UnsupportedOperation("pagerduty", "edit_comment", "PagerDuty notes are append-only: add a new note")

    def comments(self, item: ItemRef) -> list[Comment]:
        """``GET /incidents/{id}/notes`` is not paginated: one call returns every note."""
        incident_id = self._id(item, "comments")
        data = self.api.json("comments", "GET", f"/incidents/{incident_id}/notes")
        return [self._note(item, n) for n in data.get("notes") or ()]

    def find_comments(self, item: ItemRef, kind: str | None = None) -> list[Comment]:
        return [c for c in self.comments(item) if c.marker is not None and (kind is None or c.marker.kind == kind)]

    def _authored_by_us(self, user: dict[str, Any]) -> bool:
        me = self.whoami()
        return me.kind == "account" or user.get("id") == me.id

    @staticmethod
    def _id(ref: ItemRef, operation: str) -> str:
        if ref.source != "pagerduty":
            raise NotSent("pagerduty", operation, f"{ref} is not a PagerDuty incident")
        return ref.key

    def _note(self, item: ItemRef, data: dict[str, Any]) -> Comment:
        """A note; its ``marker`` is set only when it is ours: the MAC verifies for this incident
        and, with a user token, the note's user is that user. (An account-level token has no
        user id to compare; PagerDuty attributes its notes to the ``From`` user, whose id the
        API paths we use cannot look up, so there the MAC alone decides. Notes are never edited,
        so the worst a copied marker can do is claim a note that is already there.)"""
        content = data.get("content") or ""
        user = data.get("user") or {}
        verified = self.keys.find(content, str(item))
        ours = verified if verified and self._authored_by_us(user) else []
        return Comment(
            id=str(data.get("id", "")),
            body=content,
            marker=ours[0] if ours else None,
            created_at=parse_timestamp(data.get("created_at")),
        )


__all__ = ["PagerDutyClient"]
