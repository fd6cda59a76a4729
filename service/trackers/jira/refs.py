"""Where a Jira issue lives: its project as scope names it, and its page."""

from __future__ import annotations

from config.settings import Settings
from service.domain.events import ItemRef


def place(project: str) -> str:
    """``jira:KEY``, upper case, as Jira writes project keys."""
    return f"jira:{project.upper()}"


def page_url(settings: Settings, ref: ItemRef) -> str | None:
    """``/browse/KEY-N`` on the configured site; None when no site is configured."""
    return f"{settings.jira.url}/browse/{ref.key}" if settings.jira.url else None
