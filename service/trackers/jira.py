"""Jira issues as incidents and reviews, through the ``jira`` library (REST v2, wiki markup).

The library gives us authentication (Cloud: email + API token over basic auth; Data Center: a
personal access token as a bearer token), its session and its URL building. We call that session
directly for each request instead of the library's helpers because the helpers cost extra calls:
``JIRA()`` fetches server info unless ``get_server_info=False``, ``create_issue`` fetches the issue
again after creating it, ``add_remote_link`` lists application links first. The library's own
retry loop is switched off (``max_retries=0``) so one policy (ours) decides.

A review is marked three ways: a discreet footer in the description (people see where it came
from), a ``lessonloop`` label (JQL can find every review), and a ``lessonloop`` issue entity
property holding the incident ref (exact, not full-text; JQL on it needs an app to index it, so
we filter on it client-side instead of relying on that).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, Literal

import requests
from jira import JIRA, JIRAError

from config.settings import JiraSettings
from service.events import Item, ItemRef, Source
from service.jira_fields import description_text, fields_done
from service.markers import Marker, Markup, attach, find, find_kind
from service.timestamps import parse_timestamp
from service.trackers.base import (
    REVIEW_PROPERTY_KEY,
    Capabilities,
    Comment,
    Identity,
    Review,
    ReviewDraft,
    review_marker,
)
from service.trackers.errors import PermanentTrackerError
from service.trackers.http import (
    DEFAULT_TIMEOUT,
    error_from_exception,
    error_from_response,
    observe_limits,
    response_message,
)
from service.trackers.ratelimit import RateLimited, RateLimiter
from service.trackers.retry import RetryPolicy, call_with_retry

Deployment = Literal["cloud", "datacenter"]
REVIEW_LABEL = "lessonloop"
PAGE_SIZE = 100
ITEM_FIELDS = "summary,description,status,resolution,labels,assignee,issuetype,priority,project,created,resolutiondate"


def _jira_message(data: Any) -> str:
    messages = [str(m) for m in data.get("errorMessages") or ()]
    messages += [f"{field}: {text}" for field, text in sorted((data.get("errors") or {}).items())]
    return "; ".join(messages)




class JiraClient:
    """Issues, comments, links and identity on Jira Cloud or Jira Data Center."""

    source: Source = "jira"
    markup: Markup = "jira"
    capabilities = Capabilities(tasks=True, edit_comments=True, hidden_markers=False)

    def __init__(
        self,
        url: str,
        email: str | None = None,
        api_token: str | None = None,
        pat: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        deployment: Deployment | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        if pat is not None and api_token is None:
            auth: dict[str, Any] = {"token_auth": pat}
            self.deployment: Deployment = deployment or "datacenter"
        elif email is not None and api_token is not None and pat is None:
            auth = {"basic_auth": (email, api_token)}
            self.deployment = deployment or "cloud"
        else:
            raise ValueError("Jira needs either email + api_token (Cloud) or pat (Data Center)")
        self.url = url.rstrip("/")
        self.retry = retry
        self.limiter = limiter
        self._jira = JIRA(
            server=self.url,
            options={"rest_api_version": "2", "check_update": False},
            get_server_info=False,
            validate=False,
            max_retries=0,
            timeout=timeout,
            **auth,
        )

    @classmethod
    def from_settings(
        cls, settings: JiraSettings, retry: RetryPolicy = RetryPolicy(), limiter: RateLimiter | None = None
    ) -> JiraClient:
        if settings.url is None or settings.auth_kind == "none":
            raise ValueError("LESSONLOOP_JIRA_URL and Jira credentials are required")
        if settings.auth_kind == "pat":
            assert settings.pat is not None
            return cls(settings.url, pat=settings.pat.get_secret_value(), retry=retry, limiter=limiter)
        assert settings.api_token is not None
        return cls(settings.url, email=settings.email, api_token=settings.api_token.get_secret_value(), retry=retry,
                   limiter=limiter)

    # --- transport ----------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        params: dict[str, str | int] | None = None,
        payload: Any = None,
    ) -> Any:
        """One REST v2 call through the library's session, with our retry and our errors; each
        attempt takes a slot from the shared rate limiter first, and a 429 holds every worker."""
        url = self._jira._get_url(path)
        data = None if payload is None else json.dumps(payload)

        def once() -> Any:
            reservation = None if self.limiter is None else self.limiter.acquire(method)
            try:
                response = self._jira._session.request(method, url, params=params, data=data)
            except JIRAError as error:
                response = error.response
                if response is None:
                    raise PermanentTrackerError("jira", operation, str(error.text or error), 0) from None
                message = response_message(response, _jira_message)
                failure = error_from_response("jira", operation, response, message)
                observe_limits(self.limiter, response, failure)
                raise failure from None
            except requests.RequestException as error:
                raise error_from_exception("jira", operation, error) from None
            finally:
                if self.limiter is not None:
                    self.limiter.settle(reservation)
            observe_limits(self.limiter, response, None)
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise PermanentTrackerError(
                    "jira", operation, f"answer is not JSON: {response.text[:200]!r}", response.status_code
                ) from None

        try:
            return call_with_retry(self.retry, once, idempotent=method.upper() != "POST")
        except RateLimited as limited:
            raise limited.as_tracker_error(operation) from None

    # --- identity and items -------------------------------------------------------------------

    def whoami(self) -> Identity:
        data = self._call("whoami", "GET", "myself")
        ident = data.get("accountId") or data.get("name") or data.get("key") or ""
        return Identity("jira", ident, data.get("displayName") or ident, data.get("emailAddress") or "")

    def get_item(self, ref: ItemRef) -> Item:
        key = self._key(ref, "get_item")
        data = self._call("get_item", "GET", f"issue/{key}", params={"fields": ITEM_FIELDS})
        fields = data.get("fields") or {}
        assignee = fields.get("assignee") or {}
        return Item(
            ref=ref,
            title=fields.get("summary") or "",
            url=self.browse_url(data.get("key") or key),
            status=(fields.get("status") or {}).get("name", ""),
            body=description_text(fields.get("description")),
            labels=tuple(fields.get("labels") or ()),
            issue_type=(fields.get("issuetype") or {}).get("name", ""),
            priority=(fields.get("priority") or {}).get("name", ""),
            project=(fields.get("project") or {}).get("key", "") or ref.project,
            assignees=(self._user_id(assignee),) if assignee else (),
            created_at=parse_timestamp(fields.get("created")),
            closed_at=parse_timestamp(fields.get("resolutiondate")),
            done=fields_done(fields),
        )

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
            "description": attach(self._with_reference(draft), review_marker(draft.incident), "jira"),
            "labels": sorted({*draft.labels, REVIEW_LABEL}),
        }
        if draft.due is not None:
            fields["duedate"] = draft.due.isoformat()
        if draft.assignee:
            fields["assignee"] = self._user(draft.assignee)
        payload: dict[str, Any] = {
            "fields": fields,
            "properties": [
                {"key": REVIEW_PROPERTY_KEY, "value": {"kind": "review", "incident": str(draft.incident)}}
            ],
        }
        if draft.incident.source == "jira":
            payload["update"] = {
                "issuelinks": [
                    {"add": {"type": {"name": draft.link_type}, "outwardIssue": {"key": draft.incident.key}}}
                ]
            }
        data = self._call("open_review", "POST", "issue", payload=payload)
        ref = ItemRef("jira", data["key"])
        if draft.incident.source != "jira":
            self._remote_link(ref.key, draft.incident, draft.incident_url, draft.incident_title, "open_review")
        return Review(ref, self.browse_url(ref.key), draft.incident, draft.title)

    def find_review(self, container: str, incident: ItemRef, since: datetime | None = None) -> Review | None:
        """JQL on the ``lessonloop`` label, then an exact match on the entity property (or the
        footer marker, should someone delete the property). JQL reads dates in the user's time
        zone, so ``since`` is widened by a day."""
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", container):
            raise PermanentTrackerError("jira", "find_review", f"not a Jira project key: {container!r}", 0)
        jql = f'project = "{container}" AND labels = "{REVIEW_LABEL}"'
        if since is not None:
            jql += f' AND created >= "{(since - timedelta(days=1)).strftime("%Y/%m/%d %H:%M")}"'
        jql += " ORDER BY created DESC"
        wanted = str(incident)
        for issue in self._search("find_review", jql, "summary,description"):
            prop = (issue.get("properties") or {}).get(REVIEW_PROPERTY_KEY) or {}
            fields = issue.get("fields") or {}
            marker = find_kind(fields.get("description"), "review")
            if prop.get("incident") == wanted or (marker is not None and marker.get("incident") == wanted):
                return Review(ItemRef("jira", issue["key"]), self.browse_url(issue["key"]), incident, fields.get("summary", ""))
        return None

    def _search(self, operation: str, jql: str, fields: str) -> list[dict[str, Any]]:
        """Cloud: ``/search/jql`` (token paging; Cloud retired ``/search``). Data Center: ``/search``."""
        found: list[dict[str, Any]] = []
        params: dict[str, str | int] = {
            "jql": jql, "fields": fields, "properties": REVIEW_PROPERTY_KEY, "maxResults": PAGE_SIZE,
        }
        if self.deployment == "cloud":
            while True:
                data = self._call(operation, "GET", "search/jql", params=params)
                found.extend(data.get("issues") or ())
                token = data.get("nextPageToken")
                if data.get("isLast", True) or not token:
                    return found
                params = params | {"nextPageToken": token}
        start = 0
        while True:
            data = self._call(operation, "GET", "search", params=params | {"startAt": start})
            issues = data.get("issues") or []
            found.extend(issues)
            start += len(issues)
            if not issues or start >= int(data.get("total", 0)):
                return found

    def link(self, item: ItemRef, target: ItemRef, target_url: str, title: str) -> None:
        """An issue link when both are Jira issues, else a remote link keyed by the target's ref
        (Jira updates a remote link with the same ``globalId`` instead of adding another)."""
        key = self._key(item, "link")
        if target.source == "jira":
            self._call(
                "link", "POST", "issueLink",
                payload={"type": {"name": "Relates"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": target.key}},
            )
            return
        self._remote_link(key, target, target_url, title, "link")

    def _remote_link(self, key: str, target: ItemRef, url: str, title: str, operation: str) -> None:
        self._call(
            operation, "POST", f"issue/{key}/remotelink",
            payload={
                "globalId": f"lessonloop:{target}",
                "application": {"type": "lessonloop", "name": "lessonloop"},
                "relationship": "post-incident review of" if operation == "open_review" else "relates to",
                "object": {"url": url, "title": title or str(target)},
            },
        )

    # --- comments -----------------------------------------------------------------------------

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        key = self._key(item, "add_comment")
        data = self._call("add_comment", "POST", f"issue/{key}/comment", payload={"body": attach(text, marker, "jira")})
        return self._comment(key, data)

    def edit_comment(self, item: ItemRef, comment_id: str, text: str, marker: Marker) -> Comment:
        key = self._key(item, "edit_comment")
        data = self._call(
            "edit_comment", "PUT", f"issue/{key}/comment/{comment_id}", payload={"body": attach(text, marker, "jira")}
        )
        return self._comment(key, data)

    def comments(self, item: ItemRef) -> list[Comment]:
        key = self._key(item, "comments")
        found: list[Comment] = []
        start = 0
        while True:
            data = self._call(
                "comments", "GET", f"issue/{key}/comment", params={"startAt": start, "maxResults": PAGE_SIZE}
            )
            batch = data.get("comments") or []
            found.extend(self._comment(key, c) for c in batch)
            start += len(batch)
            if not batch or start >= int(data.get("total", 0)):
                return found

    def find_comments(self, item: ItemRef, kind: str | None = None) -> list[Comment]:
        return [c for c in self.comments(item) if c.marker is not None and (kind is None or c.marker.kind == kind)]

    # --- shapes -------------------------------------------------------------------------------

    def _user(self, who: str) -> dict[str, str]:
        return {"accountId": who} if self.deployment == "cloud" else {"name": who}

    @staticmethod
    def _user_id(user: dict[str, Any]) -> str:
        return user.get("accountId") or user.get("name") or user.get("key") or ""

    @staticmethod
    def _with_reference(draft: ReviewDraft) -> str:
        if draft.incident_url in draft.body or draft.incident.key in draft.body:
            return draft.body
        return f"{draft.body.rstrip()}\n\nIncident: [{draft.incident_title or draft.incident}|{draft.incident_url}]"

    @staticmethod
    def _key(ref: ItemRef, operation: str) -> str:
        if ref.source != "jira":
            raise PermanentTrackerError("jira", operation, f"{ref} is not a Jira issue", 0)
        return ref.key

    def _comment(self, key: str, data: dict[str, Any]) -> Comment:
        body = description_text(data.get("body"))
        markers = find(body)
        return Comment(
            id=str(data["id"]),
            body=body,
            marker=markers[0] if markers else None,
            url=f"{self.browse_url(key)}?focusedCommentId={data['id']}",
            author=self._user_id(data.get("author") or {}),
            created_at=parse_timestamp(data.get("created")),
            updated_at=parse_timestamp(data.get("updated")),
        )


__all__ = ["JiraClient"]
