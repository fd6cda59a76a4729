"""Past lessons like a new incident: found with the learning log's full-text index, shown in the
new review's header so the team reads what was learned before while it writes its own.

The block is part of the header (never a lesson section: the parser and the completeness check
do not see it), made of text from the log (titles and lessons, written by anyone), so every word
is escaped like a title, and each link goes to the past lesson's review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Engine

from service.domain.events import Item, Markup
from service.learning.export import written_in
from service.lesson.stub import escape, link
from service.store.lessons import Lesson
from service.text.markup import convert
from service.trackers.registry import dialect_of

_FIRST_SENTENCE = re.compile(r"^(.{1,300}?[.!?])(?:\s|$)", re.S)
SENTENCE_LIMIT = 300
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
MIN_SHARED = 2
"""A past lesson is shown only when it shares at least this many telling words with the incident:
one word in common ("incident", "host") makes a false friend, and a false friend in every review
teaches people to skip the block."""
_GENERIC = frozenset(
    {
        "incident",
        "incidents",
        "issue",
        "issues",
        "error",
        "errors",
        "outage",
        "problem",
        "failed",
        "failure",
        "down",
        "minutes",
        "hours",
        "after",
        "before",
        "again",
        "during",
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "was",
        "were",
        "our",
        "not",
        "sev1",
        "sev2",
        "sev3",
        "high",
        "low",
        "unknown",
        "task",
        "bug",
    }
)


def _stems(text: str) -> set[str]:
    """Words as crude stems (their first five letters), so "timeouts" meets "timeout"."""
    return {word[:5] for word in _WORD.findall(text.lower()) if word not in _GENERIC and not word.isdigit()}


def telling(past: Sequence[Lesson], about: str) -> list[Lesson]:
    """The lessons that share at least :data:`MIN_SHARED` telling words with ``about``."""
    wanted = _stems(about)
    return [
        lesson
        for lesson in past
        if len(wanted & _stems(" ".join([lesson.incident_title, *lesson.sections.values()]))) >= MIN_SHARED
    ]


def similar_text(incident: Item) -> str:
    """What an incident is about, as words to search the log with."""
    return " ".join(
        [
            incident.title,
            incident.body[:4000],
            " ".join(incident.labels),
            incident.service,
            incident.issue_type,
            incident.priority,
        ]
    )


def first_sentence(text: str, markup: Markup) -> str:
    """The first sentence of a section, as plain words (at most 300 characters)."""
    plain = " ".join(convert(text, markup, "plain").split())
    found = _FIRST_SENTENCE.match(plain)
    sentence = found.group(1) if found else plain[:SENTENCE_LIMIT]
    return sentence if len(sentence) <= SENTENCE_LIMIT else sentence[: SENTENCE_LIMIT - 1] + "…"


def render_related(past: Sequence[Lesson], markup: Markup) -> str:
    """The block, or nothing when there is no similar lesson."""
    if not past:
        return ""
    title = "Lessons from similar incidents"
    dialect = dialect_of(markup)
    lines = [dialect.strong(title), ""]
    bullet = dialect.bullet
    for lesson in past:
        learned = first_sentence(lesson.sections.get("what_we_learned", ""), written_in(lesson))
        name = link(lesson.incident_title or lesson.review_ref, lesson.review_url, markup)
        lines.append(f"{bullet}{name}: {escape(learned, markup)}" if learned else f"{bullet}{name}")
    return "\n".join(lines)


def lesson_text(lesson: Lesson) -> str:
    """What a kept lesson is about, as words to find others like it."""
    return " ".join([lesson.incident_title, *lesson.sections.values()])[:8000]


def related_to(engine: Engine, lesson: Lesson, limit: int = 3) -> list[Lesson]:
    """Other lessons like this one (``lessons show`` and the lesson's page), never itself nor
    another lesson of the same incident."""
    from service.store.lessons import similar

    found = similar(engine, lesson_text(lesson), limit=limit + 3, exclude=[lesson.review_ref])
    return telling([other for other in found if other.incident_ref != lesson.incident_ref], lesson_text(lesson))[:limit]
