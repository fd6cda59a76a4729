"""GitHub webhooks: ``X-Hub-Signature-256`` over the raw body, ``issues`` events.

An incident closes when an issue is closed as completed (``state_reason`` other than
``not_planned``); whether it needs a review is the rules' call. An issue whose body carries
lessonloop's review marker is a review, and its edits and close drive the lesson sync.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from service.domain.events import Event, EventKind, Item, ItemRef, UnreadableBody, not_relevant
from service.domain.timestamps import parse_timestamp
from service.text import markers
from service.trackers.signing import ACCEPTED, Verdict, any_matches
from service.trackers.webhook import Headers, WebhookSource, header, load_object, names, obj, opt_obj, text

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"

_PRIORITY_LABEL = re.compile(r"^(?:p[0-4]|sev[ -]?[0-5]|priority[:/ -]\s*\S.*)$", re.IGNORECASE)


def verify(body: bytes, headers: Headers, secrets: Sequence[str], _tokens: Sequence[str]) -> Verdict:
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        return Verdict(False, f"missing {SIGNATURE_HEADER} header")
    scheme, _, digest = given.partition("=")
    if scheme != "sha256" or not digest:
        return Verdict(False, f"{SIGNATURE_HEADER} must be sha256=<hex digest>")
    if not any_matches(secrets, body, [digest]):
        return Verdict(False, f"{SIGNATURE_HEADER} does not match the body under any configured secret")
    return ACCEPTED


def parse(body: bytes, headers: Headers) -> Event:
    event_name = header(headers, EVENT_HEADER)
    if not event_name:
        raise UnreadableBody(f"missing {EVENT_HEADER} header")
    payload = load_object(body)
    if event_name == "ping":
        return Event(source="github", kind=EventKind.PING, name="ping", reason=text(payload.get("zen")))
    action = text(payload.get("action"))
    name = f"{event_name}.{action}" if action else event_name
    if event_name == "issue_comment":
        comment = obj(payload.get("comment"), "comment")
        if markers.looks_ours(text(comment.get("body"))):
            return not_relevant("github", name, "lessonloop's own comment")
        return not_relevant("github", name, "comments do not change a lesson: edit the review's description")
    if event_name != "issues":
        return not_relevant("github", name, f"event '{event_name}' is not used")

    issue_data = obj(payload.get("issue"), "issue")
    repository = obj(payload.get("repository"), "repository")
    item = item_from_issue(issue_data, text(repository.get("full_name")))
    actor = text((payload.get("sender") or {}).get("login")) if isinstance(payload.get("sender"), dict) else ""
    is_review = markers.find_kind(item.body, markers.REVIEW) is not None
    issue = payload["issue"]
    if isinstance(issue.get("pull_request"), dict):
        return not_relevant("github", name, "pull requests are not incidents", item)
    if action == "closed":
        if is_review:
            return Event(source="github", kind=EventKind.REVIEW_CLOSED, name=name, item=item, actor=actor)
        if issue.get("state_reason") == "not_planned":  # not an incident's close; a follow-up's, maybe
            return Event(
                source="github",
                kind=EventKind.ITEM_STATE,
                name=name,
                item=item,
                actor=actor,
                reason="closed as not planned",
            )
        return Event(source="github", kind=EventKind.INCIDENT_CLOSED, name=name, item=item, actor=actor)
    if action == "reopened" and not is_review:
        return Event(
            source="github",
            kind=EventKind.ITEM_STATE,
            name=name,
            item=item,
            actor=actor,
            reason="a reopened issue is not an incident close",
        )
    if action == "edited" and is_review:
        return Event(source="github", kind=EventKind.REVIEW_UPDATED, name=name, item=item, actor=actor)
    return not_relevant(
        "github", name, f"issue {action or 'event'} does not close an incident or change a review", item
    )


def delivery_id(headers: Headers, _event: Event) -> str | None:
    return header(headers, DELIVERY_HEADER)


def item_from_issue(issue: dict[str, Any], full_name: str) -> Item:
    """A GitHub issue, as webhooks and the REST API both send it, as an :class:`Item`: one
    mapping for both, so an incident read back from the API has every field a rule may use."""
    number = issue.get("number")
    if not full_name or not isinstance(number, int):
        raise UnreadableBody("issue.number or repository.full_name is missing")
    labels = names(issue.get("labels"))
    return Item(
        ref=ItemRef.github(full_name, number),
        title=text(issue.get("title")),
        url=text(issue.get("html_url")),
        status=text(issue.get("state")),
        done=text(issue.get("state")) == "closed",
        resolution=text(issue.get("state_reason")) if text(issue.get("state")) == "closed" else "",
        body=text(issue.get("body")),
        labels=labels,
        priority=next((label for label in labels if _PRIORITY_LABEL.match(label)), ""),
        project=full_name,
        assignees=names(issue.get("assignees"), "login"),
        author=text(opt_obj(issue.get("user")).get("login")),
        created_at=parse_timestamp(issue.get("created_at")),
        closed_at=parse_timestamp(issue.get("closed_at")),
    )


SOURCE = WebhookSource(
    name="github",
    verify=verify,
    parse=parse,
    delivery_id=delivery_id,
    kept_headers=(EVENT_HEADER, DELIVERY_HEADER),
)
