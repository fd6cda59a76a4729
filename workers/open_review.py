"""``open_review``: an incident closed that a rule selects gets one review task, linked to it,
and one comment on the incident saying the review is open.

Every step first looks for what an earlier run may have done (the store, then the tracker's
markers), so a worker killed at any step and run again ends where an uninterrupted run would.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from config.rules import ReviewTarget, Rule
from service import lesson
from service.domain.events import Event, EventKind, Item, ItemRef, Markup, review_markup
from service.domain.history import History, HistoryEntry, with_times_from
from service.infra import logs
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.learning.similar import render_related, similar_text, telling
from service.lesson.responders import assignee, responders
from service.lesson.timeline import render_timeline
from service.loop.routing import select_rule
from service.loop.scope import rule_key
from service.store import deliveries, effects, links, reviews
from service.store import lessons as stored_lessons
from service.text import markers
from service.text.markers import break_markers
from service.trackers.base import Reconciles, Review, ReviewDraft, TrackerClient
from service.trackers.registry import tracker
from workers import context
from workers.effects import looked, post_and_tidy, schedule_tidy
from workers.jobs import exclusive, run_delivery
from workers.track_followups import note_if_followup

log = logs.get(__name__)

TITLE_LIMIT = 240
OPENING = "opening-review"
"""Recorded (in the effects table) just before a review is created: a later run that finds it
knows a review may exist in the tracker without a record in the store."""


def open_review(delivery_pk: int) -> str:
    """The RQ job for a closed incident."""
    return run_delivery(delivery_pk, open_review_step)


def open_review_step(runtime: Runtime, _delivery: deliveries.Delivery, event: Event) -> tuple[str, str]:
    """Act on the tracker's word, not the webhook body's: the incident is read from its tracker
    (one request) and a review opens only if the tracker says it is closed, with the tracker's
    title, labels, priority and assignees. A forged, late or replayed delivery (or a Jira
    Automation request, whose token authenticates the sender but not the body) changes nothing."""
    if event.item is None:
        return deliveries.IGNORED, "the delivery names no incident"
    incident, history = _incident(runtime, event.item.ref)
    note_if_followup(runtime, incident)  # an item can be both: an incident, and a lesson's follow-up
    if not incident.done:
        return deliveries.IGNORED, (
            f"{incident.ref} is not closed in {incident.ref.source} "
            f"(its status there is '{incident.status or 'unknown'}')"
        )
    # an incident close as the receiver recorded it (a pasted review marker on an item that can
    # be no review of ours does not make it one), judged on the tracker's word
    decision = select_rule(replace(event, kind=EventKind.INCIDENT_CLOSED, item=incident), runtime.settings.rules)
    if decision.rule is None or decision.target is None:
        return deliveries.IGNORED, decision.reason
    with exclusive(runtime, str(incident.ref)):
        reviews.save_incident(runtime.engine, incident)
        review, tidied = _find_or_open(runtime, incident, history, decision.rule, decision.target)
        links.add(runtime.engine, incident.ref, ItemRef.parse(review.ref), "opened")
        _link_from_incident(runtime, incident, review)
        incident_client = runtime.client(incident.ref.source)
        text = lesson.render_review_opened_comment(review.url, str(review.ref), incident_client.markup)
        tidied += post_and_tidy(runtime, incident_client, incident.ref, markers.REVIEW_OPENED, str(review.ref), text)[1]
    return deliveries.DONE, f"review {review.ref} open for {incident.ref} ({decision.reason}){tidied}"


def _incident(runtime: Runtime, ref: ItemRef) -> tuple[Item, History | None]:
    """The incident as its tracker has it, with its history when the tracker gives both in one
    answer and the timeline wants it (None: the history is asked for if a review is opened)."""
    client = runtime.client(ref.source)
    if runtime.settings.review.timeline_entries == 0:
        return client.get_item(ref), None
    return client.get_item_with_history(ref)


def _find_or_open(
    runtime: Runtime, incident: Item, history: History | None, rule: Rule, target: ReviewTarget
) -> tuple[reviews.ReviewRecord, str]:
    """The incident's review, found or opened, and what was tidied ("; closed ..." or "")."""
    known = reviews.review_of(runtime.engine, incident.ref)
    intent, mark = effects.get_with_mark(runtime.engine, str(incident.ref), OPENING, str(target))
    if known is not None and mark is None:
        return known, ""
    source, container = target.source, target.container
    client = runtime.client(source)
    template_path = rule.template or runtime.settings.review.template
    due = _due(incident, rule, runtime)
    # Only a run that may have opened a review before it crashed searches the tracker for it:
    # the intent is recorded before the create call, so without it none can exist. (Searching
    # on every incident costs a growing number of requests as reviews pile up.) Runs in the hour
    # after such a search look again, for a create the tracker carried out late.
    found, tidied, header = None, "", None
    if intent is not None or mark is not None:
        since = (incident.closed_at - timedelta(days=1)) if incident.closed_at else None
        found, tidied = _look_for_review(runtime, client, incident.ref, since, target, known, mark)
    else:
        effects.put(runtime.engine, str(incident.ref), OPENING, str(target), comment_id="", digest="")
    if known is not None:
        return known, tidied
    if found is None:
        template = lesson.load_template(template_path)
        markup = review_markup(client.markup)
        history = _history(runtime, incident, history)
        incident = with_times_from(incident, history)
        settings = runtime.settings
        jira_by_name = settings.jira.auth_kind == "pat"  # Data Center names users by name
        timeline = "\n\n".join(
            part
            for part in (
                render_timeline(history, markup, settings.review.timeline_entries),
                _related(runtime, incident, target, markup),
            )
            if part
        )
        people = responders(incident, history, source, settings.people, jira_by_name)
        body = lesson.render_stub(incident, template, markup, people, timeline)
        header = lesson.render_header(incident, template, markup, people, timeline)
        who = assignee(incident, history, source, settings.people) if settings.review.assign_from_incident else None
        found = client.open_review(
            ReviewDraft(
                container=container,
                title=break_markers(f"Post-incident review: {incident.title or incident.ref}")[:TITLE_LIMIT],
                body=body,
                incident=incident.ref,
                incident_url=incident.url,
                incident_title=incident.title,
                labels=rule.review_labels if rule.review_labels is not None else runtime.settings.review.labels,
                assignee=who,
                due=due,
                issue_type=rule.jira_issue_type or runtime.settings.review.jira_issue_type,
            )
        )
    record = reviews.save_review(
        runtime.engine,
        incident_ref=incident.ref,
        ref=found.ref,
        url=found.url,
        template=template_path,
        due_on=due,
        rule=rule_key(runtime.settings, rule),
        header=header,
    )
    return record, tidied


