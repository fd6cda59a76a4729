"""Converting lesson text between the trackers' markups: GitHub Markdown, Jira wiki markup, and
the plain text of PagerDuty notes.

A lesson is written in the review's tracker and posted on items in all three, so a Jira review's
``*bold*`` and ``[runbook|https://…]`` must reach GitHub as ``**bold**`` and
``[runbook](https://…)``, and a GitHub review's fenced code must reach Jira as ``{code}``. This
covers what people put in a lesson (headings, emphasis, code, links, lists, quotes, rules); what it
does not know it leaves as written. Pure functions, line by line; code is never rewritten.

Everything :func:`convert` returns is inert in the target tracker, whatever the text held: no
mention, no macro or raw HTML, no link but ``http``/``https``/``mailto``, no marker look-alike
(``service.inert`` says how, and why a zero-width space on GitHub).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from service.events import Markup
from service.inert import (
    IMAGE_SCHEMES,
    inert_jira,
    inert_markdown,
    jira_code_block_line,
    jira_code_text,
    jira_text,
    safe_url,
)


def convert(text: str, source: Markup, target: Markup) -> str:
    """``text`` written in ``source`` markup, as ``target`` markup shows the same thing, made inert
    for the tracker that reads ``target``: the one entry point for copying text between trackers,
    also when ``source == target`` (a Jira lesson posted on another Jira issue is copied text too).
    Plain text is taken as already being in the target markup, near enough, and made inert there."""
    if not text:
        return text
    if source == "jira" and target != "jira":
        text, source = jira_to_markdown(text), "markdown"
    if target == "jira":
        out = inert_jira(markdown_to_jira(text) if source == "markdown" else text)
    elif target == "markdown":
        out = inert_markdown(text)
    else:
        out = markdown_to_plain(text) if source == "markdown" else text
    return neutralise_markers(out)


_MARKER_START = re.compile(r"(lessonloop:)(?=\S)", re.IGNORECASE)


def neutralise_markers(text: str) -> str:
    """``text`` in which nothing can be read as a lessonloop marker: ``lessonloop:`` followed by
    anything but whitespace gets a space after the colon (``lessonloop: review``), in any case,
    in code and in HTML comments alike. A marker is ``lessonloop:<kind>`` with nothing between,
    so the space breaks every token ``service.markers`` could find, and shows the words as written."""
    return _MARKER_START.sub(r"\1 ", text)


# --- Markdown -> Jira -------------------------------------------------------------------------

_SPAN = 200
"""The most characters one inline construct (emphasis, link text, code) may span; a longer one
is left as written. The bound keeps each pattern linear on a long line: unbounded lazy spans
took seconds on one 60 kB line of unclosed asterisks."""
_URL = 2000


def _inline(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("%d", str(_SPAN)).replace("%u", str(_URL)))


_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*)$")
_MD_QUOTE = re.compile(r"^ {0,3}>\s?(.*)$")
_MD_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_MD_RULE = re.compile(r"^ {0,3}(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,})$")
_MD_INLINE = _inline(
    r"(?P<code>`{1,3})(?P<code_text>[^`]{1,%d})(?P=code)"
    r"|!\[(?P<alt>[^\]]{0,%d})\]\((?P<src>(?:[^()\s]|\([^()\s]{0,%d}\)){1,%u})(?:\s+\"[^\"]{0,%d}\")?\)"
    r"|\[(?P<text>[^\]]{1,%d})\]\((?P<href>(?:[^()\s]|\([^()\s]{0,%d}\)){1,%u})(?:\s+\"[^\"]{0,%d}\")?\)"
    r"|<(?P<auto>https?://[^>\s]{1,%u})>"
    r"|(?<!\\)(?P<bold>\*\*|__)(?=\S)(?P<bold_text>.{1,%d}?)(?<=[^\s\\])(?P=bold)"
    r"|(?<![\w*\\])\*(?=[^\s*])(?P<em>.{1,%d}?)(?<=[^\s*\\])\*(?![\w*])"
    r"|(?<![\w\\])_(?=[^\s_])(?P<em2>.{1,%d}?)(?<=[^\s_\\])_(?!\w)"
    r"|~~(?=\S)(?P<strike>.{1,%d}?)(?<=\S)~~"
)


def markdown_to_jira(text: str) -> str:
    out: list[str] = []
    for kind, value in _markdown_lines(text):
        if kind == "open":
            out.append("{code:" + value + "}" if value else "{noformat}")
        elif kind == "close":
            out.append("{code}" if value else "{noformat}")
        elif kind == "code":
            out.append(jira_code_block_line(value))
        else:
            out.append(_md_line_to_jira(value))
    return "\n".join(out)


def _markdown_lines(text: str) -> Iterator[tuple[str, str]]:
    """Each line as ``("text", line)`` or, in a fenced block, ``("code", line)``; the fences as
    ``("open", language)`` and ``("close", language)``. A block left open is closed at the end."""
    fence: str | None = None
    language = ""
    for line in text.split("\n"):
        if fence is not None:
            if line.strip().startswith(fence[0] * 3) and not line.strip().strip(fence[0]):
                yield "close", language
                fence = None
            else:
                yield "code", line
        elif match := _MD_FENCE.match(line):
            fence, language = match.group(1), match.group(2)
            yield "open", language
        else:
            yield "text", line
    if fence is not None:
        yield "close", language


def _md_line_to_jira(line: str) -> str:
    if _MD_RULE.match(line):
        return "----"
    if match := _MD_HEADING.match(line):
        return f"h{len(match.group(1))}. {_md_inline_to_jira(_heading_text(match.group(2)))}"
    if match := _MD_QUOTE.match(line):
        return f"bq. {_md_inline_to_jira(match.group(1))}"
    if match := _MD_ITEM.match(line):
        depth = _indent_depth(match.group(1))
        mark = "*" if match.group(2) in "-*+" else "#"
        return f"{mark * depth} {_md_inline_to_jira(match.group(3))}"
    return _md_inline_to_jira(line)


def _heading_text(text: str) -> str:
    """A Markdown heading's text without its optional closing ``#`` run (``## Title ##``)."""
    text = text.rstrip()
    bare = text.rstrip("#")
    return bare.rstrip() if bare != text and (not bare or bare[-1] in " \t") else text


