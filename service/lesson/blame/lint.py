"""The nudge's public call: the sentences of a text that a rule of any language flags, each
with the words that fired it and the language's question about the conditions instead; then,
when a caller asks for it, a learned second opinion (learned.py) on the sentences no rule
flagged. The rules stay first, so every finding they make is explained by a rule, and a model
only adds what they missed.

The built-in model (config/blame/en.learned.json) is not asked by default: measured once on
round4-heldout.tsv it added 3 sentences the rules missed and 1 false alarm, which takes the
nudge's precision there from 0.975 to 0.964 (docs/blameless.md, "A learned second opinion").
A nudge that cries wolf teaches people to ignore it, so the rules alone are what
``lessons lint`` and the sync run; ``models=built_in_models()`` asks the model too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.domain.events import Markup
from service.lesson.blame.learned import RULE, Model, load_model
from service.lesson.blame.matcher import Matcher
from service.lesson.blame.words import Token, tokenize
from service.lesson.blame_rules import RULES_DIR, Language, load_languages
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


def find_blame(
    text: str,
    markup: Markup = "markdown",
    languages: Sequence[Language] | None = None,
    models: Sequence[Model] = (),
) -> list[Finding]:
    """Each sentence of ``text`` that a rule of any language flags, once, in order, under the
    first rule (in :data:`RULES` order) that matches; or, when none does, that one of ``models``
    of the same language flags (rule ``learned``). No model by default: the rules alone."""
    matchers = built_in() if languages is None else [Matcher(language) for language in languages]
    second = [
        (matcher, model) for model in models for matcher in matchers if matcher.language.language == model.language
    ]
    found: list[Finding] = []
    for sentence in sentences(text, markup):
        tokens = tokenize(sentence.prose)
        if not tokens:
            continue
        for matcher in matchers:
            hit = matcher.first_match(tokens, sentence.prose)
            if hit is not None:
                rule, start, end = hit
                matched = " ".join(token.text for token in tokens[start:end])
                found.append(
                    Finding(
                        sentence.line,
                        sentence.text,
                        rule,
                        matched,
                        matcher.language.suggestion(rule),
                        matcher.language.language,
                    )
                )
                break
        else:
            for matcher, model in second:
                judged = model.judge(matcher.grammar, tokens, sentence.prose)
                if judged is not None:
                    language = matcher.language
                    matched = _shown(tokens, judged[1])
                    found.append(
                        Finding(
                            sentence.line, sentence.text, RULE, matched, language.suggestion(RULE), language.language
                        )
                    )
                    break
    return found


def _shown(tokens: Sequence[Token], spans: Sequence[tuple[int, int]]) -> str:
    """The words that weighed most, as written; apart from each other, with "…" between."""
    return " \u2026 ".join(" ".join(token.text for token in tokens[start:end]) for start, end in spans)


@lru_cache(maxsize=1)
def built_in() -> list[Matcher]:
    """The built-in languages' matchers, built once a process."""
    return [Matcher(language) for language in load_languages()]


@lru_cache(maxsize=1)
def built_in_models() -> tuple[Model, ...]:
    """The built-in models (``config/blame/*.learned.json``), read once a process."""
    return tuple(load_model(path) for path in sorted(RULES_DIR.glob("*.learned.json")))
