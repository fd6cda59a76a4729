"""The prose of a lesson, sentence by sentence: what the blameless-language nudge reads.

Code (fenced blocks, inline code), links and URLs, HTML comments (lessonloop's markers and the
template's hints), headings, quoted speech ("..." and block quotes) are not the team's own
wording about what happened, so they are blanked out before any rule looks at the text: a
sentence that quotes what someone said, or a command's output, is never flagged for it. Blanking
keeps every offset, so a sentence found in the blanked text is cut from the original one and
its line number is the line it starts on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from service.domain.events import Markup
from service.text.markup import convert
from service.trackers.registry import dialect_of

LONGEST_SENTENCE = 400
"""A "sentence" without punctuation can be a whole page; it is quoted up to this many characters."""

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLANKED_LINE = re.compile(r"^ {0,3}(?:>|#{1,6}(?:\s|$))")  # block quotes and headings
_TABLE_RULE = re.compile(r"^[ \t]*(?:\|[ \t]*)?:?-{3,}")
_LINK = r"\[[^\[\]\n]{0,500}\]\([^()\[\]\s]{0,2000}(?:\s+\"[^\"\n]{0,200}\")?\)"
_REFERENCE = r"\[[^\[\]\n]{0,500}\]\[[^\[\]\n]{0,200}\]"
_URL_REST = r"[^\s<>()\[\]]{1,2000}"
_SINGLE = r"(?=\S)[^\u2019'\n]{1,500}(?<=\S)[\u2019'](?![\w])"
_INLINE = re.compile(
    # Every alternative starts with a literal character, so the regex engine skips in C to the
    # next place one can start; and each stops at the next character that could start another,
    # so no start position scans past the next one (linear on runs of backticks, brackets,
    # "<http:" and the like). Lookbehinds come after the first character for the same reason.
    r"`(?<![`\\]`)(?P<ticks>(?>`*))[^`]{1,5000}?`(?P=ticks)"  # inline code: a run's start, not escaped
    rf"|!{_LINK}|{_LINK}"  # images and links
    rf"|!{_REFERENCE}|{_REFERENCE}"  # reference links
    r"|\[(?:(?<=^\[)|(?<=^ \[)|(?<=^  \[)|(?<=^   \[))[^\[\]\n]{1,200}\]:[ \t]*\S+[^\n]*$"  # definitions
    r"|<(?:https?|mailto|ftp):[^<>\s]{1,2000}>"  # autolinks
    rf"|h(?<!\wh)ttps?://{_URL_REST}|f(?<!\wf)tp://{_URL_REST}"  # bare URLs
    rf"|w(?<!\ww)ww\.{_URL_REST}"
    r"|\"[^\"\n]{1,500}\""  # quoted speech, straight quotes
    r"|\u201c[^\u201d\n]{1,500}\u201d"  # and typographic ones
    r"|\u00ab[^\u00bb\n]{1,500}\u00bb"
    r"|\u201e[^\u201c\u201d\n]{1,500}[\u201c\u201d]"
    rf"|\u2018(?<![\w\u2019'\u2018]\u2018){_SINGLE}|'(?<![\w\u2019']'){_SINGLE}",  # and single ones
    re.DOTALL | re.MULTILINE,
)
_BOUNDARY = re.compile(
    # as _INLINE: each alternative starts with a literal character
    r"\.(?P<stop>[\"'\u201d\u2019)\]*_]*\s+)|!(?P<stop2>[\"'\u201d\u2019)\]*_]*\s+)"  # the end of a sentence
    r"|\?(?P<stop3>[\"'\u201d\u2019)\]*_]*\s+)"  # . ! ? (and a closing quote)
    r"|\n[ \t]*\n\s*"  # a blank line
    r"|\n(?=[ \t]*(?:[-*+][ \t]|\d{1,9}[.)][ \t]|\|))"  # a list item or a table row starts
    r"| (?<![ \t] )[ \t]*\|[ \t]*|\t(?<![ \t]\t)[ \t]*\|[ \t]*|\|(?<![ \t]\|)[ \t]*"  # a table cell ends
)
_LETTER = re.compile(r"[^\W\d_]")
_ABBREVIATIONS = frozenset(
    {
        "e.g.",
        "i.e.",
        "etc.",
        "vs.",
        "cf.",
        "mr.",
        "mrs.",
        "ms.",
        "dr.",
        "approx.",
        "no.",
        "fig.",
        "incl.",
        "resp.",
        "z.b.",
        "bzw.",
        "ca.",
        "p.ex.",
        "env.",
    }
)


@dataclass(frozen=True)
class Sentence:
    line: int  # 1-based, where the sentence starts
    text: str  # as written, whitespace collapsed, cut at LONGEST_SENTENCE
    prose: str  # the same span with code, links and quotations blanked out


def sentences(text: str, markup: Markup = "markdown") -> Iterator[Sentence]:
    """Every sentence of ``text``'s prose, in order. Read as Markdown: a markup that does not
    read near enough as Markdown (Jira wiki markup) is converted to it first."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not dialect_of(markup).reads_as_markdown:
        text = convert(text, markup, "markdown")
    blanked = blank(text)
    # sentences are quoted without markers, hints, headings or quoted blocks
    shown = _without_comments(_blank_lines(text))
    start = 0
    line = 1
    for boundary in _BOUNDARY.finditer(blanked):
        stop = boundary.lastgroup  # "stop", "stop2" or "stop3" at the end of a sentence, else None
        end = boundary.start(stop) if stop else boundary.start()
        if stop and "\n\n" not in boundary.group(stop) and _abbreviation(blanked, end):
            continue
        if _LETTER.search(blanked, start, end):  # a table of empty cells has no sentence in it
            yield from _one(shown, blanked, start, end, line)
        line += text.count("\n", start, boundary.end())
        start = boundary.end()
    yield from _one(shown, blanked, start, len(text), line)


