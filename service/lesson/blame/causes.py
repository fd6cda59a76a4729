"""The detectors for blame placed on a person by name: a person as the cause ("root cause:
Dave"), responsibility put on them ("this was on Jake"), their fault, their mistake, blame.

Each detector takes the language's :class:`Grammar`, a sentence's words and the trigger word's
place, and returns where the words that fired it end, or None.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.phrases import match
from service.lesson.blame.words import REACH, Token, bases


def root_cause(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "The root cause was Dave", "caused by an intern", "Fault: Sarah"; or :func:`on_person`."""
    end = match(tokens, i, g.cause_triggers)
    if end is not None and g.names_person(tokens, end):
        return end
    end = match(tokens, i, g.began)
    if end is not None:
        found = _began(g, tokens, i, end)
        if found is not None:
            return found
    end = match(tokens, i, g.labels)
    if end is not None and tokens[end - 1].stop and g.names_person(tokens, end) and not g.negated(tokens, i):
        return end
    return on_person(g, tokens, i)


def on_person(g: Grammar, tokens: Sequence[Token], i: int) -> int | None:
    """ "This was on Jake", "the responsibility falls on the team lead": a thing placed on a
    person named right after. Not when a person is the subject ("Ana was on Zoom" is where
    she was), nor a possessive ("the fix is on Maria's branch" is a place)."""
    end = match(tokens, i, g.on_person)
    if end is None or g.person_subject(tokens, i) or g.negated(tokens, i) or not _about_harm(g, tokens, i):
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


def _began(g: Grammar, tokens: Sequence[Token], i: int, end: int) -> int | None:
    """ "The incident started when Bogdan ran the cleanup job": the harm began with a person's
    act; not with what happened to them ("when the on-call was paged") nor credit ("when Ana
    noticed the graph")."""
    j = g.subject(tokens, i)
    if j is None or (tokens[j].base not in g.harm_nouns and tokens[j].base not in g.on_subjects):
        return None
    person = g.person_end(tokens, end)
    if person is None or person >= len(tokens) or g.negated(tokens, i):
        return None
    if tokens[person].base in g.be or tokens[person].base in g.received:
        return None
    v = person
    while v < min(len(tokens), person + REACH) and tokens[v].base in g.skip:
        v += 1
    if v >= len(tokens) or tokens[v].base in g.be or tokens[v].base in g.received:
        return None
    return None if match(tokens, v, g.credit_verbs) is not None else v + 1


def _about_harm(g: Grammar, tokens: Sequence[Token], i: int) -> bool:
    """Whether what the phrase at ``i`` places on someone is the harm or its blame: its subject
    is one of ``on_subjects`` ("*this* was on Jake", "*this one* falls on"), or a word for the
    harm comes a few words before ("the *blame* for the data loss rests with"); not a duty to
    come ("the on-call rotation falls on Jake next week", "the fix is on Maria")."""
    before = bases(tokens, max(0, i - REACH), i)
    if not g.on_duties.isdisjoint(before):
        return False  # "the fix for the incident is on Maria now"
    j = g.subject(tokens, i)
    while j is not None and j > 0 and j > i - REACH and tokens[j].base in g.filler:
        j -= 1
    if j is not None and tokens[j].base in g.on_subjects:
        return True
    return not g.harm_nouns.isdisjoint(before)


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
        if not g.person_subject(tokens, i - 1):
            return None
        who = g.subject(tokens, i - 1)
        indefinite = who is not None and tokens[who].base in g.indefinites
        return None if indefinite and g.negated(tokens, i, 2 * REACH) else i + 1  # "not looking for a person to"
    for m in range(i + 1, min(len(tokens), i + 8)):  # "blame for X lies with"
        end = match(tokens, m, g.blame_links)
        if end is not None:
            return i + 1 if g.names_person(tokens, end) else None  # not "lies with our backup format"
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