def _md_inline_to_jira(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        group = match.groupdict()
        if group["code"]:
            return "{{" + jira_code_text(group["code_text"].strip()) + "}}"
        if group["src"]:
            src = safe_url(group["src"], IMAGE_SCHEMES)
            return f"!{src}!" if src else _escape_for_jira(group["alt"])
        if group["href"]:
            href = safe_url(group["href"])
            text = _md_inline_to_jira(group["text"])
            return f"[{_jira_link_text(text)}|{href}]" if href else text
        if group["auto"]:
            auto = safe_url(group["auto"])
            return f"[{auto}]" if auto else _escape_for_jira(group["auto"])
        if group["bold"]:
            return f"*{_md_inline_to_jira(group['bold_text'])}*"
        if group["em"] or group["em2"]:
            return f"_{_md_inline_to_jira(group['em'] or group['em2'])}_"
        return f"-{_md_inline_to_jira(group['strike'])}-"

    return _convert_inline(_MD_INLINE, one, _escape_for_jira, text)


def _escape_for_jira(text: str) -> str:
    """Braces, brackets and a ``!`` before a word in Markdown text are just characters; in Jira
    they open a macro ("Unknown macro: {timeout}"), a link, a mention or an image."""
    return jira_text(text)


def _jira_link_text(text: str) -> str:
    """Link text as Jira reads it between ``[`` and ``|``: no bracket or bar of its own."""
    return re.sub(r"\\?\[", "(", re.sub(r"\\?\]", ")", text)).replace("|", "/")


def _convert_inline(
    pattern: re.Pattern[str],
    convert_match: Callable[[re.Match[str]], str],
    escape_text: Callable[[str], str],
    text: str,
) -> str:
    """``text`` with each match of ``pattern`` converted and the text between them escaped."""
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(escape_text(text[last : match.start()]))
        out.append(convert_match(match))
        last = match.end()
    out.append(escape_text(text[last:]))
    return "".join(out)


def _indent_depth(indent: str) -> int:
    return 1 + len(indent.expandtabs(4)) // 2


# --- Jira -> Markdown -------------------------------------------------------------------------

_JIRA_BLOCK = re.compile(r"^\s*\{(code|noformat)(?::([^}]*))?\}(.*)$")
_JIRA_QUOTE_BLOCK = re.compile(r"^\s*\{quote\}(.*)$")
_JIRA_HEADING = re.compile(r"^\s*h([1-6])\.\s+(.*)$")
_JIRA_QUOTE = re.compile(r"^\s*bq\.\s+(.*)$")
_JIRA_ITEM = re.compile(r"^\s*([*#-]+)\s+(.*)$")
_JIRA_RULE = re.compile(r"^\s*-{4,}\s*$")
_JIRA_INLINE = _inline(
    r"\{\{(?P<code>.{1,%d}?)\}\}"
    r"|\[(?P<text>[^|\]\[]{1,%d})\|(?P<href>[^\]\s]{1,%u})\]"
    r"|\[(?P<bare>(?:https?|mailto):[^\]\s]{1,%u})\]"
    r"|\[~(?P<account>accountid:)?(?P<mention>[^\]]{1,%d})\]"
    r"|!(?P<image>https?://[^!\s|]{1,%u})(?:\|[^!]{0,%d})?!"
    r"|(?<![\w*\\])\*(?=[^\s*])(?P<bold>.{1,%d}?)(?<=[^\s*\\])\*(?![\w*])"
    r"|(?<![\w_\\])_(?=[^\s_])(?P<em>.{1,%d}?)(?<=[^\s_\\])_(?![\w_])"
    r"|(?<![\w\\-])-(?=[^\s-])(?P<strike>[^-\n]{1,%d}?)(?<=[^\s\\-])-(?![\w-])"
)


def jira_to_markdown(text: str) -> str:
    out: list[str] = []
    block: str | None = None  # "code" or "noformat" while inside one
    code: list[str] = []  # its lines, written out with a fence none of them can close
    language = ""
    quoting = False
    in_table = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if block is not None:
            end = line.find("{" + block + "}")
            if end < 0:
                code.append(line)
                continue
            if line[:end].strip():
                code.append(line[:end])
            out.extend(_fenced(code, language))
            line = line[end + len(block) + 2 :]
            block, code = None, []
            if not line.strip():
                continue
        if match := _JIRA_BLOCK.match(line):
            kind, parameters, rest = match.groups()
            end = rest.find("{" + kind + "}")
            if end >= 0:  # {code}x = 1{code} on one line
                out.append(_prefix(quoting) + "`" + rest[:end] + "`" + _jira_inline_to_md(rest[end + len(kind) + 2 :]))
                continue
            language = _code_language(parameters or "") if kind == "code" else ""
            block = kind
            if rest.strip():
                code.append(rest)
            continue
        if match := _JIRA_QUOTE_BLOCK.match(line):
            quoting = not quoting
            closed_here = "{quote}" in match.group(1)  # {quote}said in one line{quote}
            rest = match.group(1).replace("{quote}", "")
            if rest.strip():
                out.append("> " + _jira_inline_to_md(rest))
            if closed_here:
                quoting = not quoting
            continue
        if line.lstrip().startswith("|"):
            header = line.lstrip().startswith("||")
            cells = [cell.strip() for cell in re.split(r"\|\|?", line.strip().strip("|"))]
            if not in_table and not header:  # Markdown needs a header row
                out.append("|" + " |" * len(cells))
                out.append("|" + "---|" * len(cells))
            out.append("| " + " | ".join(_jira_inline_to_md(cell) for cell in cells) + " |")
            if header and not in_table:
                out.append("|" + "---|" * len(cells))
            in_table = True
            continue
        in_table = False
        out.append(_prefix(quoting) + _jira_line_to_md(line))
    if block is not None:
        out.extend(_fenced(code, language))
    return "\n".join(out)


def _fenced(lines: list[str], language: str) -> list[str]:
    """A fenced block of ``lines``, its fence longer than any run of backticks in them, so no
    line of the code can close it on GitHub."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + (language if re.fullmatch(r"[\w+#.-]{0,40}", language) else ""), *lines, fence]


def _code_language(parameters: str) -> str:
    """``bash``, ``language=bash|title=x`` -> ``bash``; ``title=x`` alone names none."""
    for parameter in parameters.split("|"):
        name, equals, value = parameter.partition("=")
        if not equals:
            return name.strip()
        if name.strip() == "language":
            return value.strip()
    return ""


def _jira_line_to_md(line: str) -> str:
    if _JIRA_RULE.match(line):
        return "---"
    if match := _JIRA_HEADING.match(line):
        return "#" * int(match.group(1)) + " " + _jira_inline_to_md(match.group(2))
    if match := _JIRA_QUOTE.match(line):
        return "> " + _jira_inline_to_md(match.group(1))
    if match := _JIRA_ITEM.match(line):
        marks, rest = match.groups()
        mark = "1." if marks[-1] == "#" else "-"
        return "  " * (len(marks) - 1) + f"{mark} {_jira_inline_to_md(rest)}"
    return _jira_inline_to_md(line)


def _jira_inline_to_md(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        group = match.groupdict()
        if group["code"]:
            return f"`{group['code']}`"
        if group["href"]:
            href = safe_url(group["href"])
            text = _jira_inline_to_md(group["text"])
            return f"[{text}]({href})" if href else text
        if group["bare"]:
            bare = safe_url(group["bare"])
            return f"<{bare}>" if bare else _escape_for_markdown(group["bare"])
        if group["mention"]:
            # never "@name": on GitHub that would notify whoever owns that login there
            return "a Jira user" if group["account"] else group["mention"]
        if group["image"]:
            image = safe_url(group["image"], IMAGE_SCHEMES)
            return f"![]({image})" if image else ""
        if group["bold"]:
            return f"**{_jira_inline_to_md(group['bold'])}**"
        if group["em"]:
            return f"*{_jira_inline_to_md(group['em'])}*"
        return f"~~{_jira_inline_to_md(group['strike'])}~~"

    return _convert_inline(_JIRA_INLINE, one, _escape_for_markdown, _JIRA_COLOR.sub("", text))


_JIRA_COLOR = re.compile(r"\{color(?::[^}]{0,40})?\}")
_MARKDOWN_ACTIVE = re.compile(r"(?<!\\)[*`]")  # one already escaped stays as it is


def _escape_for_markdown(text: str) -> str:
    """Characters that are plain in Jira text but not in GitHub's Markdown: a stray ``*`` would
    start emphasis, a backtick code. (``<service>``, which would vanish as an unknown HTML tag,
    is broken by the inert pass with a zero-width space: a backslash before it is not enough.)"""
    return _MARKDOWN_ACTIVE.sub(r"\\\g<0>", text)


def _prefix(quoting: bool) -> str:
    return "> " if quoting else ""


# --- Markdown -> plain text (PagerDuty notes) -------------------------------------------------


def markdown_to_plain(text: str) -> str:
    """What a note shows without markup: no heading marks, emphasis or fences; a link as its text
    and URL (PagerDuty turns bare URLs into links)."""
    out: list[str] = []
    for kind, value in _markdown_lines(text):
        if kind == "code":
            out.append(value)
        elif kind == "text":
            heading = _MD_HEADING.match(value)
            out.append(_MD_INLINE.sub(_plain_inline, _heading_text(heading.group(2)) if heading else value))
    return "\n".join(out)


def _plain_inline(match: re.Match[str]) -> str:
    group = match.groupdict()
    if group["code"]:
        return group["code_text"]
    if group["src"]:
        return safe_url(group["src"], IMAGE_SCHEMES) or group["alt"]
    if group["href"]:
        text = _MD_INLINE.sub(_plain_inline, group["text"])
        href = safe_url(group["href"])
        if href is None:
            return text
        return href if text == group["href"] else f"{text} ({href})"
    if group["auto"]:
        return group["auto"]
    inner = group["bold_text"] or group["em"] or group["em2"] or group["strike"]
    return _MD_INLINE.sub(_plain_inline, inner)
