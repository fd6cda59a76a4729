"""Converting lesson text between the trackers' markups: GitHub Markdown, Jira wiki markup, and
the plain text of PagerDuty notes.

A lesson is written in the review's tracker and posted on items in all three, so a Jira review's
``*bold*`` and ``[runbook|https://…]`` must reach GitHub as ``**bold**`` and
``[runbook](https://…)``, and a GitHub review's fenced code must reach Jira as ``{code}``. The
text is parsed in its own markup (:mod:`service.text.markdown_read`, :mod:`service.text.jira_read`) into the
constructs a lesson is made of (headings, emphasis, code, links, images, lists, quotes, tables,
rules) and written out in the target's by :mod:`service.text.inert`; everything else is text there.

Everything :func:`convert` returns is inert in the target tracker, whatever the text held: no
mention, no macro or raw HTML, no link but ``http``/``https``/``mailto``, no image in Jira, no
marker look-alike (``service.text.inert`` says how).
"""

from __future__ import annotations

import re

from service.domain.events import Markup
from service.text.inert import write_jira, write_markdown, write_plain
from service.text.jira_read import read_jira
from service.text.markdown_read import read_markdown

_WRITERS = {"markdown": write_markdown, "jira": write_jira, "plain": write_plain}


def convert(text: str, source: Markup, target: Markup) -> str:
    """``text`` written in ``source`` markup, as ``target`` markup shows the same thing, made inert
    for the tracker that reads ``target``: the one entry point for copying text between trackers,
    also when ``source == target`` (a Jira lesson posted on another Jira issue is copied text too).
    Plain text is taken as already being in the target markup, near enough, and made inert there."""
    if not text:
        return text
    if source == "plain":
        source = target
    if source == "plain":
        return neutralise_markers(text)
    blocks = read_jira(text) if source == "jira" else read_markdown(text)
    return neutralise_markers(_WRITERS[target](blocks))


_MARKER_START = re.compile(r"(lessonloop:)(?=\S)", re.IGNORECASE)


def neutralise_markers(text: str) -> str:
    """``text`` in which nothing can be read as a lessonloop marker: ``lessonloop:`` followed by
    anything but whitespace gets a space after the colon (``lessonloop: review``), in any case,
    in code and in HTML comments alike. A marker is ``lessonloop:<kind>`` with nothing between,
    so the space breaks every token ``service.text.markers`` could find, and shows the words as written."""
    return _MARKER_START.sub(r"\1 ", text)
