"""Phrases of a word list ("made a mistake", "dropped the ball"), indexed so that the longest
one starting at a word is found with a lookup or two, not a comparison with every phrase."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from service.lesson.blame.words import Token

Phrase = tuple[str, ...]


class Phrases(dict[str, list[Phrase]]):
    """Phrases indexed by their first word, longest first; and by their first two words, so
    that a word starting many phrases ("made a mistake", "made an error", ...) is matched with
    one lookup of the word after it, not a comparison with each."""

    def __init__(self) -> None:
        super().__init__()
        self.by_two: dict[tuple[str, str], list[Phrase]] = {}
        self.single: set[str] = set()


def phrases(words: Iterable[str]) -> Phrases:
    """The index of ``words``, each a phrase of words separated by spaces."""
    index = Phrases()
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


def match(tokens: Sequence[Token], i: int, index: Phrases) -> int | None:
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
