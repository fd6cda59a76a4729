"""Rule selection: the first matching rule decides; empty fields match anything."""

from __future__ import annotations

from dataclasses import replace

from config.rules import ReviewTarget, Rule
from service.domain.events import Event, EventKind, Item, ItemRef
from service.loop.routing import select_rule


def closed(source: str, **fields: object) -> Event:
    refs = {"github": "github:acme/web#42", "jira": "jira:OPS-42", "pagerduty": "pagerduty:PX1"}
    item = replace(Item(ref=ItemRef.parse(refs[source]), title="t", url="u"), **fields)
    return Event(source=source, kind=EventKind.INCIDENT_CLOSED, name="x", item=item)


def test_first_matching_rule_decides() -> None:
    rules = [
        Rule(source="github", labels=("sev1",), review="github:acme/sev1-reviews"),
        Rule(source="github", labels=("incident",), review="github:acme/postmortems"),
    ]
    assert select_rule(closed("github", labels=("Incident", "SEV1")), rules).target == ReviewTarget(
        "github", "acme/sev1-reviews"
    )
    assert select_rule(closed("github", labels=("incident",)), rules).target == ReviewTarget(
        "github", "acme/postmortems"
    )
    assert not select_rule(closed("github", labels=("bug",)), rules).selected


def test_without_a_target_the_review_opens_beside_the_incident() -> None:
    github = select_rule(closed("github", labels=("incident",)), [Rule(source="github", labels=("incident",))])
    jira = select_rule(
        closed("jira", issue_type="Incident", project="OPS"), [Rule(source="jira", issue_types=("incident",))]
    )
    assert (str(github.target), str(jira.target)) == ("github:acme/web", "jira:OPS")


def test_all_filled_fields_must_match() -> None:
    rule = Rule(source="pagerduty", urgency=("high",), services=("API Service",), review="jira:OPS")
    assert select_rule(closed("pagerduty", urgency="high", service="api service"), [rule]).selected
    assert not select_rule(closed("pagerduty", urgency="low", service="API Service"), [rule]).selected
    assert not select_rule(closed("pagerduty", urgency="high", service="Billing"), [rule]).selected


def test_rules_of_other_sources_are_not_considered() -> None:
    decision = select_rule(closed("jira", issue_type="Incident"), [Rule(source="github")])
    assert not decision.selected and "no jira rule" in decision.reason


def test_pagerduty_without_a_rule_says_where_to_say_so() -> None:
    decision = select_rule(closed("pagerduty", urgency="high"), [])
    assert not decision.selected and "PagerDuty has no tasks" in decision.reason


def test_only_closed_incidents_are_routed() -> None:
    event = replace(closed("github"), kind=EventKind.REVIEW_UPDATED)
    assert not select_rule(event, [Rule(source="github")]).selected


def test_a_duplicate_or_a_merge_is_not_an_incident_of_its_own() -> None:
    github, jira = Rule(source="github", labels=("incident",)), Rule(source="jira")
    pagerduty = Rule(source="pagerduty", review="jira:OPS")
    skipped = [
        select_rule(closed("github", labels=("incident",), resolution="duplicate"), [github]),
        select_rule(closed("jira", project="OPS", resolution="duplicate"), [jira]),
        select_rule(closed("pagerduty", resolution="merged"), [pagerduty]),
    ]
    assert [decision.selected for decision in skipped] == [False, False, False]
    assert skipped[0].reason == (
        "closed as 'duplicate', which github rule #1 does not review (skip_resolutions): not an incident of its own"
    )
    assert select_rule(closed("github", labels=("incident",), resolution="completed"), [github]).selected
    assert select_rule(closed("jira", project="OPS", resolution="Done"), [jira]).selected
    assert select_rule(closed("pagerduty"), [pagerduty]).selected


def test_an_operators_skip_resolutions_replace_the_default() -> None:
    rule = Rule(source="jira", skip_resolutions=["Duplicate", "Won't Do"])
    assert not select_rule(closed("jira", project="OPS", resolution="won't do"), [rule]).selected
    assert not select_rule(closed("jira", project="OPS", resolution="Duplicate"), [rule]).selected
    everything = Rule(source="github", skip_resolutions=[])
    assert select_rule(closed("github", resolution="duplicate"), [everything]).selected