def _look_for_review(
    runtime: Runtime,
    client: TrackerClient,
    incident: ItemRef,
    since: datetime | None,
    target: ReviewTarget,
    known: reviews.ReviewRecord | None,
    mark: effects.Effect | None,
) -> tuple[Review | None, str]:
    """The review an earlier run opened, if the tracker has it, and what was tidied.

    Two reviews of ours for one incident mean a create landed after a retry had searched and
    opened its own. The one the store knows stays (the links and the "review opened" comment
    point at it); with none known, the oldest. Every other one is closed as its duplicate."""
    if not isinstance(client, Reconciles):
        return client.find_review(target.container, incident, since=since), ""
    every = client.find_reviews(target.container, incident, since=since)
    if looked(runtime, str(incident), OPENING, str(target), mark):
        at = since.isoformat() if since else ""
        schedule_tidy(runtime, "workers.open_review.tidy_reviews", str(incident), str(target), at)
    if not every:
        return None, ""
    kept = next((review for review in every if known is not None and str(review.ref) == known.ref), every[0])
    return kept, _close_duplicates(client, kept, [r for r in every if r.ref != kept.ref and not r.closed_as_duplicate])


def tidy_reviews(incident_ref: str, target: str, since: str) -> str:
    """The RQ job a search for a review schedules (:func:`workers.effects.schedule_tidy`):
    search once more, under the incident's lock, and close our duplicates."""
    runtime = context.runtime()
    with exclusive(runtime, incident_ref):
        known = reviews.review_of(runtime.engine, incident_ref)
        _, mark = effects.get_with_mark(runtime.engine, incident_ref, OPENING, target)
        if known is None or mark is None:
            return "nothing to look for"
        where = ReviewTarget.parse(target)
        after = datetime.fromisoformat(since) if since else None
        client = runtime.client(where.source)
        tidied = _look_for_review(runtime, client, ItemRef.parse(incident_ref), after, where, known, mark)[1]
    outcome = tidied.lstrip("; ") or f"no duplicate review of {incident_ref}"
    log.info("looked again for a late review", incident=incident_ref, outcome=outcome)
    return outcome


