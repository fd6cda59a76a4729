"""Who a sentence is about, read from a few words around a trigger: whether a word names a
person, which word is a verb's subject, whether a possessive is a person's, whether a finding
is negated. There is no parser: the person a sentence opens with, and whether a clause of its
own comes between them and a verb, is all the structure read, which is why it is fast and
predictable, and also why a cause several clauses away is missed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.lesson.blame.phrases import match
from service.lesson.blame.vocabulary import Vocabulary
from service.lesson.blame.words import REACH, Sentence, Token


class Grammar(Vocabulary):
    """One language's words, and the questions every rule asks of a sentence with them."""

    def is_role(self, tokens: Sequence[Token], j: int) -> bool:
        if j > 0 and (tokens[j - 1].base, tokens[j].base) in self.role_phrases:
            return True
        return tokens[j].base in self.roles and not self._named_tool(tokens, j - 1)

    def _named_tool(self, tokens: Sequence[Token], j: int) -> bool:
        """ "the *Kubernetes* operator", "a *Postgres* operator": a role word after a product's
        name, written as a name (not an acronym: "the DNS admin" is a person), is that product's."""
        if j < 0 or tokens[j].base not in self.not_people:
            return False
        raw = tokens[j].text
        return raw[:1].isupper() and not raw.isupper()

    def is_name(self, tokens: Sequence[Token], j: int) -> bool:
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

    def is_person(self, tokens: Sequence[Token], j: int) -> bool:
        """Whether word ``j``, as the subject of a verb, names a person."""
        token = tokens[j]
        if token.lower.startswith("@") and len(token.lower) > 1:
            return True
        if token.possessive:
            return False
        return token.base in self.pronouns or self.is_role(tokens, j) or self.is_name(tokens, j)

    def subject(self, tokens: Sequence[Token], i: int) -> int | None:
        """The word that is the subject of the verb at ``i``: the nearest to its left, past
        auxiliaries and adverbs, and past a relative "that" to what it stands for."""
        j = i - 1
        while j >= max(0, i - 1 - REACH) and tokens[j].base in self.skip:
            j -= 1
        if j > 0 and tokens[j].base == "that":
            j -= 1
        return j if j >= 0 else None

    def person_subject(self, tokens: Sequence[Token], i: int) -> bool:
        """Whether the subject of the verb at ``i`` is a person."""
        j = self.subject(tokens, i)
        if j is None:
            return False
        return self.is_person(tokens, j) or self._opening_person_reaches(tokens, j)

    def _opening_person_reaches(self, tokens: Sequence[Token], j: int) -> bool:
        """Whether the person the sentence opens with is still the subject at word ``j``, where
        the nearest word is not one: a second verb ("Someone turned off the backups *and*
        forgot"), the verb after a clause about that person ("The developer who wrote the
        retry logic never tested it", "Whoever wrote this forgot") or after words set off by
        commas ("The engineer, tired after a long shift, ignored"). Not past a clause that
        brings its own subject ("... noticed *because* the job skipped ...")."""
        h = self.opening_person(tokens)
        if h is None or h >= j:
            return False
        if tokens[j].base in self.joins:  # "... because it was noisy, and then forgot about it"
            return True
        first_clause = (
            tokens.first_clause
            if isinstance(tokens, Sentence)
            else next((k for k in range(h + 1, len(tokens)) if self.subordinates(tokens, k)), len(tokens))
        )
        if tokens[h].stop and tokens[j].stop:  # "The engineer, tired after a long shift, ignored"
            return True
        if first_clause <= j:
            return False
        return tokens[h].base in self.relatives or (h + 1 < len(tokens) and tokens[h + 1].base in self.relatives)

    def subordinates(self, tokens: Sequence[Token], k: int) -> bool:
        """Whether word ``k`` opens a clause of its own. A subordinator that is also a determiner
        ("that") does only before a determiner or a pronoun: "noticed *that* the job skipped",
        but not "paged twice *that* night"."""
        if tokens[k].base not in self.subordinators:
            return False
        if tokens[k].base not in self.determiners:
            return True
        after = tokens[k + 1].base if k + 1 < len(tokens) else ""
        return after in self.determiners or after in self.pronouns

    def persons_work(self, tokens: Sequence[Token], i: int) -> bool:
        """Whether the subject of the verb at ``i`` is a named person's or a role's work:
        "Ahmed's hotfix broke login", "the architect's design decision caused" (not "our",
        "their": "our deploy tool forgot the flag" is about the tool)."""
        j = self.subject(tokens, i)
        if j is None:
            return False
        for k in range(max(0, j - 2), j):
            token = tokens[k]
            if token.lower in self.own_possessives:  # "my change caused the outage"
                return True
            if token.possessive and token.lower not in self.possessives and self.person_possessive(token, tokens, k):
                return True
        return self._shipped(tokens, j)

    def _shipped(self, tokens: Sequence[Token], j: int) -> bool:
        """Whether word ``j``, the subject of a verb after a relative ("a change *that* broke"),
        is what the person the sentence opens with shipped: "Tobias pushed a config change that
        broke payments", "The analyst ran an unbounded query that took the warehouse down"."""
        if j + 1 >= len(tokens) or tokens[j + 1].base not in self.object_relatives:
            return False
        h = self.opening_person(tokens)
        if h is None or j - h > REACH:
            return False
        first_clause = tokens.first_clause if isinstance(tokens, Sentence) else len(tokens)
        if first_clause <= j:
            return False
        v = h + 1
        while v < j and tokens[v].base in self.skip:
            v += 1
        return v < j and match(tokens, v, self.ships) is not None

    def acts(self, tokens: Sequence[Token], i: int) -> bool:
        """Whether the verb at ``i`` is a person's act, not negated: "Bob deleted", "Ahmed's
        script deleted"."""
        return (self.person_subject(tokens, i) or self.persons_work(tokens, i)) and not self.negated(tokens, i)

    def opening_person(self, tokens: Sequence[Token]) -> int | None:
        """:meth:`find_opening_person`, as found once for a :class:`Sentence`."""
        if isinstance(tokens, Sentence):
            return tokens.opening
        return self.find_opening_person(tokens)

    def find_opening_person(self, tokens: Sequence[Token]) -> int | None:
        """The last word of the person a sentence opens with ("The on-call *engineer* ignored",
        "*Whoever* wrote"), past its determiners, or None when it opens with something else."""
        h = 0
        while h < len(tokens) and (tokens[h].base in self.determiners or tokens[h].base in self.filler):
            h += 1
        if h >= len(tokens) or not self.is_person(tokens, h):
            return None
        while h + 1 < len(tokens) and self.is_role(tokens, h + 1) and not tokens[h + 1].possessive:
            h += 1
        return h

    def person_possessive(self, token: Token, tokens: Sequence[Token], j: int) -> bool:
        """ "his", "whose", "Kevin's", "the on-call's": a possessive that names a person."""
        if token.lower in self.possessives:
            return True
        return token.possessive and (self.is_role(tokens, j) or self.is_name(tokens, j))

    def names_person(self, tokens: Sequence[Token], start: int) -> bool:
        """Whether the phrase beginning at ``start`` (past filler words) names a person: "Sarah",
        "an engineer who", "him", "the engineer's", but not "the on-call rotation"."""
        m = start
        while (
            m < min(len(tokens), start + REACH) and tokens[m].base in self.filler and tokens[m].base not in self.roles
        ):
            m += 1
        for k in range(m, min(len(tokens), m + self.cause_window)):
            token = tokens[k]
            if token.lower.startswith("@") and len(token.lower) > 1:
                return True
            if token.base in self.object_pronouns and not token.possessive:
                return True
            if token.possessive and (self.is_role(tokens, k) or self.is_name(tokens, k)):
                return True
            if self.is_role(tokens, k):
                return self.ends_phrase(tokens, k)  # "the on-call engineer", "the deploy team, plain"
            if self.is_name(tokens, k):
                return True
        return False

    def ends_phrase(self, tokens: Sequence[Token], k: int) -> bool:
        """Whether the role at ``k`` ends its noun phrase: "the team lead*,*", "the engineer
        *who*", but not "the team *wiki*"."""
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        return (
            after is None
            or tokens[k].stop
            or after.base in self.after_person
            or after.base.endswith(("ing", "ed"))
            or after.base in self.participles  # "the operator *sent*"
            or self.is_role(tokens, k + 1)
        )

    def negated(self, tokens: Sequence[Token], i: int, window: int = 0) -> bool:
        """Whether a negation stands within a few words before ``i`` (``window``, or the
        language's): "this was *not* human error", "*nobody* is to blame", "*rather than* blaming
        the engineer"."""
        for m in range(max(0, i - (window or self.negation_window)), i):
            if tokens[m].lower.endswith("n't"):
                return True
            end = match(tokens, m, self.negation)
            if end is not None and end <= i:
                return True
        return False

    def frame_marks(self, tokens: Sequence[Token], start: int = 0) -> list[bool]:
        """Per word, whether a frame ("easy to say", "tempting to conclude") before it holds it,
        up to a contrast ("but"); from ``start``, where the first frame may begin. One pass."""
        marks = [False] * len(tokens)
        held = False
        k = start
        while k < len(tokens):
            token = tokens[k]
            if held and token.base in self.contrasts:
                held = False
            if held:
                marks[k] = True
            elif token.base in self.frames or token.lower in self.frames:
                end = match(tokens, k, self.frames)
                if end is not None:
                    held = True
                    k = end
                    continue
            k += 1
        return marks

    def person_end(self, tokens: Sequence[Token], start: int, possessive: bool = False) -> int | None:
        """The end of the person named by the phrase at ``start`` (past filler words), as
        :meth:`names_person` finds them, or None; with ``possessive``, only a possessive person:
        "on *Rahul's* watch", "on *the night shift's* watch", "on *whose* watch"."""
        m = start
        while (
            m < min(len(tokens), start + REACH) and tokens[m].base in self.filler and tokens[m].base not in self.roles
        ):
            m += 1
        for k in range(m, min(len(tokens), m + self.cause_window)):
            token = tokens[k]
            if possessive:
                if token.lower in self.possessives or (
                    token.possessive and (self.is_role(tokens, k) or self.is_name(tokens, k))
                ):
                    return k + 1
                continue
            if token.possessive:
                return None
            if token.lower.startswith("@") and len(token.lower) > 1:
                return k + 1
            if token.base in self.object_pronouns or token.base in self.pronouns:
                return k + 1
            if self.is_role(tokens, k):
                return k + 1 if self.ends_phrase(tokens, k) else None
            if self.is_name(tokens, k):
                return k + 1
        return None
