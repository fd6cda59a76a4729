"""What the pages and the API show of a lesson, built once from the store."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

from flask import url_for
from markupsafe import Markup
from sqlalchemy import Engine

from config.settings import Settings
from service.domain.events import ItemRef
from service.learning.export import TITLES, lesson_dict, written_in
from service.learning.figures import duration
from service.loop.reach import of_lesson, posted_on, posted_on_of
from service.store import lessons
from service.store.followups import DONE, NOT_DOING, OPEN, Followup
from service.store.followups import of_reviews as followups_of
from service.store.lessons import SECTION_COLUMNS, Lesson
from service.trackers.registry import project_of
from service.web.links import item_url, safe_url
from service.web.refs import Mention
from service.web.render import sections_html


@dataclass(frozen=True)
class Tally:
    """A lesson's listed follow-ups counted by state; ``overdue`` are the open ones past their
    due day. One count for the list, the lesson page and the API."""

    listed: int = 0
    open: int = 0
    overdue: int = 0
    done: int = 0
    not_doing: int = 0

    @property
    def short(self) -> str:
        """ "2 open · 1 overdue · 3 done" (zero counts left out, overdue beside open): what a row
        of the list says, so the follow-ups still to do read first."""
        parts = [(self.open, "open"), (self.overdue, "overdue"), (self.done, "done"), (self.not_doing, "not doing")]
        return " · ".join(f"{number} {name}" for number, name in parts if number)


def tally(followups: Sequence[Followup], today: date | None = None) -> Tally:
    listed = [one for one in followups if one.listed]
    today = today or date.today()  # as the export's ``overdue`` reads it
    return Tally(
        listed=len(listed),
        open=sum(one.state == OPEN for one in listed),
        overdue=sum(one.state == OPEN and one.due_on is not None and one.due_on < today for one in listed),
        done=sum(one.state == DONE for one in listed),
        not_doing=sum(one.state == NOT_DOING for one in listed),
    )


@dataclass(frozen=True)
class Row:
    lesson: Lesson
    incident_url: str | None
    review_url: str | None
    took: str | None
    followups: str = ""
    """"2 of 3 done" when the lesson has follow-ups; empty when it has none."""
    counts: Tally = field(default_factory=Tally)
    facts: lessons.IncidentFacts = field(default_factory=lambda: lessons.IncidentFacts("", ()))

    @property
    def title(self) -> str:
        return self.lesson.incident_title or self.lesson.incident_ref

    @property
    def incident_on(self) -> date | None:
        """When the incident happened, as far as the log knows: the day it closed (UTC)."""
        closed = self.lesson.incident_closed_at
        return closed.date() if closed is not None else None


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    html: Markup


@dataclass(frozen=True)
class LinkedItem:
    ref: str
    url: str | None


def row(lesson: Lesson, followups: Sequence[Followup] = (), facts: lessons.IncidentFacts | None = None) -> Row:
    took = duration(lesson.seconds_to_lesson) if lesson.seconds_to_lesson is not None else None
    return Row(
        lesson,
        safe_url(lesson.incident_url),
        safe_url(lesson.review_url),
        took,
        followup_state(followups),
        tally(followups),
        facts or lessons.IncidentFacts("", ()),
    )


def followup_state(followups: Sequence[Followup]) -> str:
    """The follow-ups listed in a lesson, counted by state: "2 of 3 done", "1 of 2 done, 1 not doing"."""
    listed = [one for one in followups if one.listed]
    if not listed:
        return ""
    done = sum(one.state == "done" for one in listed)
    not_doing = sum(one.state == "not doing" for one in listed)
    return f"{done} of {len(listed)} done" + (f", {not_doing} not doing" if not_doing else "")


def rows(engine: Engine, found: Sequence[Lesson]) -> list[Row]:
    """A page of the log, each row with its follow-ups' state and its incident's service and
    labels (three queries for the page, not per row)."""
    grouped = followups_of(engine, [lesson.review_ref for lesson in found])
    facts = lessons.facts_of(engine, [lesson.incident_ref for lesson in found])
    return [row(lesson, grouped.get(lesson.review_ref, []), facts[lesson.incident_ref]) for lesson in found]


def sections(engine: Engine, settings: Settings, lesson: Lesson) -> list[Section]:
    texts = {name: lesson.sections.get(name, "") for name in SECTION_COLUMNS} | lesson.other_sections
    texts = {name: text for name, text in texts.items() if text.strip()}
    html = sections_html(texts, written_in(lesson), lambda found: ref_urls(engine, settings, lesson, found))
    return [Section(name, TITLES.get(name, name.replace("_", " ").capitalize()), html[name]) for name in texts]


def ref_urls(engine: Engine, settings: Settings, lesson: Lesson, found: Collection[Mention]) -> dict[str, str]:
    """Where each ref a lesson mentions links to: its lesson in this log when the log has one,
    else its tracker item. A bare key (``OPS-12``) goes to its tracker only when its project is
    one this lesson or the rules name, since ``UTF-8`` and ``SHA-256`` have the same shape."""
    in_log = lessons.having(engine, {one.ref for one in found})
    named = {source: named_projects(settings, lesson, source) for source in {one.source for one in found if one.bare}}
    urls: dict[str, str] = {}
    for one in found:
        if one.ref in in_log:
            urls[one.ref] = url_for("web.lesson", ref=one.ref)
        elif not one.bare or one.project in named[one.source]:
            url = item_url(settings, one.ref)
            if url is not None:
                urls[one.ref] = url
    return urls


def named_projects(settings: Settings, lesson: Lesson, source: str) -> set[str]:
    """The projects of tracker ``source`` that the lesson's incident or review is in, or that
    the rules read incidents from or open reviews in."""
    own = (ref for ref in (lesson.incident_ref, lesson.review_ref) if ref.startswith(f"{source}:"))
    return {project_of(ItemRef.parse(ref)) for ref in own} | settings.containers_in(source)


def posted(engine: Engine, settings: Settings, lesson: Lesson) -> list[LinkedItem]:
    known = {lesson.incident_ref: lesson.incident_url, lesson.review_ref: lesson.review_url}
    return [LinkedItem(ref, item_url(settings, ref, known)) for ref in posted_on(engine, lesson.review_ref)]


def outside(engine: Engine, settings: Settings, lesson: Lesson) -> list[str]:
    """What the lesson names outside its rule's scope: named, never linked (not shared there)."""
    if lesson.review_ref.startswith("markdown:"):
        return []
    return [str(ref) for ref in of_lesson(engine, settings, lesson.incident_ref, lesson.review_ref).outside]


