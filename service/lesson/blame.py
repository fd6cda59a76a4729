"""The blameless-language nudge: sentences of a lesson that put a person, not a process, at the
centre, each with a question that turns the attention to the conditions instead.

Precision comes first: a nudge that cries wolf teaches people to ignore it. So a rule fires only
on a shape that is about a person: a failure verb needs a person as its subject ("Bob forgot",
"the on-call ignored", "we failed to"), never a tool ("the deploy tool forgot the flag");
"should have" needs a person too ("the alert should have fired" is a system's design); "fault"
needs a possessive or "at fault" ("fault tolerance" and "a disk fault" are engineering);
judgement words skip their technical senses ("lazy loading", "sloppy quorum"); a negation turns
a finding around ("this was not human error"). Code, links and quoted speech are not read at all
(service/lesson/prose.py). The words are data, one file a language (service/lesson/blame_rules.py).

There is no parser here, only a few words of context either side and the person a sentence opens
with (who stays the subject past "and" and past a clause about them: "the engineer who deployed
the change did not monitor it"), which is why it is fast and predictable, and also what it
misses: a harmful act whose object carries no marker word ("dropped the analytics schema"), a
cause several clauses away, rhetorical questions, irony without a marker. bench/blame.py
measures both on the labelled sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from service.domain.events import Markup
from service.lesson.blame_rules import RULES, Language, load_languages
from service.lesson.prose import sentences


@dataclass(frozen=True)
class Finding:
    line: int
    sentence: str
    rule: str
    matched: str  # the words that made the rule fire, as written
    suggestion: str
    language: str

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "sentence": self.sentence,
            "rule": self.rule,
            "matched": self.matched,
            "suggestion": self.suggestion,
            "language": self.language,
        }


def find_blame(text: str, markup: Markup = "markdown", languages: Sequence[Language] | None = None) -> list[Finding]:
    """Each sentence of ``text`` that a rule of any language flags, once, in order, under the
    first rule (in :data:`RULES` order) that matches."""
    compiled = _built_in() if languages is None else [_Rules(language) for language in languages]
    found: list[Finding] = []
    for sentence in sentences(text, markup):
        tokens = _tokens(sentence.prose)
        if not tokens:
            continue
        for rules in compiled:
            hit = rules.first_match(tokens, sentence.prose)
            if hit is not None:
                rule, start, end = hit
                matched = " ".join(token.text for token in tokens[start:end])
                found.append(
                    Finding(
                        sentence.line,
                        sentence.text,
                        rule,
                        matched,
                        rules.language.suggestion(rule),
                        rules.language.language,
                    )
                )
                break
    return found


# --- words ------------------------------------------------------------------------------------

_WORD = re.compile(r"@?[^\W\d_][\w'\u2019-]* ?[,;:.!?()]?")
"""A word, and the punctuation right after it (a space apart at most) that ends a phrase."""
_STOPS = ",;:.!?()"
_CLOCK = re.compile(r"\b\d{1,2}[:.h]\d\d\b")
"""A clock time ("14:02", "9.30"): the sentence is a timeline entry, where people act and a
routine verb on a production object is the record of a step, not the cause of the harm."""


class _Token(NamedTuple):  # a tuple: one is made for every word of every lesson
    text: str  # as written
    lower: str  # lower case, plain apostrophes
    base: str  # lower, without a possessive "'s" or "'"
    possessive: bool
    first: bool  # the sentence's first word
    stop: bool = False  # followed by punctuation that ends a phrase ("the deploy team, plain and simple")


def _tokens(prose: str) -> list[_Token]:
    words = _WORD.findall(prose)
    if not words:
        return []
    out = list(map(_TokenCache().__getitem__, words))  # one token a distinct word, shared
    out[0] = _token(words[0], first=True)
    return out


class _TokenCache(dict[str, _Token]):
    def __missing__(self, word: str) -> _Token:
        token = self[word] = _token(word, first=False)
        return token


def _token(word: str, first: bool) -> _Token:
    stop = word[-1] in _STOPS
    text = word.rstrip(_STOPS).rstrip(" ").rstrip("-")
    lower = text.lower().replace("\u2019", "'")
    base, possessive = lower, False
    if lower.endswith("'s") and len(lower) > 2:
        base, possessive = lower[:-2], True
    elif lower.endswith("'"):
        base, possessive = lower.rstrip("'"), True
    return _Token(text, lower, base, possessive, first, stop)


_REACH = 8
"""The most auxiliaries, adverbs, fillers or determiners a rule looks past for a subject or an
object: more in a row is no sentence, and the bound keeps every check constant-time."""


class _Sentence(list[_Token]):
    """A sentence's words, and what a rule needs to know about all of them, found once (a rule
    asks at every trigger word; finding these each time made a sentence cost its length squared)."""

    first_mistake: int = -1  # the first word that is a mistake noun ("error", "mistake"), or len; -1 not yet found
    opening: int | None = None  # the person the sentence opens with (see _Rules._opening_person)
    first_clause: int = 0  # the first word after ``opening`` that opens a clause of its own, or len
    prose: str = ""  # the sentence as read, for the clock time that makes it a timeline entry
    bases: list[str] | None = None  # every word's base, for C-speed looks at a window of words
    harm_verbs: frozenset[str] | None = None  # the harm verbs that can fire here (_Rules._harm_verbs_here)


def _bases(tokens: Sequence[_Token], start: int, stop: int) -> list[str]:
    """The bases of words ``start`` to ``stop``, from a list made once a sentence."""
    if isinstance(tokens, _Sentence):
        if tokens.bases is None:
            tokens.bases = [token.base for token in tokens]
        return tokens.bases[start:stop]
    return [token.base for token in tokens[start:stop]]


def _first_mistake(tokens: Sequence[_Token], nouns: frozenset[str]) -> int:
    """The first word of ``tokens`` in ``nouns``, or their number: found once a sentence, by
    C-speed searches (a rule asks at every "made ... by")."""
    if isinstance(tokens, _Sentence) and tokens.first_mistake >= 0:
        return tokens.first_mistake
    bases = [token.base for token in tokens]
    present = nouns.intersection(bases)
    found = min((bases.index(noun) for noun in present), default=len(bases))
    if isinstance(tokens, _Sentence):
        tokens.first_mistake = found
    return found


Phrase = tuple[str, ...]


class _Phrases(dict[str, list[Phrase]]):
    """Phrases indexed by their first word, longest first; and by their first two words, so
    that a word starting many phrases ("made a mistake", "made an error", ...) is matched with
    one lookup of the word after it, not a comparison with each."""

    def __init__(self) -> None:
        super().__init__()
        self.by_two: dict[tuple[str, str], list[Phrase]] = {}
        self.single: set[str] = set()


def _phrases(words: Iterable[str]) -> _Phrases:
    index = _Phrases()
    for phrase in words:
        parts = tuple(phrase.lower().replace("\u2019", "'").split())
        if parts:
            index.setdefault(parts[0], []).append(parts)
            if len(parts) == 1:
                index.single.add(parts[0])
            else:
                index.by_two.setdefault((parts[0], parts[1]), []).append(parts)
    for options in (*index.values(), *index.by_two.values()):
        options.sort(key=len, reverse=True)
    return index


def _match(tokens: Sequence[_Token], i: int, index: _Phrases) -> int | None:
    """The end of the longest phrase of ``index`` starting at ``i``, or None."""
    first = tokens[i]
    key = first.base if first.base in index else first.lower if first.lower in index else None
    if key is None:
        return None
    if i + 1 < len(tokens):
        after = tokens[i + 1]
        options = index.by_two.get((key, after.base), [])
        if after.lower != after.base and (key, after.lower) in index.by_two:
            options = sorted([*options, *index.by_two[(key, after.lower)]], key=len, reverse=True)
        for phrase in options:
            end = i + len(phrase)
            if end <= len(tokens) and all(
                tokens[i + k].base == word or tokens[i + k].lower == word for k, word in enumerate(phrase[2:], 2)
            ):
                return end
    return i + 1 if key in index.single else None


@lru_cache(maxsize=1)
def _built_in() -> list[_Rules]:
    """The built-in languages' rules, built once a process."""
    return [_Rules(language) for language in load_languages()]


