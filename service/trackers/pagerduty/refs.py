"""Where a PagerDuty incident lives: scope names the whole account, and its page needs the
account's subdomain, which lessonloop is not told."""

from __future__ import annotations

from config.settings import Settings
from service.domain.events import ItemRef


def split_key(key: str) -> tuple[str, str]:
    """An incident belongs to the whole account: no container, its id alone."""
    return "", key


def join_key(_container: str, incident: str) -> str:
    return incident


def in_text(key: str) -> str:
    return key


def place(_project: str) -> str:
    return "pagerduty"


def page_url(_settings: Settings, _ref: ItemRef) -> str | None:
    return None
