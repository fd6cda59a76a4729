"""The detectors for blame said as a verdict: "human error", a word about someone's character,
attention or thinking ("careless", "dropped the ball"), and irony ("Typical Dave.").

Each detector takes the language's :class:`Grammar`, a sentence's words and the trigger word's
place, and returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token


def human_error(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "Human error", "operator error", PEBKAC: wherever they occur, unless negated."""
    end = match(tokens, i, g.human_error)
    return end if end is not None and not g.negated(tokens, i) else None


def judgement(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A judgement word not in its technical sense ("lazy", not "lazy loading"), or irony."""
    end = match(tokens, i, g.judgement)
    if end is None:
        return irony(g, tokens, i) if tokens[i].base in g.irony_words else None
    technical = g.exceptions.get(tokens[end - 1].base)
    if technical is not None and end < len(tokens) and tokens[end].base in technical:
        return None  # "lazy loading", "sloppy quorum"
    return None if g.negated(tokens, i) else end


def irony(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """Blame said by its opposite: "Typical Dave.", "another classic from the web team",
    "Thanks to Steve, we spent the weekend restoring backups", "Daria pushed to main on a
    Friday, as usual"."""
    found = _ironic(g, tokens, i)
    return None if found is None or g.negated(tokens, i) else found


def _ironic(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    end = match(tokens, i, g.typical)
    if end is not None and end < len(tokens):
        m = end + 1 if tokens[end].base == "from" else end
        if m < len(tokens) and tokens[m].base not in g.filler and g.names_person(tokens, m):
            return m + 1
    end = match(tokens, i, g.thanks)
    if end is not None and g.names_person(tokens, end):
        for k in range(end, min(len(tokens), end + 2 * REACH)):
            found = match(tokens, k, g.losses)
            if found is not None:
                return found
    end = match(tokens, i, g.habits)
    if end is not None:
        opening = g.opening_person(tokens)
        if (opening is not None and opening < i) or (end < len(tokens) and g.names_person(tokens, end)):
            return end
    return None
