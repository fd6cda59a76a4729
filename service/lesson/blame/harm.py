"""The detector for a person's routine act made harm by its object: "the intern deleted the
*customer* uploads bucket", "dropped the backups *instead of* the snapshots", "took the warehouse
*down* for everyone", "brought the database *to its knees*", "dropped the analytics *schema*".
Never in a timeline entry (a sentence with a clock time), where people act and the steps are
recorded, nor in a step done as it should be ("as planned").

It takes the language's :class:`Grammar`, a sentence's words and the trigger word's place, and
returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import CLOCK, REACH, Sentence, Token, bases


def harm_verbs_in(g: Grammar, tokens: Sequence[Token]) -> frozenset[str]:
    """:func:`harm_verbs_here`, found once a sentence, when a harm verb is first met."""
    if not isinstance(tokens, Sentence):
        return harm_verbs_here(g, tokens, False)
    if tokens.harm_verbs is None:
        tokens.harm_verbs = harm_verbs_here(g, tokens, CLOCK.search(tokens.prose) is not None)
    return tokens.harm_verbs


def harm_verbs_here(g: Grammar, tokens: Sequence[Token], timed: bool) -> frozenset[str]:
    """The harm verbs that can fire in this sentence: none in a timeline entry, none without
    a harmful object or marker (or, for a phrasal verb, its particle), none where no word
    could name a person; found with a few set operations a sentence, so the check at each
    trigger word is skipped where it cannot fire."""
    words = frozenset(token.base for token in tokens)
    if timed or words.isdisjoint(g.harm_triggers):
        return frozenset()
    harm_possible = not (g.harm_objects.isdisjoint(words) and g.harm_marker_words.isdisjoint(words))
    verbs = (g.harm_verbs if harm_possible else frozenset()) | frozenset(
        verb for verb, particles in g.phrasal.items() if not particles.isdisjoint(words)
    )
    if not g.result_words.isdisjoint(words):
        verbs |= g.result_verbs
    if not g.stores.isdisjoint(words):
        verbs |= g.store_verbs
    if verbs and _complied(g, tokens):
        return frozenset()  # "as planned", "per the runbook": a step done as it should be
    if (
        verbs
        and g.person_words.isdisjoint(words)
        and not any(token.text[:1].isupper() or token.text[:1] == "@" for token in tokens)
    ):
        return frozenset()  # no word that could name a person: no one acts
    return verbs & words


def harm(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A person, a routine verb, and an object that makes it harm; or a phrasal verb with its
    object between and harm around it."""
    base = tokens[i].base
    particles = g.phrasal.get(base)
    found = _result(g, tokens, i) if base in g.result_verbs else None
    if found is None and (base in g.harm_verbs or particles is not None):
        found = _harm_span(g, tokens, i, particles)
    if found is None and base in g.store_verbs:
        found = _store(g, tokens, i)
    return found if found is not None and g.acts(tokens, i) else None


def _complied(g: Grammar, tokens: Sequence[Token]) -> bool:
    """Whether the sentence says its step was done as it should be: "as planned", "per the runbook"."""
    return any(
        (token.base in g.compliance or token.lower in g.compliance) and match(tokens, k, g.compliance) is not None
        for k, token in enumerate(tokens)
    )


def _store(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """Where the object of the verb at ``i`` ends when it is a store of data with nothing that
    makes it routine before it: "dropped the analytics *schema*", not "dropped the *temporary*
    table"; within the object (up to punctuation)."""
    for k in range(i + 1, min(len(tokens), i + 1 + REACH)):
        token = tokens[k]
        if token.base in g.routine:
            return None
        if token.base in g.stores:
            return k + 1
        if token.stop or token.base in g.joins:
            return None  # "killed the runaway query *and* the database recovered"
    return None


def _result(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """Where a result that is harm in itself ends, within reach after the verb at ``i``:
    "brought the reporting database *to its knees*"."""
    for k in range(i + 1, min(len(tokens), i + 1 + REACH)):
        if tokens[k].base in g.result_words:
            found = match(tokens, k, g.results)
            if found is not None:
                return found
    return None


def _harm_span(g: Grammar, tokens: Sequence[Token], i: int, particles: frozenset[str] | None) -> int | None:
    """Where the harm the verb at ``i`` does is said: a harmful object word or marker within
    reach, or (for a phrasal verb) its particle with harm before it or "by"/"for"/"with" after."""
    reach = min(len(tokens), i + 1 + REACH)
    window = bases(tokens, i + 1, reach)
    if particles is not None and particles.isdisjoint(window):
        return None
    if particles is None and g.harm_objects.isdisjoint(window) and g.harm_marker_words.isdisjoint(window):
        return None
    harmful = None
    for k in range(i + 1, reach):
        token = tokens[k]
        if harmful is None:
            if token.base in g.harm_objects or token.lower in g.harm_objects:
                harmful = k + 1
            elif token.base in g.harm_markers or token.lower in g.harm_markers:
                harmful = match(tokens, k, g.harm_markers)
        if particles is None:
            if harmful is not None:
                return harmful
        elif token.base in particles:
            after = tokens[k + 1].base if k + 1 < len(tokens) else ""
            return k + 1 if harmful is not None or after in ("by", "for", "with") else None
    return None
