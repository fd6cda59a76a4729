"""The learning log as JSON and Markdown, for ``lessonloop lessons show|export``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from service.events import ItemRef
from service.markers import Markup
from service.markup import MARKUP_OF, convert
from service.store.lessons import SECTION_COLUMNS, Lesson

TITLES = {
    "what_happened": "What happened",
    "what_we_expected": "What we expected",
    "why_different": "Why it turned out differently",
    "what_we_learned": "What we learned",
    "what_we_will_change": "What we'll change",
}


def lesson_dict(lesson: Lesson) -> dict[str, object]:
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
    }


def written_in(lesson: Lesson) -> Markup:
    """The markup of the lesson's sections: the review tracker's (they are kept as written)."""
    if lesson.review_ref.startswith("markdown:"):  # imported from a Markdown file
        return "markdown"
    return MARKUP_OF[ItemRef.parse(lesson.review_ref).source]


def export_json(lessons: Sequence[Lesson]) -> str:
    return json.dumps([lesson_dict(lesson) for lesson in lessons], indent=2, ensure_ascii=False) + "\n"


def lesson_markdown(lesson: Lesson) -> str:
    lines = [
        f"## {lesson.incident_title or lesson.incident_ref}",
        "",
        f"- Incident: [{lesson.incident_ref}]({lesson.incident_url})" if lesson.incident_url
        else f"- Incident: {lesson.incident_ref}",
        f"- Review: [{lesson.review_ref}]({lesson.review_url})" if lesson.review_url
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
    return "\n".join(lines) + "\n"


def export_markdown(lessons: Sequence[Lesson]) -> str:
    header = "# Learning log\n\n"
    return header + "\n".join(lesson_markdown(lesson) for lesson in lessons)
