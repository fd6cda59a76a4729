"""PagerDuty V3 webhooks: ``X-PagerDuty-Signature`` (one ``v1=`` per signing secret during
rotation), ``incident.resolved`` closes an incident. PagerDuty has no tasks, so it never holds
a review; its notes are append-only, so none of its events updates one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.events import Event, EventKind, Item, ItemRef, UnreadableBody
from service.domain.timestamps import parse_timestamp
from service.trackers.signing import ACCEPTED, Verdict, any_matches
from service.trackers.webhook import Headers, WebhookSource, header, load_object, names, obj, opt_obj, text

SIGNATURE_HEADER = "X-PagerDuty-Signature"
WEBHOOK_ID_HEADER = "X-Webhook-Id"


def verify(body: bytes, headers: Headers, secrets: Sequence[str], _tokens: Sequence[str]) -> Verdict:
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        return Verdict(False, f"missing {SIGNATURE_HEADER} header")
    digests = []
    for entry in given.split(","):
        version, _, digest = entry.strip().partition("=")
        if version == "v1" and digest:
            digests.append(digest)
    if not digests:
        return Verdict(False, f"{SIGNATURE_HEADER} holds no v1=<hex digest> entry")
    if not any_matches(secrets, body, digests):
        return Verdict(False, f"{SIGNATURE_HEADER} does not match the body under any configured secret")
    return ACCEPTED


def parse(body: bytes, _headers: Headers) -> Event:
    payload = load_object(body)
    event = obj(payload.get("event"), "event")
    event_type = text(event.get("event_type"))
    if not event_type:
        raise UnreadableBody("event.event_type is missing")
    event_id = text(event.get("id")) or None
    if event_type == "pagey.ping":
        return Event(source="pagerduty", kind=EventKind.PING, name=event_type, delivery_id=event_id)
    if event_type != "incident.resolved":
        return Event(
            source="pagerduty",
            kind=EventKind.NOT_RELEVANT,
            name=event_type,
            delivery_id=event_id,
            reason=f"event '{event_type}' does not close an incident",
        )
    data = obj(event.get("data"), "event.data")
    incident_id = text(data.get("id"))
    if not incident_id.isalnum():
        raise UnreadableBody("event.data.id is missing or not a PagerDuty id")
    item = Item(
        ref=ItemRef("pagerduty", incident_id.upper()),
        title=text(data.get("title")),
        url=text(data.get("html_url")),
        status=text(data.get("status")),
        done=text(data.get("status")) == "resolved",
        urgency=text(data.get("urgency")),
        priority=text(opt_obj(data.get("priority")).get("summary")),
        service=text(opt_obj(data.get("service")).get("summary")),
        assignees=names(data.get("assignees"), "summary"),
        created_at=parse_timestamp(data.get("created_at")),
        closed_at=parse_timestamp(event.get("occurred_at")),
        resolution=resolution_of(data),
    )
    actor = text(opt_obj(event.get("agent")).get("summary"))
    return Event(
        source="pagerduty",
        kind=EventKind.INCIDENT_CLOSED,
        name=event_type,
        item=item,
        delivery_id=event_id,
        actor=actor,
    )


def delivery_id(headers: Headers, event: Event) -> str | None:
    """The event id, which PagerDuty signs with the body: the unsigned ``X-Webhook-Id`` header
    could be changed by anyone replaying a captured body, so it serves only when there is no
    event id (a ping)."""
    return event.delivery_id or header(headers, WEBHOOK_ID_HEADER)


SOURCE = WebhookSource(
    name="pagerduty",
    verify=verify,
    parse=parse,
    delivery_id=delivery_id,
    kept_headers=(WEBHOOK_ID_HEADER,),
)


def resolution_of(incident: dict[str, Any]) -> str:
    """``merged`` for an incident resolved by merging it into another (PagerDuty's
    ``resolve_reason``, whose one documented type is ``merge_resolve_reason``), else empty: its
    webhook data and its REST object carry the same field."""
    reason = incident.get("resolve_reason")
    if isinstance(reason, dict) and reason.get("type") == "merge_resolve_reason":
        return "merged"
    return ""
