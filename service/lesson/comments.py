"""The comments lessonloop posts: the finished lesson for the incident and every related item
(cut to fit each tracker's comment limit), the sections still to write, the review being open,
the reminder of a review past its due date, and the nudge about blaming language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from service.domain.events import Item, Markup
from service.lesson.blame import Finding
from service.lesson.stub import escape, link
from service.lesson.template import LessonTemplate
from service.text.markers import break_markers
from service.text.markup import convert
from service.trackers.registry import DIALECTS, dialect_of

# How long one comment may be, per markup (each dialect says); the caller attaches a marker
# afterwards, so keep room.
COMMENT_LIMITS: Mapping[str, int] = {markup: dialect.comment_limit for markup, dialect in DIALECTS.items()}
MARKER_ROOM = 512


def render_lesson_comment(
    sections: Mapping[str, str],
    incident: Item,
    review_url: str,
    template: LessonTemplate,
    markup: Markup,
    *,
    written_in: Markup,
    followups: str = "",
) -> str:
    """The finished lesson as one comment for the incident and every related item: the filled
    sections in template order and a link to the review. The sections are in the review's markup
    (``written_in``) and are converted to the item's. Cut cleanly, with the link kept, when it
    would not fit one comment in that tracker. ``followups`` (already in ``markup``) ends the
    comment, after the link, and is never cut: it is what changes after the lesson is written."""
    dialect = dialect_of(markup)
    title = incident.title.strip() or str(incident.ref)
    parts = [dialect.heading(3, f"Lesson learned from {link(title, incident.url, markup)}")]
    for section in template.sections:
        text = convert(sections.get(section.key) or "", written_in, markup).strip()
        if not text:
            continue
        parts.append(f"{dialect.heading(4, section.title)}{dialect.after_heading}{text}")
    footer = f"Read the whole review: {review_url if dialect.bare_links else link('the review', review_url, markup)}"
    body = "\n\n".join(parts)
    if not followups:
        return break_markers(_fit(body, footer, review_url, markup))
    block = followups
    if len(block) > COMMENT_LIMITS[markup] // 2:  # whole lines only, and say how many are left out
        kept = block[: COMMENT_LIMITS[markup] // 2].rsplit("\n", 1)[0]
        block = f"{kept}\n… and {block.count(chr(10)) - kept.count(chr(10))} more"
    return break_markers(_fit(body, footer, review_url, markup, room_taken=len(block) + 2) + "\n\n" + block)


def _fit(body: str, footer: str, review_url: str, markup: Markup, room_taken: int = 0) -> str:
    dialect = dialect_of(markup)
    limit = dialect.comment_limit - MARKER_ROOM - room_taken
    whole = f"{body}\n\n{footer}"
    if len(whole) <= limit:
        return whole
    if dialect.bare_links:  # no full stop after a bare URL: it would be taken as part of it
        tail = f"\n\n… This lesson is longer than one note here allows. Read it in full in the review: {review_url}"
    else:
        where = link("the review", review_url, markup)
        tail = f"\n\n… This lesson is longer than one comment here allows; read it in full in {where}."
    room = limit - len(tail) - 8  # 8: a closing code fence, if the cut lands in one
    cut = body[:room]
    for boundary in (cut.rfind("\n"), cut.rfind(" ")):  # a whole line if one ends near, else a word
        if boundary > room - 2000:
            cut = cut[:boundary]
            break
    cut = cut.rstrip() + dialect.close_open_block(cut)  # so the link after it stays a link
    return cut + tail


def render_missing_comment(missing: Sequence[str], markup: Markup) -> str:
    """Said on the review when it was closed or edited with sections still to write."""
    items = list(missing)
    if not items:
        return "Thank you: every section of this lesson is filled in."
    lead = (
        "Thanks for working on this review! Before lessonloop shares the lesson, "
        + ("this section still needs" if len(items) == 1 else "these sections still need")
        + " a few words of your own:"
    )
    listing = "\n".join(dialect_of(markup).bullet + escape(item, markup) for item in items)
    close = (
        "Replace the prompt under each heading with what you found. A few sentences are enough; "
        "describe processes, signals and assumptions rather than people."
    )
    return break_markers(f"{lead}\n\n{listing}\n\n{close}")


def render_review_opened_comment(review_url: str, review_ref: str, markup: Markup) -> str:
    """Said on the incident once its review is open."""
    review_link = link(review_ref, review_url, markup)
    return break_markers(
        f"A blameless post-incident review is open: {review_link}. Everyone who responded is welcome to "
        "add what they saw and learned there; the finished lesson will be shared here."
    )


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def render_reminder_comment(due: date, markup: Markup) -> str:
    """The gentle nudge on a review past its due date (``markup`` kept for symmetry; the text
    has no markup of its own)."""
    when = f"{due.day} {_MONTHS[due.month - 1]} {due.year}"
    return (
        f"A friendly reminder: this review was due on {when}. The lesson is most useful while "
        "the incident is fresh, and a few sentences per section are enough. Thank you!"
    )


BLAME_QUOTED = 10
"""The most sentences one nudge quotes; the rest are counted, so the comment stays short."""


def render_blame_comment(findings: Sequence[Finding], markup: Markup) -> str:
    """The nudge on a review whose lesson has sentences that put a person at the centre: each
    quoted (escaped, so it formats and mentions nothing) with the question to ask instead. It
    says plainly that nothing is held up: the lesson is kept and shared as written."""
    lead = (
        "A note on wording, not a blocker: this lesson is kept and shared as written. Blameless reviews "
        "look at conditions rather than people, and "
        + ("this sentence puts" if len(findings) == 1 else "these sentences put")
        + " a person at the centre. You could ask instead:"
    )
    dialect = dialect_of(markup)
    parts = [lead]
    for finding in findings[:BLAME_QUOTED]:
        parts.append(dialect.quoted(escape(finding.sentence, markup)) + escape(finding.suggestion, markup))
    rest = len(findings) - BLAME_QUOTED
    if rest > 0:
        command = f"{dialect.code_mark}lessonloop lessons lint{dialect.code_mark}"
        parts.append(f"\u2026 and {rest} more; {command} lists them all.")
    parts.append("Editing the sentences is up to you; this note will not be repeated for the same text.")
    return "\n\n".join(parts)
