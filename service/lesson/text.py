"""Text helpers shared by the template reader, the stub, the parser and the comments: newline and
HTML-comment clean-up, and the heading normalisation by which both the template and the parser
match a heading to a section."""

from __future__ import annotations

import re
from functools import lru_cache

_LONGEST_HEADING = 200
BLANKS = " \t\r\n\f\v"
_QUOTES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "}
)


def unify_quotes(text: str) -> str:
    """Typographic quotes and non-breaking spaces as plain ones; same length, so offsets hold."""
    return text.translate(_QUOTES)


_CONTRACTIONS = (
    (re.compile(r"\b(\w+)'ll\b"), r"\1 will"),
    (re.compile(r"\b(\w+)'ve\b"), r"\1 have"),
    (re.compile(r"\b(\w+)'re\b"), r"\1 are"),
    (re.compile(r"\b(\w+)n't\b"), r"\1 not"),
)


def expand_contractions(text: str) -> str:
    """ "we'll" and "we will" name the same section."""
    if "'" not in text:
        return text
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=4096)
def heading_key(text: str) -> str:
    """A heading reduced to words: markup, numbering, punctuation, case, a trailing
    parenthetical and contractions gone. "## 2) What We’ll Change:" -> "what we will change"."""
    if len(text) > _LONGEST_HEADING:
        return ""  # a paragraph, not a heading (and no regex below sees a long line)
    text = unify_quotes(text).replace("\\", "").lstrip(BLANKS + "*_").rstrip(BLANKS + "*_:.")
    text = re.sub(r"^(?:\(?\d{1,2}[.)]|\d{1,2}\s*[-:])\s*", "", text)
    text = re.sub(r"\s*\([^()]*\)\s*[:.]?$", "", text)
    text = expand_contractions(text.casefold())
    return " ".join(re.findall(r"[^\W_]+", text.replace("'", "")))


def drop_comments(text: str, keep_one_line: bool = False) -> str:
    """Text without its closed HTML comments (GitHub shows none of them); an unclosed one is kept
    as text. ``keep_one_line`` keeps one-line comments (template hints) and blanks the lines of
    the others, so that line numbers in error messages stay true. An escaped ``\\<!--`` (how a
    title with ``<!--`` in it is written into the stub) opens no comment, as on GitHub. A scan,
    not a regex, so that a body full of ``<!--`` costs linear time."""
    out, position = [], 0
    while (start := text.find("<!--", position)) >= 0:
        if start > 0 and text[start - 1] == "\\":  # ``\<!--`` is an escaped ``<``: text, no comment
            out.append(text[position : start + 4])
            position = start + 4
            continue
        end = text.find("-->", start + 4)
        if end < 0:
            break
        comment = text[start : end + 3]
        out.append(text[position:start])
        if "\n" in comment or not keep_one_line:
            out.append("\n" * comment.count("\n") if keep_one_line else "")
        else:
            out.append(comment)
        position = end + 3
    out.append(text[position:])
    return "".join(out)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_blank_edges(text: str) -> str:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)
