"""The detector for a language's patterns: phrases with a place for a person, written in its
file per rule ("what was {person} thinking", "on {person's} watch", "{person} is the reason
{loss}"), for forms that are a fixed phrase around a person rather than a verb and its subject.

It takes the language's :class:`Grammar`, a sentence's words, the trigger word's place and the
rule, and returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.judgement import loss
from service.lesson.blame.words import Token, words


def pattern(g: Grammar, tokens: Sequence[Token], i: int, rule: str) -> int | None:
    """The end of the longest of ``rule``'s patterns whose first word is at ``i``, or None."""
    index = g.patterns.get(rule)
    if not index:
        return None
    options = index.get(tokens[i].base) or index.get(tokens[i].lower) or ()
    for parts, first, literals in options:
        if not literals <= words(tokens):
            continue  # "at {person's} door" where the sentence says no "door"
        end = _rest(g, tokens, i, parts[first:])
        if end is None or g.negated(tokens, i):
            continue
        if first and not (g.person_subject(tokens, i) or g.persons_work(tokens, i)):
            continue  # "{person} is the reason": the person is the subject of the first word
        return end
    return None


def _rest(g: Grammar, tokens: Sequence[Token], m: int, parts: Sequence[str]) -> int | None:
    """Where ``parts`` (words and slots) end when they start at ``m``, or None."""
    for part in parts:
        if m >= len(tokens):
            return None
        end: int | None
        if part == "{person}":
            end = g.person_end(tokens, m)
        elif part == "{person's}":
            end = g.person_end(tokens, m, possessive=True)
        elif part == "{loss}":
            end = loss(g, tokens, m, g.losses)
        else:
            end = m + 1 if tokens[m].base == part or tokens[m].lower == part else None
        if end is None:
            return None
        m = end
    return m
