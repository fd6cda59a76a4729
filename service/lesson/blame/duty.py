"""The detector for a duty left out of a person's act: "Omar approved the PR *without running
it*", "hit enter *before reading* the prompt".

It takes the language's :class:`Grammar`, a sentence's words and the trigger word's place, and
returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token


def duty_left_out(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "without" or "before", a duty, and a person's act or "by" a person shortly before."""
    end = match(tokens, i, g.without)
    if end is None:
        return None
    m = end
    while m < min(len(tokens), end + REACH) and tokens[m].base in g.skip:
        m += 1
    duty = match(tokens, m, g.without_duties) if m < len(tokens) else None
    if duty is None or g.negated(tokens, i):
        return None
    if tokens[i].base != "without" and not tokens[duty - 1].base.endswith("ing"):
        return None  # "before" takes only an -ing duty: "before reading the prompt"
    for k in range(i - 1, max(0, i - REACH) - 1, -1):
        if g.person_subject(tokens, k) or g.persons_work(tokens, k):
            return duty
        if tokens[k].base == "by" and g.names_person(tokens, k + 1):
            return duty  # "rushed through by the product manager without review"
    return None
