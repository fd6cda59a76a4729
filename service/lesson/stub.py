"""The stub placed in a new review ticket: the template's header filled in for one incident,
then every section's heading with its prompt. Also the escaping and links that keep tracker text
(titles, names, URLs) from turning into markup, which the comments use too: what they return is
inert (no mention, macro, HTML, marker, or link but http(s)), see ``service.text.inert``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from service.domain.events import Item, Markup, ReviewMarkup
from service.lesson.template import PLACEHOLDER, LessonTemplate
from service.text.inert import IMAGE_SCHEMES, safe_url
from service.text.markers import break_markers
from service.trackers.registry import dialect_of, tracker

UNKNOWN = "unknown"
TEMPLATE_MARKUP: Markup = "markdown"
"""What the template's header is written in (config/lesson_template.md)."""


class Mention(str):
    """A responder already written as a mention in the review tracker's markup (``@login``,
    ``[~accountid:…]``), for someone lessonloop knows there: placed as is. Every other name is
    tracker text and is escaped, so it never mentions anyone."""


def render_stub(
    incident: Item,
    template: LessonTemplate,
    markup: ReviewMarkup,
    responders: Sequence[str] = (),
    timeline: str = "",
) -> str:
    """The body of a new review ticket: the header filled in for this incident, then every
    section's heading with its prompt in italics. ``responders`` defaults to the incident's
    assignees: the people who responded, never "who caused it". ``timeline`` (already in
    ``markup``) goes where the template says ``{timeline}``, else at the end of the header."""
    header = render_header(incident, template, markup, responders, timeline)
    parts = [header] if header else []
    for section in template.sections:
        parts.append(f"{dialect_of(markup).heading(2, section.title)}\n\n_{section.prompt}_")
    return break_markers("\n\n".join(parts) + "\n")


def render_header(
    incident: Item,
    template: LessonTemplate,
    markup: ReviewMarkup,
    responders: Sequence[str] = (),
    timeline: str = "",
) -> str:
    """The stub's header alone, as :func:`render_stub` writes it: what the review records, so
    that the header (related lessons, timeline, responders: text lessonloop copied from
    elsewhere) is never read back as the lesson, its recipients or its follow-ups."""
    values = header_values(incident, markup, responders) | {"timeline": timeline}
    header = template.header
    if timeline and "{timeline}" not in header:
        header = f"{header.rstrip()}\n\n{{timeline}}" if header else "{timeline}"
    if not header:
        return ""
    return break_markers(re.sub(r"\n{3,}", "\n\n", _fill(_header_markup(header, markup), values)).strip("\n"))


def header_values(incident: Item, markup: Markup, responders: Sequence[str] = ()) -> dict[str, str]:
    """The placeholder values for one incident, already escaped for ``markup``."""
    people = [p if isinstance(p, Mention) else p.strip() for p in (responders or incident.assignees) if p and p.strip()]
    title = incident.title.strip() or str(incident.ref)
    values = {
        "incident": link(f"{incident.ref}: {title}", incident.url, markup),
        "title": escape(title, markup),
        "url": safe_url(incident.url, IMAGE_SCHEMES) or UNKNOWN,
        "ref": escape(str(incident.ref), markup),
        "priority": escape(incident.priority or incident.urgency or UNKNOWN, markup),
        "service": escape(incident.service or incident.project or UNKNOWN, markup),
        "opened": format_time(incident.created_at),
        "closed": format_time(incident.closed_at),
        "duration": format_duration(incident.created_at, incident.closed_at),
        "responders": ", ".join(p if isinstance(p, Mention) else escape(p, markup) for p in dict.fromkeys(people))
        if people
        else "not recorded",
        "details": details(incident, markup),
    }
    return values


DETAIL_LINES = 20
DETAIL_LINE_CHARS = 300


def details(incident: Item, markup: Markup) -> str:
    """What a PagerDuty incident was opened with (its body's details), quoted line by line, each
    escaped like a title. PagerDuty shows it only on the incident's page, behind the alert; a
    GitHub or Jira incident's body is the page the review links to, in a markup of its own, so it
    is not copied. At most :data:`DETAIL_LINES` lines, the rest left on the incident."""
    if not tracker(incident.ref.source).details_in_review:
        return ""
    lines = [line for line in incident.body.splitlines() if line.strip()]
    if not lines:
        return ""
    quoted = [_quoted(_cut(line), markup) for line in lines[:DETAIL_LINES]]
    if len(lines) > DETAIL_LINES:
        more = f"{len(lines) - DETAIL_LINES} more lines"
        where = link("on the incident", incident.url, markup) if incident.url else ""
        quoted.append(dialect_of(markup).quote_prefix + (f"… {more} {where}" if where else f"… {more}"))
    return dialect_of(markup).strong("Details from PagerDuty") + "\n\n" + "\n".join(quoted)


def _cut(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= DETAIL_LINE_CHARS else line[: DETAIL_LINE_CHARS - 1].rstrip() + "…"


def _quoted(line: str, markup: Markup) -> str:
    return dialect_of(markup).quote_prefix + escape(line, markup)


def format_time(moment: datetime | None) -> str:
    """``2024-05-02 14:03 UTC``; naive times are taken as UTC (that is what the parsers produce)."""
    if moment is None:
        return UNKNOWN
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(start: datetime | None, end: datetime | None) -> str:
    """``1 h 22 min``, ``2 d 3 h``, ``under 1 min``; ``unknown`` when either end is missing or the
    incident "closed" before it opened (trackers do send that: clock skew, reopened items)."""
    if start is None or end is None:
        return UNKNOWN
    seconds = int((_as_utc(end) - _as_utc(start)).total_seconds())
    if seconds < 0:
        return UNKNOWN
    minutes = seconds // 60
    if minutes == 0:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MD_LIST = re.compile(r"^([ \t]*)[-+*][ \t]+")
_MD_TITLE = re.compile(r"^(#{1,6})[ \t]+")


def _header_markup(header: str, markup: Markup) -> str:
    """The template's Markdown header in ``markup``: only the few constructs a header uses."""
    if markup == TEMPLATE_MARKUP:
        return header
    dialect = dialect_of(markup)
    out = []
    for line in header.split("\n"):
        heading = _MD_TITLE.match(line)
        if heading:
            line = dialect.heading(len(heading.group(1)), line[heading.end() :])
        line = _MD_LIST.sub(lambda found: dialect.list_item(found.group(1)), line)
        line = _MD_BOLD.sub(lambda found: dialect.strong(found.group(1)), line)
        line = _MD_LINK.sub(lambda found: dialect.link_to(found.group(1), found.group(2)), line)
        out.append(line)
    return "\n".join(out)


def _fill(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group("name") or "", token)

    return PLACEHOLDER.sub(one, text)


def escape(text: str, markup: Markup) -> str:
    """Text from a tracker (a title, a name, a timeline line) placed in markup as text: on one
    line, written by the same text escaping as every copied text node (``service.text.inert``), so
    it shows as typed and starts nothing (no character reference, mention, link or marker)."""
    return dialect_of(markup).line(text)


def link(text: str, url: str, markup: Markup) -> str:
    """A link in ``markup``; text alone when there is no usable ``http(s)`` URL."""
    return dialect_of(markup).link(text, url)
