"""The detector for hindsight: what a person "should have" done, and what they would have done
in a condition ("If Lucy had listened to the alert").

It takes the language's :class:`Grammar`, a sentence's words and the trigger word's place, and
returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token


def hindsight(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A person, "should have" (or the like) and a past participle; or :func:`counterfactual`.
    Not about a system ("the alert should have fired" is its design)."""
    found = counterfactual(g, tokens, i)
    if found is not None:
        return found
    end = match(tokens, i, g.modals)
    if end is None or end >= len(tokens):
        return None
    if not participle(g, tokens[end].base):
        return None
    if end + 1 < len(tokens) and participle(g, tokens[end + 1].base) and tokens[end].base in g.skip:
        return None  # "we should have been paged": the person is who it happened to, not who acted
    return end + 1 if g.person_subject(tokens, i) else None


def counterfactual(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "If Lucy had listened to the alert", "Had the on-call been watching": what a person
    would have done, in a condition, is hindsight too. Only omission verbs count, so "if the
    engineer had known" (what they could know) is left alone."""
    opened_by_perfect = tokens[i].first and tokens[i].base in g.perfect
    if tokens[i].base not in g.conditionals and not opened_by_perfect:
        return None
    j = i + 1
    while j < min(len(tokens), i + 1 + REACH) and (tokens[j].base in g.determiners or tokens[j].base in g.filler):
        j += 1
    if j >= len(tokens) or not g.is_person(tokens, j):
        return None
    role = j
    while j + 1 < min(len(tokens), role + REACH) and g.is_role(tokens, j + 1) and not tokens[j + 1].possessive:
        j += 1
    m = j + 1
    if not opened_by_perfect:
        if m >= len(tokens) or tokens[m].base not in g.perfect:
            return None
        m += 1
    skipped = m
    while m < min(len(tokens), skipped + REACH) and tokens[m].base in g.skip:
        m += 1
    return m + 1 if m < len(tokens) and tokens[m].base in g.omission_verbs else None


def participle(g: Grammar, word: str) -> bool:
    """Whether ``word`` is a past participle: listed, or with the language's ending ("-ed")."""
    return word in g.participles or (bool(g.participle_ending) and word.endswith(g.participle_ending) and len(word) > 3)
