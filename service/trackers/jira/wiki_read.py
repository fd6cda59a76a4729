"""Jira wiki markup read into the constructs of :mod:`service.text.textdoc`.

No maintained Python library parses Jira wiki markup (Atlassian's renderer is Java, and the
Python packages that exist convert Markdown *to* it), so this is a small tokenizer of our own:
one pass over the lines for the blocks (headings, lists, quotes, code, tables, rules), one
left-to-right pass over each line for the inline constructs. Every search for a closing
character starts from a cached position or is bounded, and emphasis is matched with a stack
(as CommonMark does), so no input makes it rescan: time is linear in the text.

What it does not turn into a construct (macros but ``{code}``, ``{noformat}``, ``{quote}`` and
``{color}``, mentions, links to anything) is kept as text, which the writers escape.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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

_MARKUP = "\\{}[]!*_+^~-|"

REACH = 2200
"""The farthest a closing ``]``, ``!`` or ``}}`` may be from its opener (a link: 200 characters
of text and a 2,000-character URL)."""
MAX_DEPTH = 20
"""The most lists or emphasis spans open inside one another; deeper ones are text."""
MAX_CELLS = 100

_CODE_OPEN = re.compile(r"[ \t]*\{(code|noformat)(?::([^}\n]{0,400}))?\}")
_QUOTE = "{quote}"
_HEADING = re.compile(r"[ \t]*h([1-6])\.[ \t]+")
_BQ = re.compile(r"[ \t]*bq\.[ \t]+")
_ITEM = re.compile(r"[ \t]*([*#-]{1,200})[ \t]+")
_RULE = re.compile(r"[ \t]*-{4,}[ \t]*$")
_CELL = re.compile(r"\|\|?|\[[^\]\n]{0,REACH}\]|[^|\[]+|\[".replace("REACH", str(REACH)))
_LANGUAGE = re.compile(r"[\w+#.-]{1,40}")


def read_jira(text: str) -> list[Block]:
    """The blocks of ``text`` as Jira would show them, keeping only the constructs we allow."""
    parse_inline = _inline if sum(text.count(char) for char in _MARKUP) <= INLINE_BUDGET else _as_text
    return _Reader(parse_inline).read(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


class _Reader:
    def __init__(self, parse_inline: Callable[[str], list[Inline]]) -> None:
        self.inline = parse_inline
        self.top: list[Block] = []
        self.quote: list[Block] | None = None
        self.lines: list[list[Inline]] = []
        self.items: list[tuple[str, list[Inline]]] = []
        self.rows: list[tuple[bool, list[list[Inline]]]] = []

    @property
    def sink(self) -> list[Block]:
        return self.quote if self.quote is not None else self.top

    def flush(self) -> None:
        if self.lines:
            inlines: list[Inline] = []
            for number, line in enumerate(self.lines):
                if number:
                    inlines.append(Break())
                inlines.extend(line)
            self.sink.append(Paragraph(inlines))
            self.lines = []
        if self.items:
            self.sink.extend(_lists(self.items))
            self.items = []
        if self.rows:
            self.sink.append(_table(self.rows))
            self.rows = []

    def read(self, lines: list[str]) -> list[Block]:
        index = 0
        pending: str | None = None
        while pending is not None or index < len(lines):
            if pending is not None:
                line, pending = pending, None
            else:
                line = lines[index]
                index += 1
            opening = _CODE_OPEN.match(line)
            if opening:
                kind, parameters = opening.group(1), opening.group(2)
                closer = "{" + kind + "}"
                rest = line[opening.end() :]
                end = rest.find(closer)
                if end >= 0:  # {code}x = 1{code} on one line: code in the text
                    self.lines.append([Code(rest[:end]), *self.inline(rest[end + len(closer) :])])
                    continue
                self.flush()
                code = [rest] if rest.strip() else []
                while index < len(lines):
                    line = lines[index]
                    index += 1
                    end = line.find(closer)
                    if end >= 0:
                        if line[:end].strip():
                            code.append(line[:end])
                        after = line[end + len(closer) :]
                        pending = after if after.strip() else None
                        break
                    code.append(line)
                language = _language(parameters) if kind == "code" else ""
                self.sink.append(CodeBlock(language, "".join(c + "\n" for c in code), noformat=kind == "noformat"))
                continue
            stripped = line.lstrip()
            if stripped.startswith(_QUOTE) or (self.quote is not None and _QUOTE in line):
                at = line.find(_QUOTE)
                before, after = line[:at], line[at + len(_QUOTE) :]
                if before.strip():
                    self.lines.append(self.inline(before.strip()))
                self.flush()
                if self.quote is None:
                    self.quote = []
                else:
                    self.top.append(Quote(self.quote))
                    self.quote = None
                if after.strip():
                    pending = after
                continue
            if not stripped:
                self.flush()
            elif _RULE.match(line):
                self.flush()
                self.sink.append(Rule())
            elif heading := _HEADING.match(line):
                self.flush()
                self.sink.append(Heading(int(heading.group(1)), self.inline(line[heading.end() :].rstrip())))
            elif quote := _BQ.match(line):
                self.flush()
                self.sink.append(Quote([Paragraph(self.inline(line[quote.end() :].rstrip()))]))
            elif item := _ITEM.match(line):
                if self.lines or self.rows:
                    self.flush()
                self.items.append((item.group(1), self.inline(line[item.end() :].rstrip())))
            elif stripped.startswith("|"):
                if self.lines or self.items:
                    self.flush()
                self.rows.append(self._row(stripped.rstrip()))
            else:
                if self.items or self.rows:
                    self.flush()
                self.lines.append(self.inline(stripped.rstrip()))
        self.flush()
        if self.quote is not None:
            self.top.append(Quote(self.quote))
            self.quote = None
        return self.top

    def _row(self, line: str) -> tuple[bool, list[list[Inline]]]:
        header = line.startswith("||")
        cells: list[str] = []
        current: list[str] = []
        position = 0
        for token in _CELL.finditer(line):
            position = token.end()
            if token.group(0).startswith("|") and token.group(0) in ("|", "||"):
                if cells or current or token.start() > 0:
                    cells.append("".join(current))
                current = []
                if len(cells) >= MAX_CELLS:
                    break
            else:
                current.append(token.group(0))
        rest = "".join(current) + line[position:] if len(cells) >= MAX_CELLS else "".join(current)
        if rest.strip():
            cells.append(rest)
        return header, [self.inline(cell.strip()) for cell in cells]


def _as_text(line: str) -> list[Inline]:
    return [Text(line)] if line else []


def _language(parameters: str | None) -> str:
    """``bash``, ``language=bash|title=x`` -> ``bash``; ``title=x`` alone names none."""
    for parameter in (parameters or "").split("|"):
        name, equals, value = parameter.partition("=")
        candidate = name if not equals else value if name.strip() == "language" else None
        if candidate is None:
            continue
        found = _LANGUAGE.fullmatch(candidate.strip())
        return found.group(0) if found else ""
    return ""


def _lists(items: list[tuple[str, list[Inline]]]) -> list[Block]:
    """Nested lists from ``(marks, text)`` items: ``*`` and ``-`` bullets, ``#`` numbers; the
    number of marks is the depth (at most ``MAX_DEPTH``)."""
    top: list[Block] = []
    stack: list[tuple[int, ListBlock]] = []
    for marks, inlines in items:
        depth = min(len(marks), MAX_DEPTH)
        ordered = marks[-1] == "#"
        while stack and stack[-1][0] > depth:
            stack.pop()
        if stack and stack[-1][0] == depth and stack[-1][1].ordered != ordered:
            stack.pop()
        if stack and stack[-1][0] == depth:
            stack[-1][1].items.append([Paragraph(inlines)])
            continue
        new = ListBlock(ordered, [[Paragraph(inlines)]])
        if stack:
            stack[-1][1].items[-1].append(new)
        else:
            top.append(new)
        stack.append((depth, new))
    return top


def _table(rows: list[tuple[bool, list[list[Inline]]]]) -> Table:
    first_is_header, first = rows[0]
    if first_is_header:
        return Table(first, [cells for _, cells in rows[1:]])
    return Table([[] for _ in first], [cells for _, cells in rows])


# --- inline ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<text>[^\\{\[!*_+^~\-]+)"
    r"|(?P<breaks>(?:\\\\)+)"
    r"|\\(?P<escaped>.)"
    r"|(?P<color>\{color(?::[^}\n]{0,40})?\})"
    r"|(?P<mono>\{\{)"
    r"|(?P<brackets>\[+)"
    r"|(?P<delims>[*_+^~\-]+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_STYLE = {"*": "strong", "_": "em", "-": "strike"}  # + ^ ~ (underline, superscript, subscript): text only
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")


class _Frame:
    __slots__ = ("char", "children")

    def __init__(self, char: str, children: list[Inline]) -> None:
        self.char = char
        self.children = children


def _inline(line: str) -> list[Inline]:
    """The inline constructs of one line of Jira text."""
    root: list[Inline] = []
    frames: list[_Frame] = [_Frame("", root)]
    open_chars: dict[str, int] = {}
    cached: dict[str, int] = {}

    def next_at(needle: str, start: int) -> int:
        """The next ``needle`` at or after ``start``: each search starts where the last ended."""
        found = cached.get(needle, -2)
        if found == -1 or (found >= start):
            return found
        found = line.find(needle, start)
        cached[needle] = found
        return found

    def close_to(char: str) -> None:
        """Close the innermost frame of ``char``; frames opened inside it become text."""
        while True:
            frame = frames.pop()
            open_chars[frame.char] -= 1
            if frame.char == char:
                break
            frames[-1].children.append(Text(frame.char))
            frames[-1].children.extend(frame.children)
        style = _STYLE.get(char)
        if not frame.children:
            frames[-1].children.append(Text(char + char))
        elif style:
            frames[-1].children.append(Styled(style, frame.children))
        else:
            frames[-1].children.extend(frame.children)

    position = 0
    length = len(line)
    while position < length:
        token = _TOKEN.match(line, position)
        assert token is not None  # the last alternative matches any character
        here = frames[-1].children
        kind = token.lastgroup
        end = token.end()
        if kind == "text":
            here.append(Text(token.group(0)))
        elif kind == "breaks":
            here.append(Break(hard=True))
        elif kind == "escaped":
            here.append(Text(token.group("escaped")))
        elif kind == "color":
            pass  # only decoration
        elif kind == "mono":
            close = next_at("}}", end)
            if close >= 0 and close - end <= REACH and close > end:
                here.append(Code(line[end:close]))
                end = close + 2
            else:
                here.append(Text("{{"))
        elif kind == "brackets":
            run = token.group(0)
            if len(run) > 1:
                here.append(Text(run[:-1]))
            start = end
            close = next_at("]", start)
            if close >= 0 and close - start <= REACH:
                here.extend(_bracketed(line[start:close]))
                end = close + 1
            else:
                here.append(Text("["))
        elif kind == "other" and token.group(0) == "!" and end < length and not line[end].isspace():
            close = next_at("!", end)
            inside = line[end:close] if close >= 0 and close - end <= REACH else ""
            if inside and not any(char.isspace() for char in inside):
                here.append(Image(inside.split("|", 1)[0], ""))
                end = close + 1
            else:
                here.append(Text("!"))
        elif kind == "delims":
            run = token.group(0)
            before = line[token.start() - 1] if token.start() else " "
            after = line[end] if end < length else " "
            if not before.isspace() and not after.isalnum() and open_chars.get(run[-1], 0) > 0:
                if len(run) > 1:
                    here.append(Text(run[:-1]))
                close_to(run[-1])
            elif not before.isalnum() and not after.isspace() and len(frames) <= MAX_DEPTH:
                frames.append(_Frame(run[0], [Text(run[1:])] if len(run) > 1 else []))
                open_chars[run[0]] = open_chars.get(run[0], 0) + 1
            else:
                here.append(Text(run))
        else:
            here.append(Text(token.group(0)))
        position = end
    while len(frames) > 1:  # never closed: their openers are text
        frame = frames.pop()
        frames[-1].children.append(Text(frame.char))
        frames[-1].children.extend(frame.children)
    return root


def _bracketed(inside: str) -> list[Inline]:
    """What ``[inside]`` is: a mention (shown as the name it holds, never as a mention), a link
    (``[text|url]``, ``[url]``), or text."""
    if inside.startswith("~"):
        name = inside[1:]
        return [Text("a Jira user" if name.lower().startswith("accountid:") else name)]
    text, bar, target = inside.partition("|")
    if bar:
        url = target.split("|", 1)[0].strip()
        return [Link(url, _inline(text) if text.strip() else [Text(url)])]
    if _SCHEME.match(inside):
        return [Link(inside.strip(), [Text(inside.strip())])]
    return [Text("[" + inside + "]")]
