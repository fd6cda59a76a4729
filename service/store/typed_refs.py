"""The item refs a search box entry could mean: people paste ``jira:OPS-3`` or
``github:acme/web#1``, but they type ``OPS-3``, ``ops-3`` or ``acme/web#1``. Each is read as
one whole token against anchored patterns (linear time) and re-emitted as the refs the store
keeps; anything else is not a ref and is searched as words."""

from __future__ import annotations

import re

from service.domain.events import ItemRef

MAX_REF = 300
"""As long as a ref column: a longer entry cannot name a stored item."""
MAX_NAMED = 1000
"""At most this many lessons answer one ref: an incident has one review, so more only come
from a ref that is both an incident and a review of others."""
_JIRA_KEY = re.compile(r"(?:jira:)?(?P<project>[A-Za-z][A-Za-z0-9_]*)-(?P<number>[0-9]+)")
_GITHUB_ISSUE = re.compile(r"(?:github:)?(?P<repository>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>[0-9]+)")
_PAGERDUTY = re.compile(r"pagerduty:(?P<id>[A-Za-z0-9]+)")
_MARKDOWN = re.compile(r"markdown:\S+")


def candidates(query: str) -> list[str]:
    """The stored refs ``query`` may name, most likely first; empty when it is not one ref.

    Jira keys are upper case in Jira, so ``ops-3`` means ``jira:OPS-3``; GitHub owners and
    repositories are case-insensitive there, so both the typed and the lower-case form are
    tried. A markdown lesson's ref is only ever matched as written."""
    text = query.strip()
    if not text or len(text) > MAX_REF or any(character.isspace() for character in text):
        return []
    found: list[str] = []
    if jira := _JIRA_KEY.fullmatch(text):
        found.append(f"jira:{jira['project'].upper()}-{int(jira['number'])}")
    elif github := _GITHUB_ISSUE.fullmatch(text):
        found += [f"github:{github['repository']}#{int(github['number'])}"]
        found += [f"github:{github['repository'].lower()}#{int(github['number'])}"]
    elif pagerduty := _PAGERDUTY.fullmatch(text):
        found.append(f"pagerduty:{pagerduty['id'].upper()}")
    elif _MARKDOWN.fullmatch(text):
        return [text]
    return [ref for ref in dict.fromkeys(found) if _valid(ref)]


def _valid(ref: str) -> bool:
    try:
        ItemRef.parse(ref)
    except ValueError:
        return False
    return True
