"""The detectors for blame placed on a person by name: a person as the cause ("root cause:
Dave"), responsibility put on them ("this was on Jake"), their fault, their mistake, blame.

Each detector takes the language's :class:`Grammar`, a sentence's words and the trigger word's
place, and returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token


def root_cause(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "The root cause was Dave", "caused by an intern"; or :func:`on_person`."""
    end = match(tokens, i, g.cause_triggers)
    if end is not None and g.names_person(tokens, end):
        return end
    return on_person(g, tokens, i)


def on_person(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "This was on Jake", "the responsibility falls on the team lead": a thing placed on a
    person named right after. Not when a person is the subject ("Ana was on Zoom" is where
    she was), nor a possessive ("the fix is on Maria's branch" is a place)."""
    end = match(tokens, i, g.on_person)
    if end is None or g.person_subject(tokens, i) or g.negated(tokens, i):
        return None
    if end < len(tokens) and (tokens[end - 1].base, tokens[end].base) in g.role_phrases:
        return None  # "none was on call"
    m = end
    while m < min(len(tokens), end + REACH) and tokens[m].base in g.determiners:
        m += 1
    for k in range(m, min(len(tokens), m + g.cause_window)):
        token = tokens[k]
        if token.possessive:
            return None
        if token.base in g.object_pronouns or (token.lower.startswith("@") and len(token.lower) > 1):
            return k + 1
        if g.is_role(tokens, k):
            return k + 1 if g.ends_phrase(tokens, k) else None
        if g.is_name(tokens, k):
            return k + 1
    return None


def fault(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A person "at fault", or a person's fault ("Kevin's fault"; not "our fault tolerance")."""
    end = match(tokens, i, g.at_fault)
    if end is not None and g.person_subject(tokens, i) and not g.negated(tokens, i):
        return end
    if tokens[i].base in g.fault_nouns and i > 0 and g.person_possessive(tokens[i - 1], tokens, i - 1):
        after = tokens[i + 1].base if i + 1 < len(tokens) else ""
        if after not in g.noun_compounds and not g.negated(tokens, i - 1):
            return i + 1
    return None


def blame(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A person "to blame", blame that "lies with" someone, "we blame", "blamed on Bob"."""
    if tokens[i].base not in g.blame_words or g.negated(tokens, i):
        return None
    if i > 0 and tokens[i - 1].base == "to":  # "the DBA is to blame"
        return i + 1 if g.person_subject(tokens, i - 1) else None
    for m in range(i + 1, min(len(tokens), i + 8)):  # "blame for X lies with"
        if match(tokens, m, g.blame_links) is not None:
            return i + 1
    if g.person_subject(tokens, i):  # "we blame the vendor"
        return i + 1
    after = i + 2 if i + 1 < len(tokens) and tokens[i + 1].base == "on" else i + 1
    return i + 1 if g.names_person(tokens, after) else None  # "blamed on Bob"


def mistake(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A person's mistake, error, oversight, failure to...: "Raj's mistake"."""
    if tokens[i].base not in g.mistake_nouns or i == 0:
        return None
    if not g.person_possessive(tokens[i - 1], tokens, i - 1):
        return None
    after = tokens[i + 1].base if i + 1 < len(tokens) else ""
    if after in g.noun_compounds or (tokens[i].base == "failure" and after != "to"):
        return None  # "their error responses", "their failure modes"
    return None if g.negated(tokens, i - 1) else i + 1
