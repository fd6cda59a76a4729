"""Copied text made inert by construction: what lessonloop copies from one tracker to another
(lesson sections, incident titles, names, timeline lines) is posted under the bot's identity, so
nothing in it may act in the target tracker. It must notify no one, open no macro or raw HTML,
load no image from a reader's browser in Jira, link nowhere but ``http``, ``https`` and
``mailto``, and carry nothing the marker parser could read as lessonloop's own.

Text is never filtered for what looks dangerous. It is parsed (:mod:`service.text.markdown_read`,
:mod:`service.text.jira_read`) into the few constructs of :mod:`service.text.textdoc`, and written out
here: each construct by a writer that knows its target's syntax, each text node escaped so that
every character in it is shown as that character and starts nothing. A character reference, a
construct split across nodes or a conversion round trip cannot form anything, because text the
source parser decoded (``&#97;`` is ``a``) is escaped again for the target.

Escaping is by the target's own rules, with a zero-width space (U+200B) where a backslash is not
enough: GitHub finds mentions and extended autolinks in the *rendered* text, where a backslash
has gone, so ``@`` gets a zero-width space after it unless a word character precedes it (an
email address), ``scheme:`` gets one after the colon, and ``<`` one after it (a bare ``www.``
link swallows a backslash before it). The zero-width space is invisible and is no login, tag or
scheme character. Renovate and Dependabot break mentions the same way.

Marker look-alikes are broken by :func:`service.text.markup.neutralise_markers`, after these writers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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

ZWSP = "\u200b"
"""ZERO WIDTH SPACE: invisible, not whitespace to a Markdown or wiki parser, and not a character
that may follow ``@`` in a GitHub login, ``<`` in an HTML tag or ``:`` in a URL."""

LINK_SCHEMES = ("http", "https", "mailto")
IMAGE_SCHEMES = ("http", "https")
MAX_COLUMNS = 100

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31}):")
_URL_ENCODE = re.compile(r"[^A-Za-z0-9\-._~:/?#@$&*+,;=%]")  # everything else is percent-encoded
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MARKER_COLON = re.compile(r"(lessonloop):", re.IGNORECASE)
_HOST = re.compile(r"//[^/\s?#@]|//[^/\s?#]{1,2000}@[^/\s?#]")


def safe_url(url: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """``url`` when its scheme is one of ``schemes``, with every character that could end it early
    or mean something to a markup percent-encoded; None for any other scheme, and for a relative or
    scheme-less target (``/settings``, ``~accountid:1``, ``//host``), which would resolve against
    the tracker itself."""
    url = url.strip()
    match = _SCHEME.match(url)
    if match is None or match.group(1).lower() not in schemes:
        return None
    rest = url[match.end() :]
    if match.group(1).lower() in ("http", "https"):
        if not _HOST.match(rest):
            return None
    elif not rest:
        return None
    encoded = _URL_ENCODE.sub(lambda found: _encode(found.group(0)), url)
    encoded = _PERCENT.sub("%25", encoded)
    return _MARKER_COLON.sub(r"\1%3A", encoded)  # no marker token inside a URL either


def _encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


_BARE_URL = re.compile(r"https?://[^\s<>\[\]|\u200b]+", re.IGNORECASE)
_URL_TAIL = ".,:;!?'\")*_~"


def _bare_urls(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (is a bare http(s) URL, piece): the writers link those themselves, so
    the target's autolinker never meets an escaped one (it would keep the backslashes)."""
    out: list[tuple[bool, str]] = []
    last = 0
    for match in _BARE_URL.finditer(text):
        url = match.group(0).rstrip(_URL_TAIL)
        if safe_url(url, IMAGE_SCHEMES) is None:
            continue
        out.append((False, text[last : match.start()]))
        out.append((True, url))
        last = match.start() + len(url)
    out.append((False, text[last:]))
    return out


_URL_NEEDS_BRACKETS = frozenset("\\`*_[]<>&|~$@()'\"")


def _plain_url(url: str, after: str) -> bool:
    """True when GitHub links bare ``url`` just as written: nothing in it needs escaping, and what
    follows it ends its autolink (an escaped character right after would be taken into it)."""
    return (
        url == safe_url(url, IMAGE_SCHEMES)
        and not _URL_NEEDS_BRACKETS.intersection(url)
        and after in ("", " ", "\t", ".", ",", ":", ";", "!", "?", ")")
    )


# --- GitHub Markdown ---------------------------------------------------------------------------

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
        for node in _merged(nodes):
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
            pieces = [(False, line)] if in_link else _bare_urls(line)
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


def _merged(nodes: Sequence[Inline]) -> list[Inline]:
    """``nodes`` with each run of adjacent text nodes joined into one: a reader may cut text at
    characters that turned out to be plain, and escaping looks at a character's neighbours."""
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + node.text)
        else:
            out.append(node)
    return out


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
    from service.text.markdown_read import read_markdown

    return write_markdown(read_markdown(text))


