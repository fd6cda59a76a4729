"""GitHub Markdown written from the constructs of :mod:`service.text.textdoc`, inert: every
text node escaped by :func:`markdown_text` so it shows as typed and starts nothing on GitHub
(see :mod:`service.text.inert` for why escaping, not filtering)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.text.inert import IMAGE_SCHEMES, MAX_COLUMNS, ZWSP, bare_urls, merged, safe_url
from service.text.textdoc import (
    Block,
    Break,
    Code,
    CodeBlock,
    Heading,
    Inline,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Rule,
    Styled,
    Table,
    Text,
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


class _Markdown:
    """One writer per document: ``line_start`` follows where the text written last ended."""

    def __init__(self) -> None:
        self.line_start = True

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
        columns = min(MAX_COLUMNS, max([len(table.header), *(len(row) for row in table.rows)]))
        if not columns:
            return ""

        def row(cells: list[list[Inline]]) -> str:
            cells = (cells + [[] for _ in range(columns)])[:columns]
            written = []
            for cell in cells:
                self.line_start = False
                text = self.inlines(cell, one_line=True).strip()
                written.append(f" {text} " if text else " ")
            return "|" + "|".join(written) + "|"

        lines = [row(table.header), "|" + "---|" * columns, *(row(cells) for cells in table.rows)]
        return "\n".join(lines)

    def inlines(self, nodes: Sequence[Inline], one_line: bool = False, in_link: bool = False) -> str:
        out: list[str] = []
        for node in merged(nodes):
            if isinstance(node, Text):
                out.append(self.text(node.text, one_line, in_link))
            elif isinstance(node, Break):
                if one_line:
                    out.append(" ")
                else:
                    out.append("\\\n" if node.hard else "\n")
                    self.line_start = True
            elif isinstance(node, Code):
                out.append(_code_span(node.text))
                self.line_start = False
            elif isinstance(node, Styled):
                delimiter = {"strong": "**", "em": "*", "strike": "~~"}[node.style]
                line_start = self.line_start
                self.line_start = False
                inner = self.inlines(node.children, one_line, in_link)
                if inner.strip():
                    out.append(delimiter + inner + delimiter)
                else:
                    self.line_start = line_start
            elif isinstance(node, Link):
                url = safe_url(node.url)
                if url is None or in_link:
                    out.append(self.inlines(node.children, one_line, in_link))
                    continue
                self.line_start = False
                shown = plain_text(node.children).strip()
                if not shown or shown == node.url.strip():
                    out.append(f"<{url}>")
                    continue
                out.append(f"[{self.inlines(node.children, True, True).strip()}]({url})")
            else:
                url = safe_url(node.url, IMAGE_SCHEMES)
                if url is None:
                    out.append(self.text(node.alt, one_line, in_link))
                else:
                    out.append(f"![{markdown_text(node.alt)}]({url})")
                    self.line_start = False
        return "".join(out)

    def text(self, text: str, one_line: bool, in_link: bool) -> str:
        if not text:
            return ""
        lines = text.split("\n")
        out: list[str] = []
        for number, line in enumerate(lines):
            if number:
                out.append(" " if one_line else "\n")
                self.line_start = not one_line
            pieces = [(False, line)] if in_link else bare_urls(line)
            for index, (is_url, piece) in enumerate(pieces):
                if not piece:
                    continue
                if is_url:
                    after = pieces[index + 1][1][:1] if index + 1 < len(pieces) else ""
                    out.append(piece if _plain_url(piece, after) else f"<{safe_url(piece, IMAGE_SCHEMES)}>")
                else:
                    piece = markdown_text(piece, self.line_start)
                    if not piece:
                        continue
                    out.append(piece)
                self.line_start = False
        return "".join(out)


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
