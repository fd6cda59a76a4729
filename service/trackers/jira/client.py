"""Jira issues as incidents and reviews, through one HTTP transport (REST v2, wiki markup).

Requests go through :class:`~service.trackers.http.api.HttpApi`, as GitHub's and PagerDuty's
do: one retry rule, the shared rate limiter, the request counters, the timeouts, error text that
names no header value. Sign-in is a header set once on the session: Cloud takes an email and an
API token over basic auth, Data Center a personal access token as a bearer token. The ``jira``
package is not used: ``JIRA()`` builds a session of its own and takes none, so the shared rate
limiter and retry rule could not reach its requests; docs/design.md has the whole list.

A review is marked three ways: a discreet footer in the description (people see where it came
from), a ``lessonloop`` label (JQL can find every review), and a ``lessonloop`` issue entity
property holding the incident ref (exact, not full-text; JQL on it needs an app to index it, so
we filter on it client-side instead of relying on that).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from config.settings import JiraSettings
from service.domain.events import Item, ItemRef, Markup, Source, UnreadableBody
from service.domain.history import History
from service.domain.timestamps import parse_timestamp
from service.infra import logs
from service.text.markers import Marker, MarkerKeys, container_of
from service.trackers.base import (
    REVIEW_PROPERTY_KEY,
    Capabilities,
    Comment,
    Identity,
    MarkedComments,
    Review,
    ReviewDraft,
    Task,
    TaskDraft,
    duplicate_note,
    marker_matches,
    review_marker,
)
from service.trackers.errors import NotSent, PermanentTrackerError
from service.trackers.http.api import DEFAULT_TIMEOUT, HttpApi
from service.trackers.http.ratelimit import RateLimiter
from service.trackers.http.retry import RetryPolicy
from service.trackers.jira.access import project_problems
from service.trackers.jira.changelog import history_from_changelog
from service.trackers.jira.dialect import WIKI
from service.trackers.jira.fields import description_text
from service.trackers.jira.search import our_labelled, search
from service.trackers.jira.shapes import (
    DUPLICATE_LABEL,
    ITEM_FIELDS,
    PAGE_SIZE,
    Deployment,
    basic_authorization,
    body_with_incident,
    issue_number,
    jira_labels,
    message_of,
    remote_link,
    user_id,
)
from service.trackers.jira.webhook import item_from_issue

log = logs.get(__name__)


class JiraClient(MarkedComments):
    """Issues, comments, links and identity on Jira Cloud or Jira Data Center."""

    source: Source = "jira"
    markup: Markup = WIKI.markup
    capabilities = Capabilities(edit_comments=True)

    def __init__(
        self,
        url: str,
        email: str | None = None,
        api_token: str | None = None,
        pat: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        deployment: Deployment | None = None,
        *,
        keys: MarkerKeys,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.keys = keys
        self._identity: Identity | None = None
        headers = {"Accept": "application/json", "User-Agent": "lessonloop"}
        if pat is not None and api_token is None:
            headers["Authorization"] = f"Bearer {pat}"
            self.deployment: Deployment = deployment or "datacenter"
        elif email is not None and api_token is not None and pat is None:
            headers["Authorization"] = basic_authorization(email, api_token)
            self.deployment = deployment or "cloud"
        else:
            raise ValueError("Jira needs either email + api_token (Cloud) or pat (Data Center)")
        self.url = url.rstrip("/")
        self.api = HttpApi("jira", f"{self.url}/rest/api/2", headers, message_of, retry, timeout, limiter=limiter)

    @classmethod
    def from_settings(cls, settings: JiraSettings, keys: MarkerKeys, retry: RetryPolicy = RetryPolicy()) -> JiraClient:
        if settings.url is None or settings.auth_kind == "none":
            raise ValueError("LESSONLOOP_JIRA_URL and Jira credentials are required")
        if settings.auth_kind == "pat":
            assert settings.pat is not None
            return cls(settings.url, pat=settings.pat.get_secret_value(), retry=retry, keys=keys)
        assert settings.api_token is not None
        return cls(
            settings.url, email=settings.email, api_token=settings.api_token.get_secret_value(), retry=retry, keys=keys
        )

    # --- identity and items -------------------------------------------------------------------

    def whoami(self) -> Identity:
        """``GET /myself``, once per client: the id is how our own comments and reviews are known."""
        if self._identity is None:
            data = self.api.json("whoami", "GET", "/myself")
            ident = data.get("accountId") or data.get("name") or data.get("key") or ""
            self._identity = Identity("jira", ident, data.get("displayName") or ident, data.get("emailAddress") or "")
        return self._identity

    def get_item(self, ref: ItemRef) -> Item:
        key = self._key(ref, "get_item")
        return self._item(self.api.json("get_item", "GET", f"/issue/{key}", params={"fields": ITEM_FIELDS}))

    def _item(self, data: object) -> Item:
        try:
            item = item_from_issue(data if isinstance(data, dict) else {})
        except UnreadableBody as error:
            raise PermanentTrackerError("jira", "get_item", f"answer is not an issue: {error}") from None
        # the link people follow is built from the configured URL, never from the answer's ``self``
        return replace(item, url=self.browse_url(item.ref.key))

    def history(self, ref: ItemRef) -> History:
        """The changelog (status, assignee, priority) and comment times: one request."""
        key = self._key(ref, "history")
        data = self.api.json("history", "GET", f"/issue/{key}", params={"expand": "changelog", "fields": "comment"})
        return self._history(data, key)

    def get_item_with_history(self, ref: ItemRef) -> tuple[Item, History | None]:
        """The issue and its changelog in one request (``expand=changelog``), instead of one
        for each: a review of a Jira incident needs both."""
        key = self._key(ref, "get_item")
        params = {"fields": f"{ITEM_FIELDS},comment", "expand": "changelog"}
        data = self.api.json("get_item", "GET", f"/issue/{key}", params=params)
        return self._item(data), self._history(data, key)

    def _history(self, data: object, key: str) -> History:
        return History(tuple(history_from_changelog(data if isinstance(data, dict) else {})), url=self.browse_url(key))

    def search_items(self, jql: str) -> list[Item]:
        """The issues a JQL query finds, as items: the past reviews ``lessonloop import`` reads."""
        found = []
        for issue in search(self.api, self.deployment, "search_items", jql, ITEM_FIELDS):
            try:
                item = item_from_issue(issue)
            except UnreadableBody as error:  # one odd issue does not stop the others
                log.warning("skipped an issue Jira's search returned", key=str(issue.get("key", "")), error=str(error))
                continue
            found.append(replace(item, url=self.browse_url(item.ref.key)))
        return found

    def browse_url(self, key: str) -> str:
        return f"{self.url}/browse/{key}"

    # --- reviews ------------------------------------------------------------------------------

    def open_review(self, draft: ReviewDraft) -> Review:
        """One ``POST /issue`` carrying the issue link (``update.issuelinks``) and the entity
        property; a second call adds a remote link when the incident is not in Jira.

        Should that second call fail, the review exists without its link: the worker's retry
        finds it with :meth:`find_review` and calls :meth:`link`, which is idempotent."""
        fields: dict[str, Any] = {
            "project": {"key": draft.container},
            "summary": draft.title,
            "issuetype": {"name": draft.issue_type},
            "description": WIKI.attach(
                body_with_incident(draft),
                self.keys.seal(review_marker(draft.incident), container_of("jira", draft.container)),
            ),
            "labels": jira_labels(draft.labels),
        }
        if draft.due is not None:
            fields["duedate"] = draft.due.isoformat()
        if draft.assignee:
            fields["assignee"] = self._user(draft.assignee)
        payload: dict[str, Any] = {
            "fields": fields,
            "properties": [{"key": REVIEW_PROPERTY_KEY, "value": {"kind": "review", "incident": str(draft.incident)}}],
        }
        if draft.incident.source == "jira":
            payload["update"] = {
                "issuelinks": [
                    {"add": {"type": {"name": draft.link_type}, "outwardIssue": {"key": draft.incident.key}}}
                ]
            }
        data = self.api.json("open_review", "POST", "/issue", json=payload)
        ref = ItemRef("jira", data["key"])
        if draft.incident.source != "jira":
            self._remote_link(ref.key, draft.incident, draft.incident_url, draft.incident_title, "open_review")
        return Review(ref, self.browse_url(ref.key), draft.incident, draft.title)

    def find_review(self, container: str, incident: ItemRef, since: datetime | None = None) -> Review | None:
        """Our own labelled issues in the project (:meth:`_our_labelled`) until one's footer
        marker verifies and names the incident."""
        where = container_of("jira", self._project(container, "find_review"))
        for issue, fields in self._our_labelled(container, "find_review", since):
            marker = self.keys.find_kind(description_text(fields.get("description")), where, "review")
            if marker is not None and marker.get("incident") == str(incident):
                return Review(
                    ItemRef("jira", issue["key"]), self.browse_url(issue["key"]), incident, fields.get("summary", "")
                )
        return None

    def find_reviews(self, container: str, incident: ItemRef, since: datetime | None = None) -> list[Review]:
        """As :meth:`find_review`, but every match, oldest (lowest issue number) first."""
        where = container_of("jira", self._project(container, "find_review"))
        found = []
        for issue, fields in self._our_labelled(container, "find_review", since):
            marker = self.keys.find_kind(description_text(fields.get("description")), where, "review")
            if marker is not None and marker.get("incident") == str(incident):
                labels = fields.get("labels")
                duplicate = isinstance(labels, list) and DUPLICATE_LABEL in labels
                ref, title = ItemRef("jira", issue["key"]), fields.get("summary", "")
                found.append(Review(ref, self.browse_url(ref.key), incident, title, closed_as_duplicate=duplicate))
        return sorted(found, key=lambda review: issue_number(review.ref.key))

    def close_duplicate_review(self, duplicate: Review, kept: Review) -> None:
        """A comment pointing at ``kept`` (unless one is there), then the ``lessonloop-duplicate``
        label (``PUT /issue/{key}``, adding to the labels people set)."""
        key = self._key(duplicate.ref, "close_duplicate_review")
        self._point_at(duplicate.ref, kept.ref, duplicate_note(kept))
        self.api.request(
            "close_duplicate_review", "PUT", f"/issue/{key}", json={"update": {"labels": [{"add": DUPLICATE_LABEL}]}}
        )

    # --- where reviews open ---------------------------------------------------------------------

    def target_problems(self, project: str, issue_type: str, assignee: bool = True) -> list[str]:
        """What would stop lessonloop opening reviews of ``issue_type`` in ``project``, one
        sentence each (none: it can): see :func:`project_problems`."""
        return project_problems(self.api, self._project(project, "check"), issue_type, assignee)

    # --- tasks (follow-ups) ---------------------------------------------------------------------

    def open_task(self, draft: TaskDraft) -> Task:
        """One ``POST /issue`` with the due date, the labels (and ``lessonloop``, so JQL finds
        it after a crash) and an issue link to a related Jira issue; a related item elsewhere
        gets a remote link in a second call (idempotent by its global id)."""
        self._project(draft.container, "open_task")
        fields: dict[str, Any] = {
            "project": {"key": draft.container},
            "summary": draft.title,
            "issuetype": {"name": draft.issue_type},
            "description": WIKI.attach(draft.body, self.keys.seal(draft.marker, container_of("jira", draft.container))),
            "labels": jira_labels(draft.labels),
        }
        if draft.due is not None:
            fields["duedate"] = draft.due.isoformat()
        payload: dict[str, Any] = {"fields": fields}
        if draft.related is not None and draft.related.source == "jira":
            payload["update"] = {
                "issuelinks": [{"add": {"type": {"name": "Relates"}, "outwardIssue": {"key": draft.related.key}}}]
            }
        data = self.api.json("open_task", "POST", "/issue", json=payload)
        ref = ItemRef("jira", data["key"])
        if draft.related is not None and draft.related.source != "jira" and draft.related_url:
            self._remote_link(ref.key, draft.related, draft.related_url, draft.related_title, "link")
        return Task(ref, self.browse_url(ref.key), draft.title)

    def find_task(self, container: str, marker: Marker, since: datetime | None = None) -> Task | None:
        """As :meth:`find_review`: our own labelled issues whose marker verifies."""
        where = container_of("jira", self._project(container, "find_task"))
        for issue, fields in self._our_labelled(container, "find_task", since):
            found = self.keys.find(description_text(fields.get("description")), where, marker.kind)
            if any(marker_matches(one, marker) for one in found):
                return Task(ItemRef("jira", issue["key"]), self.browse_url(issue["key"]), fields.get("summary", ""))
        return None

    @staticmethod
    def _project(container: str, operation: str) -> str:
        """``container`` when it is a Jira project key (it goes into JQL), else :class:`NotSent`."""
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", container):
            raise NotSent("jira", operation, f"not a Jira project key: {container!r}")
        return container

    def _our_labelled(
        self, project: str, operation: str, since: datetime | None
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(issue, its fields) for our own labelled issues in ``project``: see :func:`our_labelled`."""
        key = self._project(project, operation)
        return our_labelled(self.api, self.deployment, self.whoami().id, key, operation, since)

    def link(self, item: ItemRef, target: ItemRef, target_url: str, title: str) -> None:
        """An issue link when both are Jira issues, else a remote link keyed by the target's ref
        (Jira updates a remote link with the same ``globalId`` instead of adding another)."""
        key = self._key(item, "link")
        if target.source == "jira":
            self.api.json(
                "link",
                "POST",
                "/issueLink",
                json={"type": {"name": "Relates"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": target.key}},
            )
            return
        self._remote_link(key, target, target_url, title, "link")

    def _remote_link(self, key: str, target: ItemRef, url: str, title: str, operation: str) -> None:
        self.api.json(operation, "POST", f"/issue/{key}/remotelink", json=remote_link(target, url, title, operation))

    # --- comments -----------------------------------------------------------------------------

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        key = self._key(item, "add_comment")
        data = self.api.json(
            "add_comment",
            "POST",
            f"/issue/{key}/comment",
            json={"body": WIKI.attach(text, self.keys.seal(marker, str(item)))},
        )
        return self._comment(key, data)

    def edit_comment(self, item: ItemRef, comment_id: str, text: str, marker: Marker) -> Comment:
        key = self._key(item, "edit_comment")
        data = self.api.json(
            "edit_comment",
            "PUT",
            f"/issue/{key}/comment/{comment_id}",
            json={"body": WIKI.attach(text, self.keys.seal(marker, str(item)))},
        )
        return self._comment(key, data)

    def delete_comment(self, item: ItemRef, comment_id: str) -> None:
        """``DELETE /issue/{key}/comment/{id}``; a 404 means a run before this one deleted it."""
        key = self._key(item, "delete_comment")
        if not (comment_id.isascii() and comment_id.isdigit()):
            raise NotSent("jira", "delete_comment", f"not a Jira comment id: {comment_id!r}")
        self.api.delete("delete_comment", f"/issue/{key}/comment/{comment_id}")

    def comments(self, item: ItemRef) -> list[Comment]:
        key = self._key(item, "comments")
        found: list[Comment] = []
        start = 0
        while True:
            data = self.api.json(
                "comments", "GET", f"/issue/{key}/comment", params={"startAt": start, "maxResults": PAGE_SIZE}
            )
            batch = data.get("comments") or []
            found.extend(self._comment(key, c) for c in batch)
            start += len(batch)
            if not batch or start >= int(data.get("total", 0)):
                return found

    # --- shapes -------------------------------------------------------------------------------

    def _user(self, who: str) -> dict[str, str]:
        return {"accountId": who} if self.deployment == "cloud" else {"name": who}

    @staticmethod
    def _key(ref: ItemRef, operation: str) -> str:
        if ref.source != "jira":
            raise NotSent("jira", operation, f"{ref} is not a Jira issue")
        return ref.key

    def _comment(self, key: str, data: dict[str, Any]) -> Comment:
        """A comment; its ``marker`` is set only when it is ours: the MAC verifies for this issue
        and the author is lessonloop's own account."""
        body = description_text(data.get("body"))
        author = user_id(data.get("author") or {})
        return Comment(
            id=str(data["id"]),
            body=body,
            marker=self._our_marker(body, f"jira:{key}", lambda: author == self.whoami().id),
            url=f"{self.browse_url(key)}?focusedCommentId={data['id']}",
            created_at=parse_timestamp(data.get("created")),
            updated_at=parse_timestamp(data.get("updated")),
        )


__all__ = ["JiraClient"]
