"""GitHub Markdown read into the constructs of :mod:`service.text.textdoc`, with markdown-it-py.

markdown-it-py is a maintained CommonMark parser (with GFM tables and strikethrough), so what is
a link, a code span or an emphasis here is what GitHub's own parser takes for one, and nothing
else becomes a construct: raw HTML is off (it stays text), and any token the walk below does not
know is kept as its text.

Its inline parser is pure Python and spends tens of microseconds on each markup character (a
megabyte of ``[`` takes about 15 s). Text with more markup characters than ``INLINE_BUDGET``,
far more than any lesson holds, keeps its blocks (paragraphs, lists, headings, code) but its
inline markup is shown as typed: the time one text can cost stays bounded, and linear in its size.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from service.text.textdoc import (
    INLINE_BUDGET,
    Block,
    Break,
    Code,
    CodeBlock,
    Heading,
    Image,
    Inline,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Rule,
    Styled,
    Table,
    Text,
)

MAX_NESTING = 20
"""How deep lists and quotes (and their paragraphs) are read: markdown-it-py's own bound, each
level costing a pass over every line it holds. Past it markdown-it-py drops the rest of the
text, so such a text is kept whole, as text (its lines shown as typed)."""

_MARKUP = "\n!#$%&*+-:<=>@[\\]^_`{}~|()"
"""The characters markdown-it-py stops its text scan at (and parentheses): each costs it a step."""

_BLOCK_RULES = ["table", "code", "fence", "blockquote", "hr", "list", "heading", "lheading", "paragraph"]
_INLINE_RULES = ["newline", "escape", "backticks", "strikethrough", "emphasis", "link", "image", "autolink", "entity"]


class _EveryLink(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        """Every link is read as one, as GitHub reads it; the writers keep only those
        :func:`service.text.inert.safe_url` allows and show the text of the others."""
        return True


def _parser(inline: bool) -> MarkdownIt:
    parser = _EveryLink("zero", {"maxNesting": MAX_NESTING, "html": False, "linkify": False})
    parser.enable(_BLOCK_RULES + _INLINE_RULES)
    if not inline:  # nor tables: markdown-it-py looks for their cells a character at a time
        parser.disable(["inline", "table"])
    return parser


_FULL = _parser(inline=True)
_BLOCKS_ONLY = _parser(inline=False)


def over_budget(text: str) -> bool:
    return sum(text.count(char) for char in _MARKUP) > INLINE_BUDGET


def read_markdown(text: str) -> list[Block]:
    """The blocks of ``text`` as GitHub would read them (raw HTML as text)."""
    parser = _BLOCKS_ONLY if over_budget(text) else _FULL
    tokens = parser.parse(text)
    blocks, _ = _blocks(tokens, 0, None)
    if any(token.level >= MAX_NESTING - 1 for token in tokens):
        # markdown-it-py stopped reading at MAX_NESTING and dropped the rest: keep it all, as text
        return [
            Paragraph(
                [Text(line.strip()) if n == 0 else Text("\n" + line.strip()) for n, line in enumerate(text.split("\n"))]
            )
        ]
    return blocks


def _blocks(tokens: list[Token], i: int, until: str | None) -> tuple[list[Block], int]:
    """Blocks from ``tokens[i:]`` up to the token of type ``until``; returns them and the index
    after that closing token. Each token is visited once."""
    out: list[Block] = []
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == until:
            return out, i + 1
        if kind in ("paragraph_open", "heading_open"):
            inline = _inlines(tokens[i + 1])
            if kind == "heading_open":
                out.append(Heading(int(token.tag[1:]), inline))
            else:
                out.append(Paragraph(inline))
            i += 3
        elif kind in ("fence", "code_block"):
            language = token.info.strip().split(" ")[0] if kind == "fence" else ""
            out.append(CodeBlock(language, token.content, noformat=not language))
            i += 1
        elif kind == "hr":
            out.append(Rule())
            i += 1
        elif kind == "blockquote_open":
            inner, i = _blocks(tokens, i + 1, "blockquote_close")
            out.append(Quote(inner))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            close = kind.replace("_open", "_close")
            items: list[list[Block]] = []
            i += 1
            while i < len(tokens) and tokens[i].type == "list_item_open":
                item, i = _blocks(tokens, i + 1, "list_item_close")
                items.append(item)
            if i < len(tokens) and tokens[i].type == close:
                i += 1
            out.append(ListBlock(kind == "ordered_list_open", items))
        elif kind == "table_open":
            table, i = _table(tokens, i + 1)
            out.append(table)
        elif kind == "inline":
            out.append(Paragraph(_inlines(token)))
            i += 1
        else:  # a closing token of an enclosing block cut short, or one not known here
            i += 1
    return out, i


def _table(tokens: list[Token], i: int) -> tuple[Table, int]:
    header: list[list[Inline]] = []
    rows: list[list[list[Inline]]] = []
    row: list[list[Inline]] = []
    in_head = False
    while i < len(tokens) and tokens[i].type != "table_close":
        kind = tokens[i].type
        if kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if in_head:
                header = row
            else:
                rows.append(row)
        elif kind == "inline":
            row.append(_inlines(tokens[i]))
        i += 1
    return Table(header, rows), i + 1


_STYLES = {"strong_open": "strong", "em_open": "em", "s_open": "strike"}


def _inlines(token: Token) -> list[Inline]:
    """The inline nodes of one ``inline`` token: its children when parsed, else its text."""
    if not token.children:
        return [Text(token.content)]
    root: list[Inline] = []
    stack: list[list[Inline]] = [root]
    for child in token.children:
        kind = child.type
        here = stack[-1]
        if kind in ("text", "text_special", "html_inline"):
            here.append(Text(child.content))
        elif kind == "code_inline":
            here.append(Code(child.content))
        elif kind in ("softbreak", "hardbreak"):
            here.append(Break(kind == "hardbreak"))
        elif kind in _STYLES:
            node = Styled(_STYLES[kind])
            here.append(node)
            stack.append(node.children)
        elif kind == "link_open":
            link = Link(str(child.attrs.get("href", "")))
            here.append(link)
            stack.append(link.children)
        elif kind in ("strong_close", "em_close", "s_close", "link_close"):
            if len(stack) > 1:
                stack.pop()
        elif kind == "image":
            here.append(Image(str(child.attrs.get("src", "")), child.content))
        else:
            here.append(Text(child.content))
    return root
