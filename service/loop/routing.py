"""Which rule, if any, selects a closed incident for review. Pure: settings and the event only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from config.rules import ReviewTarget, Rule
from service.domain.events import Event, EventKind, Item
from service.trackers.registry import project_of, tracker


@dataclass(frozen=True)
class Decision:
    rule: Rule | None
    target: ReviewTarget | None
    reason: str

    @property
    def selected(self) -> bool:
        return self.rule is not None


def select_rule(event: Event, rules: Sequence[Rule]) -> Decision:
    if event.kind is not EventKind.INCIDENT_CLOSED or event.item is None:
        return Decision(None, None, "not a closed incident")
    candidates = [rule for rule in rules if rule.source == event.source]
    source = tracker(event.source)
    if not source.has_tasks and not candidates:  # no review can open beside its incidents
        return Decision(
            None,
            None,
            f"no rule says where {source.label} reviews go ({source.label} has no tasks): "
            f'add a [[rules]] entry with source = "{source.name}" and a review target',
        )
    for index, rule in enumerate(candidates, start=1):
        if _matches(rule, event.item):
            resolution = event.item.resolution
            if resolution.casefold() in {skipped.casefold() for skipped in rule.skipped_resolutions}:
                return Decision(
                    None,
                    None,
                    f"closed as '{resolution}', which {rule.label} #{index} does not review "
                    "(skip_resolutions): not an incident of its own",
                )
            target = rule.target or _beside(event.item)
            return Decision(rule, target, f"selected by {rule.label} #{index}, review in {target}")
    return Decision(None, None, f"no {event.source} rule selects this incident")


def _beside(item: Item) -> ReviewTarget:
    """The default target: the incident's own repository or project."""
    return ReviewTarget.parse(f"{item.ref.source}:{project_of(item.ref)}")


def _matches(rule: Rule, item: Item) -> bool:
    return (
        _any(rule.labels, item.labels)
        and _any(rule.issue_types, [item.issue_type])
        and _any(rule.priorities, [item.priority])
        and _any(rule.urgency, [item.urgency])
        and _any(rule.services, [item.service])
        and _any(rule.projects, [item.project])
    )


def _any(wanted: Iterable[str], present: Iterable[str]) -> bool:
    wanted_folded = {value.casefold() for value in wanted}
    if not wanted_folded:
        return True
    return any(value.casefold() in wanted_folded for value in present if value)
