"""GitHub Markdown written from the constructs of :mod:`service.text.textdoc`, inert: every
text node escaped by :func:`markdown_text` so it shows as typed and starts nothing on GitHub
(see :mod:`service.text.inert` for why escaping, not filtering)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.text.inert import IMAGE_SCHEMES, ZWSP, safe_url
from service.text.inline_write import InlineWriter, columns_of
from service.text.textdoc import (
    Block,
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

_URL_NEEDS_BRACKETS = frozenset("\\`*_[]<>&|~$@()'\"")


def _plain_url(url: str, after: str) -> bool:
    """True when GitHub links bare ``url`` just as written: nothing in it needs escaping, and what
    follows it ends its autolink (an escaped character right after would be taken into it)."""
    return (
        url == safe_url(url, IMAGE_SCHEMES)
        and not _URL_NEEDS_BRACKETS.intersection(url)
        and after in ("", " ", "\t", ".", ",", ":", ";", "!", "?", ")")
    )


_MD_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "[": "\\[",
        "]": "\\]",
        "<": "<" + ZWSP,
        "&": "\\&",
        "|": "\\|",
        "~": "\\~",
        "$": "\\$",
        "\n": " ",
        "\r": " ",
    }
)
# Each pattern here starts with the character it is about (lookbehinds come after it), so the
# regex engine skips in C to the next one: a megabyte of text costs milliseconds, not a step each.
_MD_UNDERSCORE = re.compile(r"_(?:(?<![A-Za-z0-9]_)|(?![A-Za-z0-9]))")  # intraword _ is never emphasis
_MD_AT = re.compile(r"@(?<![A-Za-z0-9_]@)")  # GitHub: a mention is @ after a non-word character
_AFTER_SCHEME = re.compile(  # _ftp://x, 64ftp://x, xmpp:x, x_mailto:x: GFM autolinks these in text
    r":(?:(?<=[A-Za-z]:)(?=//)|(?<=[Xx][Mm][Pp][Pp]:)|(?<=[Mm][Aa][Ii][Ll][Tt][Oo]:))"
)
_MD_LINE_START = re.compile(r"([>+=-])|(#{1,6})(?=[ \t]|$)|(\d{1,9})([.)])(?=[ \t]|$)")


def markdown_text(text: str, line_start: bool = False) -> str:
    """``text`` as GitHub Markdown that shows exactly these characters and nothing else: no
    emphasis, code, link, image, HTML, entity, table cell, mention or autolink can start in it.
    ``line_start``: it begins a line, where ``#``, ``>``, ``-`` or ``1.`` would start a block."""
    escaped = _MD_UNDERSCORE.sub(r"\\_", text.translate(_MD_ESCAPES))
    escaped = _AFTER_SCHEME.sub(":" + ZWSP, _MD_AT.sub("@" + ZWSP, escaped))
    if line_start:
        escaped = escaped.lstrip(" \t")
        start = _MD_LINE_START.match(escaped)
        if start:
            escaped = start.group(3) + "\\" + escaped[len(start.group(3)) :] if start.group(3) else "\\" + escaped
    return escaped


