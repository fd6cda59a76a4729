"""The lesson: its template, the stub placed in a review ticket, the parser that reads the lesson
back, and the comments that share it.

Everything here is pure (text in, text out) apart from reading a template file whose path the
caller gives. One module per job (``template``, ``stub``, ``parse``, ``comments``, and ``text``
for what they share); the public names are re-exported here, so callers use ``service.lesson``.
"""

from __future__ import annotations

from service.lesson.blame import Finding, find_blame
from service.lesson.comments import (
    COMMENT_LIMITS,
    MARKER_ROOM,
    render_blame_comment,
    render_lesson_comment,
    render_missing_comment,
    render_reminder_comment,
    render_review_opened_comment,
)
from service.lesson.header import without_header
from service.lesson.parse import PLACEHOLDERS, ParsedLesson, lesson_digest, parse_lesson
from service.lesson.stub import (
    UNKNOWN,
    Mention,
    format_duration,
    format_time,
    header_values,
    render_header,
    render_stub,
)
from service.lesson.template import (
    HEADER_PLACEHOLDERS,
    LessonTemplate,
    Section,
    default_template_path,
    load_template,
    parse_template,
)

__all__ = [
    "COMMENT_LIMITS",
    "HEADER_PLACEHOLDERS",
    "MARKER_ROOM",
    "PLACEHOLDERS",
    "UNKNOWN",
    "Mention",
    "LessonTemplate",
    "Finding",
    "ParsedLesson",
    "Section",
    "default_template_path",
    "find_blame",
    "format_duration",
    "format_time",
    "header_values",
    "lesson_digest",
    "load_template",
    "parse_lesson",
    "parse_template",
    "render_blame_comment",
    "render_lesson_comment",
    "render_missing_comment",
    "render_reminder_comment",
    "render_review_opened_comment",
    "render_header",
    "render_stub",
    "without_header",
]
