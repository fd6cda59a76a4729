"""One language's word lists (service/lesson/blame_rules.py), made into the sets and phrase
indexes the rules look words up in: built once a language, so that each lookup is one hash."""

from __future__ import annotations

from collections.abc import Iterable

from service.lesson.blame.phrases import phrases
from service.lesson.blame_rules import SLOTS, Language

Pattern = tuple[tuple[str, ...], int, frozenset[str]]
"""A pattern's words and slots, lower case; the place of its first word (where it is looked for);
and its words, all of which a sentence must hold for the pattern to be tried."""


def patterns(written: Iterable[str]) -> dict[str, list[Pattern]]:
    """Patterns indexed by their first word, longest first."""
    index: dict[str, list[Pattern]] = {}
    for pattern in written:
        parts = tuple(pattern.lower().replace("\u2019", "'").split())
        first = next(k for k, part in enumerate(parts) if part not in SLOTS)
        words = frozenset(part for part in parts if part not in SLOTS)
        index.setdefault(parts[first], []).append((parts, first, words))
    for options in index.values():
        options.sort(key=lambda option: len(option[0]), reverse=True)
    return index


class Vocabulary:
    """One language's words, as sets and phrase indexes, and the sets derived from them."""

    def __init__(self, language: Language) -> None:
        self.language = language
        people, grammar, failure = language.people, language.grammar, language.failure
        hindsight, sayings, causes = language.hindsight, language.phrases, language.causes
        self.pronouns = frozenset(people.pronouns)
        self.object_pronouns = frozenset(people.object_pronouns)
        self.possessives = frozenset(people.possessives)
        self.own_possessives = frozenset(people.own_possessives)
        self.roles = frozenset(people.roles) | {role + end for role in people.roles for end in people.plural_endings}
        self.role_phrases = frozenset(tuple(p.split()) for p in people.role_phrases if len(p.split()) == 2)
        self.not_people = frozenset(people.not_people)
        self.not_names = frozenset(people.not_names)
        self.not_name_endings = tuple(people.not_name_endings)
        self.determiners = frozenset(people.determiners)
        self.capitalised_names = people.capitalised_names
        self.skip = frozenset(grammar.skip)
        self.negation = phrases(grammar.negation)
        self.negation_window = grammar.negation_window
        self.joins = frozenset(grammar.joins)
        self.relatives = frozenset(grammar.relatives)
        self.subordinators = frozenset(grammar.subordinators)
        self.frames = phrases(grammar.frames)
        self.contrasts = frozenset(grammar.contrasts)
        self.indefinites = frozenset(grammar.indefinites)
        self.object_relatives = frozenset(grammar.object_relatives)
        self.failure_verbs = phrases(failure.verbs)
        self.omission_markers = phrases(failure.omission_markers)
        self.omission_verbs = frozenset(failure.omission_verbs)
        self.be = frozenset(failure.be)
        self.object_exceptions = {verb: frozenset(words) for verb, words in failure.object_exceptions.items()}
        self.passive = frozenset(failure.passive)
        self.mistake_nouns = frozenset(failure.mistake_nouns)
        self.noun_compounds = frozenset(failure.noun_compounds)
        self.modals = phrases(hindsight.modals)
        self.participles = frozenset(hindsight.participles)
        self.participle_ending = hindsight.participle_ending
        self.conditionals = frozenset(hindsight.conditionals)
        self.perfect = frozenset(hindsight.perfect)
        self.human_error = phrases(sayings.human_error)
        self.judgement = phrases(sayings.judgement)
        self.exceptions = {word: frozenset(after) for word, after in sayings.exceptions.items()}
        self.better = phrases(sayings.better)
        self.qualities = phrases(sayings.qualities)
        self.would = frozenset(sayings.would)
        self.counterfactual = frozenset(sayings.counterfactual)
        self.same = phrases(sayings.same)
        self.unforeseeable = phrases(sayings.unforeseeable)
        self.cause_triggers = phrases(causes.triggers)
        self.cause_window = causes.window
        self.after_person = frozenset(causes.after_person)
        self.filler = frozenset(causes.filler)
        self.at_fault = phrases(causes.at_fault)
        self.fault_nouns = frozenset(causes.fault_nouns)
        self.blame_words = frozenset(causes.blame_words)
        self.blame_links = phrases(causes.blame_links)
        self.on_person = phrases(causes.on_person)
        self.cleft = phrases(causes.cleft)
        self.credit_verbs = phrases(causes.credit_verbs)
        self.on_subjects = frozenset(causes.on_subjects)
        self.harm_nouns = frozenset(causes.harm_nouns)
        self.on_duties = frozenset(causes.on_duties)
        self.labels = phrases(causes.labels)
        self.began = phrases(causes.began)
        self.harm_verbs = frozenset(failure.harm_verbs)
        self.harm_objects = frozenset(failure.harm_objects)
        self.harm_markers = phrases(failure.harm_markers)
        self.harm_marker_words = frozenset(self.harm_markers)
        self.stores = frozenset(failure.stores)
        self.store_verbs = frozenset(failure.store_verbs)
        self.routine = frozenset(failure.routine)
        self.compliance = phrases(failure.compliance)
        self.person_words = (
            self.pronouns
            | self.object_pronouns
            | self.possessives
            | self.own_possessives
            | self.roles
            | frozenset(second for _, second in self.role_phrases)
        )
        """Every word that can name a person but a name: a sentence with none of them and no
        capitalised word has no one in it."""
        self.phrasal: dict[str, frozenset[str]] = {}
        for pair in failure.phrasal:
            verb, _, particle = pair.partition(" ")
            self.phrasal[verb] = self.phrasal.get(verb, frozenset()) | {particle}
        self.without = phrases(failure.without)
        self.results = phrases(failure.results)
        self.result_words = frozenset(self.results)
        self.result_verbs = frozenset(failure.result_verbs)
        self.harm_triggers = self.harm_verbs | frozenset(self.phrasal) | self.result_verbs | self.store_verbs
        self.new_forms = self.harm_triggers | frozenset(self.without)
        """The words a harmful object or a duty left out is heard at (rule person-failure)."""
        self.without_duties = phrases(failure.without_duties)
        self.duties = phrases(failure.duties)
        self.undone = phrases(failure.undone)
        self.received = frozenset(failure.received)
        self.ships = phrases(failure.ships)
        self.nobody = phrases(failure.nobody)
        self.uncared = phrases(failure.uncared)
        irony = language.irony
        self.typical = phrases(irony.typical)
        self.thanks = phrases(irony.thanks)
        self.losses = phrases(irony.losses)
        self.habits = phrases(irony.habits)
        self.praise = phrases(irony.praise)
        self.damage = phrases(irony.damage)
        self.softeners = frozenset(irony.softeners)
        self.irony_words = frozenset(self.typical) | frozenset(self.thanks) | frozenset(self.habits)
        self.irony_words |= frozenset(self.praise)
        self.patterns = {rule: patterns(written) for rule, written in language.patterns.items()}
        """Per rule, its patterns by their first word (service/lesson/blame/patterns.py)."""
