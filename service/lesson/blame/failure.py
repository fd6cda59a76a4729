"""The detector for a person's act as the failure (rule person-failure): a person and a failure
verb ("Bob forgot", "the new hire broke checkout"), a person who didn't check ("Sam never
read"), a failure "by" a person ("a typo by the operator"), and the forms heard at other words:
a harmful object (service/lesson/blame/harm.py), a duty left out (duty.py), a cleft (cleft.py).

It takes the language's :class:`Grammar`, a sentence's words and the trigger word's place, and
returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.cleft import cleft
from service.lesson.blame.duty import duty_left_out
from service.lesson.blame.grammar import Grammar
from service.lesson.blame.harm import harm, harm_verbs_in
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token, first_mistake


def person_failure(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A person (or one person's work) and a failure verb, an omission, or a failure "by" them."""
    found = _other_forms(g, tokens, i) if tokens[i].base in g.new_forms or tokens[i].first else None
    if found is not None:
        return found
    end = match(tokens, i, g.failure_verbs)
    if (
        end is not None
        and (g.person_subject(tokens, i) or g.persons_work(tokens, i))
        and not _about_a_target(g, tokens, i, end)
        and not g.negated(tokens, i)  # "rather than asking who missed the alert"
    ):
        return end
    end = match(tokens, i, g.omission_markers)
    if end is not None:
        m = end
        while m < min(len(tokens), end + REACH) and tokens[m].base in g.skip:
            m += 1
        passive = any(tokens[k].base in g.be for k in (i - 1, *range(end, m)) if k >= 0)
        if m < len(tokens) and tokens[m].base in g.omission_verbs and not passive and g.person_subject(tokens, i):
            return m + 1
    if i + 1 < len(tokens) and tokens[i + 1].base == "by":  # "the page was ignored by the secondary"
        made_mistake = tokens[i].base == "made" and first_mistake(tokens, g.mistake_nouns) < i
        if (tokens[i].base in g.passive or made_mistake) and g.names_person(tokens, i + 2):
            return i + 2
    return _duty_undone(g, tokens, i) if tokens[i].base in g.duties else None


def _duty_undone(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "Sam was supposed to renew the certificate and didn't": a person's duty, then "and" or
    "but" and one of ``undone`` that ends the clause (not "and didn't have access")."""
    end = match(tokens, i, g.duties)
    if end is None or not g.person_subject(tokens, i) or g.negated(tokens, i):
        return None
    if end < len(tokens) and tokens[end].base in g.received:
        return None  # "the on-call was supposed to get a page and didn't": what happens to them
    for k in range(end, min(len(tokens) - 1, end + 2 * REACH)):
        if tokens[k].base in g.joins:
            found = match(tokens, k + 1, g.undone)
            if found is not None and (found == len(tokens) or tokens[found - 1].stop):
                return found
    return None


def _other_forms(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A harmful object, a duty left out, a cleft: the forms heard at words other than the
    failure verbs."""
    base = tokens[i].base
    found = None
    if base in g.harm_triggers and base in harm_verbs_in(g, tokens):
        found = harm(g, tokens, i)
    if found is None and base in g.without:
        found = duty_left_out(g, tokens, i)
    if found is None and tokens[i].first:
        found = cleft(g, tokens, i)
    return found


def _about_a_target(g: Grammar, tokens: Sequence[Token], i: int, end: int) -> bool:
    """ "We missed our SLO": the verb with such an object is about a target, not a failure."""
    targets = g.object_exceptions.get(" ".join(t.base for t in tokens[i:end]))
    if not targets:
        return False
    m = end
    while m < min(len(tokens), end + REACH) and (tokens[m].base in g.determiners or tokens[m].lower in g.possessives):
        m += 1
    # the object's first word, or a word just after a short object: "broke the migration *into* steps"
    return any(tokens[k].base in targets for k in range(m, min(m + 3, len(tokens))))
