"""A rule's scope: the repositories and projects where its incidents and reviews live, and so
the only places lessonloop acts in on the word of text people wrote.

lessonloop runs as one identity with write access across an organisation, and anyone who can
write an issue decides, by the links they put in it, where the bot comments, which issues it
adopts and reads every day, and whose state it shows. Scope bounds all of that to what the
operator chose: the incident's repository or project, the review's, those the rule names (its
review target and ``projects``), ``[followups] open_in``, PagerDuty (its incidents are reached
only through an incident lessonloop reviews), and the globs of the rule's ``share`` and of
``[lesson] share``. What lies outside is named (:data:`OUTSIDE`), never written to or read.
Links an operator makes with ``lessonloop link`` are not limited: they are not text.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from config.rules import Rule
from config.settings import Settings
from service.domain.events import ItemRef
from service.store.reviews import ReviewRecord
from service.trackers.registry import project_of, tracker

OUTSIDE = "not shared: outside this rule's scope"
"""What the outcome, ``lessons show`` and the lesson page say of an item out of scope."""


def place(ref: ItemRef) -> str:
    """Where an item lives, as scope names it: ``github:owner/repo`` (lower case: GitHub's names
    are case-blind), ``jira:KEY`` or ``pagerduty``."""
    return tracker(ref.source).place(project_of(ref))


@dataclass(frozen=True)
class Scope:
    """The places (exact or globs, in :func:`place`'s spelling) one rule's lessons may reach."""

    places: tuple[str, ...]
    rule: str = ""
    """The rule's label, for messages; empty when the store cannot tell which rule it was."""

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, ItemRef):
            return False
        where = place(ref)
        return any(fnmatchcase(where, pattern) for pattern in self.places)

    def split(self, refs: list[ItemRef]) -> tuple[list[ItemRef], list[ItemRef]]:
        """``refs`` in scope, and those outside, each in the order given."""
        inside = [ref for ref in refs if ref in self]
        return inside, [ref for ref in refs if ref not in self]


def _spelled(pattern: str) -> str:
    """A ``share`` glob in :func:`place`'s spelling (GitHub lower case, Jira upper case)."""
    name, _, container = pattern.partition(":")
    return tracker(name).place(container)


def scope_of(settings: Settings, rule: Rule | None, incident_ref: ItemRef | str, review_ref: ItemRef | str) -> Scope:
    """The scope of the rule that opened ``review_ref`` for ``incident_ref`` (None: a rule the
    settings no longer hold; the incident's and review's places and the shared ones remain)."""
    incident, review = ItemRef.parse(str(incident_ref)), ItemRef.parse(str(review_ref))
    places = [place(incident), place(review), "pagerduty"]
    if settings.followups.target is not None:
        places.append(_spelled(str(settings.followups.target)))
    if rule is not None:
        if rule.target is not None:
            places.append(_spelled(str(rule.target)))
        places += [tracker(rule.source).place(project) for project in rule.projects]
        places += [_spelled(pattern) for pattern in rule.share]
    places += [_spelled(pattern) for pattern in settings.lesson.share]
    return Scope(tuple(dict.fromkeys(places)), rule.label if rule is not None else "")


def rule_key(settings: Settings, rule: Rule) -> str:
    """What the store keeps of the rule that selected an incident: its place in the rules and its
    name, so that :func:`rule_named` finds it again after rules are added or reordered."""
    index = next((n for n, one in enumerate(settings.rules) if one is rule), None)
    if index is None:
        index = list(settings.rules).index(rule) if rule in settings.rules else -1
    return f"{index + 1}:{rule.name or ''}"[:200]


def rule_named(
    settings: Settings, key: str | None, incident_ref: ItemRef | str, review_ref: ItemRef | str
) -> Rule | None:
    """The rule :func:`rule_key` recorded: by its name when it has one, else by its place when
    the rule there still opens this source's reviews where this one is (rules reordered, an
    unnamed rule's place names another). Without either (reviews opened before the key was
    kept, reviews adopted after a crash), the first rule of the incident's source whose reviews
    open where this one is."""
    incident, review = ItemRef.parse(str(incident_ref)), ItemRef.parse(str(review_ref))
    rules = settings.rules
    if key:
        number, _, name = key.partition(":")
        named = [rule for rule in rules if name and rule.name == name]
        if named:
            return named[0]
        if number.isdigit() and 0 < int(number) <= len(rules) and _opens_here(rules[int(number) - 1], incident, review):
            return rules[int(number) - 1]
    return next((rule for rule in rules if _opens_here(rule, incident, review)), None)


def _opens_here(rule: Rule, incident: ItemRef, review: ItemRef) -> bool:
    """Whether ``rule`` is for the incident's source and opens its reviews where ``review`` is."""
    if rule.source != incident.source:
        return False
    target = rule.target
    where = (target.source, target.container) if target else (incident.source, project_of(incident))
    return where == (review.source, project_of(review))


def scope_of_review(
    settings: Settings, incident_ref: ItemRef | str, review_ref: ItemRef | str, key: str | None
) -> Scope:
    """The scope of one review as the store recorded it."""
    return scope_of(settings, rule_named(settings, key, incident_ref, review_ref), incident_ref, review_ref)


def of_review(settings: Settings, record: ReviewRecord) -> Scope:
    """The scope of a review the store holds."""
    return scope_of_review(settings, record.incident_ref, record.ref, record.rule)
