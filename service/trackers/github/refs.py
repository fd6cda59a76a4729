"""Where a GitHub issue lives: its repository as scope names it, and its page."""

from __future__ import annotations

from config.settings import Settings
from service.domain.events import ItemRef
from service.domain.references import github_web_host


def place(project: str) -> str:
    """``github:owner/repo``, lower case: GitHub's names are case-blind."""
    return f"github:{project.lower()}"


def page_url(settings: Settings, ref: ItemRef) -> str | None:
    """The issue's page on the configured GitHub (its web URL, else the API's host)."""
    try:
        owner, repo, number = ref.github_parts
    except ValueError:
        return None
    base = settings.github.web_url or f"https://{github_web_host(settings.github.api_url)}"
    return f"{base}/{owner}/{repo}/issues/{number}"
