"""Jira's changelog and comments read as history entries (pure), for the review's timeline."""

from __future__ import annotations

from typing import Any

from service.domain.history import HistoryEntry
from service.domain.timestamps import parse_timestamp

_CHANGELOG_FIELDS = {"status", "assignee", "priority", "resolution"}


def history_from_changelog(issue: dict[str, Any]) -> list[HistoryEntry]:
    """Jira's changelog and comments as history entries."""
    entries = []
    histories = ((issue.get("changelog") or {}).get("histories")) or []
    for history in histories if isinstance(histories, list) else []:
        if not isinstance(history, dict):
            continue
        at = parse_timestamp(history.get("created"))
        author: dict[str, Any] = history["author"] if isinstance(history.get("author"), dict) else {}
        if at is None:
            continue
        for item in history.get("items") or []:
            if not isinstance(item, dict) or str(item.get("field", "")).lower() not in _CHANGELOG_FIELDS:
                continue
            field = str(item["field"]).lower()
            before, after = str(item.get("fromString") or ""), str(item.get("toString") or "")
            if field == "assignee":
                entries.append(
                    HistoryEntry(
                        at,
                        f"assigned to {after}" if after else "unassigned",
                        who=str(author.get("displayName") or ""),
                        person=str(item.get("to") or ""),
                        responder=after,
                        kind="assign",
                    )
                )
            else:
                change = f"{before} → {after}" if before else after
                entries.append(
                    HistoryEntry(at, f"{field}: {change}", who=str(author.get("displayName") or ""), kind=field)
                )
    for comment in comments_of(issue):
        at = parse_timestamp(comment.get("created")) if isinstance(comment, dict) else None
        if at is None:
            continue
        author = comment["author"] if isinstance(comment.get("author"), dict) else {}
        name = str(author.get("displayName") or "")
        entries.append(
            HistoryEntry(
                at,
                "commented",
                who=name,
                responder=name,
                person=str(author.get("accountId") or author.get("name") or ""),
                kind="comment",
            )
        )
    return entries


def comments_of(issue: dict[str, Any]) -> list[Any]:
    """An issue's ``fields.comment`` in either shape Jira's description shows: the page object
    (``{"comments": [...], "total": ...}``, what Jira answers) or a plain list of comments
    (Atlassian's own example of an issue); anything else is no comments."""
    fields = issue.get("fields")
    found = fields.get("comment") if isinstance(fields, dict) else None
    if isinstance(found, dict):
        found = found.get("comments")
    return found if isinstance(found, list) else []
