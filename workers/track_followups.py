"""Following the follow-ups lessonloop tracks until they are done.

- :func:`followup_state` (the RQ job for an item that closed or reopened): read the item from its
  tracker, record its state, and share the lessons that show it again.
- :func:`note_if_followup` (from ``open_review``): an incident's close that is also a follow-up's.
- :func:`daily` (from ``remind``): read the open follow-ups again for the webhooks that were
  lost, and nudge those past their due date, once a week each.

Which follow-ups a lesson has, and opening their tasks, is ``open_followups``'s job.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from service.domain.events import Event, Item, ItemRef, Markup
from service.infra import logs
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.lesson.followup_items import state_of
from service.lesson.stub import link
from service.loop.scope import OUTSIDE, Scope, of_review
from service.store import deliveries, effects, followups, lessons, reviews
from service.text import markers
from workers.effects import post_once
from workers.jobs import exclusive, run_delivery
from workers.share_lesson import share_again

log = logs.get(__name__)


def followup_state(delivery_pk: int) -> str:
    """The RQ job for an item that closed or reopened and is a follow-up lessonloop tracks."""
    return run_delivery(delivery_pk, _state_step)


def _state_step(runtime: Runtime, _delivery: deliveries.Delivery, event: Event) -> tuple[str, str]:
    if event.item is None:
        return deliveries.IGNORED, "the delivery names no item"
    ref = event.item.ref
    if not followups.is_followup(runtime.engine, str(ref)):
        return deliveries.IGNORED, f"{ref} is not a follow-up lessonloop tracks"
    if not any(_within(runtime, row) for row in followups.by_ref(runtime.engine, str(ref))):
        return deliveries.IGNORED, f"{ref}: {OUTSIDE} of any lesson it follows up"  # adopted before the scope
    state, changed = refresh(runtime, ref)
    return deliveries.DONE, f"{ref} is {state}" + (f"; lessons shown again: {', '.join(changed)}" if changed else "")


def _within(runtime: Runtime, row: followups.Followup) -> bool:
    """Whether a follow-up's issue lies in its lesson's scope (True when the review is unknown)."""
    record = reviews.review(runtime.engine, row.review_ref)
    return row.ref is not None and (record is None or ItemRef.parse(row.ref) in of_review(runtime.settings, record))


def refresh(runtime: Runtime, ref: ItemRef) -> tuple[str, list[str]]:
    """Read ``ref`` from its tracker and record its state (the tracker's word, never a webhook
    body's: deliveries twice or out of order end in its current state); then bring the lesson
    comments of every lesson it follows up in line. That last step runs whether or not the state
    changed now: a run killed between the record and the comments left them behind, and a
    comment already right costs no request (its digest is in the store). Returns the state and
    the lessons whose follow-up changed."""
    with exclusive(runtime, f"followup:{ref}"):
        item = runtime.client(ref.source).get_item(ref)
        state = state_of(item)
        changed = followups.set_state(runtime.engine, str(ref), state)
    for review_ref in sorted({f.review_ref for f in followups.by_ref(runtime.engine, str(ref)) if f.listed}):
        share_again(runtime, review_ref)
    return state, changed


def note_if_followup(runtime: Runtime, item: Item) -> None:
    """An incident's close that is also a follow-up's: record that too (open_review's caller)."""
    if followups.is_followup(runtime.engine, str(item.ref)):
        refresh(runtime, item.ref)


# --- daily: refresh and nudge ----------------------------------------------------------------


def daily(runtime: Runtime, today: date) -> tuple[int, int, list[str]]:
    """Refresh open follow-ups not read today, then nudge those past due: one comment per item
    and ISO week (however many lessons it follows up), and at most ``[followups]
    reminders_per_day`` comments a day across the organisation (counted in the store, so a
    second run the same day adds only what is left; the rest wait for tomorrow). An item
    outside its lesson's scope is neither read nor nudged. Returns (refreshed, nudged,
    failures); one tracker's trouble holds up no other."""
    refreshed, nudged, failed = 0, 0, []
    scopes: dict[str, Scope | None] = {}

    def in_scope(row: followups.Followup) -> bool:
        if row.review_ref not in scopes:
            record = reviews.review(runtime.engine, row.review_ref)
            scopes[row.review_ref] = of_review(runtime.settings, record) if record else None
        within = scopes[row.review_ref]
        return row.ref is not None and (within is None or ItemRef.parse(row.ref) in within)

    seen: set[str] = set()
    for row in followups.to_refresh(runtime.engine, today):
        if row.ref is None or row.ref in seen or not in_scope(row):
            continue
        seen.add(row.ref)
        try:
            refresh(runtime, ItemRef.parse(row.ref))
            refreshed += 1
        except (RetryLater, Permanent) as error:
            failed.append(f"{row.ref}: {error}")
        followups.mark_checked(runtime.engine, row.ref, today)
    year, week, _ = today.isocalendar()
    midnight = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    room = runtime.settings.followups.reminders_per_day - effects.count_since(
        runtime.engine, markers.FOLLOWUP_REMINDER, midnight
    )
    reminded: set[str] = set()
    waiting = 0
    for row in followups.overdue(runtime.engine, today):
        assert row.ref is not None and row.due_on is not None
        if row.ref in reminded or not in_scope(row):
            continue
        reminded.add(row.ref)
        if effects.get(runtime.engine, row.ref, markers.FOLLOWUP_REMINDER, f"{year}-W{week:02d}") is not None:
            continue  # nudged this week already
        if room <= 0:
            waiting += 1
            continue
        ref = ItemRef.parse(row.ref)
        try:
            client = runtime.client(ref.source)
            kept = lessons.get(runtime.engine, row.review_ref)
            title = (kept.incident_title if kept else "") or row.review_ref
            url = kept.review_url if kept else ""
            text = render_followup_reminder(row.due_on, title, url, client.markup)
            outcome = post_once(runtime, client, ref, markers.FOLLOWUP_REMINDER, f"{year}-W{week:02d}", text)
            if outcome != "unchanged":
                nudged += 1
                room -= 1
        except (RetryLater, Permanent) as error:
            failed.append(f"{row.ref}: {error}")
    if waiting:
        log.info(
            "follow-up reminders over [followups] reminders_per_day wait for tomorrow",
            waiting=waiting,
            reminders_per_day=runtime.settings.followups.reminders_per_day,
        )
    return refreshed, nudged, failed


def render_followup_reminder(due: date, lesson_title: str, review_url: str, markup: Markup) -> str:
    where = link(f"the lesson of {' '.join(lesson_title.split())}", review_url, markup)
    return (
        f"A friendly reminder: this is a follow-up from {where}, and it was due on {due.isoformat()}. "
        "If it is done, close it; if plans changed, close it as not planned. The lesson shows either way. "
        "Thank you!"
    )
