"""PagerDuty incidents and their notes, through one HTTP transport (REST v2, plain text).

Plain HTTP rather than the ``pagerduty`` client library: we call four endpoints, need
our own error vocabulary and retry policy around every one, and the library adds its own retry
loop and exception types we would have to unwrap again.

PagerDuty has no tasks, so reviews of its incidents live in GitHub or Jira; notes are
append-only, so a changed lesson is a new note. The marker is a short bracketed prefix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.settings import PagerDutySettings
from service.domain.events import Item, ItemRef, Markup, Source
from service.domain.history import History, HistoryEntry
from service.domain.timestamps import parse_timestamp
from service.text.markers import Marker, MarkerKeys
from service.trackers.base import Capabilities, Comment, Identity, MarkedComments, Review, ReviewDraft, Task, TaskDraft
from service.trackers.errors import NotSent, PermanentTrackerError, UnsupportedOperation
from service.trackers.http.api import DEFAULT_TIMEOUT, HttpApi, response_message
from service.trackers.http.retry import RetryPolicy
from service.trackers.pagerduty.dialect import PLAIN
from service.trackers.pagerduty.webhook import resolution_of

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


NOTE_CHARS = 200
"""How much of a note's text a timeline line quotes; the note itself is one click away."""
NOTE_MATCH_SECONDS = 60
"""How far apart a note and the log entry PagerDuty wrote for it may be stamped."""


@dataclass(frozen=True)
class Note:
    """A note's text, who wrote it and when: what the timeline's "note added" line says."""

    at: datetime
    user: str
    text: str
    ours: bool = False
    """lessonloop wrote it (its marker verifies for the incident): not part of the incident's
    story, so neither it nor the log entry for it is a line of the timeline."""


def details_text(body: Any) -> str:
    """An incident body's ``details`` as text. The description types it as an object (an event's
    custom details: one ``key: value`` line per key, values other than text as JSON); an incident
    created through the REST API carries the text it was given, kept as written."""
    details = body.get("details") if isinstance(body, dict) else None
    if isinstance(details, str):
        return details.strip()
    if isinstance(details, dict):
        return "\n".join(
            f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
            for key, value in details.items()
        )
    return ""


def quote(text: str) -> str:
    """A note on one line, cut to :data:`NOTE_CHARS` with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= NOTE_CHARS else line[: NOTE_CHARS - 1].rstrip() + "…"


def _note_for(entry: dict[str, Any], at: datetime, person: str, notes: list[Note]) -> Note | None:
    """The note an annotate entry records, taken out of ``notes``: the one by the same user
    (when a user added it) stamped closest to the entry, within a minute; else one made of the
    entry's own ``note`` field; else None."""
    near = [
        (abs((note.at - at).total_seconds()), index)
        for index, note in enumerate(notes)
        if (not person or note.user == person) and abs((note.at - at).total_seconds()) <= NOTE_MATCH_SECONDS
    ]
    if near:
        return notes.pop(min(near)[1])
    own = entry.get("note")
    return Note(at, person, own) if isinstance(own, str) else None


def history_from_log_entries(
    log_entries: list[Any], notes: Sequence[Note] = (), gap: tuple[datetime, datetime] | None = None
) -> list[HistoryEntry]:
    """PagerDuty's log entries as history entries; an unknown type is named by its type.

    PagerDuty logs that a note was added, but keeps its text on the incident's notes: each
    annotate entry is matched to its note, so the line says what was noted. A note no entry
    was read for (its entry lies in ``gap``, the stretch of a long log left unread, is not
    added: it is counted among the events left out) gets a line of its own."""
    entries = []
    unmatched = list(notes)
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
        person = str(agent.get("id") or "") if by_person else ""
        if kind == "annotate":
            note = _note_for(entry, at, person, unmatched)
            if note is not None and note.ours:
                continue
            what = f"{what}: {quote(note.text)}" if note is not None and note.text.strip() else what
        responding = kind in ("acknowledge", "annotate") and by_person
        entries.append(HistoryEntry(at, what, who=who, person=person, responder=who if responding else "", kind=kind))
    for note in unmatched:
        if note.ours or (gap is not None and gap[0] < note.at < gap[1]):
            continue
        what = f"{_LOG_WORDS['annotate']}: {quote(note.text)}" if note.text.strip() else _LOG_WORDS["annotate"]
        entries.append(HistoryEntry(note.at, what, person=note.user, kind="annotate"))
    return entries


