"""``[people]``: one person's accounts across the trackers, keyed by email.

With it, a review opened in another tracker than its incident's is assigned to the same person
there, and the responders in its header are named the way the review's tracker names people.
Nobody not in the table is ever mentioned: they are shown by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IDS = {
    "github": (re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"), "a GitHub login (letters, digits, hyphens)"),
    "jira": (re.compile(r"^[A-Za-z0-9:_.@-]{1,128}$"), "a Jira accountId (Cloud) or user name (Data Center)"),
    "pagerduty": (re.compile(r"^P[A-Z0-9]{5,13}$"), "a PagerDuty user id such as PUSER01"),
}


class Accounts(BaseModel):
    """One person's ids; any may be missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    github: str | None = None
    jira: str | None = None
    pagerduty: str | None = None

    @field_validator("github", "jira", "pagerduty")
    @classmethod
    def _well_formed(cls, value: str | None, info: ValidationInfo) -> str | None:
        pattern, what = _IDS[info.field_name or ""]
        if value is not None and not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    def on(self, tracker: str) -> str | None:
        found = getattr(self, tracker, None)
        return found if isinstance(found, str) else None


def validate_people(people: Mapping[str, object]) -> None:
    for email in people:
        if not _EMAIL.match(email):
            raise ValueError(f"[people] keys are email addresses, got {email!r}")


def account_on(people: Mapping[str, Accounts], tracker: str, person: str, on: str) -> str | None:
    """The id on tracker ``on`` of whoever is ``person`` on ``tracker``; None when unknown."""
    if not person:
        return None
    for accounts in people.values():
        if accounts.on(tracker) == person:
            return accounts.on(on)
    return None
