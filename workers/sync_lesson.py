"""``sync_lesson``: a review ticket was edited or closed. Read the lesson from it; if it is
complete, keep it in the learning log and post it on every related item; if the review was
closed with the lesson incomplete, say once (per distinct text) which sections are missing."""

from __future__ import annotations

from dataclasses import replace

from service import lesson
from service.domain.events import Event, EventKind, Item, ItemRef
from service.infra import logs
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.lesson.blame_rules import BlameRulesError
from service.loop import scope
from service.store import deliveries, followups, lessons, reviews
from service.text import markers
from service.trackers.base import TrackerClient
from service.trackers.registry import markup_of, project_of
from workers import context
from workers.effects import digest_of, post_and_tidy, post_once
from workers.jobs import exclusive, run_delivery
from workers.open_followups import open_followups
from workers.open_review import open_review_step
from workers.share_lesson import referenced_items, share, share_again

log = logs.get(__name__)

FOLLOWUPS_SECTION = "what_we_will_change"


def sync_lesson(delivery_pk: int) -> str:
    """The RQ job for a review edited or closed."""
    return run_delivery(delivery_pk, _sync_lesson)


def resync_review(review_ref: str) -> str:
    """The RQ job ``lessonloop link`` and ``lessonloop import`` queue: post a kept lesson (again)
    on every related item."""
    return share_again(context.runtime(), review_ref)


def _sync_lesson(runtime: Runtime, delivery: deliveries.Delivery, event: Event) -> tuple[str, str]:
    assert event.item is not None
    review_ref = event.item.ref
    closing = event.kind is EventKind.REVIEW_CLOSED
    with exclusive(runtime, str(review_ref)):
        client = runtime.client(review_ref.source)
        # the ticket as it is now: webhooks arrive out of order, replays are late, and a body
        # in a webhook says only what its sender claims
        current = client.get_item(review_ref)
        record = reviews.review(runtime.engine, review_ref) or _adopt(runtime, current)
        if record is not None:
            return _capture(runtime, client, record, current, closing)
    # Not a review lessonloop opened: text that looks like our marker proves nothing. An item
    # that closed is then judged as what it is, a possible incident (outside the review's lock:
    # opening a review takes the incident's own lock, which is the same item).
    if closing or current.done:
        return open_review_step(runtime, delivery, replace(event, kind=EventKind.INCIDENT_CLOSED, item=current))
    return deliveries.IGNORED, f"{review_ref} is not a review lessonloop opened"


def _capture(
    runtime: Runtime, client: TrackerClient, record: reviews.ReviewRecord, current: Item, closing: bool
) -> tuple[str, str]:
    """Read the lesson from the review as it is now; keep and share it, or ask for what is missing."""
    review_ref = current.ref
    incident_ref = ItemRef.parse(record.incident_ref)
    if (closing or current.done) and record.status != "closed":
        reviews.set_status(runtime.engine, review_ref, "closed")
    template = lesson.load_template(record.template)
    written = lesson.without_header(current.body, record.header)  # what people wrote, not what we copied in
    parsed = lesson.parse_lesson(written, template)
    if not parsed.complete:
        missing = ", ".join(parsed.missing)
        if not closing:  # only a close asks; edits in between are work in progress
            return deliveries.DONE, f"lesson not complete yet (missing: {missing})"
        text = lesson.render_missing_comment(parsed.missing, client.markup)
        tidied = post_and_tidy(runtime, client, review_ref, markers.MISSING, parsed.digest[:16], text)[1]
        return deliveries.DONE, f"review closed with the lesson incomplete; asked for: {missing}{tidied}"
    incident = reviews.incident(runtime.engine, incident_ref)
    incident_item = incident.as_item() if incident else _fetch_incident(runtime, incident_ref)
    lessons.save(
        runtime.engine,
        review_ref=str(review_ref),
        incident_ref=str(incident_ref),
        incident_title=incident_item.title,
        incident_url=incident_item.url,
        priority=incident_item.priority or incident_item.urgency,
        review_url=record.url,
        sections=parsed.sections,
        digest=parsed.digest,
        incident_closed_at=incident_item.closed_at,
    )
    tracked = _track_followups(runtime, record, parsed.sections, incident_item)
    shared = share(runtime, incident_item, record, parsed.sections, template, written)
    nudged = _nudge(runtime, client, review_ref, parsed.sections, template)
    return deliveries.DONE, f"lesson of {review_ref} kept and {shared.describe()}; follow-ups: {tracked}{nudged}"


