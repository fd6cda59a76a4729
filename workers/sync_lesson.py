"""``sync_lesson``: a review ticket was edited or closed. Read the lesson from it; if it is
complete, keep it in the learning log and post it on every related item; if the review was
closed with the lesson incomplete, say once (per distinct text) which sections are missing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

from service import lesson
from service.domain import references as related
from service.domain.events import Event, EventKind, Item, ItemRef
from service.infra import logs
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.lesson.blame_rules import BlameRulesError
from service.lesson.followup_items import render_followups
from service.loop import scope
from service.loop.reach import lesson_reach
from service.store import deliveries, followups, lessons, links, reviews
from service.text import markers
from service.trackers.base import TrackerClient
from service.trackers.registry import markup_of
from workers.effects import digest_of, post_and_tidy, post_once
from workers.jobs import exclusive, run_delivery
from workers.open_review import open_review_step
from workers.track_followups import shown as shown_followups
from workers.track_followups import track as track_followups

log = logs.get(__name__)

FOLLOWUPS_SECTION = "what_we_will_change"


def sync_lesson(delivery_pk: int) -> str:
    """The RQ job for a review edited or closed."""
    return run_delivery(delivery_pk, _sync_lesson)


def resync_review(review_ref: str) -> str:
    """Post a kept lesson again on every related item (after ``lessonloop link``)."""
    from workers import context

    runtime = context.runtime()
    record = reviews.review(runtime.engine, review_ref)
    kept = lessons.get(runtime.engine, review_ref)
    if record is None or kept is None:
        return f"no lesson kept for {review_ref}"
    incident = reviews.incident(runtime.engine, record.incident_ref)
    if incident is None:
        return f"no incident recorded for {review_ref}"
    with exclusive(runtime, review_ref):
        template = lesson.load_template(record.template)
        shared = _share(runtime, incident.as_item(), record, kept.sections | kept.other_sections, template, "")
    return f"lesson of {review_ref} {shared.describe()}"


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
    shared = _share(runtime, incident_item, record, parsed.sections, template, written)
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

    return track_followups(
        runtime,
        review_ref,
        section,
        markup_of(review_ref.source),
        incident,
        record.url,
        find,
        scope.of_review(runtime.settings, record),
    )


@dataclass
class Shared:
    """Where one lesson went: posted on, skipped (a related item that refused), and not shared
    (named by the lesson beyond ``[lesson] max_related_items``, or outside the rule's scope)."""

    posted: int = 0
    skipped: list[str] = field(default_factory=list)
    not_shared: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    tidied: str = ""  # "; deleted our duplicate comment ...", for each item where a late write doubled it

    def describe(self) -> str:
        text = f"on {self.posted} items{self.tidied}"
        if self.skipped:
            text += f"; skipped {'; '.join(self.skipped)}"
        if self.not_shared:
            text += f"; not shared (over [lesson] max_related_items): {len(self.not_shared)} items: " + ", ".join(
                self.not_shared
            )
        if self.outside:
            text += f"; {scope.OUTSIDE}: {len(self.outside)} items: " + ", ".join(self.outside)
        return text


def _share(
    runtime: Runtime,
    incident: Item,
    record: reviews.ReviewRecord,
    sections: dict[str, str],
    template: lesson.LessonTemplate,
    review_body: str,
) -> Shared:
    """Post the lesson on the incident, the review and every related item.

    The incident and the review must take it: a permanent failure there fails the job with the
    tracker's message (replay once it is fixed; what was posted is not posted twice). Other
    related items are the lesson's reach, not its record: one that refuses (a mistyped link, an
    item our token cannot see) is skipped and named in the outcome. Anyone who can edit an
    incident can name hundreds of items in it, so items found in text must be in the rule's
    scope (those outside are named, never written to or read) and stop at
    ``[lesson] max_related_items``; items linked by hand (``lessonloop link``) always get it."""
    review_ref = ItemRef.parse(record.ref)
    known_urls = (incident.url, record.url)
    for found in sorted(referenced_items(runtime, incident.body + "\n" + review_body, known_urls), key=_natural_order):
        links.add(runtime.engine, incident.ref, found, "text")
    within = scope.of_review(runtime.settings, record)
    reach = lesson_reach(runtime.engine, incident.ref, review_ref, runtime.settings.lesson.max_related_items, within)
    failures: list[str] = []
    shared = Shared(not_shared=[str(ref) for ref in reach.beyond], outside=[str(ref) for ref in reach.outside])
    written_in = markup_of(review_ref.source)
    listed = shown_followups(runtime, review_ref, within)
    for item in reach.recipients:
        essential = item in (incident.ref, review_ref)
        try:
            client = runtime.client(item.source)
            alone = lesson.render_lesson_comment(
                sections, incident, record.url, template, client.markup, written_in=written_in
            )
            text = (
                lesson.render_lesson_comment(
                    sections,
                    incident,
                    record.url,
                    template,
                    client.markup,
                    written_in=written_in,
                    followups=render_followups(listed, written_in, client.markup),
                )
                if listed
                else alone
            )
            # an append-only tracker (PagerDuty) gets a new note when the lesson changes, not
            # when a follow-up's state does: its digest is the lesson's alone
            shared.tidied += post_and_tidy(
                runtime, client, item, markers.LESSON, str(review_ref), text, append_only_digest_of=alone
            )[1]
            shared.posted += 1
        except Permanent as error:
            (failures if essential else shared.skipped).append(f"{item}: {error}")
    if failures:
        raise Permanent(f"the lesson was not shared on {'; '.join(failures)}")
    return shared


def _natural_order(ref: ItemRef) -> tuple[str, str, int, str]:
    """github:acme/web#2 before #10: the order a person reads the items in."""
    head, _, number = ref.key.rpartition("#" if ref.source == "github" else "-")
    return (ref.source, head, int(number) if number.isdigit() else 0, ref.key)


def referenced_items(runtime: Runtime, text: str, known_urls: tuple[str, ...]) -> set[ItemRef]:
    """Items the text names. GitHub's web host is LESSONLOOP_GITHUB_WEB_URL's, or the API's
    (``api.github.com`` -> ``github.com``, GHE's ``/api/v3`` -> its host), and whatever host
    our GitHub items' own links use, which is how the tracker itself spells them."""
    settings = runtime.settings
    github_hosts = {
        urlparse(settings.github.web_url).netloc
        if settings.github.web_url
        else related.github_web_host(settings.github.api_url)
    }
    for url in known_urls:
        if "/issues/" in url:
            github_hosts.add(urlparse(url).netloc)
    projects = {rule.target.container for rule in settings.rules if rule.target and rule.target.source == "jira"}
    projects |= {project for rule in settings.rules if rule.source == "jira" for project in rule.projects}
    return related.find_refs(
        text,
        jira_projects=projects,
        github_web_hosts=tuple(github_hosts),
        jira_web_hosts=tuple(host for host in [related.jira_web_host(settings.jira.url)] if host),
    )


def _adopt(runtime: Runtime, review: Item) -> reviews.ReviewRecord | None:
    """A review we opened but have no record of (a crash between the create and the record, a
    store restored from an older backup): only when its marker verifies for where it lives and
    the tracker says lessonloop's own identity created it. Anything else is someone's issue."""
    where = markers.container_of(review.ref.source, review.ref.project)
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
