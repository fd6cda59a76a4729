"""Plain text (PagerDuty notes) written from the constructs of :mod:`service.text.textdoc`:
what they show without markup. PagerDuty renders no markup and links bare URLs itself, so a
link keeps its text and its URL, and only a safe URL is kept (:mod:`service.text.inert`)."""

from __future__ import annotations

from collections.abc import Sequence

from service.text.inert import IMAGE_SCHEMES, safe_url
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
    Text,
)


def write_plain(blocks: Sequence[Block]) -> str:
    """What ``blocks`` show without markup: a link as its text and URL (PagerDuty links bare
    URLs itself), code as written."""
    out: list[str] = []
    for block in blocks:
        written = _plain_block(block, "")
        if written:
            out.append(written)
    return "\n".join(out)


def _plain_block(block: Block, indent: str) -> str:
    if isinstance(block, Paragraph | Heading):
        return indent + _plain_inlines(block.inlines).strip()
    if isinstance(block, CodeBlock):
        return block.text[:-1] if block.text.endswith("\n") else block.text
    if isinstance(block, Rule):
        return "---"
    if isinstance(block, Quote):
        return "\n".join("> " + line for line in write_plain(block.blocks).split("\n"))
    if isinstance(block, ListBlock):
        lines = []
        for number, item in enumerate(block.items, 1):
            mark = f"{number}. " if block.ordered else "- "
            for index, inner in enumerate(item):
                written = _plain_block(inner, indent + "  ")
                lines.append(indent + mark + written.lstrip() if index == 0 else written)
        return "\n".join(lines)
    rows = [block.header, *block.rows] if any(block.header) else block.rows
    return "\n".join(" | ".join(_plain_inlines(cell).strip() for cell in row) for row in rows)


def _plain_inlines(nodes: Sequence[Inline]) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text | Code):
            out.append(node.text)
        elif isinstance(node, Break):
            out.append("\n")
        elif isinstance(node, Styled):
            out.append(_plain_inlines(node.children))
        elif isinstance(node, Link):
            text = _plain_inlines(node.children)
            url = safe_url(node.url)
            out.append(
                text if url is None else url if text.strip() in ("", node.url.strip(), url) else f"{text} ({url})"
            )
        else:
            url = safe_url(node.url, IMAGE_SCHEMES)
            out.append(node.alt if url is None else f"{node.alt} ({url})" if node.alt else url)
    return "".join(out)
