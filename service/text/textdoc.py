"""The constructs copied text may keep, as data: the allowlist that the readers
(:mod:`service.trackers.github.markdown_read`, :mod:`service.trackers.jira.wiki_read`) fill and the writers
(:mod:`service.text.inert`) write out. Anything a reader does not turn into one of these is text, and
text is escaped for its target on the way out, so what a tracker would act on (a mention, raw
HTML, a macro, a link or image of any other kind) can only come from a node built here."""

from __future__ import annotations

from dataclasses import dataclass, field

INLINE_BUDGET = 20_000
"""The most markup characters a text may hold and still have its inline markup parsed, in either
reader; past it, each line is kept as text (the blocks still are), which bounds the time one text
can cost."""


@dataclass
class Text:
    text: str  # literal characters, as shown; never markup


@dataclass
class Code:
    text: str  # an inline code span, shown verbatim


@dataclass
class Break:
    hard: bool = False  # a line break inside a paragraph


@dataclass
class Styled:
    style: str  # "strong", "em" or "strike"
    children: list[Inline] = field(default_factory=list)


@dataclass
class Link:
    url: str  # as written; the writers keep it only if service.text.inert.safe_url does
    children: list[Inline] = field(default_factory=list)


@dataclass
class Image:
    url: str
    alt: str


Inline = Text | Code | Break | Styled | Link | Image


@dataclass
class Paragraph:
    inlines: list[Inline]


@dataclass
class Heading:
    level: int
    inlines: list[Inline]


@dataclass
class CodeBlock:
    language: str
    text: str
    noformat: bool = False  # Jira's {noformat}, or a Markdown fence that names no language


@dataclass
class Rule:
    pass


@dataclass
class Quote:
    blocks: list[Block]


@dataclass
class ListBlock:
    ordered: bool
    items: list[list[Block]]


@dataclass
class Table:
    header: list[list[Inline]]  # empty cells when the source had no header row
    rows: list[list[list[Inline]]]


Block = Paragraph | Heading | CodeBlock | Rule | Quote | ListBlock | Table


def plain_text(inlines: list[Inline]) -> str:
    """What ``inlines`` show, without markup: link text, image alt text, code as written."""
    out: list[str] = []
    for node in inlines:
        if isinstance(node, Text | Code):
            out.append(node.text)
        elif isinstance(node, Break):
            out.append("\n")
        elif isinstance(node, Styled | Link):
            out.append(plain_text(node.children))
        else:
            out.append(node.alt)
    return "".join(out)
