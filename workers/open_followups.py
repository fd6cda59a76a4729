"""A lesson's "What we'll change" list, brought in line with the follow-ups lessonloop tracks
(from ``sync_lesson``, under the review's lock): the issues items link are adopted, a task is
opened for each other item (once, exactly: the same intent record and marker search as
reviews), and what could not be tracked is recorded with the reason.

Following their states afterwards is ``track_followups``'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from config.rules import Rule
from service.domain.events import Item, ItemRef, Markup
from service.infra.failures import Permanent
from service.infra.runtime import Runtime
from service.lesson.followup_items import Known, inert, key_of, match, parse_items, state_of, title_of
from service.lesson.stub import link
from service.loop.scope import OUTSIDE, Scope, rule_named
from service.store import effects, followups, lessons, reviews
from service.text.markup import convert
from service.trackers.base import TaskDraft, followup_marker
from service.trackers.registry import is_task_ref, review_place

OPENING = "opening-followup"
"""Recorded in the effects table (item: the review, key: the follow-up's key) just before its
task is created: only a run that finds it searches the tracker for a task made before a crash."""
BODY_LIMIT = 20_000


def open_followups(
    runtime: Runtime,
    review_ref: ItemRef,
    section: str,
    written_in: Markup,
    incident: Item,
    review_url: str,
    find: Callable[[str], set[ItemRef]],
    scope: Scope,
) -> str:
    """Bring the lesson's follow-ups in line with its list; returns a short account.

    Text decides what is tracked, so text is bounded: an issue outside the rule's ``scope`` is
    listed as not shared and never read; and at most ``[followups] max_per_lesson`` follow-ups
    are tracked, adopted and opened together (tasks opened count for good, adopted issues while
    the list names them): the rest are listed with the setting named."""
    settings = runtime.settings.followups
    engine = runtime.engine
    items = parse_items(section, written_in, find)
    own = {incident.ref, review_ref}
    items = [item.__class__(item.text, tuple(r for r in item.refs if r not in own)) for item in items]
    recorded = followups.of_review(engine, str(review_ref))
    matched = match(items, [Known(f.item_key, f.ref or _linked(f.item_key), f.text) for f in recorded])
    by_key = {f.item_key: f for f in recorded}
    adopted_kept = {k.key for k in matched if k is not None and by_key[k.key].origin == followups.ADOPTED}
    tracked = sum(f.origin in (followups.OPENED, followups.OPENING) for f in recorded) + len(adopted_kept)
    over = f"over [followups] max_per_lesson ({settings.max_per_lesson})"
    due = _due_on(runtime, review_ref, incident)
    keep: list[str] = []
    counts = {"adopted": 0, "opened": 0, "not opened": 0, "not shared": 0}
    for position, (item, known) in enumerate(zip(items, matched, strict=True)):
        if known is not None:
            followups.change(engine, str(review_ref), known.key, text=item.text, position=position)
            keep.append(known.key)
            row = by_key[known.key]
            if row.origin == followups.OPENING:  # a crash left it half-way
                _open(runtime, review_ref, row.item_key, item.text, written_in, incident, review_url, row.due_on)
            elif row.origin == followups.ADOPTED and row.ref and ItemRef.parse(row.ref) not in scope:
                _leave(runtime, review_ref, row.item_key, OUTSIDE)  # adopted before the scope said otherwise
                tracked -= 1
            elif row.origin == followups.NOT_OPENED and _linked(row.item_key) and not row.ref:
                ref = ItemRef.parse(row.item_key)  # not adopted then: the scope or the cap may allow it now
                if ref in scope and tracked < settings.max_per_lesson:
                    _adopt(runtime, review_ref, row.item_key, item.text, position, due, ref)
                    tracked += 1
                    counts["adopted"] += 1
            continue
        if item.refs:
            key = str(item.refs[0])
            if key in keep:
                continue  # the same issue linked twice: one follow-up
            keep.append(key)
            if item.refs[0] not in scope:
                _not_tracked(runtime, review_ref, key, item.text, position, OUTSIDE)
                counts["not shared"] += 1
            elif tracked >= settings.max_per_lesson:
                _not_tracked(runtime, review_ref, key, item.text, position, over)
                counts["not opened"] += 1
            else:
                _adopt(runtime, review_ref, key, item.text, position, due, item.refs[0])
                tracked += 1
                counts["adopted"] += 1
            continue
        key = key_of(item.text)
        if key in keep or followups.get(engine, str(review_ref), key) is not None:
            key = f"{key}-{position}"
        keep.append(key)
        if not settings.create:
            reason = "[followups] create = false"
        elif tracked >= settings.max_per_lesson:
            reason = over
        else:
            reason = ""
        followups.add(
            engine,
            review_ref=str(review_ref),
            item_key=key,
            text=item.text,
            position=position,
            due_on=None if reason else due,
            origin=followups.NOT_OPENED if reason else followups.OPENING,
            reason=reason,
        )
        if reason:
            counts["not opened"] += 1
            continue
        tracked += 1
        if _open(runtime, review_ref, key, item.text, written_in, incident, review_url, due):
            counts["opened"] += 1
        else:
            counts["not opened"] += 1
    followups.unlist(engine, str(review_ref), keep)
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "none new"


def _linked(key: str) -> str | None:
    """The issue a follow-up's key names, when the item linked one (its key is the ref)."""
    return key if is_task_ref(key) else None


def _adopt(runtime: Runtime, review_ref: ItemRef, key: str, text: str, position: int, due: date, ref: ItemRef) -> None:
    """An existing issue the item links (in scope): its state from its tracker, or a clear
    reason why not."""
    state, reason, url = followups.OPEN, "", ""
    try:
        item = runtime.client(ref.source).get_item(ref)
        state, url = state_of(item), item.url
    except Permanent as error:
        state, reason = followups.UNKNOWN, f"cannot read it: {error}"
    followups.add(
        runtime.engine,
        review_ref=str(review_ref),
        item_key=key,
        text=text,
        position=position,
        due_on=due,
        origin=followups.ADOPTED,
        ref=str(ref),
        url=url,
        state=state,
        reason=reason,
    )
    followups.change(  # a row listed as not adopted before: adopted now
        runtime.engine,
        str(review_ref),
        key,
        due_on=due,
        origin=followups.ADOPTED,
        ref=str(ref),
        url=url,
        state=state,
        reason=reason,
    )


def _not_tracked(runtime: Runtime, review_ref: ItemRef, key: str, text: str, position: int, reason: str) -> None:
    """An issue the item links that lessonloop does not adopt (outside the scope, over the cap):
    listed with the reason, without its ref, so no webhook or daily read ever touches it."""
    followups.add(
        runtime.engine,
        review_ref=str(review_ref),
        item_key=key,
        text=text,
        position=position,
        due_on=None,
        origin=followups.NOT_OPENED,
        state=followups.UNKNOWN,
        reason=reason,
    )


def _leave(runtime: Runtime, review_ref: ItemRef, key: str, reason: str) -> None:
    """Stop tracking an adopted issue: its ref, link and state forgotten, the reason kept."""
    followups.change(
        runtime.engine,
        str(review_ref),
        key,
        origin=followups.NOT_OPENED,
        ref=None,
        url="",
        state=followups.UNKNOWN,
        due_on=None,
        reason=reason,
    )


def _open(
    runtime: Runtime,
    review_ref: ItemRef,
    key: str,
    text: str,
    written_in: Markup,
    incident: Item,
    review_url: str,
    due: date | None,
) -> bool:
    """Open the item's task once: the intent is recorded before the create call, and only a run
    that finds it searches the tracker for the task (by its marker). Returns False when the
    tracker refused; the follow-up is then recorded as not opened, with the tracker's words."""
    engine = runtime.engine
    target = runtime.settings.followups.target or review_place(review_ref)
    marker = followup_marker(review_ref, key)
    try:
        client = runtime.client(target.source)
        found = None
        if effects.get(engine, str(review_ref), OPENING, key) is not None:
            row = followups.get(engine, str(review_ref), key)
            since = (row.created_at - timedelta(days=1)) if row is not None else None
            found = client.find_task(target.container, marker, since=since)
        else:
            effects.put(engine, str(review_ref), OPENING, key, comment_id="", digest="")
        if found is None:
            markup = client.markup
            body = inert(convert(text, written_in, markup))[:BODY_LIMIT]
            title = incident.title.strip() or str(incident.ref)
            lead = (
                f"A follow-up from the lesson of {link(title, incident.url, markup)} "
                f"(review: {link(str(review_ref), review_url, markup)})."
            )
            if due is not None:
                lead += f" Due {due.isoformat()}."
            found = client.open_task(
                TaskDraft(
                    container=target.container,
                    title=title_of(text, written_in, "plain") or "Follow-up",
                    body=f"{lead}\n\n{body}",
                    marker=marker,
                    labels=runtime.settings.followups.labels,
                    due=due,
                    issue_type=runtime.settings.review.jira_issue_type,
                    related=review_ref,
                    related_url=review_url,
                    related_title=f"Post-incident review: {title}",
                )
            )
    except Permanent as error:
        followups.change(
            engine,
            str(review_ref),
            key,
            origin=followups.NOT_OPENED,
            due_on=None,
            reason=f"{target.source} refused: {error}",
        )
        return False
    followups.change(
        engine, str(review_ref), key, origin=followups.OPENED, ref=str(found.ref), url=found.url, state=followups.OPEN
    )
    return True


def _due_on(runtime: Runtime, review_ref: ItemRef, incident: Item) -> date:
    """``due_days`` after the lesson was first captured (a rule's ``followup_due_days`` wins)."""
    kept = lessons.get(runtime.engine, str(review_ref))
    start = kept.captured_at if kept is not None and kept.captured_at else datetime.now(UTC)
    rule = _rule_of(runtime, review_ref, incident)
    days = (
        rule.followup_due_days
        if rule is not None and rule.followup_due_days is not None
        else runtime.settings.followups.due_days
    )
    return (start + timedelta(days=days)).date()


def _rule_of(runtime: Runtime, review_ref: ItemRef, incident: Item) -> Rule | None:
    """The rule that opened this review, as the store recorded it (or as near as it can tell)."""
    record = reviews.review(runtime.engine, review_ref)
    return rule_named(runtime.settings, record.rule if record else None, incident.ref, review_ref)
