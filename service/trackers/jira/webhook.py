"""Jira webhooks: the admin webhook signed with ``X-Hub-Signature: sha256=…`` (no ``-256``),
or a Jira Automation "Send web request" rule, which cannot sign and sends a shared token in
``X-Lessonloop-Token`` instead.

An incident closes when ``jira:issue_updated`` moves the status into the done category. An
Automation rule's body has no ``webhookEvent``; when it carries an issue whose status is in the
done category, that counts as a close too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.events import Event, EventKind, Item, ItemRef, UnreadableBody, not_relevant
from service.domain.timestamps import parse_timestamp
from service.text import markers
from service.trackers.jira.fields import description_text, fields_done
from service.trackers.jira.refs import split_key
from service.trackers.signing import ACCEPTED, Verdict, any_matches, token_matches
from service.trackers.webhook import Headers, WebhookSource, header, load_object, names, obj, opt_obj, text

SIGNATURE_HEADER = "X-Hub-Signature"
TOKEN_HEADER = "X-Lessonloop-Token"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
_STATUS_EVENT_TYPES = {"issue_resolved", "issue_closed"}  # event types that mean the status moved


def verify(body: bytes, headers: Headers, secrets: Sequence[str], tokens: Sequence[str]) -> Verdict:
    given = header(headers, SIGNATURE_HEADER)
    if given:
        scheme, _, digest = given.partition("=")
        if scheme != "sha256" or not digest:
            return Verdict(False, f"{SIGNATURE_HEADER} must be sha256=<hex digest>")
        if not any_matches(secrets, body, [digest]):
            return Verdict(False, f"{SIGNATURE_HEADER} does not match the body under any configured secret")
        return ACCEPTED
    token = header(headers, TOKEN_HEADER)
    if token:
        if not tokens:
            return Verdict(False, f"{TOKEN_HEADER} is not accepted: LESSONLOOP_JIRA_AUTOMATION_TOKEN is not set")
        if not token_matches(tokens, token):
            return Verdict(False, f"{TOKEN_HEADER} does not match any configured token")
        return ACCEPTED
    return Verdict(False, f"missing {SIGNATURE_HEADER} header (or {TOKEN_HEADER} from a Jira Automation rule)")


def parse(body: bytes, _headers: Headers) -> Event:
    payload = load_object(body)
    webhook_event = payload.get("webhookEvent")
    if webhook_event is None:
        return _automation(payload)
    if not isinstance(webhook_event, str):
        raise UnreadableBody("webhookEvent is not a string")
    if webhook_event.startswith("comment_"):
        comment = opt_obj(payload.get("comment"))
        if markers.looks_ours(text(comment.get("body"))):
            return not_relevant("jira", webhook_event, "lessonloop's own comment")
        return not_relevant("jira", webhook_event, "comments do not change a lesson: edit the review's description")
    if webhook_event != "jira:issue_updated":
        return not_relevant("jira", webhook_event, f"event '{webhook_event}' is not used")

    item = item_from_issue(obj(payload.get("issue"), "issue"))
    changed = {text(change.get("field")).lower() for change in _changes(payload)}
    if text(payload.get("issue_event_type_name")) in _STATUS_EVENT_TYPES:
        changed.add("status")  # said by the event type even when a changelog is left out
    moved_to_done = "status" in changed and _in_done(payload["issue"])
    is_review = markers.find_kind(item.body, markers.REVIEW) is not None
    actor = text(opt_obj(payload.get("user")).get("displayName"))
    if is_review and moved_to_done:
        return Event(source="jira", kind=EventKind.REVIEW_CLOSED, name=webhook_event, item=item, actor=actor)
    if is_review and changed & {"description", "summary"}:
        return Event(source="jira", kind=EventKind.REVIEW_UPDATED, name=webhook_event, item=item, actor=actor)
    if is_review:
        return not_relevant("jira", webhook_event, "the review changed, but not its lesson", item)
    if moved_to_done:
        return Event(source="jira", kind=EventKind.INCIDENT_CLOSED, name=webhook_event, item=item, actor=actor)
    if changed & {"status", "resolution"}:  # reopened, or moved between open statuses: a follow-up's state may change
        return Event(
            source="jira",
            kind=EventKind.ITEM_STATE,
            name=webhook_event,
            item=item,
            actor=actor,
            reason="the status did not move into the done category",
        )
    return not_relevant("jira", webhook_event, "the status did not move into the done category", item)


def delivery_id(headers: Headers, _event: Event) -> str | None:
    return header(headers, DELIVERY_HEADER)


def _automation(payload: dict[str, Any]) -> Event:
    name = "automation"
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        return not_relevant("jira", name, "no webhookEvent and no issue: not a Jira issue event")
    item = item_from_issue(issue)
    if not _in_done(issue):  # not a close; a follow-up's reopening, maybe
        return Event(
            source="jira",
            kind=EventKind.ITEM_STATE,
            name=name,
            item=item,
            reason="the issue's status is not in the done category",
        )
    if markers.find_kind(item.body, markers.REVIEW) is not None:
        return Event(source="jira", kind=EventKind.REVIEW_CLOSED, name=name, item=item)
    return Event(source="jira", kind=EventKind.INCIDENT_CLOSED, name=name, item=item)


def _changes(payload: dict[str, Any]) -> list[dict[str, Any]]:
    items = opt_obj(payload.get("changelog")).get("items")
    return [change for change in items if isinstance(change, dict)] if isinstance(items, list) else []


def _in_done(issue: dict[str, Any]) -> bool:
    return fields_done(opt_obj(issue.get("fields")))


def item_from_issue(issue: dict[str, Any]) -> Item:
    """A Jira issue, as webhooks and the REST API both send it, as an :class:`Item` (one mapping
    for both: an incident read back from the API keeps its priority, component and dates)."""
    key = text(issue.get("key"))
    try:
        ref = ItemRef.parse(f"jira:{key}")
    except ValueError:
        raise UnreadableBody("issue.key is missing or not a Jira issue key") from None
    fields = opt_obj(issue.get("fields"))
    return Item(
        ref=ref,
        title=text(fields.get("summary")),
        url=_browse_url(text(issue.get("self")), key),
        status=text(opt_obj(fields.get("status")).get("name")),
        body=description_text(fields.get("description")),
        labels=names(fields.get("labels")),
        issue_type=text(opt_obj(fields.get("issuetype")).get("name")),
        priority=text(opt_obj(fields.get("priority")).get("name")),
        service=next(iter(names(fields.get("components"))), ""),
        project=text(opt_obj(fields.get("project")).get("key")) or split_key(ref.key)[0],
        assignees=_user_ids(fields.get("assignee")),
        author=next(iter(_user_ids(fields.get("creator")) or _user_ids(fields.get("reporter"))), ""),
        created_at=parse_timestamp(fields.get("created")),
        closed_at=parse_timestamp(fields.get("resolutiondate"))
        or parse_timestamp(fields.get("statuscategorychangedate")),
        done=fields_done(fields),
        resolution=_resolution(fields.get("resolution")),
    )


def _resolution(value: Any) -> str:
    return value if isinstance(value, str) else text(opt_obj(value).get("name"))


def _user_ids(user: Any) -> tuple[str, ...]:
    """The assignee as the Jira API names users (as the Jira client does): ``accountId`` on
    Cloud, ``name`` on Data Center, so the same person can be assigned the review."""
    user = opt_obj(user)
    ident = text(user.get("accountId")) or text(user.get("name")) or text(user.get("key"))
    return (ident,) if ident else ()


def _browse_url(self_url: str, key: str) -> str:
    """``https://acme.atlassian.net/rest/api/2/10042`` -> ``https://acme.atlassian.net/browse/OPS-42``."""
    base, found, _ = self_url.partition("/rest/api/")
    return f"{base}/browse/{key}" if found and base.startswith(("https://", "http://")) else ""


SOURCE = WebhookSource(
    name="jira",
    verify=verify,
    parse=parse,
    delivery_id=delivery_id,
    kept_headers=(DELIVERY_HEADER,),
)
