"""Whether each rule's review target can take reviews: what ``lessonloop check --online`` asks
the trackers beyond who we are.

A rule that names its target (``review = "jira:OPS"``) is checked there; a rule that opens
reviews beside the incident is checked in the repositories or projects it lists, and otherwise
cannot be checked before an incident arrives (said once, not counted as a problem). Each
problem is one line naming the target and what to change; reading is all this does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.rules import ReviewTarget
from config.settings import API_CREDENTIALS, Settings
from service.domain.events import Source
from service.infra.failures import Permanent, RetryLater
from service.trackers.base import TakesReviews, TrackerClient
from service.trackers.registry import tracker


@dataclass(frozen=True)
class Wanted:
    """A place reviews open in, with the Jira issue type they are opened as, and the rules using it."""

    target: ReviewTarget
    issue_type: str
    rules: tuple[int, ...]


def wanted_targets(settings: Settings) -> tuple[list[Wanted], list[int]]:
    """Every review target the rules name, each once per issue type, and the numbers (from 1,
    as ``check`` names rules) of rules whose target is the incident's own, unknown until then."""
    found: dict[tuple[str, str], list[int]] = {}
    unknown: list[int] = []
    for number, rule in enumerate(settings.rules, start=1):
        issue_type = rule.jira_issue_type or settings.review.jira_issue_type
        kind = tracker(rule.source).review_kind
        if rule.target is not None:
            targets = [rule.target]
        elif rule.projects and kind is not None:
            targets = [ReviewTarget(kind, p) for p in rule.projects]
        else:
            unknown.append(number)
            continue
        for target in targets:
            found.setdefault((str(target), issue_type if tracker(target.source).issue_types else ""), []).append(number)
    wanted = [
        Wanted(ReviewTarget.parse(text), issue_type or settings.review.jira_issue_type, tuple(rules))
        for (text, issue_type), rules in found.items()
    ]
    return wanted, unknown


def check_targets(settings: Settings, clients: Mapping[Source, TrackerClient]) -> tuple[list[str], int]:
    """The lines to print, and how many of them are problems."""
    wanted, unknown = wanted_targets(settings)
    lines: list[str] = []
    problems = 0
    for one in wanted:
        rules = ", ".join(f"rules[{n}]" for n in one.rules)
        found = _problems(settings, clients, one)
        if found:
            problems += len(found)
            lines += [f"review target {one.target} ({rules}): {problem}" for problem in found]
        else:
            kind = f", issue type {one.issue_type}" if tracker(one.target.source).issue_types else ""
            lines.append(f"review target {one.target}{kind} ({rules}): ok, reviews can be opened there")
    if unknown:
        rules = ", ".join(f"rules[{n}]" for n in unknown)
        lines.append(
            f"review targets of {rules}: beside each incident, so checked when one arrives "
            '(name them with review = "..." or project = [...] to check them now)'
        )
    return lines, problems


def _problems(settings: Settings, clients: Mapping[Source, TrackerClient], wanted: Wanted) -> list[str]:
    client = clients.get(wanted.target.source)
    if isinstance(client, TakesReviews):
        try:
            return client.target_problems(
                wanted.target.container, wanted.issue_type, settings.review.assign_from_incident
            )
        except (RetryLater, Permanent) as error:
            return [str(error)]
    return [f"no API credentials for {wanted.target.source}: set {API_CREDENTIALS[wanted.target.source]}"]
