"""Reading GitHub's answers: the error text an answer carries, lists of objects, the pages a
``Link`` header names, and the issue listing every search for lessonloop's own issues walks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from service.trackers.http.api import HttpApi, response_message
from service.trackers.http.transport import Answer

PAGE_SIZE = 100


def message_of(response: Answer) -> str:
    return response_message(response, _github_message)


def _github_message(data: Any) -> str:
    message = str(data.get("message", ""))
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            details.append(error.get("message") or " ".join(f"{k}={v}" for k, v in sorted(error.items())))
        else:
            details.append(str(error))
    return f"{message}: {'; '.join(details)}" if details else message


def list_of_objects(response: Answer) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError:
        return []
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def last_page(link: str) -> int | None:
    """The page number of ``rel="last"`` in a Link header, if any."""
    for part in link.split(","):
        if 'rel="last"' in part:
            match = re.search(r"[?&]page=(\d+)", part)
            return int(match.group(1)) if match else None
    return None


def issue_pages(
    api: HttpApi,
    owner: str,
    repo: str,
    operation: str,
    where: dict[str, str],
    direction: str,
    since: datetime | None,
) -> Iterator[dict[str, Any]]:
    """``GET /repos/{owner}/{repo}/issues`` filtered by ``where``, open and closed, by creation
    date, a page at a time; pull requests (which the listing includes) left out."""
    page = 1
    while True:
        params: dict[str, str | int] = {
            **where,
            "state": "all",
            "sort": "created",
            "direction": direction,
            "per_page": PAGE_SIZE,
            "page": page,
        }
        if since is not None:
            params["since"] = since.isoformat().replace("+00:00", "Z")
        batch = api.json(operation, "GET", f"/repos/{owner}/{repo}/issues", params=params)
        if not isinstance(batch, list):
            return
        for issue in batch:
            if isinstance(issue, dict) and "pull_request" not in issue:
                yield issue
        if len(batch) < PAGE_SIZE:
            return
        page += 1