def facts(engine: Engine, lesson: Lesson) -> lessons.IncidentFacts:
    return lessons.incident_facts(engine, lesson.incident_ref)


def api_lessons(engine: Engine, found: Sequence[Lesson]) -> list[dict[str, Any]]:
    """Lessons as the API shows them, each whole (follow-ups, service, labels, where it was
    posted): a list item and ``/api/v1/lessons/<ref>`` are the same object. Four queries for
    the whole page, not four per lesson."""
    refs = [lesson.review_ref for lesson in found]
    followups = followups_of(engine, refs)
    facts = lessons.facts_of(engine, [lesson.incident_ref for lesson in found])
    posted = posted_on_of(engine, refs)
    return [
        api_lesson(lesson, followups.get(lesson.review_ref, []), facts[lesson.incident_ref], posted[lesson.review_ref])
        for lesson in found
    ]


def api_lesson(
    lesson: Lesson, followups: Sequence[Followup], facts: lessons.IncidentFacts, posted_on: Sequence[str]
) -> dict[str, Any]:
    """A lesson in the API: the export's fields (follow-ups included) plus ``ref``, ``title``,
    ``url`` (this object in the API), ``html_url`` (its page in the log), the incident's
    ``service`` and ``labels``, the items it was ``posted_on``, and its follow-ups counted as
    the page counts them (``followup_counts.text``: "1 of 4 done, 1 not doing")."""
    counts = tally(followups)
    return {
        "ref": lesson.review_ref,
        "incident": lesson.incident_ref,
        "title": lesson.incident_title,
        "url": url_for("web.api_lessons", _external=True) + "/" + quote(lesson.review_ref, safe=""),
        "html_url": url_for("web.lesson", ref=lesson.review_ref, _external=True),
        "service": facts.service,
        "labels": list(facts.labels),
        "posted_on": list(posted_on),
        "followup_counts": {
            "listed": counts.listed,
            "done": counts.done,
            "not_doing": counts.not_doing,
            "open": counts.open,
            "overdue": counts.overdue,
            "text": followup_state(followups),
        },
    } | lesson_dict(lesson, followups)
