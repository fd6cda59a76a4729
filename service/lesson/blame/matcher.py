"""Which rule flags a sentence first, for one language: each rule's detector is tried only at
the words it can start on (its triggers), found with one set lookup a word, in the order of
:data:`RULES`; every detector then looks at a bounded number of words around its trigger, so a
sentence costs time linear in its length whatever it repeats."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from service.lesson.blame import causes, failure, hindsight, judgement
from service.lesson.blame.grammar import Grammar
from service.lesson.blame.patterns import pattern
from service.lesson.blame.words import Sentence, Token
from service.lesson.blame_rules import RULES, Language

Detector = Callable[[Grammar, Sequence[Token], int], int | None]
"""A rule's check: (grammar, words, trigger's place) to where the words that fired it end, or None."""

DETECTORS: dict[str, Detector] = {
    "human-error": judgement.human_error,
    "root-cause": causes.root_cause,
    "fault": causes.fault,
    "blame": causes.blame,
    "judgement": judgement.judgement,
    "hindsight": hindsight.hindsight,
    "mistake": causes.mistake,
    "person-failure": failure.person_failure,
}
assert set(DETECTORS) == set(RULES)


class Matcher:
    """One language's grammar, and the trigger words of each of its rules."""

    def __init__(self, language: Language) -> None:
        self.grammar = g = Grammar(language)
        self.language = language
        self._checks = [DETECTORS[rule] for rule in RULES]
        triggers: dict[str, frozenset[str]] = {
            "human-error": frozenset(g.human_error),
            "root-cause": frozenset(g.cause_triggers)
            | frozenset(g.on_person)
            | frozenset(g.labels)
            | frozenset(g.began),
            "fault": frozenset(g.at_fault) | g.fault_nouns,
            "blame": g.blame_words,
            "judgement": frozenset(g.judgement) | g.irony_words | frozenset(g.better) | frozenset(g.nobody),
            "hindsight": frozenset(g.modals) | g.conditionals | g.perfect,
            "mistake": g.mistake_nouns,
            "person-failure": frozenset(g.failure_verbs)
            | frozenset(g.omission_markers)
            | g.passive
            | g.harm_verbs
            | g.store_verbs
            | frozenset(g.phrasal)
            | frozenset(g.without)
            | frozenset(g.duties)
            | {"made"},
        }
        """The words each rule can fire on: the first words of its phrases, or its word set."""
        for rule, index in g.patterns.items():
            triggers[rule] |= frozenset(index)
        self._patterned = [rule in g.patterns for rule in RULES]
        starts: dict[str, list[int]] = {}
        for number, rule in enumerate(RULES):
            for word in triggers[rule]:
                starts.setdefault(word, []).append(number)
        for word in g.frames:
            starts.setdefault(word, [])  # found in the same pass, for the frame check
        self._starts = {word: tuple(numbers) for word, numbers in starts.items()}
        """For each trigger word, the rules (by their place in RULES) that may fire on it."""

    def first_match(self, tokens: Sequence[Token], prose: str = "") -> tuple[str, int, int] | None:
        """(rule, first word, end) of the first rule that flags the sentence."""
        g = self.grammar
        sentence = Sentence(tokens)
        sentence.prose = prose
        sentence.opening = g.find_opening_person(tokens)
        start = len(tokens) if sentence.opening is None else sentence.opening + 1
        sentence.first_clause = next((k for k in range(start, len(tokens)) if g.subordinates(tokens, k)), len(tokens))
        at: list[list[int]] = [[] for _ in RULES]  # where each rule may fire, in order
        starts = self._starts
        frame = None  # where the first word that may begin a frame is
        for k in [k for k, token in enumerate(tokens) if token.base in starts or token.lower in starts]:
            token = tokens[k]
            if frame is None and (token.base in g.frames or token.lower in g.frames):
                frame = k
            rules = starts.get(token.base, ())
            if token.lower != token.base:
                rules = tuple(dict.fromkeys((*rules, *starts.get(token.lower, ()))))
            for number in rules:
                at[number].append(k)
        framed = None if frame is None else g.frame_marks(tokens, frame)
        opener = tokens[0]
        if opener.base in g.cleft or opener.lower in g.cleft:  # a cleft is heard only where it opens
            person_failure = at[RULES.index("person-failure")]
            if not person_failure or person_failure[0] != 0:
                person_failure.insert(0, 0)
        for number, rule in enumerate(RULES):
            check = self._checks[number]
            patterned = self._patterned[number]
            for i in at[number]:
                if framed is not None and framed[i]:
                    continue  # "it would be easy to say Alex should have checked"
                end = check(g, sentence, i)
                if end is None and patterned:
                    end = pattern(g, sentence, i, rule)
                if end is not None:
                    return rule, self._who(sentence, i), end
        return None

    def _who(self, tokens: Sequence[Token], i: int) -> int:
        """Where the words to show begin: at the person when there is one ("Bob forgot",
        "Raj's mistake"), so the writer sees why the sentence was picked."""
        g = self.grammar
        if i > 0 and g.person_possessive(tokens[i - 1], tokens, i - 1):
            return i - 1
        j = g.subject(tokens, i)
        return j if j is not None and g.is_person(tokens, j) else i
