"""Jira wiki markup written from the constructs of :mod:`service.text.textdoc`, inert: every
text node escaped by :func:`jira_text` so it shows as typed and starts nothing in Jira, and an
image written as a plain link so no reader's browser loads it (see :mod:`service.text.inert`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.text.inert import IMAGE_SCHEMES, ZWSP, safe_url
from service.text.inline_write import InlineWriter, columns_of
from service.text.markers import break_markers
from service.text.textdoc import (
    Block,
    Break,
    CodeBlock,
    Heading,
    Inline,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Rule,
    Table,
    plain_text,
)

_JIRA_ESCAPES = str.maketrans({"\\": "\\" + ZWSP, "{": "\\{", "[": "\\[", "!": "\\!", "|": "\\|", "\n": " ", "\r": " "})
_JIRA_LINK_TEXT = str.maketrans({"[": "(", "]": ")", "|": "/"})
_JIRA_FLANKS = [
    (re.compile(re.escape(char) + r"(?:(?<![A-Za-z0-9].)(?=\S)|(?<=\S.)(?=[^A-Za-z0-9]|$))", re.DOTALL), "\\\\" + char)
    for char in "*_+^~-"
]
"""One pattern an emphasis character (where it could open or close), each replaced by a fixed
string: Python 3.11 expands a replacement that names a group in Python, once a match."""
_JIRA_ENTITY = re.compile(r"&(?=[#A-Za-z])")
_JIRA_SCHEME = re.compile(r":(?<=[A-Za-z]:)(?=//)")
_JIRA_LINE_START = re.compile(r"(?:h[1-6]|bq)\.|[*#-]")
_JIRA_BLOCK_CLOSER = re.compile(r"\{(?=\s*(?:code|noformat|quote))", re.IGNORECASE)


def jira_text(text: str, line_start: bool = False, in_link: bool = False) -> str:
    """``text`` as Jira wiki markup that shows exactly these characters: every ``{``, ``[``,
    ``!`` and ``|`` escaped, emphasis characters escaped where they could open or close, a
    backslash followed by a zero-width space (so it escapes nothing and makes no ``\\\\`` line
    break), and a zero-width space after ``[`` before ``~``, after ``&`` before a name or ``#``,
    and after the colon of ``scheme://``. ``in_link``: between ``[`` and ``|``, where no bracket
    or bar can be escaped, so they become ``(``, ``)`` and ``/``."""
    if in_link:
        text = text.translate(_JIRA_LINK_TEXT)
    escaped = text.translate(_JIRA_ESCAPES)
    for flank, replacement in _JIRA_FLANKS:
        escaped = flank.sub(replacement, escaped)
    escaped = escaped.replace("\\[~", "\\[" + ZWSP + "~")
    escaped = _JIRA_SCHEME.sub(":" + ZWSP, _JIRA_ENTITY.sub("&" + ZWSP, escaped))
    if line_start:
        escaped = escaped.lstrip(" \t")
        start = _JIRA_LINE_START.match(escaped)
        if start:
            escaped = escaped[0] + ZWSP + escaped[1:] if len(start.group(0)) > 1 else "\\" + escaped
    return escaped


def jira_code_text(text: str) -> str:
    """The inside of ``{{monospace}}``: Jira parses it as text, and a ``}`` could close it early."""
    return jira_text(text.replace("\n", " ")).replace("}", "\\}")


def jira_code_block_line(line: str) -> str:
    """A line inside ``{code}`` or ``{noformat}``: verbatim, except that nothing in it can close
    the block (Jira ends it at the first ``{code}``, wherever that is)."""
    return _JIRA_BLOCK_CLOSER.sub("{" + ZWSP, line)


class _Jira(InlineWriter):
    STYLES = {"strong": "*", "em": "_", "strike": "-"}

    def blocks(self, blocks: Sequence[Block], in_quote: bool = False) -> str:
        out: list[str] = []
        previous: Block | None = None
        for block in blocks:
            written = self.block(block, in_quote)
            if not written:
                continue
            if out:
                out.append(
                    "\n" if isinstance(block, ListBlock) and isinstance(previous, ListBlock | Paragraph) else "\n\n"
                )
            out.append(written)
            previous = block
        return "".join(out)

    def block(self, block: Block, in_quote: bool = False) -> str:
        self.line_start = True
        if isinstance(block, Paragraph):
            return self.inlines(block.inlines).rstrip()
        if isinstance(block, Heading):
            self.line_start = False
            text = self.inlines(block.inlines, one_line=True).strip()
            return f"h{block.level}. {text}" if text else ""
        if isinstance(block, CodeBlock):
            body = block.text[:-1] if block.text.endswith("\n") else block.text
            lines = "".join(jira_code_block_line(line) + "\n" for line in body.split("\n")) if body else ""
            if re.fullmatch(r"[\w+#.-]{1,40}", block.language):
                return "{code:" + block.language + "}\n" + lines + "{code}"
            if block.noformat:
                return "{noformat}\n" + lines + "{noformat}"
            return "{code}\n" + lines + "{code}"
        if isinstance(block, Rule):
            return "----"
        if isinstance(block, Quote):
            if in_quote:
                return self.blocks(block.blocks, in_quote=True)
            only = block.blocks[0] if len(block.blocks) == 1 else None
            if isinstance(only, Paragraph) and not any(isinstance(node, Break) for node in only.inlines):
                self.line_start = False
                text = self.inlines(only.inlines, one_line=True).strip()
                return f"bq. {text}" if text else ""
            inner = _Jira().blocks(block.blocks, in_quote=True)
            return "{quote}\n" + inner + "\n{quote}" if inner else ""
        if isinstance(block, ListBlock):
            return self.list(block, "")
        return self.table(block)

    def list(self, block: ListBlock, marks: str) -> str:
        mark = marks + ("#" if block.ordered else "*")
        out: list[str] = []
        for item in block.items:
            first = True
            for inner in item:
                if isinstance(inner, ListBlock):
                    written = self.list(inner, mark)
                elif isinstance(inner, Paragraph) and first:
                    self.line_start = False
                    written = f"{mark} " + self.inlines(inner.inlines, one_line=True).strip()
                else:
                    written = _Jira().block(inner)
                first = False
                if written:
                    out.append(written)
            if first:
                out.append(mark)
        return "\n".join(out)

    def table(self, table: Table) -> str:
        columns = columns_of(table)
        if not columns:
            return ""

        def row(cells: list[list[Inline]], bar: str) -> str:
            return bar + bar.join(text or " " for text in self.cells(cells, columns)) + bar

        lines = [row(cells, "|") for cells in table.rows]
        if any(table.header):
            lines.insert(0, row(table.header, "||"))
        return "\n".join(lines)

    # --- the inline writer's spelling ---------------------------------------------------------

    def escape(self, text: str, in_link: bool) -> str:
        return jira_text(text, self.line_start, in_link)

    def bare_url(self, url: str, after: str) -> str:
        return f"[{safe_url(url, IMAGE_SCHEMES)}]"

    def code(self, text: str) -> str:
        code = jira_code_text(text)
        return "{{" + code + "}}" if code.strip() else ""

    def link(self, node: Link, url: str) -> str:
        inner = self.inlines(node.children, True, True).strip()
        shown = plain_text(node.children).strip()
        return f"[{url}]" if not inner or shown == node.url.strip() else f"[{inner}|{url}]"

    def image(self, alt: str, url: str) -> str:
        """A plain link, so no reader's browser loads the image."""
        alt = jira_text(alt, in_link=True).strip()
        return f"[{alt}|{url}]" if alt else f"[{url}]"


def write_jira(blocks: Sequence[Block]) -> str:
    """``blocks`` as Jira wiki markup, inert."""
    return _Jira().blocks(blocks)


def inert_jira(text: str) -> str:
    """Jira wiki markup ``text`` parsed and written out again from the allowed constructs."""
    from service.trackers.jira.wiki_read import read_jira

    return write_jira(read_jira(text))


def wiki_line(text: str) -> str:
    """Text from a tracker (a title, a name) on one line of wiki markup: shows as typed and
    starts nothing (no macro, mention, link or marker)."""
    return break_markers(jira_text(" ".join(text.split())))


def wiki_link(text: str, url: str) -> str:
    """A link to ``url`` showing ``text``; the text alone when there is no usable ``http(s)`` URL.
    No bracket or bar can be escaped inside a link's text, so they become ``(``, ``)`` and ``/``."""
    target = safe_url(url, IMAGE_SCHEMES) if url else None
    if target is None:
        return wiki_line(text)
    shown = " ".join(text.split()).replace("[", "(").replace("]", ")").replace("|", "/")
    return f"[{wiki_line(shown)}|{target}]"