class _Markdown(InlineWriter):
    """One writer per document: ``line_start`` follows where the text written last ended."""

    STYLES = {"strong": "**", "em": "*", "strike": "~~"}
    HARD_BREAK = "\\\n"

    def blocks(self, blocks: Sequence[Block]) -> str:
        out: list[str] = []
        previous: Block | None = None
        lists = 0
        for block in blocks:
            if isinstance(block, ListBlock):  # two lists of one kind in a row would merge
                same = isinstance(previous, ListBlock) and previous.ordered == block.ordered
                lists = lists + 1 if same else 0
            written = self.block(block, lists)
            if not written:
                continue
            if out:
                out.append("\n" if _interrupts(previous, block) else "\n\n")
            out.append(written)
            previous = block
        return "".join(out)

    def block(self, block: Block, lists: int = 0) -> str:
        self.line_start = True
        if isinstance(block, Paragraph):
            return self.inlines(block.inlines).rstrip()
        if isinstance(block, Heading):
            self.line_start = False
            text = self.inlines(block.inlines, one_line=True).strip()
            if text.endswith("#"):
                text = text[:-1] + "\\#"
            return "#" * block.level + (" " + text if text else "")
        if isinstance(block, CodeBlock):
            longest = max((len(run) for run in re.findall(r"`+", block.text)), default=0)
            fence = "`" * max(3, longest + 1)
            language = block.language if re.fullmatch(r"[\w+#.-]{1,40}", block.language) else ""
            body = block.text[:-1] if block.text.endswith("\n") else block.text
            return f"{fence}{language}\n{body}\n{fence}" if body else f"{fence}{language}\n{fence}"
        if isinstance(block, Rule):
            return "---"
        if isinstance(block, Quote):
            inner = _Markdown().blocks(block.blocks)
            return "\n".join("> " + line if line else ">" for line in inner.split("\n")) if inner else ""
        if isinstance(block, ListBlock):
            return self.list(block, lists)
        return self.table(block)

    def list(self, block: ListBlock, alternate: int) -> str:
        out: list[str] = []
        for number, item in enumerate(block.items, 1):
            marker = f"{number}{')' if alternate % 2 else '.'}" if block.ordered else "*" if alternate % 2 else "-"
            pad = " " * (len(marker) + 1)
            parts: list[str] = []
            for inner in item:
                written = _Markdown().block(inner)
                if not written:
                    continue
                if parts:
                    parts.append("\n" if isinstance(inner, ListBlock) else "\n\n")
                parts.append(written)
            text = "".join(parts)
            lines = text.split("\n")
            rest = [pad + line if line else "" for line in lines[1:]]
            out.append("\n".join([f"{marker} {lines[0]}".rstrip(), *rest]))
        return "\n".join(out)

    def table(self, table: Table) -> str:
        columns = columns_of(table)
        if not columns:
            return ""

        def row(cells: list[list[Inline]]) -> str:
            return "|" + "|".join(f" {text} " if text else " " for text in self.cells(cells, columns)) + "|"

        lines = [row(table.header), "|" + "---|" * columns, *(row(cells) for cells in table.rows)]
        return "\n".join(lines)

    # --- the inline writer's spelling ---------------------------------------------------------

    def escape(self, text: str, in_link: bool) -> str:
        return markdown_text(text, self.line_start)

    def bare_url(self, url: str, after: str) -> str:
        return url if _plain_url(url, after) else f"<{safe_url(url, IMAGE_SCHEMES)}>"

    def code(self, text: str) -> str:
        span = _code_span(text)
        if span:  # a blank span writes nothing: what follows still begins the line
            self.line_start = False
        return span

    def link(self, node: Link, url: str) -> str:
        shown = plain_text(node.children).strip()
        if not shown or shown == node.url.strip():
            return f"<{url}>"
        return f"[{self.inlines(node.children, True, True).strip()}]({url})"

    def image(self, alt: str, url: str) -> str:
        return f"![{markdown_text(alt)}]({url})"


def _interrupts(previous: Block | None, block: Block) -> bool:
    """True when ``block`` may follow ``previous`` on the next line, without a blank line, as it
    did in the source (so line numbers stay close to the source's): a heading or a fence starts
    a block wherever it is, and a list whose first item has text may follow a paragraph or a list."""
    if isinstance(block, ListBlock) and isinstance(previous, ListBlock | Paragraph):
        return bool(block.items and block.items[0])
    return isinstance(previous, Heading | CodeBlock) or isinstance(block, Heading | CodeBlock)


def _code_span(text: str) -> str:
    """An inline code span of ``text``, its fence longer than any backtick run in it."""
    text = text.replace("\n", " ")
    if not text.strip():
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def write_markdown(blocks: Sequence[Block]) -> str:
    """``blocks`` as GitHub Markdown, inert."""
    return _Markdown().blocks(blocks)


def inert_markdown(text: str) -> str:
    """GitHub Markdown ``text`` parsed and written out again from the allowed constructs."""
    from service.trackers.github.markdown_read import read_markdown

    return write_markdown(read_markdown(text))
