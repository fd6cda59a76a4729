"""The detector for a cleft that singles a person out for an act: "It was Farid who took the
site down"; not credit ("It was Ana who spotted it").

It takes the language's :class:`Grammar`, a sentence's words and the trigger word's place (a
cleft is heard only where the sentence opens), and returns where the words that fired it end,
or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token


def cleft(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """The cleft's opening, a person, "who" or "that", and a verb that is not credit."""
    if not tokens[i].first:
        return None
    end = 1 if tokens[i].lower in g.cleft.single else match(tokens, i, g.cleft)
    if end is None:
        return None
    j = end
    while j < min(len(tokens), end + REACH) and (tokens[j].base in g.determiners or tokens[j].base in g.filler):
        j += 1
    if j >= len(tokens) or not (g.is_person(tokens, j) or tokens[j].base in g.object_pronouns):
        return None
    while j + 1 < min(len(tokens), end + REACH) and g.is_role(tokens, j + 1):
        j += 1
    if j + 1 >= len(tokens) or tokens[j + 1].base not in (g.relatives | {"that"}):
        return None
    v = j + 2
    while v < min(len(tokens), j + 2 + REACH) and tokens[v].base in g.skip:
        v += 1
    if v >= len(tokens) or match(tokens, v, g.credit_verbs) is not None:
        return None
    return v + 1
