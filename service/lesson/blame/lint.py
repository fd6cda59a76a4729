"""The nudge's public call: the sentences of a text that a rule of any language flags, each
with the words that fired it and the language's question about the conditions instead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.domain.events import Markup
from service.lesson.blame.matcher import Matcher
from service.lesson.blame.words import tokenize
from service.lesson.blame_rules import Language, load_languages
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
    matchers = built_in() if languages is None else [Matcher(language) for language in languages]
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
    return found


@lru_cache(maxsize=1)
def built_in() -> list[Matcher]:
    """The built-in languages' matchers, built once a process."""
    return [Matcher(language) for language in load_languages()]