def _nudge(
    runtime: Runtime,
    client: TrackerClient,
    review_ref: ItemRef,
    sections: dict[str, str],
    template: lesson.LessonTemplate,
) -> str:
    """After the lesson is kept and shared, one comment on the review quoting the sentences that
    put a person rather than a process at the centre, with a question to ask instead; once per
    distinct set of sentences (``[lesson] blame_check``). A nudge, never a gate: a tracker that
    refuses it is named in the outcome, and the lesson stays kept and shared."""
    if runtime.settings.lesson.blame_check == "off":
        return ""
    written_in = client.markup  # the review's
    order = [section.key for section in template.sections] + sorted(set(sections) - {s.key for s in template.sections})
    try:
        findings = [
            finding for key in order if sections.get(key) for finding in lesson.find_blame(sections[key], written_in)
        ]
    except BlameRulesError as error:  # an edited language file: say so, hold nothing up
        return f"; blame check skipped: {error}"
    if not findings:
        return ""
    key = digest_of("\n".join(f"{finding.rule}\t{finding.sentence}" for finding in findings))
    text = lesson.render_blame_comment(findings, client.markup)
    try:
        outcome = post_once(runtime, client, review_ref, markers.BLAME, key, text)
    except Permanent as error:
        return f"; blame nudge not posted: {error}"
    return f"; blame nudge ({len(findings)} sentence{'s' if len(findings) != 1 else ''}): {outcome}"


def _track_followups(runtime: Runtime, record: reviews.ReviewRecord, sections: dict[str, str], incident: Item) -> str:
    review_ref = ItemRef.parse(record.ref)
    section = sections.get(FOLLOWUPS_SECTION) or ""
    if not section.strip():
        followups.unlist(runtime.engine, str(review_ref), ())
        return "none"

    def find(text: str) -> set[ItemRef]:
        return referenced_items(runtime, text, (incident.url, record.url))

    return open_followups(
        runtime,
        review_ref,
        section,
        markup_of(review_ref.source),
        incident,
        record.url,
        find,
        scope.of_review(runtime.settings, record),
    )


def _adopt(runtime: Runtime, review: Item) -> reviews.ReviewRecord | None:
    """A review we opened but have no record of (a crash between the create and the record, a
    store restored from an older backup): only when its marker verifies for where it lives and
    the tracker says lessonloop's own identity created it. Anything else is someone's issue."""
    where = markers.container_of(review.ref.source, project_of(review.ref))
    marker = runtime.marker_keys().find_kind(review.body, where, markers.REVIEW)
    if marker is None or not marker.get("incident"):
        return None
    if not review.author or review.author != runtime.client(review.ref.source).whoami().id:
        return None
    try:
        incident_ref = ItemRef.parse(marker.get("incident") or "")
    except ValueError:
        return None
    known = reviews.review_of(runtime.engine, incident_ref)
    if known is not None and known.ref != str(review.ref):
        return None  # that incident has its review already: this one is a stray copy
    try:
        reviews.save_incident(runtime.engine, _fetch_incident(runtime, incident_ref))
    except (RetryLater, Permanent) as error:  # the review is adopted all the same; its incident is read later
        log.warning("an adopted review's incident could not be read", review=str(review.ref), error=str(error))
    return reviews.save_review(
        runtime.engine,
        incident_ref=incident_ref,
        ref=review.ref,
        url=review.url,
        template=runtime.settings.review.template,
        due_on=None,
    )


def _fetch_incident(runtime: Runtime, incident_ref: ItemRef) -> Item:
    item = runtime.client(incident_ref.source).get_item(incident_ref)
    reviews.save_incident(runtime.engine, item)
    return item
