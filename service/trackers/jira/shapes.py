"""The shapes of Jira's requests and answers that every call shares: labels as Jira takes them,
the error text an answer carries, the sign-in header, the fields an item is read from."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any, Literal

from service.domain.events import ItemRef
from service.trackers.base import ReviewDraft
from service.trackers.http.api import response_message
from service.trackers.http.transport import Answer
from service.trackers.jira.wiki_write import wiki_link

Deployment = Literal["cloud", "datacenter"]
REVIEW_LABEL = "lessonloop"
DUPLICATE_LABEL = "lessonloop-duplicate"
"""Added to a review lessonloop opened twice, on the copy it gave up (with a comment saying
which one to use): a label, not a transition, because which transition closes an issue depends
on each project's workflow."""
PAGE_SIZE = 100
ITEM_FIELDS = (
    "summary,description,status,resolution,labels,assignee,creator,reporter,issuetype,priority,project,"
    "components,created,resolutiondate,statuscategorychangedate"
)


LABEL_LIMIT = 255
"""Jira's longest label."""


def jira_labels(labels: Iterable[str]) -> list[str]:
    """Labels as Jira takes them, for every issue lessonloop opens (reviews and follow-ups).

    A Jira label is one word: Jira refuses a label with a space in it, so each run of white
    space becomes one hyphen ("post incident review" -> "post-incident-review"), a label is
    cut at Jira's 255 characters, empty ones are dropped, and ``lessonloop`` (how JQL finds
    our issues) is always among them; each once, sorted."""
    kept = {"-".join(label.split())[:LABEL_LIMIT] for label in labels}
    return sorted((kept - {""}) | {REVIEW_LABEL})


def _jira_message(data: Any) -> str:
    messages = [str(m) for m in data.get("errorMessages") or ()]
    messages += [f"{field}: {text}" for field, text in sorted((data.get("errors") or {}).items())]
    return "; ".join(messages)


def message_of(response: Answer) -> str:
    return response_message(response, _jira_message)


def basic_authorization(email: str, api_token: str) -> str:
    """The ``Authorization`` value of basic auth: base64 of ``email:token`` in UTF-8 (the form
    the log redactor also looks for)."""
    return "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")


def issue_number(key: str) -> int:
    """The issue number in a key (``OPS-42`` -> 42): issues of one project are numbered as created."""
    number = key.rpartition("-")[2]
    return int(number) if number.isascii() and number.isdigit() else 0


def user_id(user: dict[str, Any]) -> str:
    """A user's id in either deployment's answer: the Cloud ``accountId``, else the Data Center name or key."""
    return user.get("accountId") or user.get("name") or user.get("key") or ""


def body_with_incident(draft: ReviewDraft) -> str:
    """A review's description with a link to the incident when it has none. The title is the
    incident tracker's text: escaped like every copied string (no mention, macro or marker in it)."""
    if draft.incident_url in draft.body or draft.incident.key in draft.body:
        return draft.body
    reference = wiki_link(draft.incident_title or str(draft.incident), draft.incident_url)
    return f"{draft.body.rstrip()}\n\nIncident: {reference}"


def remote_link(target: ItemRef, url: str, title: str, operation: str) -> dict[str, Any]:
    """A remote link to ``target`` keyed by its ref: Jira updates a remote link with the same
    ``globalId`` instead of adding another."""
    return {
        "globalId": f"lessonloop:{target}",
        "application": {"type": "lessonloop", "name": "lessonloop"},
        "relationship": "post-incident review of" if operation == "open_review" else "relates to",
        "object": {"url": url, "title": title or str(target)},
    }
