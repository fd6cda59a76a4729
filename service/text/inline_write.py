"""The inline half of the inert writers (GitHub Markdown, Jira wiki markup): one walk over text,
code, emphasis, links and images, shared so that when a node is dropped, when a link falls back
to its text, where bare URLs are cut out and where a line starts are decided once for every
dialect. A dialect gives only its spelling: the delimiters, the link and image forms, the code
span, and the escaping of a text node (``service/trackers/<name>/*_write.py``).

Every text node goes through the dialect's :meth:`InlineWriter.escape`, which must make it
inert (:mod:`service.text.inert`). ``line_start`` follows where the text written last ended:
at the start of a line a dialect also escapes what would begin a block there (``#``, ``-``,
``h1.``), so every branch below keeps it true to the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.text.inert import IMAGE_SCHEMES, MAX_COLUMNS, bare_urls, merged, safe_url
from service.text.textdoc import Break, Code, Inline, Link, Styled, Table, Text


class InlineWriter:
    """One writer per document (or per block written apart, such as a quote's inside)."""

    STYLES: Mapping[str, str]
    """The delimiter around each style: ``strong``, ``em`` and ``strike``."""
    HARD_BREAK = "\n"
    """How a hard line break inside a paragraph is written."""

    def __init__(self) -> None:
        self.line_start = True

    # --- what each dialect spells ------------------------------------------------------------

    def escape(self, text: str, in_link: bool) -> str:
        """``text`` (one line, no bare URL in it) shown as typed and starting nothing, at the start
        of a line when ``self.line_start``; ``in_link``: inside a link's text."""
        raise NotImplementedError

    def bare_url(self, url: str, after: str) -> str:
        """A bare ``http(s)`` URL found in text (``after``: the character that follows it, if any),
        linked by the writer itself so the target's autolinker never meets an escaped one."""
        raise NotImplementedError

    def code(self, text: str) -> str:
        """An inline code span of ``text``; empty when there is nothing to show."""
        raise NotImplementedError

    def link(self, node: Link, url: str) -> str:
        """``node`` as a link to ``url``, its safe form (the node is outside any other link)."""
        raise NotImplementedError

    def image(self, alt: str, url: str) -> str:
        """An image of ``url``, its safe form, with ``alt`` as written in the source."""
        raise NotImplementedError

    # --- the walk ------------------------------------------------------------------------------

    def inlines(self, nodes: Sequence[Inline], one_line: bool = False, in_link: bool = False) -> str:
        """``nodes`` written out; ``one_line``: a line break becomes a space (headings, cells,
        link text); ``in_link``: inside a link's text, where no other link may start."""
        out: list[str] = []
        for node in merged(nodes):
            if isinstance(node, Text):
                out.append(self.text(node.text, one_line, in_link))
            elif isinstance(node, Break):
                out.append(" " if one_line else self.HARD_BREAK if node.hard else "\n")
                self.line_start = not one_line
            elif isinstance(node, Code):
                code = self.code(node.text)
                if code:
                    out.append(code)
                    self.line_start = False
            elif isinstance(node, Styled):
                line_start = self.line_start
                self.line_start = False
                inner = self.inlines(node.children, one_line, in_link)
                if inner.strip():
                    delimiter = self.STYLES[node.style]
                    out.append(delimiter + inner + delimiter)
                else:  # nothing written: the next text starts where this one would have
                    self.line_start = line_start
            elif isinstance(node, Link):
                url = safe_url(node.url)
                if url is None or in_link:  # a refused link, or one inside a link: its text only
                    out.append(self.inlines(node.children, one_line, in_link))
                    continue
                self.line_start = False
                out.append(self.link(node, url))
            else:
                url = safe_url(node.url, IMAGE_SCHEMES)
                if url is None:
                    out.append(self.text(node.alt, one_line, in_link))
                else:
                    out.append(self.image(node.alt, url))
                    self.line_start = False
        return "".join(out)

    def text(self, text: str, one_line: bool, in_link: bool) -> str:
        """A text node: its bare URLs linked, the rest escaped, line by line."""
        if not text:
            return ""
        out: list[str] = []
        for number, line in enumerate(text.split("\n")):
            if number:
                out.append(" " if one_line else "\n")
                self.line_start = not one_line
            pieces = [(False, line)] if in_link else bare_urls(line)
            for index, (is_url, piece) in enumerate(pieces):
                if not piece:
                    continue
                if is_url:
                    after = pieces[index + 1][1][:1] if index + 1 < len(pieces) else ""
                    out.append(self.bare_url(piece, after))
                else:
                    piece = self.escape(piece, in_link)
                    if not piece:
                        continue
                    out.append(piece)
                self.line_start = False
        return "".join(out)

    def cells(self, cells: list[list[Inline]], columns: int) -> list[str]:
        """A table row's cells, each on one line and stripped, padded with empty ones or cut to
        ``columns``."""
        written = []
        for cell in (cells + [[] for _ in range(columns)])[:columns]:
            self.line_start = False
            written.append(self.inlines(cell, one_line=True).strip())
        return written


def columns_of(table: Table) -> int:
    """How many columns ``table`` is written with: its widest row's, at most :data:`MAX_COLUMNS`."""
    return min(MAX_COLUMNS, max([len(table.header), *(len(row) for row in table.rows)]))