# --- Jira wiki markup --------------------------------------------------------------------------

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


class _Jira:
    def __init__(self) -> None:
        self.line_start = True

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
        columns = min(MAX_COLUMNS, max([len(table.header), *(len(row) for row in table.rows)]))
        if not columns:
            return ""

        def row(cells: list[list[Inline]], bar: str) -> str:
            cells = (cells + [[] for _ in range(columns)])[:columns]
            written = []
            for cell in cells:
                self.line_start = False
                written.append(self.inlines(cell, one_line=True).strip() or " ")
            return bar + bar.join(written) + bar

        lines = [row(cells, "|") for cells in table.rows]
        if any(table.header):
            lines.insert(0, row(table.header, "||"))
        return "\n".join(lines)

    def inlines(self, nodes: Sequence[Inline], one_line: bool = False, in_link: bool = False) -> str:
        out: list[str] = []
        for node in _merged(nodes):
            if isinstance(node, Text):
                out.append(self.text(node.text, one_line, in_link))
            elif isinstance(node, Break):
                out.append(" " if one_line else "\n")
                self.line_start = not one_line
            elif isinstance(node, Code):
                code = jira_code_text(node.text)
                if code.strip():
                    out.append("{{" + code + "}}")
                    self.line_start = False
            elif isinstance(node, Styled):
                delimiter = {"strong": "*", "em": "_", "strike": "-"}[node.style]
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
                inner = self.inlines(node.children, True, True).strip()
                out.append(f"[{url}]" if not inner or shown == node.url.strip() else f"[{inner}|{url}]")
            else:  # an image: a plain link, so no reader's browser loads it
                url = safe_url(node.url, IMAGE_SCHEMES)
                if url is None:
                    out.append(self.text(node.alt, one_line, in_link))
                else:
                    alt = jira_text(node.alt, in_link=True).strip()
                    out.append(f"[{alt}|{url}]" if alt else f"[{url}]")
                    self.line_start = False
        return "".join(out)

    def text(self, text: str, one_line: bool, in_link: bool) -> str:
        if not text:
            return ""
        out: list[str] = []
        for number, line in enumerate(text.split("\n")):
            if number:
                out.append(" " if one_line else "\n")
                self.line_start = not one_line
            pieces = [(False, line)] if in_link else _bare_urls(line)
            for is_url, piece in pieces:
                if not piece:
                    continue
                if is_url:
                    out.append(f"[{safe_url(piece, IMAGE_SCHEMES)}]")
                else:
                    piece = jira_text(piece, self.line_start, in_link)
                    if not piece:
                        continue
                    out.append(piece)
                self.line_start = False
        return "".join(out)


def write_jira(blocks: Sequence[Block]) -> str:
    """``blocks`` as Jira wiki markup, inert."""
    return _Jira().blocks(blocks)


def inert_jira(text: str) -> str:
    """Jira wiki markup ``text`` parsed and written out again from the allowed constructs."""
    from service.text.jira_read import read_jira

    return write_jira(read_jira(text))


# --- plain text (PagerDuty notes) --------------------------------------------------------------


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