def _close_duplicates(client: Reconciles, kept: Review, duplicates: list[Review]) -> str:
    """Close each duplicate, pointing at ``kept``; what was done, for the outcome. A tracker
    that refuses is named there and holds nothing up: the review kept is right either way."""
    closed, refused = [], []
    for review in duplicates:
        try:
            client.close_duplicate_review(review, kept)
        except Permanent as error:
            log.warning("could not close a duplicate review of ours", review=str(review.ref), error=str(error))
            refused.append(f"{review.ref} ({error})")
            continue
        log.info("closed a duplicate review of ours", review=str(review.ref), kept=str(kept.ref))
        closed.append(str(review.ref))
    said = f"; closed our duplicate review {', '.join(closed)} (kept {kept.ref})" if closed else ""
    if refused:
        said += f"; could not close our duplicate review {', '.join(refused)}"
    return said


def _link_from_incident(runtime: Runtime, incident: Item, review: reviews.ReviewRecord) -> None:
    """An incident in a tracker with remote links (Jira) gets one to a review in another tracker
    (a review in its own tracker is linked by its create). Other trackers' incidents get the link
    in the "review opened" comment, which is the one link they show."""
    review_ref = ItemRef.parse(review.ref)
    source = incident.ref.source
    if tracker(source).remote_links and review_ref.source != source:
        runtime.client(source).link(incident.ref, review_ref, review.url, "Post-incident review")


def _due(incident: Item, rule: Rule, runtime: Runtime) -> date:
    days = rule.due_days if rule.due_days is not None else runtime.settings.review.due_days
    closed = incident.closed_at or datetime.now(UTC)
    return (closed + timedelta(days=days)).date()


def _history(runtime: Runtime, incident: Item, known: History | None) -> History:
    """The incident's history from its tracker (``known``, when it came with the incident), for
    the timeline and the responders. A history that cannot be read never stops the review: it
    opens with a line saying what was missing."""
    if runtime.settings.review.timeline_entries == 0:
        return History()
    history = known
    if history is None:
        try:
            history = runtime.client(incident.ref.source).history(incident.ref)
        except (RetryLater, Permanent) as error:
            return History.unreadable(str(error), url=incident.url)
    opened = (
        [HistoryEntry(incident.created_at, "opened", who=incident.author)]
        if incident.created_at and not any(e.at <= incident.created_at for e in history.entries)
        else []
    )
    return replace(history, entries=(*opened, *history.entries), url=history.url or incident.url)


def _related(runtime: Runtime, incident: Item, target: ReviewTarget, markup: Markup) -> str:
    """Past lessons like this incident ([review] related_lessons), never its own, and only
    those whose review lives where this one will ([review] related_from adds others): the
    header is read by whoever can see the new review, and a lesson kept in a private
    repository's reviews is no business of a public one's."""
    count = runtime.settings.review.related_lessons
    if count == 0:
        return ""
    about = similar_text(incident)
    places = (str(target), *runtime.settings.review.related_from)
    past = stored_lessons.similar(runtime.engine, about, limit=count + 3, reviewed_in=places)
    mine = [lesson for lesson in past if lesson.incident_ref != str(incident.ref)]
    return render_related(telling(mine, about)[:count], markup)