def _between(older: list[Any], newer: list[Any]) -> tuple[datetime, datetime] | None:
    """The stretch of time between two pages of a log, the entries in it left unread."""

    def times(page: list[Any]) -> list[datetime]:
        stamps = (parse_timestamp(e.get("created_at")) for e in page if isinstance(e, dict))
        return [at for at in stamps if at is not None]

    before, after = times(older), times(newer)
    return (max(before), min(after)) if before and after else None


class PagerDutyClient(MarkedComments):
    """Incidents, notes and identity on PagerDuty."""

    source: Source = "pagerduty"
    markup: Markup = PLAIN.markup
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
        self._include_body = True
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
        """``GET /incidents/{id}`` with ``include[]=body``: PagerDuty's description says the
        incident's ``body`` (what it was opened with) comes only when asked for so. Should a
        PagerDuty refuse that value (the parameter's list of values leaves it out), the incident
        is read once more without it, and this client asks without it from then on."""
        incident_id = self._id(ref, "get_item")
        path = f"/incidents/{incident_id}"
        data: dict[str, Any] | None = None
        if self._include_body:
            try:
                data = self.api.json("get_item", "GET", path, params={"include[]": "body"})["incident"]
            except PermanentTrackerError as error:
                if error.status != 400:
                    raise
                self._include_body = False
        if data is None:
            data = self.api.json("get_item", "GET", path)["incident"]
        priority = data.get("priority") or {}
        title = data.get("title") or data.get("summary") or ""
        # the description is the title again on most incidents: it is the body only when it says more
        said = data.get("description")
        description = said if isinstance(said, str) and said not in (title, data.get("summary")) else ""
        return Item(
            ref=ref,
            title=title,
            url=data.get("html_url") or "",
            status=data.get("status") or "",
            body=details_text(data.get("body")) or description,
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
        """The incident's log entries (PagerDuty's overview: no notifications) and the text of
        its notes: two requests, three when the log is longer than a page (then both ends, and
        how many lie between). lessonloop's own notes are not part of the incident's story."""
        incident_id = self._id(ref, "history")
        notes = self._notes(ref)
        path = f"/incidents/{incident_id}/log_entries"
        params: dict[str, str | int] = {"limit": LOG_PAGE, "is_overview": "true", "total": "true"}
        first = self.api.json("history", "GET", path, params=params)
        entries = list(first.get("log_entries") or [])
        total = first.get("total")
        omitted = 0
        gap: tuple[datetime, datetime] | None = None
        if first.get("more") and isinstance(total, int) and total > len(entries):
            offset = max(len(entries), total - LOG_PAGE)
            tail = list(
                self.api.json("history", "GET", path, params=params | {"offset": offset}).get("log_entries") or []
            )
            omitted = offset - LOG_PAGE if offset > LOG_PAGE else 0
            gap = _between(tail, entries) if omitted else None
            entries += tail
        url = next((str((e.get("incident") or {}).get("html_url") or "") for e in entries if isinstance(e, dict)), "")
        return History(tuple(history_from_log_entries(entries, notes, gap)), url=url, omitted=omitted)

    def _notes(self, ref: ItemRef) -> list[Note]:
        """Every note on the incident, lessonloop's own (a marker that verifies for it) marked."""
        data = self.api.json("history", "GET", f"/incidents/{ref.key}/notes")
        found = []
        for note in data.get("notes") or () if isinstance(data, dict) else ():
            at = parse_timestamp(note.get("created_at")) if isinstance(note, dict) else None
            content = note.get("content") if at is not None else None
            if at is None or not isinstance(content, str):
                continue
            user = note.get("user")
            by = str(user.get("id") or "") if isinstance(user, dict) else ""
            found.append(Note(at, by, content, ours=bool(self.keys.find(content, str(ref)))))
        return found

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
        self._point_at(item, target, f"{title or target}: {target_url}")

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        incident_id = self._id(item, "add_comment")
        data = self.api.json(
            "add_comment",
            "POST",
            f"/incidents/{incident_id}/notes",
            json={"note": {"content": PLAIN.attach(text, self.keys.seal(marker, str(item)))}},
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
        return Comment(
            id=str(data.get("id", "")),
            body=content,
            marker=self._our_marker(content, str(item), lambda: self._authored_by_us(user)),
            created_at=parse_timestamp(data.get("created_at")),
        )


__all__ = ["PagerDutyClient"]
