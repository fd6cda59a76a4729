"""The blameless-language nudge's word lists: one TOML file a language under config/blame/.

The rules are data so that a team can add its own words, or a language, without touching the
matcher (service/lesson/blame/). A file is checked strictly when it is read: a misspelt key
or a word list that is not a list of words stops with the file and the key named, rather than
silently turning a rule off.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

RULES = ("human-error", "root-cause", "fault", "blame", "judgement", "hindsight", "mistake", "person-failure")
"""Every rule, in the order a sentence is reported under (the first that matches)."""

RULES_DIR = Path(str(resources.files("config").joinpath("blame")))
"""The built-in language files, shipped as package data of ``config``."""


class BlameRulesError(Exception):
    """A language file that cannot be used; ``str()`` names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Words = tuple[str, ...]


class People(_Strict):
    pronouns: Words
    object_pronouns: Words = ()
    possessives: Words = ()
    own_possessives: Words = ()
    """Possessives of one person, whose work is theirs: "*my* change caused the outage" (unlike
    "our deploy tool", which is the team's tooling)."""
    roles: Words
    role_phrases: Words = ()
    plural_endings: Words = ()
    not_people: Words = ()
    not_names: Words = ()
    not_name_endings: Words = ()
    determiners: Words = ()
    capitalised_names: bool = True
    """Whether a capitalised word can be a name (false for German, where every noun is)."""


class Grammar(_Strict):
    skip: Words = ()
    negation: Words = ()
    negation_window: Annotated[int, Field(ge=0, le=12)] = 4
    joins: Words = ()
    """Words that join a second verb to the sentence's subject: "Sam pushed it *and* forgot"."""
    relatives: Words = ()
    """Words that open a clause about the person before them: "the developer *who* wrote it"."""
    subordinators: Words = ()
    """Words that open a clause with a subject of its own, which the sentence's subject does not reach."""
    frames: Words = ()
    """Words that hold up what follows as a view, not the team's own account: "it would be *easy to
    say* Alex should have checked"; a finding after one is turned around, up to one of ``contrasts``."""
    contrasts: Words = ()
    """Words that end a frame and give the writer's own view: "..., *but* nothing told him to"."""
    object_relatives: Words = ()
    """Words that open a clause about the object before them: "pushed a change *that* broke"."""
    indefinites: Words = ()
    """A person who is no one in particular ("someone", "a person"): "we are not looking for *a
    person* to blame" is negated by a negation anywhere earlier in the sentence, not only near."""


class Failure(_Strict):
    verbs: Words
    omission_markers: Words = ()
    omission_verbs: Words = ()
    be: Words = ()
    """Forms of "to be": around an omission marker they make it passive ("Sam was never told"),
    which is what happened to a person, not what they failed to do."""
    object_exceptions: dict[str, Words] = {}
    passive: Words = ()
    mistake_nouns: Words = ()
    noun_compounds: Words = ()
    harm_verbs: Words = ()
    """Verbs that are routine work unless their object is what must not be touched: "deleted the
    stuck pods" is cleanup, "deleted the *production* uploads bucket" is the harm."""
    harm_objects: Words = ()
    """Words in the object that make a ``harm_verbs`` verb harmful: "production", "customer", "every"."""
    harm_markers: Words = ()
    stores: Words = ()
    """What holds data ("table", "schema", "bucket"): after one of ``store_verbs``, harm unless one
    of ``routine`` comes first in the object ("dropped the *temporary* table" is housekeeping)."""
    store_verbs: Words = ()
    routine: Words = ()
    compliance: Words = ()
    """A sentence holding one of these records a step done as it should be ("as planned", "per
    the runbook"): no routine verb in it is read as harm."""
    """Phrases after a ``harm_verbs`` verb that say the target was wrong: "instead of", "thinking it"."""
    phrasal: Words = ()
    """ "verb particle" pairs that may have their object between them: "took *the warehouse* down"."""
    results: Words = ()
    """What a verb did to its object that is harm in itself: "brought the database *to its knees*"."""
    result_verbs: Words = ()
    without: Words = ()
    """ "approved the PR *without*": the word, then one of ``without_duties``, after a person's verb."""
    without_duties: Words = ()
    duties: Words = ()
    """ "Sam *was supposed to* renew it and didn't": a duty a person had, then one of ``undone``
    after "and" or "but" at the end of the sentence or clause."""
    undone: Words = ()
    ships: Words = ()
    """Verbs by which what a person made is theirs: "Tobias *pushed* a config change that broke
    payments" (with [grammar] ``object_relatives``)."""
    received: Words = ()
    """Right after one of ``duties``, what happens to a person rather than what they do: "was
    supposed to *get* a page and didn't"."""
    nobody: Words = ()
    """A subject that is no one ("nobody", "no one"), which with one of ``uncared`` is a judgement of
    everyone's care ("nobody on the team *bothered*"), not a negation."""
    uncared: Words = ()


class Hindsight(_Strict):
    modals: Words = ()
    participles: Words = ()
    participle_ending: str = ""
    conditionals: Words = ()
    """ "*if* Lucy had listened": a conditional, a person, one of ``perfect``, an omission verb."""
    perfect: Words = ()
    """ "if Lucy *had* listened"; opening a sentence, it is the conditional: "*Had* Ivan checked"."""


