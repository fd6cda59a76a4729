"""``POST /webhooks/<source>``: verify, parse, record, enqueue, answer, in that order.

Nothing is parsed before the signature holds, nothing is recorded that the rules do not want,
and nothing is answered 2xx before it is in the store: a tracker that hears 202 or 200 may
forget the delivery, so we must not.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from config.settings import webhook_secret_env
from service.domain.events import Event, EventKind, UnreadableBody
from service.infra import breaker as redis_breaker
from service.infra import logs
from service.infra.queue import enqueue_delivery
from service.infra.runtime import Runtime
from service.loop.routing import select_rule
from service.store import deliveries, followups, reviews
from service.trackers.registry import SOURCES, project_of
from service.trackers.webhook import kept

blueprint = Blueprint("webhooks", __name__)
log = logs.get(__name__)


def _answer(code: int, status: str, **fields: object) -> tuple[Response, int]:
    return jsonify(status=status, **fields), code


def _read_body(limit: int) -> bytes:
    """The raw body, or 413 as soon as it passes ``limit``.

    ``request.get_data()`` would quietly cut a chunked body at the limit (Werkzeug's stream
    stops there), and a cut body fails its signature: a 401 that hides the real cause.
    """
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    chunks, total = [], 0
    while chunk := request.stream.read(65536):
        total += len(chunk)
        if total > limit:
            raise RequestEntityTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _enqueue(runtime: Runtime, delivery_pk: int, event_kind: str, job_id: str) -> bool:
    """Queue the delivery's job, or say it was not: recorded is enough, since the worker's
    sweep queues it once Redis is back. Redis that failed a moment ago is not tried (see
    :mod:`service.infra.breaker`), so a dead Redis costs one request half a second, not every one."""
    breaker = redis_breaker.of(current_app)
    if not breaker.allow():
        log.warning(
            "recorded but not queued (Redis failed moments ago); the sweep will enqueue it", delivery=delivery_pk
        )
        return False
    try:
        enqueue_delivery(runtime.queue, delivery_pk, event_kind, job_id, runtime.settings.server.job_timeout_seconds)
    except RedisError as error:
        breaker.failed()
        log.warning(
            "recorded but not queued; the sweep will enqueue it", delivery=delivery_pk, error=type(error).__name__
        )
        return False
    breaker.succeeded()
    return True


@blueprint.post("/webhooks/<source>")
def receive(source: str) -> tuple[Response, int]:
    runtime: Runtime = current_app.extensions["lessonloop"]
    settings = runtime.settings
    adapter = SOURCES.get(source)
    if adapter is None:
        return _answer(404, "error", reason=f"unknown source '{source}': use github, jira or pagerduty")
    if source not in settings.enabled_sources:
        return _answer(
            404,
            "error",
            reason=f"source '{source}' is not enabled on this server: set {webhook_secret_env(source)} to enable it",
        )

    body = _read_body(settings.server.max_body_bytes)
    incoming = dict(request.headers)  # the pure parts take a plain mapping (and look names up in any case)
    secrets = [secret.get_secret_value() for secret in settings.webhook_secrets(source)]
    tokens = [token.get_secret_value() for token in settings.automation_tokens(source)]
    verdict = adapter.verify(body, incoming, secrets, tokens)
    if not verdict.ok:
        log.warning("delivery refused", source=source, reason=verdict.reason, remote=request.remote_addr)
        return _answer(401, "error", reason=verdict.reason)

    try:
        event = adapter.parse(body, incoming)
    except UnreadableBody as error:
        log.warning("delivery unreadable", source=source, reason=str(error))
        return _answer(400, "error", reason=str(error))

    if event.kind is EventKind.PING:
        return _answer(200, "ping", reason="pong")
    if event.kind is EventKind.NOT_RELEVANT:
        return _answer(200, "not relevant", reason=event.reason, event=event.name)
    try:
        event = _as_review_or_not(runtime, event)
        kind = _kind_to_record(runtime, event)
    except SQLAlchemyError as error:
        log.error("could not ask the store about a follow-up", source=source, error=type(error).__name__)
        return _answer(503, "error", reason="could not record the delivery; retry later")
    if kind is EventKind.NOT_RELEVANT:
        reason = event.reason
        if event.kind is EventKind.INCIDENT_CLOSED:
            reason = select_rule(event, settings.rules).reason
        elif event.kind is EventKind.ITEM_STATE:
            reason = f"{event.reason}; not a follow-up lessonloop tracks"
        return _answer(200, "not relevant", reason=reason, event=event.name)

    delivery_id = adapter.delivery_id(incoming, event) or deliveries.body_digest(body)
    item_ref = str(event.item.ref) if event.item else None
    unkeepable = _unkeepable({"the delivery id": delivery_id, "the event name": event.name, "the item": item_ref})
    if unkeepable:
        log.warning("delivery refused", source=source, reason=unkeepable)
        return _answer(400, "error", reason=unkeepable)
    try:
        recorded = deliveries.record(
            runtime.engine,
            source=source,
            delivery_id=delivery_id[:200],
            event_name=event.name[:100],
            event_kind=kind.value,
            item_ref=item_ref,
            headers=kept(incoming, adapter.kept_headers),
            body=body,
        )
    except SQLAlchemyError as error:
        log.error("could not record delivery", source=source, delivery_id=delivery_id, error=type(error).__name__)
        return _answer(503, "error", reason="could not record the delivery; retry later")

    if not recorded.new:
        return _answer(200, "duplicate", reason="this delivery was received before", delivery=recorded.delivery_pk)

    job_id = deliveries.job_id_for(recorded.delivery_pk)
    queued = _enqueue(runtime, recorded.delivery_pk, kind.value, job_id)
    log.info(
        "delivery accepted",
        source=source,
        delivery=recorded.delivery_pk,
        delivery_id=delivery_id,
        tracker_event=event.name,
        kind=kind.value,
        item=item_ref,
        queued=queued,
    )
    return _answer(202, "queued", delivery=recorded.delivery_pk, job=job_id, queued=queued, kind=kind.value)


def _unkeepable(fields: dict[str, str | None]) -> str:
    """Why a delivery cannot be recorded as sent, or empty: PostgreSQL refuses a NUL character
    in text (SQLite keeps it), so a field holding one is refused here, on either store, instead
    of answering 503 and being sent again for ever."""
    for name, value in fields.items():
        if value is not None and "\x00" in value:
            return f"{name} holds a NUL character (U+0000), which lessonloop does not keep"
    return ""


def _kind_to_record(runtime: Runtime, event: Event) -> EventKind:
    """What the delivery is to lessonloop: an incident close a rule selects, a state change of a
    follow-up it tracks (the parser cannot know that: the store does), or nothing."""
    if event.kind is EventKind.INCIDENT_CLOSED:
        if select_rule(event, runtime.settings.rules).selected:
            return event.kind
        return EventKind.ITEM_STATE if _is_followup(runtime, event) else EventKind.NOT_RELEVANT
    if event.kind is EventKind.ITEM_STATE:
        return event.kind if _is_followup(runtime, event) else EventKind.NOT_RELEVANT
    return event.kind


def _as_review_or_not(runtime: Runtime, event: Event) -> Event:
    """A review's event only when the item can be one of ours (:func:`_may_be_our_review`);
    otherwise its text merely looks like a review: a close is judged as any other item's
    close (an incident with a pasted marker still gets its review), an edit is not relevant."""
    if event.kind not in (EventKind.REVIEW_UPDATED, EventKind.REVIEW_CLOSED) or _may_be_our_review(runtime, event):
        return event
    if event.kind is EventKind.REVIEW_CLOSED:
        return replace(event, kind=EventKind.INCIDENT_CLOSED)
    reason = "not a review lessonloop knows, nor where a rule opens reviews"
    return replace(event, kind=EventKind.NOT_RELEVANT, reason=reason)


def _may_be_our_review(runtime: Runtime, event: Event) -> bool:
    """Whether an item whose text looks like a review can be one of ours: the store knows it,
    or it lives where a rule opens reviews (a review opened and not yet recorded, which the
    worker adopts only when its marker verifies and lessonloop wrote it). Anywhere else, text
    that looks like a marker is text, and the delivery is not recorded."""
    if event.item is None:
        return False
    ref = event.item.ref
    if reviews.review(runtime.engine, ref) is not None:
        return True
    container = f"{ref.source}:{project_of(ref)}"
    return any(rule.target is not None and str(rule.target) == container for rule in runtime.settings.rules)


def _is_followup(runtime: Runtime, event: Event) -> bool:
    return event.item is not None and followups.is_followup(runtime.engine, str(event.item.ref))
