"""GitHub issues as incidents and reviews, through one HTTP transport (REST, Markdown).

The base URL comes from settings, so GitHub Enterprise Server (``https://HOST/api/v3``) works the
same as github.com. Markers are HTML comments: invisible in rendered Markdown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from redis import Redis

from config.settings import GitHubSettings
from service.domain.events import Item, ItemRef, Markup, Source, UnreadableBody
from service.domain.history import History
from service.domain.timestamps import parse_timestamp
from service.infra import logs
from service.text.markers import Marker, MarkerKeys, container_of
from service.trackers.base import (
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
from service.trackers.github.access import repository_problems
from service.trackers.github.app import AppTokens
from service.trackers.github.dialect import MARKDOWN
from service.trackers.github.listing import PAGE_SIZE, issue_pages, last_page, list_of_objects, message_of
from service.trackers.github.timeline import history_from_timeline
from service.trackers.github.webhook import item_from_issue
from service.trackers.http.api import DEFAULT_TIMEOUT, HttpApi
from service.trackers.http.retry import RetryPolicy

log = logs.get(__name__)

API_VERSION = "2022-11-28"


class GitHubClient(MarkedComments):
    """Issues, comments and identity on GitHub or GitHub Enterprise Server."""

    source: Source = "github"
    markup: Markup = MARKDOWN.markup
    capabilities = Capabilities(edit_comments=True)

    def __init__(
        self,
        token: str | None,
        api_url: str = "https://api.github.com",
        retry: RetryPolicy = RetryPolicy(),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        *,
        keys: MarkerKeys,
        app: AppTokens | None = None,
    ) -> None:
        """A personal or fine-grained ``token``, or (``token`` None) a GitHub ``app``."""
        if (token is None) == (app is None):
            raise ValueError("GitHub needs a token or an App, one of them")
        self.keys = keys
        self.app = app
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "lessonloop",
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.api = HttpApi("github", api_url, headers, message_of, retry, timeout, credentials=app)
        self._identity: Identity | None = None

    @classmethod
    def from_settings(
        cls, settings: GitHubSettings, keys: MarkerKeys, retry: RetryPolicy = RetryPolicy(), redis: Redis | None = None
    ) -> GitHubClient:
        if settings.app_id is not None and settings.app_private_key is not None:
            if redis is None:
                raise ValueError("a GitHub App needs Redis to share its installation tokens")
            app = AppTokens(
                settings.app_id,
                settings.app_private_key.get_secret_value(),
                settings.api_url,
                redis,
                message_of,
                settings.app_installation_id,
                retry,
                keys=keys,
            )
            return cls(None, settings.api_url, retry, keys=keys, app=app)
        if settings.token is None:
            raise ValueError("LESSONLOOP_GITHUB_TOKEN is not set")
        return cls(settings.token.get_secret_value(), settings.api_url, retry, keys=keys)

    # --- identity and items -------------------------------------------------------------------

    def whoami(self) -> Identity:
        """``GET /user`` (an App: ``GET /app``, acting as ``<slug>[bot]``), once per client: the
        login is how our own comments are known, and the ``creator`` filter for reviews."""
        if self._identity is None:
            if self.app is not None:
                data = self.app.app()
                slug = str(data.get("slug") or "")
                self._identity = Identity("github", f"{slug}[bot]", str(data.get("name") or slug), kind="app")
            else:
                data = self.api.json("whoami", "GET", "/user")
                self._identity = Identity(
                    "github", data["login"], data.get("name") or data["login"], data.get("email") or ""
                )
        return self._identity

    def get_item(self, ref: ItemRef) -> Item:
        owner, repo, number = self._parts(ref, "get_item")
        data = self.api.json("get_item", "GET", f"/repos/{owner}/{repo}/issues/{number}")
        try:
            return item_from_issue(data if isinstance(data, dict) else {}, f"{owner}/{repo}")
        except UnreadableBody as error:
            raise PermanentTrackerError("github", "get_item", f"answer is not an issue: {error}") from None

    def get_item_with_history(self, ref: ItemRef) -> tuple[Item, History | None]:
        """The item alone: its history is a request of its own here, made only when needed."""
        return self.get_item(ref), None

    def history(self, ref: ItemRef) -> History:
        """The issue's timeline: one request, two when it has more than a page (then the first
        and the last page, and how many events lie between)."""
        owner, repo, number = self._parts(ref, "history")
        path = f"/repos/{owner}/{repo}/issues/{number}/timeline"
        first = self.api.request("history", "GET", path, params={"per_page": PAGE_SIZE, "page": 1})
        events = list_of_objects(first)
        last = last_page(first.headers.get("Link", ""))
        omitted = 0
        if last is not None and last > 1:
            events += list_of_objects(
                self.api.request("history", "GET", path, params={"per_page": PAGE_SIZE, "page": last})
            )
            omitted = (last - 2) * PAGE_SIZE
        return History(tuple(history_from_timeline(events)), omitted=omitted)

    def labelled(self, container: str, label: str, since: datetime | None = None) -> list[Item]:
        """Every issue (open or closed, oldest first) in a repository with ``label``: the past
        reviews ``lessonloop import`` reads."""
        owner, repo = self._repo(container, "labelled")
        found: list[Item] = []
        for issue in issue_pages(self.api, owner, repo, "labelled", {"labels": label}, "asc", since):
            try:
                found.append(item_from_issue(issue, f"{owner}/{repo}"))
            except UnreadableBody as error:  # one odd issue does not stop the others
                log.warning("skipped an issue GitHub listed", number=issue.get("number"), error=str(error))
        return found

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
            "body": MARKDOWN.attach(
                body, self.keys.seal(review_marker(draft.incident), container_of("github", f"{owner}/{repo}"))
            ),
        }
        if draft.labels:
            payload["labels"] = list(draft.labels)
        if draft.assignee:
            payload["assignees"] = [draft.assignee]
        data = self.api.json("open_review", "POST", f"/repos/{owner}/{repo}/issues", json=payload)
        return Review(
            ItemRef.github(f"{owner}/{repo}", data["number"]), data["html_url"], draft.incident, data["title"]
        )

    def find_review(self, container: str, incident: ItemRef, since: datetime | None = None) -> Review | None:
        """Issues we created in the repository, newest first, until one carries our verified marker."""
        owner, repo = self._repo(container, "find_review")
        where = container_of("github", f"{owner}/{repo}")
        for issue in self._our_issues(owner, repo, "find_review", since):
            marker = self.keys.find_kind(issue.get("body"), where, "review")
            if marker is not None and marker.get("incident") == str(incident):
                return Review(
                    ItemRef.github(f"{owner}/{repo}", issue["number"]), issue["html_url"], incident, issue["title"]
                )
        return None

    def find_reviews(self, container: str, incident: ItemRef, since: datetime | None = None) -> list[Review]:
        """As :meth:`find_review`, but every match, oldest (lowest number) first."""
        owner, repo = self._repo(container, "find_review")
        where = container_of("github", f"{owner}/{repo}")
        found = []
        for issue in self._our_issues(owner, repo, "find_review", since):
            marker = self.keys.find_kind(issue.get("body"), where, "review")
            if marker is not None and marker.get("incident") == str(incident):
                duplicate = issue.get("state") == "closed" and issue.get("state_reason") == "duplicate"
                ref = ItemRef.github(f"{owner}/{repo}", issue["number"])
                found.append(Review(ref, issue["html_url"], incident, issue["title"], closed_as_duplicate=duplicate))
        return sorted(found, key=lambda review: review.ref.github_parts[2])

    def close_duplicate_review(self, duplicate: Review, kept: Review) -> None:
        """A comment pointing at ``kept`` (unless one is there), then ``PATCH`` closed with
        ``state_reason: duplicate``, GitHub's own way to say so."""
        owner, repo, number = self._parts(duplicate.ref, "close_duplicate_review")
        self._point_at(duplicate.ref, kept.ref, duplicate_note(kept))
        self.api.json(
            "close_duplicate_review",
            "PATCH",
            f"/repos/{owner}/{repo}/issues/{number}",
            json={"state": "closed", "state_reason": "duplicate"},
        )

    def _our_issues(self, owner: str, repo: str, operation: str, since: datetime | None) -> Iterator[dict[str, Any]]:
        """The issues our identity created in a repository, newest first. Listing (not the search
        API) because it is strongly consistent: an issue created just before a crash is found at
        once; ``since`` keeps it to one page in practice."""
        me = self.whoami().id
        for issue in issue_pages(self.api, owner, repo, operation, {"creator": me}, "desc", since):
            if (issue.get("user") or {}).get("login") == me:
                yield issue

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
            "body": MARKDOWN.attach(body, self.keys.seal(draft.marker, container_of("github", f"{owner}/{repo}"))),
        }
        if draft.labels:
            payload["labels"] = list(draft.labels)
        data = self.api.json("open_task", "POST", f"/repos/{owner}/{repo}/issues", json=payload)
        return Task(ItemRef.github(f"{owner}/{repo}", data["number"]), data["html_url"], data["title"])

    def find_task(self, container: str, marker: Marker, since: datetime | None = None) -> Task | None:
        """As :meth:`find_review`: our own issues, newest first, until one's verified marker matches."""
        owner, repo = self._repo(container, "find_task")
        where = container_of("github", f"{owner}/{repo}")
        for issue in self._our_issues(owner, repo, "find_task", since):
            if any(marker_matches(found, marker) for found in self.keys.find(issue.get("body"), where, marker.kind)):
                return Task(ItemRef.github(f"{owner}/{repo}", issue["number"]), issue["html_url"], issue["title"])
        return None

    def link(self, item: ItemRef, target: ItemRef, target_url: str, title: str) -> None:
        """A marked comment naming the target, unless one is already there (1 read + 0 or 1 write)."""
        self._point_at(item, target, f"Related: [{title or target}]({target_url})")

    # --- comments -----------------------------------------------------------------------------

    def add_comment(self, item: ItemRef, text: str, marker: Marker) -> Comment:
        owner, repo, number = self._parts(item, "add_comment")
        data = self.api.json(
            "add_comment",
            "POST",
            f"/repos/{owner}/{repo}/issues/{number}/comments",
            json={"body": MARKDOWN.attach(text, self.keys.seal(marker, str(item)))},
        )
        return self._comment(item, data)

    def edit_comment(self, item: ItemRef, comment_id: str, text: str, marker: Marker) -> Comment:
        owner, repo, _ = self._parts(item, "edit_comment")
        if not comment_id.isdigit():
            raise NotSent("github", "edit_comment", f"not a GitHub comment id: {comment_id!r}")
        data = self.api.json(
            "edit_comment",
            "PATCH",
            f"/repos/{owner}/{repo}/issues/comments/{int(comment_id)}",
            json={"body": MARKDOWN.attach(text, self.keys.seal(marker, str(item)))},
        )
        return self._comment(item, data)

    def delete_comment(self, item: ItemRef, comment_id: str) -> None:
        """``DELETE …/issues/comments/{id}``; a 404 means a run before this one deleted it."""
        owner, repo, _ = self._parts(item, "delete_comment")
        if not (comment_id.isascii() and comment_id.isdigit()):
            raise NotSent("github", "delete_comment", f"not a GitHub comment id: {comment_id!r}")
        self.api.delete("delete_comment", f"/repos/{owner}/{repo}/issues/comments/{int(comment_id)}")

    def comments(self, item: ItemRef) -> list[Comment]:
        owner, repo, number = self._parts(item, "comments")
        found: list[Comment] = []
        page = 1
        while True:
            batch = self.api.json(
                "comments",
                "GET",
                f"/repos/{owner}/{repo}/issues/{number}/comments",
                params={"per_page": PAGE_SIZE, "page": page},
            )
            found.extend(self._comment(item, c) for c in batch)
            if len(batch) < PAGE_SIZE:
                return found
            page += 1

    # --- where reviews open ---------------------------------------------------------------------

    def target_problems(self, container: str, issue_type: str = "", assignee: bool = True) -> list[str]:
        """What would stop lessonloop opening reviews in the repository ``container``, one
        sentence each (none: it can): see :func:`repository_problems`. GitHub has no issue
        types, and asks nothing more of an assignee."""
        self._repo(container, "check")
        return repository_problems(self.api, self.app, container)

    # --- shapes -------------------------------------------------------------------------------

    @staticmethod
    def _parts(ref: ItemRef, operation: str) -> tuple[str, str, int]:
        try:
            return ref.github_parts
        except ValueError as error:
            raise NotSent("github", operation, str(error)) from None

    @staticmethod
    def _repo(container: str, operation: str) -> tuple[str, str]:
        owner, _, repo = container.partition("/")
        if not owner or not repo or "/" in repo:
            raise NotSent("github", operation, f"not a repository: {container!r} (owner/repo)")
        return owner, repo

    def _comment(self, item: ItemRef, data: dict[str, Any]) -> Comment:
        """A comment; its ``marker`` is set only when it is ours: the MAC verifies for this item
        and the author is lessonloop's own identity. Anything else is somebody's text."""
        body = data.get("body") or ""
        author = (data.get("user") or {}).get("login", "")
        return Comment(
            id=str(data["id"]),
            body=body,
            marker=self._our_marker(body, str(item), lambda: author == self.whoami().id),
            url=data.get("html_url") or "",
            created_at=parse_timestamp(data.get("created_at")),
            updated_at=parse_timestamp(data.get("updated_at")),
        )


__all__ = ["GitHubClient"]