class Phrases(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    human_error: Annotated[Words, Field(alias="human-error")] = ()
    judgement: Words = ()
    exceptions: dict[str, Words] = {}
    better: Words = ()
    """A better person who would have done otherwise: one of these ("a more", "no", "anyone"),
    one of ``qualities``, a person unless ``better`` named one, then one of ``would``: "*a more*
    careful reviewer would have caught it", "*no* competent engineer would"."""
    qualities: Words = ()
    would: Words = ()
    counterfactual: Words = ()
    same: Words = ()
    """After ``would``, words that make it an excuse, not a judgement: "any reasonable engineer
    would have done *the same*"."""
    unforeseeable: Words = ()
    """After ``would`` of a negative better person, what no one could do: "no experienced
    engineer would have *known*" excuses, where "no competent engineer would *put* a password in
    a URL" judges."""


class Causes(_Strict):
    triggers: Words = ()
    window: Annotated[int, Field(ge=1, le=8)] = 3
    after_person: Words = ()
    filler: Words = ()
    at_fault: Words = ()
    fault_nouns: Words = ()
    blame_words: Words = ()
    blame_links: Words = ()
    on_person: Words = ()
    """ "this was *on* Jake", "this *falls on* the team lead": responsibility placed on a person
    named right after (not a possessive: "the fix is on Maria's branch" is a place)."""
    cleft: Words = ()
    """ "*It was* Farid who took the site down": a sentence opening that singles a person out."""
    credit_verbs: Words = ()
    """A cleft about a person whose verb is one of these is credit, not blame: "It was Ana who *spotted* it"."""
    on_subjects: Words = ()
    """What an ``on_person`` phrase places on a person must be the harm or its blame: a word of
    these as its subject ("*this* was on Jake", "*this one* falls on..."), or one of ``harm_nouns``
    a few words before ("the *blame* for the data loss rests with..."); not a duty to come ("the
    on-call rotation falls on Jake next week")."""
    harm_nouns: Words = ()
    on_duties: Words = ()
    """Before an ``on_person`` phrase, words that make what is placed a duty to come, whatever
    it is about: "the *fix* for the incident is on Maria", "the on-call *rotation* falls on Jake"."""
    began: Words = ()
    """ "The incident *started when* Bogdan ran the cleanup job": the harm as the subject, one of
    these, a person and their act (not "was paged", nor credit: "when Ana noticed")."""
    labels: Words = ()
    """A label, then a colon, then a person: "*Fault*: Sarah", "*Culprit*: the intern"."""


class Irony(_Strict):
    """Blame said by its opposite: "Typical Dave.", "Thanks to Steve, we spent the weekend..."."""

    typical: Words = ()
    """Then a person, at once or after "from": "Typical Dave", "another classic from the web team"."""
    thanks: Words = ()
    """ "thanks to", "courtesy of": then a person, then (within the sentence) one of ``losses``."""
    losses: Words = ()
    habits: Words = ()
    """ "as usual", "once again": a person's act marked as a habit, when the sentence opens with
    that person or the phrase is followed by one."""
    praise: Words = ()
    """Praise said of a loss: "*Nice work*, Gemma, the whole of Europe was offline": a person right
    after, then one of ``damage`` in the sentence."""
    damage: Words = ()
    softeners: Words = ()
    """Near a loss, words that make it small or averted: "we lost *only* five minutes"."""


class Language(_Strict):
    """One language's rules, as its file says them (lower case, phrases as space-separated words)."""

    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    suggestions: dict[str, str]
    people: People
    grammar: Grammar = Grammar()
    failure: Failure
    hindsight: Hindsight = Hindsight()
    phrases: Phrases = Phrases()
    causes: Causes = Causes()
    irony: Irony = Irony()
    patterns: dict[str, Words] = {}
    """Per rule, phrases with a place for a person: ``{person}``, ``{person's}`` (a possessive)
    and ``{loss}`` (one of ``[irony] losses`` later in the sentence): "what was {person} thinking"."""

    def suggestion(self, rule: str) -> str:
        return self.suggestions.get(rule) or self.suggestions.get("person-failure", "")


def load_language(path: Path) -> Language:
    """One language file, checked; :class:`BlameRulesError` names what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise BlameRulesError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise BlameRulesError(f"{path}: not valid TOML: {error}") from None
    try:
        language = Language.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BlameRulesError(f"{path}: {where}: {first['msg']}") from None
    for table in ("suggestions", "patterns"):
        unknown = set(getattr(language, table)) - set(RULES)
        if unknown:
            raise BlameRulesError(f"{path}: {table}: unknown rule {min(unknown)!r} (rules: {', '.join(RULES)})")
    for rule, patterns in language.patterns.items():
        for pattern in patterns:
            problem = pattern_problem(pattern)
            if problem:
                raise BlameRulesError(f"{path}: patterns.{rule}: {pattern!r}: {problem}")
    missing = [rule for rule in RULES if rule not in language.suggestions]
    if missing:
        raise BlameRulesError(f"{path}: suggestions: no suggestion for {', '.join(missing)}")
    return language


SLOTS = ("{person}", "{person's}", "{loss}")
"""The places a pattern may hold: a person, a person's (a possessive), a loss."""


def pattern_problem(pattern: str) -> str:
    """What is wrong with a pattern, or "" when nothing is: it needs a word that is not a slot
    (where it is looked for), braces only in a known slot, and a slot only before its first
    word when that slot is ``{person}`` right before it."""
    parts = pattern.split()
    unknown = [part for part in parts if ("{" in part or "}" in part) and part not in SLOTS]
    if unknown:
        return f"unknown slot {unknown[0]} (slots: {', '.join(SLOTS)})"
    words = [k for k, part in enumerate(parts) if part not in SLOTS]
    if not words:
        return "no word to look for, only slots"
    if words[0] > 1 or (words[0] == 1 and parts[0] != "{person}"):
        return "before its first word, only one {person}"
    return ""


@lru_cache(maxsize=4)
def load_languages(folder: Path = RULES_DIR) -> tuple[Language, ...]:
    """Every language under ``folder`` (``*.toml``, by name); read once a process."""
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise BlameRulesError(f"{folder}: no language files (*.toml)")
    return tuple(load_language(path) for path in files)
