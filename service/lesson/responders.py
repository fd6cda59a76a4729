"""Who responded to an incident, and how the review's tracker names them.

The tracker's history says who acted (acknowledged, was assigned, commented); ``[people]`` says
who that person is in the review's tracker. Someone known there is mentioned the way that tracker
mentions people (on the review only); anyone else is shown by name and mentions no one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from config.people import Accounts, account_on
from service.domain.events import Item
from service.domain.history import History
from service.lesson import Mention
from service.trackers import registry

_SAFE_ID = re.compile(r"^[A-Za-z0-9:_.@-]{1,128}$")


def mention(tracker: str, account: str, jira_by_name: bool) -> Mention | None:
    """``account`` as a mention in ``tracker``'s markup, or None for an id that is not safe to write."""
    if not _SAFE_ID.match(account):
        return None
    written = registry.tracker(tracker).dialect.mention(account, jira_by_name)
    return Mention(written) if written else None


def responders(
    incident: Item, history: History, review_tracker: str, people: Mapping[str, Accounts], jira_by_name: bool
) -> list[str]:
    """The people who responded, in the order they first acted, each as a mention where the
    review's tracker knows them and as their name elsewhere."""
    source = incident.ref.source
    accounts = registry.tracker(source).assignees_are_accounts
    acted = [(entry.responder, entry.person) for entry in history.entries if entry.responder]
    if not acted:  # no history read: the assignees are the responders we know of
        acted = [(who, who if accounts else "") for who in incident.assignees]
    named: list[str] = []
    for name, person in acted:
        account = person if source == review_tracker else account_on(people, source, person, review_tracker)
        shown = mention(review_tracker, account, jira_by_name) if account else None
        named.append(shown or name)
    return list(dict.fromkeys(named))


def assignee(incident: Item, history: History, review_tracker: str, people: Mapping[str, Accounts]) -> str | None:
    """Who gets the review: the incident's assignee (where the tracker names assignees for display
    only, as PagerDuty does, the last one its history assigned, else who acknowledged), as the same
    account when both live in one tracker, else through ``[people]``."""
    source = incident.ref.source
    if not registry.tracker(source).assignees_are_accounts:
        assigned = [
            entry.person
            for entry in sorted(history.entries, key=lambda e: e.at)
            if entry.kind == "assign" and entry.person
        ]
        acknowledged = [entry.person for entry in history.entries if entry.kind == "acknowledge" and entry.person]
        person = (assigned or acknowledged or [""])[-1 if assigned else 0]
    else:
        person = incident.assignees[0] if incident.assignees else ""
    if not person:
        return None
    if source == review_tracker:
        return person
    return account_on(people, source, person, review_tracker)