class _Rules:
    """One language's word lists as sets and phrase indexes, and the rules that read them."""

    def __init__(self, language: Language) -> None:
        self.language = language
        people, grammar, failure = language.people, language.grammar, language.failure
        hindsight, phrases, causes = language.hindsight, language.phrases, language.causes
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
        self.negation = _phrases(grammar.negation)
        self.negation_window = grammar.negation_window
        self.joins = frozenset(grammar.joins)
        self.relatives = frozenset(grammar.relatives)
        self.subordinators = frozenset(grammar.subordinators)
        self.failure_verbs = _phrases(failure.verbs)
        self.omission_markers = _phrases(failure.omission_markers)
        self.omission_verbs = frozenset(failure.omission_verbs)
        self.be = frozenset(failure.be)
        self.object_exceptions = {verb: frozenset(words) for verb, words in failure.object_exceptions.items()}
        self.passive = frozenset(failure.passive)
        self.mistake_nouns = frozenset(failure.mistake_nouns)
        self.noun_compounds = frozenset(failure.noun_compounds)
        self.modals = _phrases(hindsight.modals)
        self.participles = frozenset(hindsight.participles)
        self.participle_ending = hindsight.participle_ending
        self.conditionals = frozenset(hindsight.conditionals)
        self.perfect = frozenset(hindsight.perfect)
        self.human_error = _phrases(phrases.human_error)
        self.judgement = _phrases(phrases.judgement)
        self.exceptions = {word: frozenset(after) for word, after in phrases.exceptions.items()}
        self.cause_triggers = _phrases(causes.triggers)
        self.cause_window = causes.window
        self.after_person = frozenset(causes.after_person)
        self.filler = frozenset(causes.filler)
        self.at_fault = _phrases(causes.at_fault)
        self.fault_nouns = frozenset(causes.fault_nouns)
        self.blame_words = frozenset(causes.blame_words)
        self.blame_links = _phrases(causes.blame_links)
        self.on_person = _phrases(causes.on_person)
        self.cleft = _phrases(causes.cleft)
        self.credit_verbs = _phrases(causes.credit_verbs)
        self.harm_verbs = frozenset(failure.harm_verbs)
        self.harm_objects = frozenset(failure.harm_objects)
        self.harm_markers = _phrases(failure.harm_markers)
        self.harm_marker_words = frozenset(self.harm_markers)
        self.person_words = (
            self.pronouns
            | self.object_pronouns
            | self.possessives
            | self.own_possessives
            | self.roles
            | frozenset(second for _, second in self.role_phrases)
        )
        self.phrasal: dict[str, frozenset[str]] = {}
        for pair in failure.phrasal:
            verb, _, particle = pair.partition(" ")
            self.phrasal[verb] = self.phrasal.get(verb, frozenset()) | {particle}
        self.without = _phrases(failure.without)
        self.harm_triggers = self.harm_verbs | frozenset(self.phrasal)
        self.new_forms = self.harm_triggers | frozenset(self.without)
        self.without_duties = _phrases(failure.without_duties)
        irony = language.irony
        self.typical = _phrases(irony.typical)
        self.thanks = _phrases(irony.thanks)
        self.losses = _phrases(irony.losses)
        self.habits = _phrases(irony.habits)
        self.irony_words = frozenset(self.typical) | frozenset(self.thanks) | frozenset(self.habits)
        self._checks = {
            "human-error": self._human_error,
            "root-cause": self._root_cause,
            "fault": self._fault,
            "blame": self._blame,
            "judgement": self._judgement,
            "hindsight": self._hindsight,
            "mistake": self._mistake,
            "person-failure": self._person_failure,
        }
        assert set(self._checks) == set(RULES)
        self._triggers: dict[str, frozenset[str]] = {
            "human-error": frozenset(self.human_error),
            "root-cause": frozenset(self.cause_triggers) | frozenset(self.on_person),
            "fault": frozenset(self.at_fault) | self.fault_nouns,
            "blame": self.blame_words,
            "judgement": frozenset(self.judgement)
            | frozenset(self.typical)
            | frozenset(self.thanks)
            | frozenset(self.habits),
            "hindsight": frozenset(self.modals) | self.conditionals | self.perfect,
            "mistake": self.mistake_nouns,
            "person-failure": frozenset(self.failure_verbs)
            | frozenset(self.omission_markers)
            | self.passive
            | self.harm_verbs
            | frozenset(self.phrasal)
            | frozenset(self.without)
            | {"made"},
        }
        """The words each rule can fire on: the first words of its phrases, or its word set."""
        starts: dict[str, list[int]] = {}
        for number, rule in enumerate(RULES):
            for word in self._triggers[rule]:
                starts.setdefault(word, []).append(number)
        self._starts = {word: tuple(numbers) for word, numbers in starts.items()}
        """For each trigger word, the rules (by their place in RULES) that may fire on it."""

    def first_match(self, tokens: Sequence[_Token], prose: str = "") -> tuple[str, int, int] | None:
        """(rule, first word, end) of the first rule that flags the sentence.

        Each rule is tried only at the words it can start on (its triggers), found with one set
        lookup a word; every check then looks at a bounded number of words around it, so a
        sentence costs time linear in its length whatever it repeats."""
        sentence = _Sentence(tokens)
        sentence.prose = prose
        sentence.opening = self._find_opening_person(tokens)
        start = len(tokens) if sentence.opening is None else sentence.opening + 1
        sentence.first_clause = next(
            (k for k in range(start, len(tokens)) if self._subordinates(tokens, k)), len(tokens)
        )
        at: list[list[int]] = [[] for _ in RULES]  # where each rule may fire, in order
        starts = self._starts
        for k in [k for k, token in enumerate(tokens) if token.base in starts or token.lower in starts]:
            token = tokens[k]
            rules = starts.get(token.base, ())
            if token.lower != token.base:
                rules = tuple(dict.fromkeys((*rules, *starts.get(token.lower, ()))))
            for number in rules:
                at[number].append(k)
        opener = tokens[0]
        if opener.base in self.cleft or opener.lower in self.cleft:  # a cleft is heard only where it opens
            person_failure = at[RULES.index("person-failure")]
            if not person_failure or person_failure[0] != 0:
                person_failure.insert(0, 0)
        for number, rule in enumerate(RULES):
            check = self._checks[rule]
            for i in at[number]:
                end = check(sentence, i)
                if end is not None:
                    return rule, self._who(sentence, i), end
        return None

    def _harm_verbs_in(self, tokens: Sequence[_Token]) -> frozenset[str]:
        """:meth:`_harm_verbs_here`, found once a sentence, when a harm verb is first met."""
        if not isinstance(tokens, _Sentence):
            return self._harm_verbs_here(tokens, False)
        if tokens.harm_verbs is None:
            tokens.harm_verbs = self._harm_verbs_here(tokens, _CLOCK.search(tokens.prose) is not None)
        return tokens.harm_verbs

    def _harm_verbs_here(self, tokens: Sequence[_Token], timed: bool) -> frozenset[str]:
        """The harm verbs that can fire in this sentence: none in a timeline entry, none without
        a harmful object or marker (or, for a phrasal verb, its particle), none where no word
        could name a person; found with a few set operations a sentence, so the check at each
        trigger word is skipped where it cannot fire."""
        words = frozenset(token.base for token in tokens)
        if timed or words.isdisjoint(self.harm_triggers):
            return frozenset()
        harm_possible = not (self.harm_objects.isdisjoint(words) and self.harm_marker_words.isdisjoint(words))
        verbs = (self.harm_verbs if harm_possible else frozenset()) | frozenset(
            verb for verb, particles in self.phrasal.items() if not particles.isdisjoint(words)
        )
        if (
            verbs
            and self.person_words.isdisjoint(words)
            and not any(token.text[:1].isupper() or token.text[:1] == "@" for token in tokens)
        ):
            return frozenset()  # no word that could name a person: no one acts
        return verbs & words

    def _who(self, tokens: Sequence[_Token], i: int) -> int:
        """Where the words to show begin: at the person when there is one ("Bob forgot",
        "Raj's mistake"), so the writer sees why the sentence was picked."""
        if i > 0 and self._person_possessive(tokens[i - 1], tokens, i - 1):
            return i - 1
        j = self._subject(tokens, i)
        return j if j is not None and self._is_person(tokens, j) else i

    # --- who is a person ----------------------------------------------------------------------

    def _is_role(self, tokens: Sequence[_Token], j: int) -> bool:
        if j > 0 and (tokens[j - 1].base, tokens[j].base) in self.role_phrases:
            return True
        return tokens[j].base in self.roles and not self._named_tool(tokens, j - 1)

    def _named_tool(self, tokens: Sequence[_Token], j: int) -> bool:
        """ "the *Kubernetes* operator", "a *Postgres* operator": a role word after a product's
        name, written as a name (not an acronym: "the DNS admin" is a person), is that product's."""
        if j < 0 or tokens[j].base not in self.not_people:
            return False
        raw = tokens[j].text
        return raw[:1].isupper() and not raw.isupper()

    def _is_name(self, tokens: Sequence[_Token], j: int) -> bool:
        """A capitalised word that is neither a tool, an acronym, nor a common word at the start."""
        token = tokens[j]
        if not self.capitalised_names:
            return False
        raw = token.text.lstrip("@")
        if token.possessive:
            raw = re.sub(r"['\u2019]s?$", "", raw)
        if not raw[:1].isupper() or token.base in self.not_people or token.base in self.not_names:
            return False
        if len(raw) > 1 and raw.isupper():
            return False  # CI, DNS, LB
        if any(c.isdigit() for c in raw) or any(c.isupper() and raw[k].isalpha() for k, c in enumerate(raw[1:])):
            return False  # GitHub, k8s, ArgoCD (but Jean-Luc, O'Brien are names)
        if token.first:
            return not token.base.endswith(self.not_name_endings)
        return tokens[j - 1].base not in self.determiners

    def _is_person(self, tokens: Sequence[_Token], j: int) -> bool:
        """Whether word ``j``, as the subject of a verb, names a person."""
        token = tokens[j]
        if token.lower.startswith("@") and len(token.lower) > 1:
            return True
        if token.possessive:
            return False
        return token.base in self.pronouns or self._is_role(tokens, j) or self._is_name(tokens, j)

    def _subject(self, tokens: Sequence[_Token], i: int) -> int | None:
        """The word that is the subject of the verb at ``i``: the nearest to its left, past
        auxiliaries and adverbs, and past a relative "that" to what it stands for."""
        j = i - 1
        while j >= max(0, i - 1 - _REACH) and tokens[j].base in self.skip:
            j -= 1
        if j > 0 and tokens[j].base == "that":
            j -= 1
        return j if j >= 0 else None

    def _person_subject(self, tokens: Sequence[_Token], i: int) -> bool:
        j = self._subject(tokens, i)
        if j is None:
            return False
        return self._is_person(tokens, j) or self._opening_person_reaches(tokens, j)

    def _opening_person_reaches(self, tokens: Sequence[_Token], j: int) -> bool:
        """Whether the person the sentence opens with is still the subject at word ``j``, where
        the nearest word is not one: a second verb ("Someone turned off the backups *and*
        forgot"), or the verb after a clause about that person ("The developer who wrote the
        retry logic never tested it", "Whoever wrote this forgot"). Not past a clause that
        brings its own subject ("... noticed *because* the job skipped ...")."""
        h = self._opening_person(tokens)
        if h is None or h >= j:
            return False
        if tokens[j].base in self.joins:  # "... because it was noisy, and then forgot about it"
            return True
        first_clause = (
            tokens.first_clause
            if isinstance(tokens, _Sentence)
            else next((k for k in range(h + 1, len(tokens)) if self._subordinates(tokens, k)), len(tokens))
        )
        if first_clause <= j:
            return False
        return tokens[h].base in self.relatives or (h + 1 < len(tokens) and tokens[h + 1].base in self.relatives)

    def _subordinates(self, tokens: Sequence[_Token], k: int) -> bool:
        """Whether word ``k`` opens a clause of its own. A subordinator that is also a determiner
        ("that") does only before a determiner or a pronoun: "noticed *that* the job skipped",
        but not "paged twice *that* night"."""
        if tokens[k].base not in self.subordinators:
            return False
        if tokens[k].base not in self.determiners:
            return True
        after = tokens[k + 1].base if k + 1 < len(tokens) else ""
        return after in self.determiners or after in self.pronouns

    def _persons_work(self, tokens: Sequence[_Token], i: int) -> bool:
        """Whether the subject of the verb at ``i`` is a named person's or a role's work:
        "Ahmed's hotfix broke login", "the architect's design decision caused" (not "our",
        "their": "our deploy tool forgot the flag" is about the tool)."""
        j = self._subject(tokens, i)
        if j is None:
            return False
        for k in range(max(0, j - 2), j):
            token = tokens[k]
            if token.lower in self.own_possessives:  # "my change caused the outage"
                return True
            if token.possessive and token.lower not in self.possessives and self._person_possessive(token, tokens, k):
                return True
        return False

    def _opening_person(self, tokens: Sequence[_Token]) -> int | None:
        if isinstance(tokens, _Sentence):
            return tokens.opening
        return self._find_opening_person(tokens)

    def _find_opening_person(self, tokens: Sequence[_Token]) -> int | None:
        """The last word of the person a sentence opens with ("The on-call *engineer* ignored",
        "*Whoever* wrote"), past its determiners, or None when it opens with something else."""
        h = 0
        while h < len(tokens) and (tokens[h].base in self.determiners or tokens[h].base in self.filler):
            h += 1
        if h >= len(tokens) or not self._is_person(tokens, h):
            return None
        while h + 1 < len(tokens) and self._is_role(tokens, h + 1) and not tokens[h + 1].possessive:
            h += 1
        return h

    def _person_possessive(self, token: _Token, tokens: Sequence[_Token], j: int) -> bool:
        """ "his", "whose", "Kevin's", "the on-call's": a possessive that names a person."""
        if token.lower in self.possessives:
            return True
        return token.possessive and (self._is_role(tokens, j) or self._is_name(tokens, j))

    def _names_person(self, tokens: Sequence[_Token], start: int) -> bool:
        """Whether the phrase beginning at ``start`` (past filler words) names a person: "Sarah",
        "an engineer who", "him", "the engineer's", but not "the on-call rotation"."""
        m = start
        while (
            m < min(len(tokens), start + _REACH) and tokens[m].base in self.filler and tokens[m].base not in self.roles
        ):
            m += 1
        for k in range(m, min(len(tokens), m + self.cause_window)):
            token = tokens[k]
            if token.lower.startswith("@") and len(token.lower) > 1:
                return True
            if token.base in self.object_pronouns and not token.possessive:
                return True
            if token.possessive and (self._is_role(tokens, k) or self._is_name(tokens, k)):
                return True
            if self._is_role(tokens, k):
                return self._ends_phrase(tokens, k)  # "the on-call engineer", "the deploy team, plain"
            if self._is_name(tokens, k):
                return True
        return False

    def _negated(self, tokens: Sequence[_Token], i: int) -> bool:
        for m in range(max(0, i - self.negation_window), i):
            if tokens[m].lower.endswith("n't"):
                return True
            end = _match(tokens, m, self.negation)
            if end is not None and end <= i:
                return True
        return False

    # --- the rules: each returns where the words that fired end, or None ---------------------

    def _human_error(self, tokens: Sequence[_Token], i: int) -> int | None:
        end = _match(tokens, i, self.human_error)
        return end if end is not None and not self._negated(tokens, i) else None

    def _root_cause(self, tokens: Sequence[_Token], i: int) -> int | None:
        end = _match(tokens, i, self.cause_triggers)
        if end is not None and self._names_person(tokens, end):
            return end
        return self._on_person(tokens, i)

    def _on_person(self, tokens: Sequence[_Token], i: int) -> int | None:
        """ "This was on Jake", "the responsibility falls on the team lead": a thing placed on a
        person named right after. Not when a person is the subject ("Ana was on Zoom" is where
        she was), nor a possessive ("the fix is on Maria's branch" is a place)."""
        end = _match(tokens, i, self.on_person)
        if end is None or self._person_subject(tokens, i) or self._negated(tokens, i):
            return None
        if end < len(tokens) and (tokens[end - 1].base, tokens[end].base) in self.role_phrases:
            return None  # "none was on call"
        m = end
        while m < min(len(tokens), end + _REACH) and tokens[m].base in self.determiners:
            m += 1
        for k in range(m, min(len(tokens), m + self.cause_window)):
            token = tokens[k]
            if token.possessive:
                return None
            if token.base in self.object_pronouns or (token.lower.startswith("@") and len(token.lower) > 1):
                return k + 1
            if self._is_role(tokens, k):
                return k + 1 if self._ends_phrase(tokens, k) else None
            if self._is_name(tokens, k):
                return k + 1
        return None

    def _ends_phrase(self, tokens: Sequence[_Token], k: int) -> bool:
        """Whether the role at ``k`` ends its noun phrase: "the team lead*,*", "the engineer
        *who*", but not "the team *wiki*"."""
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        return (
            after is None
            or tokens[k].stop
            or after.base in self.after_person
            or after.base.endswith(("ing", "ed"))
            or self._is_role(tokens, k + 1)
        )

    def _fault(self, tokens: Sequence[_Token], i: int) -> int | None:
        end = _match(tokens, i, self.at_fault)
        if end is not None and self._person_subject(tokens, i) and not self._negated(tokens, i):
            return end
        if tokens[i].base in self.fault_nouns and i > 0 and self._person_possessive(tokens[i - 1], tokens, i - 1):
            after = tokens[i + 1].base if i + 1 < len(tokens) else ""
            if after not in self.noun_compounds and not self._negated(tokens, i - 1):
                return i + 1
        return None

    def _blame(self, tokens: Sequence[_Token], i: int) -> int | None:
        if tokens[i].base not in self.blame_words or self._negated(tokens, i):
            return None
        if i > 0 and tokens[i - 1].base == "to":  # "the DBA is to blame"
            return i + 1 if self._person_subject(tokens, i - 1) else None
        for m in range(i + 1, min(len(tokens), i + 8)):  # "blame for X lies with"
            if _match(tokens, m, self.blame_links) is not None:
                return i + 1
        if self._person_subject(tokens, i):  # "we blame the vendor"
            return i + 1
        after = i + 2 if i + 1 < len(tokens) and tokens[i + 1].base == "on" else i + 1
        return i + 1 if self._names_person(tokens, after) else None  # "blamed on Bob"

    def _judgement(self, tokens: Sequence[_Token], i: int) -> int | None:
        end = _match(tokens, i, self.judgement)
        if end is None:
            return self._irony(tokens, i) if tokens[i].base in self.irony_words else None
        technical = self.exceptions.get(tokens[end - 1].base)
        if technical is not None and end < len(tokens) and tokens[end].base in technical:
            return None  # "lazy loading", "sloppy quorum"
        return None if self._negated(tokens, i) else end

    def _irony(self, tokens: Sequence[_Token], i: int) -> int | None:
        """Blame said by its opposite: "Typical Dave.", "another classic from the web team",
        "Thanks to Steve, we spent the weekend restoring backups", "Daria pushed to main on a
        Friday, as usual"."""
        found = self._ironic(tokens, i)
        return None if found is None or self._negated(tokens, i) else found

    def _ironic(self, tokens: Sequence[_Token], i: int) -> int | None:
        end = _match(tokens, i, self.typical)
        if end is not None and end < len(tokens):
            m = end + 1 if tokens[end].base == "from" else end
            if m < len(tokens) and tokens[m].base not in self.filler and self._names_person(tokens, m):
                return m + 1
        end = _match(tokens, i, self.thanks)
        if end is not None and self._names_person(tokens, end):
            for k in range(end, min(len(tokens), end + 2 * _REACH)):
                found = _match(tokens, k, self.losses)
                if found is not None:
                    return found
        end = _match(tokens, i, self.habits)
        if end is not None:
            opening = self._opening_person(tokens)
            if (opening is not None and opening < i) or (end < len(tokens) and self._names_person(tokens, end)):
                return end
        return None

    def _hindsight(self, tokens: Sequence[_Token], i: int) -> int | None:
        counterfactual = self._counterfactual(tokens, i)
        if counterfactual is not None:
            return counterfactual
        end = _match(tokens, i, self.modals)
        if end is None or end >= len(tokens):
            return None
        if not self._participle(tokens[end].base):
            return None
        if end + 1 < len(tokens) and self._participle(tokens[end + 1].base) and tokens[end].base in self.skip:
            return None  # "we should have been paged": the person is who it happened to, not who acted
        return end + 1 if self._person_subject(tokens, i) else None

    def _counterfactual(self, tokens: Sequence[_Token], i: int) -> int | None:
        """ "If Lucy had listened to the alert", "Had the on-call been watching": what a person
        would have done, in a condition, is hindsight too. Only omission verbs count, so "if the
        engineer had known" (what they could know) is left alone."""
        opened_by_perfect = tokens[i].first and tokens[i].base in self.perfect
        if tokens[i].base not in self.conditionals and not opened_by_perfect:
            return None
        j = i + 1
        while j < min(len(tokens), i + 1 + _REACH) and (
            tokens[j].base in self.determiners or tokens[j].base in self.filler
        ):
            j += 1
        if j >= len(tokens) or not self._is_person(tokens, j):
            return None
        role = j
        while j + 1 < min(len(tokens), role + _REACH) and self._is_role(tokens, j + 1) and not tokens[j + 1].possessive:
            j += 1
        m = j + 1
        if not opened_by_perfect:
            if m >= len(tokens) or tokens[m].base not in self.perfect:
                return None
            m += 1
        skipped = m
        while m < min(len(tokens), skipped + _REACH) and tokens[m].base in self.skip:
            m += 1
        return m + 1 if m < len(tokens) and tokens[m].base in self.omission_verbs else None

    def _participle(self, word: str) -> bool:
        return word in self.participles or (
            bool(self.participle_ending) and word.endswith(self.participle_ending) and len(word) > 3
        )

    def _mistake(self, tokens: Sequence[_Token], i: int) -> int | None:
        if tokens[i].base not in self.mistake_nouns or i == 0:
            return None
        if not self._person_possessive(tokens[i - 1], tokens, i - 1):
            return None
        after = tokens[i + 1].base if i + 1 < len(tokens) else ""
        if after in self.noun_compounds or (tokens[i].base == "failure" and after != "to"):
            return None  # "their error responses", "their failure modes"
        return None if self._negated(tokens, i - 1) else i + 1

    def _person_failure(self, tokens: Sequence[_Token], i: int) -> int | None:
        found = self._new_forms(tokens, i) if tokens[i].base in self.new_forms or tokens[i].first else None
        if found is not None:
            return found
        end = _match(tokens, i, self.failure_verbs)
        if (
            end is not None
            and (self._person_subject(tokens, i) or self._persons_work(tokens, i))
            and not self._about_a_target(tokens, i, end)
            and not self._negated(tokens, i)  # "rather than asking who missed the alert"
        ):
            return end
        end = _match(tokens, i, self.omission_markers)
        if end is not None:
            m = end
            while m < min(len(tokens), end + _REACH) and tokens[m].base in self.skip:
                m += 1
            passive = any(tokens[k].base in self.be for k in (i - 1, *range(end, m)) if k >= 0)
            if (
                m < len(tokens)
                and tokens[m].base in self.omission_verbs
                and not passive
                and self._person_subject(tokens, i)
            ):
                return m + 1
        if i + 1 < len(tokens) and tokens[i + 1].base == "by":  # "the page was ignored by the secondary"
            made_mistake = tokens[i].base == "made" and _first_mistake(tokens, self.mistake_nouns) < i
            if (tokens[i].base in self.passive or made_mistake) and self._names_person(tokens, i + 2):
                return i + 2
        return None

    def _new_forms(self, tokens: Sequence[_Token], i: int) -> int | None:
        """A harmful object, a duty left out, a cleft: the forms heard at words other than the
        failure verbs."""
        base = tokens[i].base
        found = None
        if base in self.harm_triggers and base in self._harm_verbs_in(tokens):
            found = self._harm(tokens, i)
        if found is None and base in self.without:
            found = self._without(tokens, i)
        if found is None and tokens[i].first:
            found = self._cleft(tokens, i)
        return found

    def _acts(self, tokens: Sequence[_Token], i: int) -> bool:
        """Whether the verb at ``i`` is a person's act, not negated: "Bob deleted", "Ahmed's
        script deleted"."""
        return (self._person_subject(tokens, i) or self._persons_work(tokens, i)) and not self._negated(tokens, i)

    def _harm(self, tokens: Sequence[_Token], i: int) -> int | None:
        """A person, a routine verb, and an object that makes it harm: "the intern deleted the
        *customer* uploads bucket", "dropped the backups *instead of* the snapshots"; or a
        phrasal verb with its object between: "took the warehouse *down*". Not in a timeline
        entry (a clock time), where people act and the steps are recorded."""
        base = tokens[i].base
        particles = self.phrasal.get(base)
        if base not in self.harm_verbs and particles is None:
            return None
        found = self._harm_span(tokens, i, particles)
        return found if found is not None and self._acts(tokens, i) else None

    def _harm_span(self, tokens: Sequence[_Token], i: int, particles: frozenset[str] | None) -> int | None:
        """Where the harm the verb at ``i`` does is said: a harmful object word or marker within
        reach, or (for a phrasal verb) its particle with harm before it or "by"/"for"/"with" after."""
        reach = min(len(tokens), i + 1 + _REACH)
        window = _bases(tokens, i + 1, reach)
        if particles is not None and particles.isdisjoint(window):
            return None
        if particles is None and self.harm_objects.isdisjoint(window) and self.harm_marker_words.isdisjoint(window):
            return None
        harmful = None
        for k in range(i + 1, reach):
            token = tokens[k]
            if harmful is None:
                if token.base in self.harm_objects or token.lower in self.harm_objects:
                    harmful = k + 1
                elif token.base in self.harm_markers or token.lower in self.harm_markers:
                    harmful = _match(tokens, k, self.harm_markers)
            if particles is None:
                if harmful is not None:
                    return harmful
            elif token.base in particles:
                after = tokens[k + 1].base if k + 1 < len(tokens) else ""
                return k + 1 if harmful is not None or after in ("by", "for", "with") else None
        return None

    def _without(self, tokens: Sequence[_Token], i: int) -> int | None:
        """ "Omar approved the PR without running it": a duty left out of a person's act."""
        end = _match(tokens, i, self.without)
        if end is None:
            return None
        m = end
        while m < min(len(tokens), end + _REACH) and tokens[m].base in self.skip:
            m += 1
        duty = _match(tokens, m, self.without_duties) if m < len(tokens) else None
        if duty is None or self._negated(tokens, i):
            return None
        if tokens[i].base != "without" and not tokens[duty - 1].base.endswith("ing"):
            return None  # "before" takes only an -ing duty: "before reading the prompt"
        for k in range(i - 1, max(0, i - _REACH) - 1, -1):
            if self._person_subject(tokens, k) or self._persons_work(tokens, k):
                return duty
            if tokens[k].base == "by" and self._names_person(tokens, k + 1):
                return duty  # "rushed through by the product manager without review"
        return None

    def _cleft(self, tokens: Sequence[_Token], i: int) -> int | None:
        """ "It was Farid who took the site down": a sentence that opens by singling a person
        out for an act, unless the act is credit ("It was Ana who spotted it")."""
        if not tokens[i].first:
            return None
        end = 1 if tokens[i].lower in self.cleft.single else _match(tokens, i, self.cleft)
        if end is None:
            return None
        j = end
        while j < min(len(tokens), end + _REACH) and (
            tokens[j].base in self.determiners or tokens[j].base in self.filler
        ):
            j += 1
        if j >= len(tokens) or not (self._is_person(tokens, j) or tokens[j].base in self.object_pronouns):
            return None
        while j + 1 < min(len(tokens), end + _REACH) and self._is_role(tokens, j + 1):
            j += 1
        if j + 1 >= len(tokens) or tokens[j + 1].base not in (self.relatives | {"that"}):
            return None
        v = j + 2
        while v < min(len(tokens), j + 2 + _REACH) and tokens[v].base in self.skip:
            v += 1
        if v >= len(tokens) or _match(tokens, v, self.credit_verbs) is not None:
            return None
        return v + 1

    def _about_a_target(self, tokens: Sequence[_Token], i: int, end: int) -> bool:
        """ "We missed our SLO": the verb with such an object is about a target, not a failure."""
        targets = self.object_exceptions.get(" ".join(t.base for t in tokens[i:end]))
        if not targets:
            return False
        m = end
        while m < min(len(tokens), end + _REACH) and (
            tokens[m].base in self.determiners or tokens[m].lower in self.possessives
        ):
            m += 1
        # the object's first word, or a word just after a short object: "broke the migration *into* steps"
        return any(tokens[k].base in targets for k in range(m, min(m + 3, len(tokens))))
