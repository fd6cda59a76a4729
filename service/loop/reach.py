"""Which related items a lesson is posted on, and which it names but is not posted on.

Anyone who can edit an incident can name hundreds of items in it, anywhere in the organisation,
and lessonloop would repeat the lesson on each under its bot identity. So items found in text
must lie in the rule's scope (``service.loop.scope``: those outside are named, never written to or
read), and stop at ``[lesson] max_related_items`` (the incident and the review count); items
linked by hand with ``lessonloop link`` are an operator's decision and always get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from config.settings import Settings
from service.domain.events import ItemRef
from service.loop.scope import Scope, scope_of_review
from service.store import links, reviews
from service.store.effects import WRITTEN
from service.store.schema import effects
from service.text.markers import LESSON


@dataclass(frozen=True)
class Reach:
    recipients: list[ItemRef]
    """The incident, the review, items linked by hand, then items found in text, up to the cap."""
    beyond: list[ItemRef]
    """Items found in text past the cap: named in the outcome and in ``lessons show``."""
    outside: list[ItemRef] = field(default_factory=list)
    """Items found in text outside the rule's scope: named, never written to or read."""


def lesson_reach(
    engine: Engine, incident_ref: ItemRef, review_ref: ItemRef, cap: int, scope: Scope | None = None
) -> Reach:
    """Who gets the lesson; ``scope`` None: no scope limit (only for callers that show what an
    operator's own links reach)."""
    related = links.linked_with_origin(engine, incident_ref)
    for ref, origin in links.linked_with_origin(engine, review_ref).items():
        related.setdefault(ref, origin)
    related.pop(incident_ref, None)
    related.pop(review_ref, None)
    manual = [ref for ref, origin in related.items() if origin == "manual"]
    others = [ref for ref, origin in related.items() if origin != "manual"]
    outside: list[ItemRef] = []
    if scope is not None:
        others, outside = scope.split(others)
    essential = list(dict.fromkeys([incident_ref, review_ref]))  # one item when a review is its own incident
    room = max(0, cap - len(essential) - len(manual))
    return Reach([*essential, *manual, *others[:room]], others[room:], outside)


def posted_on(engine: Engine, review_ref: str) -> list[str]:
    """The items that carry this review's lesson comment, as the store recorded them."""
    with engine.connect() as connection:
        rows = (
            connection.execute(
                select(effects.c.item_ref)
                .where(effects.c.kind == LESSON, effects.c.key == review_ref, WRITTEN)
                .order_by(effects.c.id)
            )
            .scalars()
            .all()
        )
    return list(rows)


def of_lesson(engine: Engine, settings: Settings, incident_ref: str, review_ref: str) -> Reach:
    """A kept lesson's reach as its next sync would see it, in its rule's scope as the store
    recorded the rule (``lessons show`` and the lesson's page)."""
    record = reviews.review(engine, review_ref)
    key = record.rule if record is not None else None
    within = scope_of_review(settings, incident_ref, review_ref, key)
    cap = settings.lesson.max_related_items
    return lesson_reach(engine, ItemRef.parse(incident_ref), ItemRef.parse(review_ref), cap, within)


def posted_on_of(engine: Engine, review_refs: Sequence[str]) -> dict[str, list[str]]:
    """:func:`posted_on` of many reviews in one query (a page of the log)."""
    refs = list(dict.fromkeys(review_refs))
    found: dict[str, list[str]] = {ref: [] for ref in refs}
    if not refs:
        return found
    with engine.connect() as connection:
        rows = connection.execute(
            select(effects.c.key, effects.c.item_ref)
            .where(effects.c.kind == LESSON, effects.c.key.in_(refs), WRITTEN)
            .order_by(effects.c.id)
        ).tuples()
        for key, item_ref in rows:
            found[key].append(item_ref)
    return found
