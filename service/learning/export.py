"""The learning log as JSON and Markdown, for ``lessonloop lessons show|export``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date

from service.domain.events import ItemRef, Markup
from service.store.followups import NOT_OPENED, Followup
from service.store.lessons import SECTION_COLUMNS, Lesson
from service.text.markup import convert
from service.trackers.registry import markup_of

FollowupsByReview = Mapping[str, Sequence[Followup]]

TITLES = {
    "what_happened": "What happened",
    "what_we_expected": "What we expected",
    "why_different": "Why it turned out differently",
    "what_we_learned": "What we learned",
    "what_we_will_change": "What we'll change",
}


def followup_dict(followup: Followup, today: date | None = None) -> dict[str, object]:
    """One follow-up as JSON: what ``followups list --format json`` and the exports show."""
    today = today or date.today()
    return {
        "review": followup.review_ref,
        "ref": followup.ref,
        "url": followup.url or None,
        "text": followup.text,
        "origin": followup.origin,
        "state": followup.state,
        "reason": followup.reason or None,
        "due_on": followup.due_on.isoformat() if followup.due_on else None,
        "overdue": bool(followup.state == "open" and followup.due_on and followup.due_on < today),
        "created_at": followup.created_at.isoformat(),
        "done_at": followup.done_at.isoformat() if followup.done_at else None,
        "age_days": (today - followup.created_at.date()).days,
    }


def lesson_dict(lesson: Lesson, followups: Sequence[Followup] = ()) -> dict[str, object]:
    return {
        "review": lesson.review_ref,
        "review_url": lesson.review_url,
        "incident": lesson.incident_ref,
        "incident_title": lesson.incident_title,
        "incident_url": lesson.incident_url,
        "priority": lesson.priority,
        "incident_closed_at": lesson.incident_closed_at.isoformat() if lesson.incident_closed_at else None,
        "captured_at": lesson.captured_at.isoformat(),
        "updated_at": lesson.updated_at.isoformat(),
        "seconds_to_lesson": lesson.seconds_to_lesson,
        "sections": {name: lesson.sections.get(name, "") for name in SECTION_COLUMNS} | lesson.other_sections,
        "markup": written_in(lesson),
        "followups": [followup_dict(f) for f in followups if f.listed],
    }


def written_in(lesson: Lesson) -> Markup:
    """The markup of the lesson's sections: the review tracker's (they are kept as written)."""
    if lesson.review_ref.startswith("markdown:"):  # imported from a Markdown file
        return "markdown"
    return markup_of(ItemRef.parse(lesson.review_ref).source)


def export_json(lessons: Sequence[Lesson], followups: FollowupsByReview | None = None) -> str:
    followups = followups or {}
    return (
        json.dumps(
            [lesson_dict(lesson, followups.get(lesson.review_ref, ())) for lesson in lessons],
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def lesson_markdown(lesson: Lesson, followups: Sequence[Followup] = ()) -> str:
    lines = [
        f"## {lesson.incident_title or lesson.incident_ref}",
        "",
        f"- Incident: [{lesson.incident_ref}]({lesson.incident_url})"
        if lesson.incident_url
        else f"- Incident: {lesson.incident_ref}",
        f"- Review: [{lesson.review_ref}]({lesson.review_url})"
        if lesson.review_url
        else f"- Review: {lesson.review_ref}",
    ]
    if lesson.priority:
        lines.append(f"- Priority: {lesson.priority}")
    lines.append(f"- Lesson captured: {lesson.captured_at:%Y-%m-%d %H:%M} UTC")
    sections = {name: lesson.sections.get(name, "") for name in SECTION_COLUMNS} | lesson.other_sections
    markup = written_in(lesson)
    for name, body in sections.items():
        if body.strip():
            text = convert(body, markup, "markdown").strip()
            lines += ["", f"### {TITLES.get(name, name.replace('_', ' ').capitalize())}", "", text]
    listed = [f for f in followups if f.listed]
    if listed:
        lines += ["", "### Follow-ups", ""]
        for one in listed:
            title = " ".join(convert(one.text, markup, "markdown").split())
            where = f"[{one.ref}]({one.url})" if one.ref and one.url else (one.ref or "no task")
            state = f"not opened ({one.reason})" if one.origin == NOT_OPENED else one.state
            due = f", due {one.due_on.isoformat()}" if one.due_on and one.state == "open" else ""
            lines.append(f"- {title} ({where}): {state}{due}")
    return "\n".join(lines) + "\n"


def export_markdown(lessons: Sequence[Lesson], followups: FollowupsByReview | None = None) -> str:
    header = "# Learning log\n\n"
    followups = followups or {}
    return header + "\n".join(lesson_markdown(lesson, followups.get(lesson.review_ref, ())) for lesson in lessons)
