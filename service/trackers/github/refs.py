"""Where a GitHub issue lives: its repository as scope names it, and its page."""

from __future__ import annotations

import re

from config.settings import Settings
from service.domain.events import ItemRef
from service.domain.references import github_web_host

PROJECT = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
"""A repository's name, ``owner/repo``."""


def split_key(key: str) -> tuple[str, str]:
    """``acme/web#42`` -> (``acme/web``, ``42``)."""
    repository, _, number = key.partition("#")
    return repository, number


def join_key(repository: str, number: str) -> str:
    """(``acme/web``, ``42``) -> ``acme/web#42``."""
    return f"{repository}#{number}"


def in_text(key: str) -> str:
    """How text names the issue when it links it: by its page's path, ``acme/web/issues/42``."""
    repository, number = split_key(key)
    return f"{repository}/issues/{number}"


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
