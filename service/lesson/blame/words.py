"""A sentence as the blame rules read it: its words, each with its lower-case and possessive-free
forms, and what the rules ask about the whole sentence, found once.

A word keeps the punctuation right after it as a flag (``stop``), because a comma ends a noun
phrase ("the deploy team, plain and simple") and the rules read phrases, not characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

_WORD = re.compile(r"@?[^\W\d_][\w'\u2019-]* ?[,;:.!?()]?")
"""A word, and the punctuation right after it (a space apart at most) that ends a phrase."""
_STOPS = ",;:.!?()"
CLOCK = re.compile(r"\b\d{1,2}[:.h]\d\d\b")
"""A clock time ("14:02", "9.30"): the sentence is a timeline entry, where people act and a
routine verb on a production object is the record of a step, not the cause of the harm."""

REACH = 8
"""The most auxiliaries, adverbs, fillers or determiners a rule looks past for a subject or an
object: more in a row is no sentence, and the bound keeps every check constant-time."""


class Token(NamedTuple):  # a tuple: one is made for every word of every lesson
    text: str  # as written
    lower: str  # lower case, plain apostrophes
    base: str  # lower, without a possessive "'s" or "'"
    possessive: bool
    first: bool  # the sentence's first word
    stop: bool = False  # followed by punctuation that ends a phrase ("the deploy team, plain and simple")


def tokenize(prose: str) -> list[Token]:
    """The words of ``prose``, in order; the first marked as the sentence's first."""
    words = _WORD.findall(prose)
    if not words:
        return []
    out = list(map(_TokenCache().__getitem__, words))  # one token a distinct word, shared
    out[0] = _token(words[0], first=True)
    return out


class _TokenCache(dict[str, Token]):
    def __missing__(self, word: str) -> Token:
        token = self[word] = _token(word, first=False)
        return token


def _token(word: str, first: bool) -> Token:
    stop = word[-1] in _STOPS
    text = word.rstrip(_STOPS).rstrip(" ").rstrip("-")
    lower = text.lower().replace("\u2019", "'")
    base, possessive = lower, False
    if lower.endswith("'s") and len(lower) > 2:
        base, possessive = lower[:-2], True
    elif lower.endswith("'"):
        base, possessive = lower.rstrip("'"), True
    return Token(text, lower, base, possessive, first, stop)


class Sentence(list[Token]):
    """A sentence's words, and what a rule needs to know about all of them, found once (a rule
    asks at every trigger word; finding these each time made a sentence cost its length squared)."""

    first_mistake: int = -1  # the first word that is a mistake noun ("error", "mistake"), or len; -1 not yet found
    opening: int | None = None  # the person the sentence opens with (see Grammar.opening_person)
    first_clause: int = 0  # the first word after ``opening`` that opens a clause of its own, or len
    prose: str = ""  # the sentence as read, for the clock time that makes it a timeline entry
    bases: list[str] | None = None  # every word's base, for C-speed looks at a window of words
    words: frozenset[str] | None = None  # every word's base and lower-case form, for "does it say X at all"
    complied: bool | None = None  # whether it records a step done as it should be ("as planned")
    harm_verbs: frozenset[str] | None = None  # the harm verbs that can fire here (harm.harm_verbs_here)


def bases(tokens: Sequence[Token], start: int, stop: int) -> list[str]:
    """The bases of words ``start`` to ``stop``, from a list made once a sentence."""
    if isinstance(tokens, Sentence):
        if tokens.bases is None:
            tokens.bases = [token.base for token in tokens]
        return tokens.bases[start:stop]
    return [token.base for token in tokens[start:stop]]


def words(tokens: Sequence[Token]) -> frozenset[str]:
    """Every word of the sentence, as its base and in lower case: made once a sentence."""
    if isinstance(tokens, Sentence) and tokens.words is not None:
        return tokens.words
    found = frozenset(token.base for token in tokens) | frozenset(token.lower for token in tokens)
    if isinstance(tokens, Sentence):
        tokens.words = found
    return found


def first_mistake(tokens: Sequence[Token], nouns: frozenset[str]) -> int:
    """The first word of ``tokens`` in ``nouns``, or their number: found once a sentence, by
    C-speed searches (a rule asks at every "made ... by")."""
    if isinstance(tokens, Sentence) and tokens.first_mistake >= 0:
        return tokens.first_mistake
    words = [token.base for token in tokens]
    present = nouns.intersection(words)
    found = min((words.index(noun) for noun in present), default=len(words))
    if isinstance(tokens, Sentence):
        tokens.first_mistake = found
    return found
