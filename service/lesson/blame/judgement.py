"""The detectors for blame said as a verdict: "human error", a word about someone's character,
attention or thinking ("careless", "dropped the ball"), and irony ("Typical Dave.").

Each detector takes the language's :class:`Grammar`, a sentence's words and the trigger word's
place, and returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import Phrases, match
from service.lesson.blame.words import REACH, Token


def human_error(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "Human error", "operator error", PEBKAC: wherever they occur, unless negated."""
    end = match(tokens, i, g.human_error)
    return end if end is not None and not g.negated(tokens, i) else None


def judgement(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """A judgement word not in its technical sense ("lazy", not "lazy loading"), a better person
    who would have done otherwise, no one who cared, or irony."""
    end = match(tokens, i, g.judgement)
    if end is None:
        found = _better_person(g, tokens, i) if tokens[i].base in g.better else None
        if found is None and tokens[i].base in g.nobody:
            found = _nobody_cared(g, tokens, i)
        if found is None and tokens[i].base in g.irony_words:
            found = irony(g, tokens, i)
        return found
    technical = g.exceptions.get(tokens[end - 1].base)
    if technical is not None and end < len(tokens) and tokens[end].base in technical:
        return None  # "lazy loading", "sloppy quorum"
    return None if g.negated(tokens, i) else end


def _better_person(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "A more careful reviewer would have caught it", "no competent engineer would", "anyone
    with a basic understanding of Postgres would have known": a better person, imagined, who
    would have done otherwise; not "any reasonable engineer would have done the same"."""
    end = match(tokens, i, g.better)
    if end is None or (i > 0 and g.negated(tokens, i)):
        return None
    quality = next(
        (found for k in range(end, min(len(tokens), end + 4)) if (found := match(tokens, k, g.qualities)) is not None),
        None,
    )
    if quality is None:
        return None
    if tokens[end - 1].base not in g.indefinites:  # "a more careful *reviewer*"
        person = next((k for k in range(quality, min(len(tokens), quality + 2)) if g.is_role(tokens, k)), None)
        if person is None:
            return None
        quality = person + 1
    negative = match(tokens, i, g.negation) is not None
    excuses = [g.same, g.unforeseeable] if negative else [g.same]
    for k in range(quality, min(len(tokens), quality + REACH)):
        if tokens[k].base in g.would:
            after = range(k + 1, min(len(tokens), k + 5))
            excuse = any(match(tokens, m, words) is not None for words in excuses for m in after)
            counterfactual = (
                negative
                or tokens[k].lower.endswith("'ve")
                or any(tokens[m].base in g.counterfactual for m in range(k + 1, min(len(tokens), k + 3)))
            )
            return None if excuse or not counterfactual else k + 1
    return None


def _nobody_cared(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "Nobody on the team was paying attention", "nobody in ops bothered to read": no one, as
    the subject, and a word of care; within the clause (not "nobody is to blame")."""
    end = match(tokens, i, g.nobody)
    if end is None:
        return None
    for k in range(end, min(len(tokens), end + REACH)):
        found = match(tokens, k, g.uncared)
        if found is not None:
            return found
        if tokens[k].stop or g.subordinates(tokens, k):
            return None
    return None


def irony(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """Blame said by its opposite: "Typical Dave.", "another classic from the web team",
    "Thanks to Steve, we spent the weekend restoring backups", "Daria pushed to main on a
    Friday, as usual"."""
    found = _ironic(g, tokens, i)
    return None if found is None or g.negated(tokens, i) else found


def loss(g: Grammar, tokens: Sequence[Token], start: int, losses: Phrases) -> int | None:
    """Where the first of ``losses`` after ``start``, in the same clause, ends: "we *lost* the
    weekend"; not one denied or made small ("nothing was lost", "we lost *only* five minutes"),
    nor one in a clause of its own ("... keeping customers informed *while* the site was down")."""
    for k in range(start, min(len(tokens), start + 2 * REACH)):
        if g.subordinates(tokens, k) or tokens[k].base in g.relatives:
            return None  # "... while the site was down", "..., who stayed up while it was down"
        found = match(tokens, k, losses)
        if found is not None:
            near = range(max(0, k - 3), min(len(tokens), found + 2))
            if g.negated(tokens, k, 3) or any(tokens[m].base in g.softeners for m in near):
                return None
            return found
    return None


def _ironic(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    end = match(tokens, i, g.typical)
    if end is not None and end < len(tokens):
        if tokens[end].base == "from":  # "another classic from the frontend team"
            found = g.person_end(tokens, end + 1)
            if found is not None:
                return found
        elif tokens[end].base not in g.filler and g.names_person(tokens, end):  # not "typical of"
            return end + 1
    end = match(tokens, i, g.praise)
    if end is not None:  # "Nice work, Gemma, ... was offline", "Great job as usual, Dave: ... down"
        person = g.person_end(tokens, end)  # within a few words: "Great job as usual, Dave"
        found = None if person is None else loss(g, tokens, person, g.damage)
        if found is not None:
            return found
    end = match(tokens, i, g.thanks)
    if end is not None and g.names_person(tokens, end):
        found = loss(g, tokens, end, g.losses)
        if found is not None:
            return found
    end = match(tokens, i, g.habits)
    if end is not None and not any(tokens[k].base in g.praise for k in range(max(0, i - 3), i)):
        opening = g.opening_person(tokens)
        if (opening is not None and opening < i) or (end < len(tokens) and g.names_person(tokens, end)):
            return end
    return None
