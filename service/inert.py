"""Copied text made inert: what lessonloop copies from one tracker to another (lesson sections,
incident titles, names) is posted under the bot's identity, so nothing in it may act in the
target tracker. It must notify no one, open no macro or raw HTML, link nowhere but ``http``,
``https`` and ``mailto``, and carry nothing the marker parser could read as lessonloop's own.

Each target gets one pass over the *finished* text, the last thing :func:`service.markup.convert`
does, so a converter's slip cannot leave a live construct behind:

- :func:`inert_markdown` for GitHub. It breaks constructs with a zero-width space (U+200B) after
  their first character rather than with backslashes: ``@\u200boctocat`` renders as ``@octocat`` but
  mentions no one, ``<\u200bimg>`` shows as text, ``]\u200b(`` is no link. A backslash shows in a
  code span and does not stop a mention at all (GitHub finds mentions in the rendered text), while
  the zero-width space is invisible wherever it lands, so the pass needs no exact knowledge of
  where GitHub's code spans begin and end. Renovate and Dependabot break mentions the same way.
  Only fenced code blocks are kept verbatim, and their fences are written anew at column 0 so
  GitHub sees the block exactly where this pass did.
- :func:`inert_jira` for Jira wiki markup: every ``{``, ``[`` and opening ``!`` that is not part of a
  link, image or code block kept here is backslash-escaped (counting backslashes already there),
  and ``[~`` gets a zero-width space as well, so a mention stays dead even should an escape not
  hold. ``{code}``, ``{noformat}`` and ``{quote}`` are written anew, and a block's contents cannot
  close it.
- plain text (PagerDuty notes) has no markup; only markers need breaking there.

Marker look-alikes are broken by :func:`service.markup.neutralise_markers`, after these passes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

ZWSP = "\u200b"
"""ZERO WIDTH SPACE: invisible, not whitespace to a Markdown or wiki parser, and not a character
that may follow ``@`` in a GitHub login, ``<`` in an HTML tag or ``]`` in a link."""

LINK_SCHEMES = ("http", "https", "mailto")
IMAGE_SCHEMES = ("http", "https")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31}):")
_URL_KEEP = re.compile(r"[A-Za-z0-9\-._~:/?#@$&*+,;=%]")  # everything else is percent-encoded
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MARKER_COLON = re.compile(r"(lessonloop):", re.IGNORECASE)


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
        if not re.match(r"//[^/\s?#@]", rest) and not re.match(r"//[^/\s?#]+@[^/\s?#]", rest):
            return None
    elif not rest:
        return None
    encoded = "".join(c if _URL_KEEP.fullmatch(c) else _encode(c) for c in url)
    encoded = _PERCENT.sub("%25", encoded)
    return _MARKER_COLON.sub(r"\1%3A", encoded)  # no marker token inside a URL either


def _encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


# --- GitHub Markdown ---------------------------------------------------------------------------

_MD_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_MD_INFO = re.compile(r"[\w+#.-]{0,40}")
_MD_TOKEN = re.compile(
    r"(?P<code>`{1,3})(?P<code_text>[^`]{1,200})(?P=code)(?!`)"
    r"|(?P<bang>!?)\[(?P<text>[^\[\]\n]{0,200})\]\(\s*(?P<href><[^<>\n]{0,2000}>|(?:[^()\s<>]|\([^()\s<>]{0,200}\)){1,2000})"
    r"(?:\s+(?:\"[^\"\n]{0,200}\"|'[^'\n]{0,200}'))?\s*\)"
    r"|<(?P<auto>[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]{0,2000})>"
)
_MD_BREAK = re.compile(
    r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])"  # a GitHub mention: @user, @org/team
    r"|<(?=[A-Za-z/!?])"  # an HTML tag, comment or autolink (a backslash is no help: a bare URL before it eats it)
    r"|\](?=[(\[:])"  # a link, a reference link, a link reference definition
    r"|&(?=#[0-9]{1,8};|#[xX][0-9A-Fa-f]{1,7};|[A-Za-z][A-Za-z0-9]{1,31};)"  # an entity (checked below)
    r"|(?:xmpp|mailto|\b[A-Za-z][A-Za-z0-9+.-]{0,31}(?=://))(?<!https)(?<!http):(?=\S)",  # a GFM protocol autolink
    re.IGNORECASE,
)


def inert_markdown(text: str) -> str:
    """GitHub Markdown that renders ``text`` but mentions no one, holds no raw HTML, and links
    only to ``http``/``https``/``mailto`` (images only to ``http``/``https``)."""
    out: list[str] = []
    fence: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if fence is not None:
            if re.fullmatch(r" {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*", line):
                out.append(fence)
                fence = None
            else:
                out.append(line)
            continue
        opening = _MD_FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = opening.group(1)
            info = _MD_INFO.match(opening.group(2).strip())
            out.append(fence + (info.group(0) if info else ""))
            continue
        out.append(_md_line(line))
    if fence is not None:
        out.append(fence)
    return "\n".join(out)


def _md_line(text: str) -> str:
    return _inert_runs(_md_pieces(text), markdown_text)


def _md_pieces(text: str) -> list[Piece]:
    def one(match: re.Match[str]) -> list[Piece]:
        if match.group("code"):
            return [(True, match.group("code") + markdown_text(match.group("code_text")) + match.group("code"))]
        if match.group("auto"):
            url = safe_url(match.group("auto"))
            return [(True, f"<{url}>")] if url else [(False, match.group(0))]
        href = match.group("href")
        href = href[1:-1] if href.startswith("<") else href
        if match.group("bang"):
            url = safe_url(href, IMAGE_SCHEMES)
            alt = match.group("text")
            return [(True, f"![{markdown_text(alt)}]({url})")] if url else [(False, alt)]
        url = safe_url(href)
        return [(True, f"[{_md_line(match.group('text'))}]({url})")] if url else _md_pieces(match.group("text"))

    return _pieces(_MD_TOKEN, one, text)


def markdown_text(text: str) -> str:
    """``text`` that GitHub shows as it is but reads no mention, HTML tag, link or entity-made
    ``@`` from. Only zero-width spaces are added, so it is safe in and out of code spans."""

    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        if found == "&":
            entity = match.string[match.end() : match.string.index(";", match.end()) + 1]
            return "&" + ZWSP if "@" in html.unescape("&" + entity) else "&"
        return found + ZWSP

    return _MD_BREAK.sub(one, text)


# --- Jira wiki markup --------------------------------------------------------------------------

_JIRA_BLOCK = re.compile(r"^\s*\{(code|noformat)(?::([^}\n]{0,400}))?\}(.*)$")
_JIRA_QUOTE = "{quote}"
_JIRA_CLOSERS = re.compile(r"\{(?=\s*(?:code|noformat|quote))", re.IGNORECASE)
_JIRA_COLOR = re.compile(r"(?<!\\)((?:\\\\)*)\{color(?::[^}\n]{0,40})?\}")  # unless escaped
_JIRA_QUOTE_SPLIT = re.compile(r"(?<!\\)((?:\\\\)*)\{quote\}")
_JIRA_TOKEN = re.compile(
    r"\{\{(?P<mono>(?:\\.|[^\\\n]){1,200}?)\}\}"
    r"|\[~(?P<account>accountid:)?(?P<mention>[^\]\n]{1,200})\]"
    r"|\[(?P<text>[^|\[\]\n]{1,200})\|(?P<href>[^\[\]\s]{1,2000})\]"
    r"|\[(?P<bare>[A-Za-z][A-Za-z0-9+.-]{0,31}:[^\[\]|\s]{1,2000})\]"
    r"|!(?P<image>[^!\s|]{1,2000})(?:\|[^!\n]{0,200})?!",
    re.IGNORECASE,
)
_JIRA_SPECIAL = re.compile(r"(\\*)(\{|\[|!(?=\S|$)|$)")  # a ! at the end may meet a kept construct
_JIRA_BARE_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,31})(?<!https)(?<!http):(?=//)", re.IGNORECASE)


def inert_jira(text: str) -> str:
    """Jira wiki markup that renders ``text`` but mentions no one, runs no macro but ``{code}``,
    ``{noformat}`` and ``{quote}``, and links only to ``http``/``https``/``mailto``. ``{color}`` is
    dropped (it is only decoration); a mention becomes the name it showed."""
    out: list[str] = []
    block: str | None = None
    quotes = 0
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if block is not None:
            end = line.find("{" + block + "}")
            if end < 0:
                out.append(jira_code_block_line(line))
                continue
            if line[:end].strip():
                out.append(jira_code_block_line(line[:end]))
            out.append("{" + block + "}")
            line = line[end + len(block) + 2 :]
            block = None
            if not line.strip():
                continue
        opening = _JIRA_BLOCK.match(line)
        if opening:
            kind, parameters, rest = opening.groups()
            language = _jira_language(parameters) if kind == "code" else ""
            out.append("{" + kind + (":" + language if language else "") + "}")
            end = rest.find("{" + kind + "}")
            if end >= 0:  # {code}x = 1{code} on one line
                if rest[:end].strip():
                    out.append(jira_code_block_line(rest[:end]))
                out.append("{" + kind + "}")
                rest = rest[end + len(kind) + 2 :]
                if rest.strip():
                    line_out, quotes = _jira_quoted_line(rest, quotes)
                    out.append(line_out)
                continue
            block = kind
            if rest.strip():
                out.append(jira_code_block_line(rest))
            continue
        line_out, quotes = _jira_quoted_line(line, quotes)
        out.append(line_out)
    if block is not None:
        out.append("{" + block + "}")
    if quotes % 2:
        out.append(_JIRA_QUOTE)
    return "\n".join(out)


def _jira_quoted_line(line: str, quotes: int) -> tuple[str, int]:
    """One line of text, its ``{quote}`` toggles kept and everything between them made inert."""
    out: list[str] = []
    last = 0
    for match in _JIRA_QUOTE_SPLIT.finditer(line):
        out.append(jira_inline(line[last : match.start()] + match.group(1)) + _JIRA_QUOTE)
        last = match.end()
        quotes += 1
    out.append(jira_inline(line[last:]))
    return "".join(out), quotes


def _jira_language(parameters: str | None) -> str:
    """``bash``, ``language=bash|title=x`` -> ``bash``; ``title=x`` alone names none; anything
    that is not a plain language name is dropped (a title would be shown above the block)."""
    for parameter in (parameters or "").split("|"):
        name, equals, value = parameter.partition("=")
        if not equals:
            candidate = name
        elif name.strip() == "language":
            candidate = value
        else:
            continue
        found = _MD_INFO.fullmatch(candidate.strip())
        return found.group(0) if found else ""
    return ""


def jira_code_block_line(line: str) -> str:
    """A line inside ``{code}`` or ``{noformat}``: verbatim, except that nothing in it can close
    the block (Jira ends it at the first ``{code}``, wherever that is)."""
    return _JIRA_CLOSERS.sub("{" + ZWSP, line)


def jira_inline(text: str) -> str:
    """One line of Jira text with its links, images and monospace kept (when safe) and everything
    else that Jira would parse as a link, a mention, an image or a macro escaped."""
    return _inert_runs(_jira_pieces(_JIRA_COLOR.sub(r"\1", text)), jira_text)


def _jira_pieces(text: str) -> list[Piece]:
    def one(match: re.Match[str]) -> list[Piece]:
        if match.group("mono") is not None:
            return [(True, "{{" + jira_code_text(match.group("mono")) + "}}")]
        if match.group("mention") is not None:
            return [(False, "a Jira user" if match.group("account") else match.group("mention"))]
        if match.group("href") is not None:
            url = safe_url(match.group("href"))
            return [(True, f"[{jira_inline(match.group('text'))}|{url}]")] if url else _jira_pieces(match.group("text"))
        if match.group("bare") is not None:
            url = safe_url(match.group("bare"))
            return [(True, f"[{url}]")] if url else [(False, match.group(0))]
        url = safe_url(match.group("image"), IMAGE_SCHEMES)
        return [(True, f"!{url}!")] if url else [(False, match.group("image"))]

    return _pieces(_JIRA_TOKEN, one, text)


def jira_text(text: str) -> str:
    """``text`` escaped so Jira shows it as written: ``{``, ``[`` and an image-opening ``!`` (one
    before a non-space, or at the end, where a link or image of ours may follow) get a backslash
    unless an odd run of them already escapes it, ``[~`` a zero-width space too, and a
    trailing backslash a zero-width space so it cannot escape what follows. ``scheme://`` of a
    scheme other than http(s) is broken so Jira does not auto-link it."""

    def one(match: re.Match[str]) -> str:
        slashes, char = match.group(1), match.group(2)
        if not char:  # end of text
            return slashes + ZWSP if slashes else ""
        return slashes + ("" if len(slashes) % 2 else "\\") + char

    escaped = _JIRA_SPECIAL.sub(one, text)
    escaped = escaped.replace("[~", "[" + ZWSP + "~")
    return _JIRA_BARE_SCHEME.sub(r"\1" + ":" + ZWSP, escaped)


def jira_code_text(text: str) -> str:
    """The inside of ``{{monospace}}``: Jira parses it as text, and a ``}`` could close it early."""
    escaped = jira_text(text)
    return re.sub(r"(\\*)\}", lambda m: m.group(1) + ("" if len(m.group(1)) % 2 else "\\") + "}", escaped)


# --- shared ------------------------------------------------------------------------------------

Piece = tuple[bool, str]
"""(ours, text): a construct written here (a kept link, image or code span) is kept as it is;
the text around it and in refused ones is joined into runs and made inert a run at a time, so a
refused link that drops out cannot join ``@`` to a name or ``<`` to a tag name."""


def _pieces(pattern: re.Pattern[str], keep: Callable[[re.Match[str]], list[Piece]], text: str) -> list[Piece]:
    """``text`` cut at each match of ``pattern``, rewritten by ``keep``. A match right after an odd
    run of backslashes is escaped, so it stays text."""
    out: list[Piece] = []
    last = 0
    for match in pattern.finditer(text):
        before = text[last : match.start()]
        if (len(before) - len(before.rstrip("\\"))) % 2:
            continue  # escaped: its opener is a character, and what it spans is text
        out.append((False, before))
        out.extend(keep(match))
        last = match.end()
    out.append((False, text[last:]))
    return out


def _inert_runs(pieces: list[Piece], text_of: Callable[[str], str]) -> str:
    out: list[str] = []
    run: list[str] = []
    for ours, piece in pieces:
        if ours:
            out.append(text_of("".join(run)))
            out.append(piece)
            run = []
        else:
            run.append(piece)
    out.append(text_of("".join(run)))
    return "".join(out)
