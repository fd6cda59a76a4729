"""A JQL search walked to its end, on either deployment's endpoint and paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from service.trackers.base import REVIEW_PROPERTY_KEY
from service.trackers.http.api import HttpApi
from service.trackers.jira.shapes import PAGE_SIZE, REVIEW_LABEL, Deployment, user_id


def search(api: HttpApi, deployment: Deployment, operation: str, jql: str, fields: str) -> list[dict[str, Any]]:
    """Cloud: ``/search/jql`` (token paging; Cloud retired ``/search``). Data Center: ``/search``."""
    found: list[dict[str, Any]] = []
    params: dict[str, str | int] = {
        "jql": jql,
        "fields": fields,
        "properties": REVIEW_PROPERTY_KEY,
        "maxResults": PAGE_SIZE,
    }
    if deployment == "cloud":
        while True:
            data = api.json(operation, "GET", "/search/jql", params=params)
            found.extend(data.get("issues") or ())
            token = data.get("nextPageToken")
            if data.get("isLast", True) or not token:
                return found
            params = params | {"nextPageToken": token}
    start = 0
    while True:
        data = api.json(operation, "GET", "/search", params=params | {"startAt": start})
        issues = data.get("issues") or []
        found.extend(issues)
        start += len(issues)
        if not issues or start >= int(data.get("total", 0)):
            return found


def our_labelled(
    api: HttpApi, deployment: Deployment, me: str, project: str, operation: str, since: datetime | None
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(issue, its fields) for issues with the ``lessonloop`` label that ``me`` (our own
    identity) created in ``project`` (a checked key), newest first. Labels and entity properties
    can be set by anyone who can edit an issue, so neither is proof: the creator is, and then the
    caller's marker. JQL reads dates in the user's time zone, so ``since`` is widened by a day."""
    jql = f'project = "{project}" AND labels = "{REVIEW_LABEL}"'
    if since is not None:
        jql += f' AND created >= "{(since - timedelta(days=1)).strftime("%Y/%m/%d %H:%M")}"'
    jql += " ORDER BY created DESC"
    for issue in search(api, deployment, operation, jql, "summary,description,creator,labels"):
        fields = issue.get("fields") or {}
        if user_id(fields.get("creator") or {}) == me:
            yield issue, fields
