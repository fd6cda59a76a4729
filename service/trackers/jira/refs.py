"""Where a Jira issue lives: its project as scope names it, and its page."""

from __future__ import annotations

import re

from config.settings import Settings
from service.domain.events import ItemRef

PROJECT = re.compile(r"[A-Z][A-Z0-9_]*")
"""A project key, as Jira writes it."""


def split_key(key: str) -> tuple[str, str]:
    """``OPS-42`` -> (``OPS``, ``42``)."""
    project, dash, number = key.rpartition("-")
    return (project, number) if dash else (key, "")


def join_key(project: str, number: str) -> str:
    """(``OPS``, ``42``) -> ``OPS-42``."""
    return f"{project}-{number}"


def in_text(key: str) -> str:
    """How text names the issue: by its key, linked or not."""
    return key


def place(project: str) -> str:
    """``jira:KEY``, upper case, as Jira writes project keys."""
    return f"jira:{project.upper()}"


def page_url(settings: Settings, ref: ItemRef) -> str | None:
    """``/browse/KEY-N`` on the configured site; None when no site is configured."""
    return f"{settings.jira.url}/browse/{ref.key}" if settings.jira.url else None
