"""GitHub issues as incidents and reviews, through one ``requests`` session (REST, Markdown).

The base URL comes from settings, so GitHub Enterprise Server (``https://HOST/api/v3``) works the
same as github.com. Markers are HTML comments: invisible in rendered Markdown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from config.settings import GitHubSettings
from service.timestamps import parse_timestamp
from service.events import Item, ItemRef, Source, UnreadableBody
from service.sources.github import item_from_issue
from service.markers import Marker, MarkerKeys, Markup, attach, container_of
from service.trackers.base import (
    Capabilities,
    Comment,
    Identity,
    Review,
    ReviewDraft,
    Task,
    TaskDraft,
    link_marker,
    marker_matches,
    review_marker,
)
from service.trackers.errors import PermanentTrackerError
from service.trackers.http import DEFAULT_TIMEOUT, HttpApi, response_message
from service.trackers.retry import RetryPolicy

API_VERSION = "2022-11-28"
PAGE_SIZE = 100


def _github_message(data: Any) -> str:
    message = str(data.get("message", ""))
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            details.append(error.get("message") or " ".join(f"{k}={v}" for k, v in sorted(error.items())))
        else:
            details.append(str(error))
    return f"{message}: {'; '.join(details)}" if details else message




class GitHubClient:
    """Issues, comments and identity on GitHub or GitHub Enterprise Server."""

    source: Source = "github"
    markup: Markup = "markdown"
    capabilities = Capabilities(edit_comments=True)

    def __init__(
        self,
        token: str,
        api_url: str = "https://api.github.com",
        retry: RetryPolicy = RetryPolicy(),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        *,
        keys: MarkerKeys,
    ) -> None:
        self.keys = keys
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "lessonloop",
            }
        )
        self.api = HttpApi(
            "github", api_url, session, lambda r: response_message(r, _github_message), retry, timeout
        )
        self._identity: Identity | None = None

    @classmethod
    def from_settings(cls, settings: GitHubSettings, keys: MarkerKeys,
                      retry: RetryPolicy = RetryPolicy()) -> GitHubClient:
        if settings.token is None:
            raise ValueError("LESSONLOOP_GITHUB_TOKEN is not set")
        return cls(settings.token.get_secret_value(), settings.api_url, retry, keys=keys)

    # --- identity and items -------------------------------------------------------------------

    def whoami(self) -> Identity:
        """``GET /user``, once per client: the login doubles as the ``creator`` filter for reviews."""
        if self._identity is None:
            data = self.api.json("whoami", "GET", "/user")
            self._identity = Identity("github", data["login"], data.get("name") or data["login"], data.get("email") or "")
        return self._identity

    def get_item(self, ref: ItemRef) -> Item:
        owner, repo, number = self._parts(ref, "get_item")
        data = self.api.json("get_item", "GET", f"/repos/{owner}/{repo}/issues/{number}")
        try:
            return item_from_issue(data if isinstance(data, dict) else {}, f"{owner}/{repo}")
        except UnreadableBody as error:
            raise PermanentTrackerError("github", "get_item", f"answer is not an issue: {error}", 0) from None

    # --- reviews ------------------------------------------------------------------------------

    def open_review(self, draft: ReviewDraft) -> Review:
        """One ``POST /issues``. The incident's URL in the body is the link: GitHub shows the
        cross-reference on the incident's timeline when both are on the same GitHub."""
        owner, repo = self._repo(draft.container, "open_review")
        body = draft.body
        if draft.incident_url not in body:
            body = f"{body.rstrip()}\n\nIncident: {draft.incident_url}"
        payload: dict[str, Any] = {
            "title": draft.title,
            "body": attach(body, self.keys.seal(review_marker(draft.incident), container_of("github", f"{owner}/{repo}")),
                           "markdown"),
        }
        if draft.labels:
            payload["labels"] = list(draft.labels)
        if draft.assignee:
            payload["assignees"] = [draft.assignee]
        data = self.api.json("open_review", "POST", f"/repos/{owner}/{repo}/issues", json=payload)
        return Review(ItemRef.github(f"{owner}/{repo}", data["number"]), data["html_url"], draft.incident, data["title"])

    def find_review(self, container: str, incident: ItemRef, since: datetime | None = None) -> Review | None:
        """Issues we created in the repository, newest first, until one carries our verified marker.

        Listing (not the search API) because it is strongly consistent: a review created just
        before a crash is found at once; ``since`` keeps it to one page in practice.
        """
        owner, repo = self._repo(container, "find_review")
        me = self.whoami().id
        wanted = str(incident)
        where = container_of("github", f"{owner}/{repo}")
        page = 1
        while True:
            params: dict[str, str | int] = {
                "creator": me, "state": "all", "sort": "created", "direction": "desc",
                "per_page": PAGE_SIZE, "page": page,
            }
            if since is not None:
                params["since"] = since.isoformat().replace("+00:00", "Z")
            issues = self.api.json("find_review", "GET", f"/repos/{owner}/{repo}/issues", params=params)
            for issue in issues:
                if "pull_request" in issue or (issue.get("user") or {}).get("login") != me:
                    continue
                marker = self.keys.find_kind(issue.get("body"), where, "review")
                if marker is not None and marker.get("incident") == wanted:
                    ref = ItemRef.github(f"{owner}/{repo}", issue["number"])
                    return Review(ref, issue["html_url"], incident, issue["title"])
            if len(issues) < PAGE_SIZE:
                return None
            page += 1

    # --- tasks (follow-ups) ---------------------------------------------------------------------

    def open_task(self, draft: TaskDraft) -> Task:
        """One ``POST /issues``; the related item's URL in the body is the link (GitHub shows
        the cross-reference on the review's timeline)."""
        owner, repo = self._repo(draft.container, "open_task")
        body = draft.body
        if draft.related_url and draft.related_url not in body:
            body = f"{body.rstrip()}\n\nFrom: {draft.related_url}"
        payload: dict[str, Any] = {
            "title": draft.title,
            "body": attach(body, self.keys.seal(draft.marker, container_of("github", f"{owner}/{repo}")), "markdown"),
        }
        if draft.labels:
            payload["labels"] = list(draft.labels)
        data = self.api.json("open_task", "POST", f"/repos/{owner}/{repo}/issues", json=payload)
        return Task(ItemRef.github(f"{owner}/{repo}", data["number"]), data["html_url"], data["title"])

    def find_task(self, container: str, marker: Marker, since: datetime | None = None) -> Task | None:
        """As :meth:`find_review`: our own issues, newest first, until one's verified marker matches."""
        owner, repo = self._repo(container, "find_task")
        me = self.whoami().id
        where = container_of("github", f"{owner}/{repo}")
        page = 1
        while True:
            params: dict[str, str | int] = {
                "creator": me, "state": "all", "sort": "created", "direction": "desc",
                "per_page": PAGE_SIZE, "page": page,
            }
            if since is not None:
                params["since"] = since.isoformat().replace("+00:00", "Z")
            issues = self.api.json("find_task", "GET", f"/repos/{owner}/{repo}/issues", params=params)
            for issue in issues:
                if "pull_request" in issue or (issue.get("user") or {}).get("login") != me:
                    continue
                if any(marker_matches(found, marker) for found in self.keys.find(issue.get("body"), where, marker.kind)):
                    return Task(ItemRef.github(f"{owner}/{repo}", issue["number"]), issue["html_url"], issue["title"])
            if len(issues) < PAGE_SIZE:
                return None
            page += 1

    def link(self, item: ItemRef, target: ItemRef, target_url: str, title: str) -> None:
        """A marked comment naming the target, unless one is already there (1 read + 0 or 1 write)."""
        marker = link_marker(target)
        for comment in self.find_comments(item, marker.kind):
            if comment.marker is not None and comment.marker.get("target") == str(target):
                return
        self.add_comment(item, f"Related: [{title or target}]({target_url})", marker)

    # --- comments -----------------------------------------------------------------------------

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        owner, repo, number = self._parts(item, "add_comment")
        data = self.api.json(
            "add_comment", "POST", f"/repos/{owner}/{repo}/issues/{number}/comments",
            json={"body": attach(text, self.keys.seal(marker, str(item)), "markdown")},
        )
        return self._comment(item, data)

    def edit_comment(self, item: ItemRef, comment_id: str, text: str, marker: Marker) -> Comment:
        owner, repo, _ = self._parts(item, "edit_comment")
        if not comment_id.isdigit():
            raise PermanentTrackerError("github", "edit_comment", f"not a GitHub comment id: {comment_id!r}", 0)
        data = self.api.json(
            "edit_comment", "PATCH", f"/repos/{owner}/{repo}/issues/comments/{int(comment_id)}",
            json={"body": attach(text, self.keys.seal(marker, str(item)), "markdown")},
        )
        return self._comment(item, data)

    def comments(self, item: ItemRef) -> list[Comment]:
        owner, repo, number = self._parts(item, "comments")
        found: list[Comment] = []
        page = 1
        while True:
            batch = self.api.json(
                "comments", "GET", f"/repos/{owner}/{repo}/issues/{number}/comments",
                params={"per_page": PAGE_SIZE, "page": page},
            )
            found.extend(self._comment(item, c) for c in batch)
            if len(batch) < PAGE_SIZE:
                return found
            page += 1

    def find_comments(self, item: ItemRef, kind: str | None = None) -> list[Comment]:
        return [c for c in self.comments(item) if c.marker is not None and (kind is None or c.marker.kind == kind)]

    # --- shapes -------------------------------------------------------------------------------

    @staticmethod
    def _parts(ref: ItemRef, operation: str) -> tuple[str, str, int]:
        try:
            return ref.github_parts
        except ValueError as error:
            raise PermanentTrackerError("github", operation, str(error), 0) from None

    @staticmethod
    def _repo(container: str, operation: str) -> tuple[str, str]:
        owner, _, repo = container.partition("/")
        if not owner or not repo or "/" in repo:
            raise PermanentTrackerError("github", operation, f"not a repository: {container!r} (owner/repo)", 0)
        return owner, repo

    def _comment(self, item: ItemRef, data: dict[str, Any]) -> Comment:
        """A comment; its ``marker`` is set only when it is ours: the MAC verifies for this item
        and the author is lessonloop's own identity. Anything else is somebody's text."""
        body = data.get("body") or ""
        author = (data.get("user") or {}).get("login", "")
        verified = self.keys.find(body, str(item))
        ours = verified if verified and author == self.whoami().id else []
        return Comment(
            id=str(data["id"]),
            body=body,
            marker=ours[0] if ours else None,
            url=data.get("html_url") or "",
            created_at=parse_timestamp(data.get("created_at")),
            updated_at=parse_timestamp(data.get("updated_at")),
        )


__all__ = ["GitHubClient"]
