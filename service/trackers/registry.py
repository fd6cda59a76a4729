"""Every tracker lessonloop speaks to, reached by name: one :class:`Tracker` entry each, holding
what is specific to it (its webhook source, its markup dialect, where its items live and how
their pages are linked) and the name of the module that builds its client.

Pure and import-light: importing this loads no client and no HTTP stack (requests, urllib3,
cryptography), so the web process and the pure modules may ask it. Clients are built by
:mod:`service.trackers.clients`, the only importer of the ``build`` modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.settings import Settings
from service.domain.events import ItemRef, Markup, Source
from service.trackers.dialect import Dialect
from service.trackers.github import refs as github_refs
from service.trackers.github import webhook as github_webhook
from service.trackers.github.dialect import MARKDOWN
from service.trackers.jira import refs as jira_refs
from service.trackers.jira import webhook as jira_webhook
from service.trackers.jira.dialect import WIKI
from service.trackers.pagerduty import refs as pagerduty_refs
from service.trackers.pagerduty import webhook as pagerduty_webhook
from service.trackers.pagerduty.dialect import PLAIN
from service.trackers.webhook import WebhookSource


@dataclass(frozen=True)
class Tracker:
    name: Source
    webhook: WebhookSource
    """Its signature check and pure parser."""
    dialect: Dialect
    """The markup its text is written in."""
    place: Callable[[str], str]
    """A container (repository, project) as scope names it: ``github:owner/repo``, ``jira:KEY``."""
    page_url: Callable[[Settings, ItemRef], str | None]
    """An item's page, built from the settings; None when they cannot say."""
    details_in_review: bool
    """Its incidents' opening details are quoted in the review: PagerDuty shows them only behind
    the alert, where a GitHub or Jira incident's body is the page the review links to."""
    build: str
    """The module whose ``build_client`` and ``limiter`` make its client (imported by clients.py only)."""


TRACKERS: dict[str, Tracker] = {
    entry.name: entry
    for entry in (
        Tracker(
            "github",
            github_webhook.SOURCE,
            MARKDOWN,
            github_refs.place,
            github_refs.page_url,
            False,
            "service.trackers.github.build",
        ),
        Tracker(
            "jira", jira_webhook.SOURCE, WIKI, jira_refs.place, jira_refs.page_url, False, "service.trackers.jira.build"
        ),
        Tracker(
            "pagerduty",
            pagerduty_webhook.SOURCE,
            PLAIN,
            pagerduty_refs.place,
            pagerduty_refs.page_url,
            True,
            "service.trackers.pagerduty.build",
        ),
    )
}

SOURCES: dict[str, WebhookSource] = {name: entry.webhook for name, entry in TRACKERS.items()}
"""Each tracker's webhook source, by name (the receiver's route and the worker's re-parse)."""

DIALECTS: dict[str, Dialect] = {entry.dialect.markup: entry.dialect for entry in TRACKERS.values()}


def tracker(name: str) -> Tracker:
    """The entry of tracker ``name``; KeyError for a name lessonloop does not know."""
    return TRACKERS[name]


def dialect_of(markup: Markup) -> Dialect:
    """The dialect text in ``markup`` is read and written with."""
    return DIALECTS[markup]


def markup_of(source: Source) -> Markup:
    """What text in ``source`` is written in: for a lesson kept from a review in ``source``,
    whether or not that tracker's credentials are set here."""
    return TRACKERS[source].dialect.markup
