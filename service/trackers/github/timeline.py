"""GitHub's issue timeline read as history entries (pure): who labelled, was assigned,
commented, closed, for the review's timeline section."""

from __future__ import annotations

from typing import Any

from service.domain.history import HistoryEntry
from service.domain.timestamps import parse_timestamp

_TIMELINE_WORDS = {
    "labeled": "labelled",
    "unlabeled": "unlabelled",
    "assigned": "assigned to",
    "unassigned": "unassigned",
    "commented": "commented",
    "closed": "closed",
    "reopened": "reopened",
    "renamed": "renamed",
    "cross-referenced": "referenced from another issue",
    "referenced": "referenced in a commit",
    "milestoned": "added to a milestone",
    "demilestoned": "removed from a milestone",
    "locked": "locked",
    "unlocked": "unlocked",
    "transferred": "transferred",
}
_TIMELINE_NOISE = {"mentioned", "subscribed", "unsubscribed", "committed", "head_ref_deleted", "head_ref_restored"}


def history_from_timeline(events: list[dict[str, Any]]) -> list[HistoryEntry]:
    """GitHub's issue timeline as history entries: who labelled, was assigned, commented, closed."""
    entries = []
    for event in events:
        kind = event.get("event")
        at = parse_timestamp(event.get("created_at"))
        if not isinstance(kind, str) or at is None or kind in _TIMELINE_NOISE:
            continue
        actor = _login(event.get("actor")) or _login(event.get("user"))
        what = _TIMELINE_WORDS.get(kind, kind.replace("_", " "))
        responder = person = ""
        if kind in ("labeled", "unlabeled"):
            what = f"{what} {(event.get('label') or {}).get('name', '')}".strip()
        elif kind in ("assigned", "unassigned"):
            person = _login(event.get("assignee"))
            what = f"{what} {person}".strip()
            responder = person if kind == "assigned" else ""
        elif kind == "commented":
            person = responder = _login(event.get("user")) or actor
        entries.append(
            HistoryEntry(
                at, what, who=actor, person=person, responder=responder, kind="assign" if kind == "assigned" else kind
            )
        )
    return entries


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""
