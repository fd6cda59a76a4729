"""Copied text made inert by construction: what lessonloop copies from one tracker to another
(lesson sections, incident titles, names, timeline lines) is posted under the bot's identity, so
nothing in it may act in the target tracker. It must notify no one, open no macro or raw HTML,
load no image from a reader's browser in Jira, link nowhere but ``http``, ``https`` and
``mailto``, and carry nothing the marker parser could read as lessonloop's own.

Text is never filtered for what looks dangerous. It is parsed by the source tracker's dialect
into the few constructs of :mod:`service.text.textdoc`, and written out by the target's: each
construct by a writer that knows its target's syntax (``service/trackers/<name>/``), each text
node escaped so that every character in it is shown as that character and starts nothing. A
character reference, a construct split across nodes or a conversion round trip cannot form
anything, because text the source parser decoded (``&#97;`` is ``a``) is escaped again for the
target. This module holds what every writer shares: which URLs may be kept and how they are
encoded, the bare URLs a writer links itself, and the zero-width space.

Escaping is by the target's own rules, with a zero-width space (U+200B) where a backslash is not
enough: GitHub finds mentions and extended autolinks in the *rendered* text, where a backslash
has gone, so ``@`` gets a zero-width space after it unless a word character precedes it (an
email address), ``scheme:`` gets one after the colon, and ``<`` one after it (a bare ``www.``
link swallows a backslash before it). The zero-width space is invisible and is no login, tag or
scheme character. Renovate and Dependabot break mentions the same way.

Marker look-alikes are broken by :func:`service.text.markers.break_markers`, after the writers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.text.markers import break_markers
from service.text.textdoc import Inline, Text

ZWSP = "\u200b"
"""ZERO WIDTH SPACE: invisible, not whitespace to a Markdown or wiki parser, and not a character
that may follow ``@`` in a GitHub login, ``<`` in an HTML tag or ``:`` in a URL."""

LINK_SCHEMES = ("http", "https", "mailto")
IMAGE_SCHEMES = ("http", "https")
URL_COLON = "%3A"
"""How a colon is written in a URL where it must not read as one: percent-encoded."""
MAX_COLUMNS = 100

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31}):")
_URL_ENCODE = re.compile(r"[^A-Za-z0-9\-._~:/?#@$&*+,;=%]")  # everything else is percent-encoded
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
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
    return break_markers(encoded, URL_COLON)  # no marker token inside a URL either


def _encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


_BARE_URL = re.compile(r"https?://[^\s<>\[\]|\u200b]+", re.IGNORECASE)
_URL_TAIL = ".,:;!?'\")*_~"


def bare_urls(text: str) -> list[tuple[bool, str]]:
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


def merged(nodes: Sequence[Inline]) -> list[Inline]:
    """``nodes`` with each run of adjacent text nodes joined into one: a reader may cut text at
    characters that turned out to be plain, and escaping looks at a character's neighbours."""
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + node.text)
        else:
            out.append(node)
    return out
