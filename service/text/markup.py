"""Converting lesson text between the trackers' markups: GitHub Markdown, Jira wiki markup, and
the plain text of PagerDuty notes.

A lesson is written in the review's tracker and posted on items in all three, so a Jira review's
``*bold*`` and ``[runbook|https://…]`` must reach GitHub as ``**bold**`` and
``[runbook](https://…)``, and a GitHub review's fenced code must reach Jira as ``{code}``. The
text is parsed in its own markup by the source tracker's reader (``service/trackers/<name>/``)
into the constructs a lesson is made of (headings, emphasis, code, links, images, lists, quotes,
tables, rules) and written out by the target's writer; everything else is text there.

Everything :func:`convert` returns is inert in the target tracker, whatever the text held: no
mention, no macro or raw HTML, no link but ``http``/``https``/``mailto``, no image in Jira, no
marker look-alike (``service.text.inert`` says how).
"""

from __future__ import annotations

from service.domain.events import Markup
from service.trackers.registry import dialect_of


def convert(text: str, source: Markup, target: Markup) -> str:
    """``text`` written in ``source`` markup, as ``target`` markup shows the same thing, made inert
    for the tracker that reads ``target``: the one entry point for copying text between trackers,
    also when ``source == target`` (a Jira lesson posted on another Jira issue is copied text too).
    Plain text is taken as already being in the target markup, near enough, and made inert there."""
    if not text:
        return text
    writer = dialect_of(target)
    reader = dialect_of(source)
    if reader.read is None:  # plain text has no constructs: read it as the target's markup
        reader = writer
    if reader.read is None:
        return writer.break_markers(text)
    return writer.break_markers(writer.write(reader.read(text)))
