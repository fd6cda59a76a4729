"""The nudge's learned second opinion: a linear model over a sentence's words and word pairs,
asked only about the sentences no rule flagged, and only when a caller asks (lint.py says why
the nudge does not by default).

Why: four rounds of word lists reached precision 0.975 but recall 0.642 on sentences they were
never tuned on (docs/blameless.md); each miss was blame in words no list held. A linear model
weighs every word it saw in the labelled sets at once, so it can hear "lost his head" or
"switched off ... for all live merchants" without anyone writing them down. It is trained
offline (bench/blame_model.py, scikit-learn) and exported as plain data, a JSON file of
feature weights and a threshold beside the word lists (config/blame/<language>.learned.json);
here it is only read, in pure Python: words, features, a sum. Linear in the sentence's length,
no new run-time dependency.

What keeps it honest:

- It reads exactly the prose the rules read (service/lesson/prose.py has already blanked
  quoted speech, code, links and headings), so quotation and code cannot fire it.
- It speaks only where blame is possible by the rules' own definition: a sentence that names a
  person (the grammar's pronouns, roles, names, @mentions, a person's possessive) and is not a
  timeline entry (no clock time). "Terraform ignored the lock" and "14:02 Alice deleted the
  pods" are never its to judge.
- Its threshold was chosen by cross-validation for precision of its own findings, and a finding
  names the words that weighed most, so a writer can see why, as with every rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.lesson.blame.grammar import Grammar
from service.lesson.blame.words import CLOCK, Sentence, Token

RULE = "learned"
"""The rule name its findings carry; its question is the language's general one (person-failure's)."""

NAME = "<name>"
"""A capitalised name, whoever it is: "Bob forgot" and "Priya forgot" are one feature, so that a
name seen once in training weighs nothing of its own."""
ROLE = "<role>"
"""A word that names a person by role ("engineer", "on-call", "intern"), when roles are classed."""
START = "<s>"
"""Before the first word: what a sentence opens with ("<s> <name>", "<s> we") is a feature."""
SUBJECT = "<subject>"
"""Before a word whose subject, as the rules read it, is a person: "The engineer who had been paged
twice *ignored*" gives "<subject> ignored", however many words stand between."""


@dataclass(frozen=True)
class Options:
    """How words become features; the model file says which its weights were trained with."""

    names: bool = True  # capitalised names as NAME
    roles: bool = False  # role words as ROLE
    pairs: bool = True  # word pairs as well as words
    subjects: bool = False  # each word whose subject is a person, marked SUBJECT ("<subject> ignored")


def eligible(grammar: Grammar, tokens: Sequence[Token], prose: str) -> bool:
    """Whether the model may judge this sentence: it names a person, and is not a timeline entry."""
    if CLOCK.search(prose):
        return False
    for k, token in enumerate(tokens):
        if grammar.is_person(tokens, k) or grammar.person_possessive(token, tokens, k):
            return True
        if token.lower in grammar.own_possessives:
            return True
    return False


def word_forms(grammar: Grammar, tokens: Sequence[Token], options: Options) -> list[str]:
    """Each word as the model knows it: lower case, or its class (a name, a role)."""
    forms = []
    for k, token in enumerate(tokens):
        if options.names and grammar.is_name(tokens, k):
            forms.append(NAME + ("'s" if token.possessive else ""))
        elif options.roles and grammar.is_role(tokens, k):
            forms.append(ROLE + ("'s" if token.possessive else ""))
        else:
            forms.append(token.lower)
    return forms


def features(grammar: Grammar, tokens: Sequence[Token], options: Options) -> dict[str, tuple[int, int]]:
    """The sentence's features, each with the words (first, end) of its first occurrence: every
    word, and with ``options.pairs`` every two neighbouring words (the first word with START)."""
    forms = word_forms(grammar, tokens, options)
    found: dict[str, tuple[int, int]] = {}
    for k, form in enumerate(forms):
        found.setdefault(form, (k, k + 1))
        if options.pairs:
            before = forms[k - 1] if k else START
            found.setdefault(f"{before} {form}", (max(0, k - 1), k + 1))
    if options.subjects:
        sentence = _sentence(grammar, tokens)
        for k in range(1, len(tokens)):
            if grammar.person_subject(sentence, k) and not grammar.is_person(sentence, k):
                j = grammar.subject(sentence, k)
                found.setdefault(f"{SUBJECT} {forms[k]}", (k if j is None else min(j, k), k + 1))
    return found


def _sentence(grammar: Grammar, tokens: Sequence[Token]) -> Sentence:
    """The words with the person the sentence opens with and its first clause found once, as the
    matcher finds them, so that asking each word for its subject stays linear."""
    sentence = Sentence(tokens)
    sentence.opening = grammar.find_opening_person(tokens)
    start = len(tokens) if sentence.opening is None else sentence.opening + 1
    sentence.first_clause = next((k for k in range(start, len(tokens)) if grammar.subordinates(tokens, k)), len(tokens))
    return sentence


@dataclass(frozen=True)
class Model:
    """A language's exported weights: a sentence's score is ``bias`` plus the weight of each
    feature it holds (each counted once); it is flagged when the score reaches ``threshold``
    (a log-odds, chosen by bench/blame_model.py)."""

    language: str
    options: Options
    bias: float
    threshold: float
    weights: dict[str, float] = field(repr=False)

    def score(self, found: dict[str, tuple[int, int]]) -> float:
        weights = self.weights
        return self.bias + sum(weights.get(feature, 0.0) for feature in found)

    def judge(
        self, grammar: Grammar, tokens: Sequence[Token], prose: str
    ) -> tuple[float, list[tuple[int, int]]] | None:
        """(score, the spans of the words that weighed most) when the sentence is flagged, else None."""
        if not eligible(grammar, tokens, prose):
            return None
        found = features(grammar, tokens, self.options)
        score = self.score(found)
        if score < self.threshold:
            return None
        return score, self.heaviest(found)

    def heaviest(self, found: dict[str, tuple[int, int]], most: int = 3) -> list[tuple[int, int]]:
        """The spans of the ``most`` features that pushed the score up most, merged where they
        touch and in sentence order: the words a finding shows ("lost his head")."""
        weights = self.weights
        pushing = sorted(
            ((weights[feature], span) for feature, span in found.items() if weights.get(feature, 0.0) > 0),
            key=lambda item: (-item[0], item[1]),
        )[:most]
        spans: list[tuple[int, int]] = []
        for start, end in sorted(span for _, span in pushing):
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
        return spans


class ModelFileError(Exception):
    """A model file that cannot be used; ``str()`` names the file and what is wrong."""


def load_model(path: Path) -> Model:
    """One exported model, checked: every weight a finite number, the options known."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        options = Options(**data["options"])
        weights = {str(feature): float(weight) for feature, weight in data["weights"].items()}
        model = Model(str(data["language"]), options, float(data["bias"]), float(data["threshold"]), weights)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ModelFileError(f"{path}: {type(error).__name__}: {error}") from None
    numbers = [model.bias, model.threshold, *weights.values()]
    if not all(math.isfinite(number) for number in numbers):
        raise ModelFileError(f"{path}: a weight, the bias or the threshold is not a finite number")
    return model
