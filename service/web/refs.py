"""Refs to tracker items in lesson text (``OPS-12``, ``jira:OPS-12``, ``github:acme/web#12``,
``pagerduty:P1X2Y3Z``) found in the parsed text and turned into links.

It works on markdown-it's tokens, after parsing: only plain text outside links and code is
looked at, so a ref inside a link's text, a code span or a URL is never linked twice. Text is
read in one pass, cut into runs of the characters a ref can hold; a run is a ref only when
``ItemRef.parse`` accepts it whole, so nothing but an allow-listed shape becomes a link.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from markdown_it.token import Token

from service.domain.events import ItemRef
from service.trackers.registry import project_of

REF_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_.:/#-")
TRAILING = frozenset(".:/#-")
"""Punctuation that ends a sentence rather than a ref: ``see OPS-12.``"""
LONGEST = 200
MOST = 200
"""At most this many distinct refs per lesson are looked up; the rest stay text, which keeps
the lookup one bounded query whatever the text holds."""


@dataclass(frozen=True)
class Mention:
    ref: str
    """The ref in full: ``jira:OPS-12``."""
    bare: bool
    """Written without its tracker (``OPS-12``): it may be a Jira key, or an ``UTF-8``."""

    @property
    def source(self) -> str:
        return ItemRef.parse(self.ref).source

    @property
    def project(self) -> str:
        return project_of(ItemRef.parse(self.ref))


def mentions(text: str) -> Iterator[tuple[int, int, Mention]]:
    """``(start, end, mention)`` for each ref in a plain text, in order."""
    index, size = 0, len(text)
    while index < size:
        if text[index] not in REF_CHARACTERS:
            index += 1
            continue
        start = index
        while index < size and text[index] in REF_CHARACTERS:
            index += 1
        end = index
        while end > start and text[end - 1] in TRAILING:
            end -= 1
        found = _mention(text[start:end])
        if found is not None:
            yield start, end, found


def _mention(word: str) -> Mention | None:
    if not word or len(word) > LONGEST or not word[0].isalpha():
        return None
    bare = ":" not in word
    try:
        ref = ItemRef.parse("jira:" + word if bare else word)
    except ValueError:
        return None
    return Mention(str(ref), bare)


def collect(tokens: Sequence[Token]) -> set[Mention]:
    """Every ref in a parsed text's plain text."""
    found: set[Mention] = set()
    for token in _plain_texts(tokens):
        found.update(mention for _, _, mention in mentions(token.content))
        if len(found) >= MOST:
            break
    return found


def link(tokens: Sequence[Token], urls: Mapping[str, str]) -> None:
    """Turns each ref with a URL in ``urls`` into a link, in place."""
    if not urls:
        return
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        depth = 0
        for child in block.children:
            depth += (child.type == "link_open") - (child.type == "link_close")
            if child.type == "text" and depth == 0:
                children.extend(_linked(child, urls))
            else:
                children.append(child)
        block.children = children


def _plain_texts(tokens: Sequence[Token]) -> Iterator[Token]:
    for block in tokens:
        depth = 0
        for child in block.children or ():
            depth += (child.type == "link_open") - (child.type == "link_close")
            if child.type == "text" and depth == 0:
                yield child


def _linked(token: Token, urls: Mapping[str, str]) -> list[Token]:
    text = token.content
    out: list[Token] = []
    done = 0
    for start, end, mention in mentions(text):
        url = urls.get(mention.ref)
        if url is None:
            continue
        if start > done:
            out.append(Token("text", "", 0, content=text[done:start]))
        out.append(Token("link_open", "a", 1, attrs={"href": url}))
        out.append(Token("text", "", 0, content=text[start:end]))
        out.append(Token("link_close", "a", -1))
        done = end
    if not out:
        return [token]
    if done < len(text):
        out.append(Token("text", "", 0, content=text[done:]))
    return out