def _abbreviation(blanked: str, end: int) -> bool:
    """True when the full stop before ``end`` ends "e.g." and not a sentence."""
    word = blanked[max(0, end - 8) : end].split()
    return bool(word) and word[-1].lower() in _ABBREVIATIONS


def _one(text: str, blanked: str, start: int, end: int, line: int) -> Iterator[Sentence]:
    prose = blanked[start:end]
    if not _LETTER.search(prose):
        return
    lead = len(prose) - len(prose.lstrip())
    written = " ".join(text[start:end].split())
    if len(written) > LONGEST_SENTENCE:
        written = written[: LONGEST_SENTENCE - 1].rstrip() + "\u2026"
    yield Sentence(line + text.count("\n", start, start + lead), written, " ".join(prose.split()))


def blank(text: str) -> str:
    """``text`` with everything that is not the team's own prose replaced by spaces (newlines
    kept, so offsets and line numbers hold)."""
    joined = _without_comments(_blank_lines(text))
    return _INLINE.sub(_blanked, joined)


def _blanked(match: re.Match[str]) -> str:
    found = match.group(0)
    return _spaces(found) if "\n" in found else " " * len(found)


def _blank_lines(text: str) -> str:
    """``text`` with its code blocks, headings, block quotes and table rules blanked."""
    lines = text.split("\n")
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            out.append(_spaces(line))
        elif opening:
            fence = opening.group(1)
            out.append(_spaces(line))
        elif _BLANKED_LINE.match(line) or _TABLE_RULE.match(line):
            out.append(_spaces(line))
        else:
            out.append(line)
    return "\n".join(out)


def _without_comments(text: str) -> str:
    """HTML comments (lessonloop's markers, the template's hints) blanked. A scan and not a
    regex: a body of unclosed ``<!--`` would make a bounded lazy pattern quadratic."""
    parts: list[str] = []
    done = 0
    while (start := text.find("<!--", done)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break  # no comment after this one can close either
        parts += [text[done:start], _spaces(text[start : end + 3])]
        done = end + 3
    return "".join(parts) + text[done:]


def _spaces(text: str) -> str:
    return "\n".join(" " * len(line) for line in text.split("\n"))
