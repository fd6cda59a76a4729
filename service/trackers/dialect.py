"""What a markup dialect is: how one tracker's text is read into the constructs of
:mod:`service.text.textdoc` and written from them, and the few pieces of markup lessonloop writes
by hand (a link, strong text, a heading, a list bullet, a quoted line, the marker's hiding place).

Callers ask the dialect of the markup they write in (:func:`service.trackers.registry.dialect_of`)
instead of testing the markup's name, so a fourth tracker brings its dialect and touches no
caller. Pure: a dialect imports no client and no HTTP stack."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.domain.events import Markup
from service.text.inert import IMAGE_SCHEMES, safe_url
from service.text.markers import Marker, break_markers
from service.text.textdoc import Block


def as_is(text: str) -> str:
    return text


def no_nesting(_line: str) -> bool:
    """For a markup that nests lists by indentation only."""
    return False


_BULLETED = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)(?:\[[ xX]\][ \t]+)?")


def bulleted_item_start(line: str) -> int | None:
    """A top-level item as Markdown starts one (and plain text, which is written the same way):
    ``-``, ``*``, ``+`` or a number, indented under two spaces, with an optional task box."""
    start = _BULLETED.match(line)
    return start.end() if start and len(line) - len(line.lstrip()) < 2 else None


@dataclass(frozen=True)
class Dialect:
    markup: Markup
    read: Callable[[str], list[Block]] | None
    """Text in this markup as blocks; None for plain text, which has no constructs to read (a
    copy from it is taken as already written in the target's markup)."""
    write: Callable[[Sequence[Block]], str]
    """Blocks as this markup, every text node escaped (inert)."""
    text: Callable[[str], str]
    """One text node as this markup, showing exactly these characters and starting nothing."""
    link_to: Callable[[str, str], str]
    """(text already escaped, a URL :func:`safe_url` kept) -> a link showing the text."""
    link_text: Callable[[str], str]
    """Tracker text made fit for a link's text before it is escaped (Jira can escape no bracket there)."""
    strong_mark: str
    """What goes on both sides of strong text (none in plain text)."""
    heading: Callable[[int, str], str]
    """A heading of a level, its text already in this markup."""
    after_heading: str
    """What separates a heading from the text under it."""
    bullet: str
    """What starts an item of a flat list lessonloop writes."""
    quote_prefix: str
    """What starts a quoted line."""
    after_quote: str
    """What ends a quoted line so that the text after it is not quoted (Markdown carries a quote
    on into the next line unless a blank line ends it)."""
    list_item: Callable[[str], str]
    """What starts a list item indented by this whitespace (Jira nests by repeating the bullet)."""
    item_start: Callable[[str], int | None]
    """Where the bullet of a top-level list item ends on this line (its text follows), or None
    when the line starts no top-level item."""
    nested_item: Callable[[str], bool]
    """The line is an item of a nested list written without indentation (Jira's ``**``), so it
    continues the item above it rather than ending it."""
    mention: Callable[[str, bool], str | None]
    """(account id, Jira Data Center names users by name) -> a mention of that account, or None
    where the markup cannot mention it."""
    marker_line: Callable[[str], str]
    """A marker's token as the line that hides it as well as this markup allows."""
    marker_first: bool
    """The marker goes before the text (a prefix) rather than on a line of its own after it."""
    comment_limit: int
    """The longest comment (or note) the tracker takes, in characters."""
    close_open_block: Callable[[str], str]
    """What closes a code block that a cut at the end of ``text`` left open ("" if none)."""
    bare_links: bool = False
    """A link is best written as its bare URL (the tracker links URLs itself and shows no link text)."""
    marker_colon: str = ": "
    """How the colon of ``lessonloop:`` is written in text so it reads as no marker."""
    code_mark: str = ""
    """What goes on both sides of a command named in a comment (Markdown's code span; none
    where lessonloop writes no inline code)."""
    macro_free: Callable[[str], str] = as_is
    """Text that no escape can keep from starting a macro where it goes (a Jira summary or a
    follow-up's title reads ``{…}`` as one) with such characters replaced."""
    reads_as_markdown: bool = True
    """Its prose reads near enough as Markdown to find sentences in (plain text does); when not,
    it is converted to Markdown first."""

    def break_markers(self, text: str) -> str:
        """``text`` with nothing in it that reads as a marker, the way this markup shows it."""
        return break_markers(text, self.marker_colon)

    def line(self, text: str) -> str:
        """Text from a tracker (a title, a name, a timeline line) on one line of this markup:
        shows as typed, starts nothing (no character reference, mention, link or marker)."""
        return self.break_markers(self.text(" ".join(text.split())))

    def link(self, text: str, url: str) -> str:
        """A link to ``url`` showing ``text``; the text alone when there is no usable ``http(s)`` URL."""
        target = safe_url(url, IMAGE_SCHEMES) if url else None
        if target is None:
            return self.line(text)
        return self.link_to(self.line(self.link_text(" ".join(text.split()))), target)

    def strong(self, text: str) -> str:
        """``text`` (already in this markup) shown strong."""
        return f"{self.strong_mark}{text}{self.strong_mark}"

    def render_marker(self, marker: Marker) -> str:
        """The marker as a line to append to (or, in plain text, put before) a text."""
        return self.marker_line(marker.token())

    def quoted(self, text: str) -> str:
        """``text`` (already in this markup) as a quoted line, ended so that what follows is not quoted."""
        return f"{self.quote_prefix}{text}{self.after_quote}"

    def attach(self, text: str, marker: Marker) -> str:
        """``text`` with the marker placed where this markup keeps it discreet."""
        line = self.render_marker(marker)
        if self.marker_first:
            return f"{line} {text}"
        return f"{text.rstrip()}\n\n{line}\n"


def no_block(_text: str) -> str:
    """For a markup without code blocks: nothing to close."""
    return ""
