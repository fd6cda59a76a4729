"""Every tracker lessonloop speaks to, reached by name: one :class:`Tracker` entry each, holding
what is specific to it (its webhook source, its markup dialect, where its items live and how
their pages are linked, what it can hold and link) and the name of the module that builds its
client. Callers ask an entry these facts instead of comparing a tracker's name.

Pure and import-light: importing this loads no client and no HTTP stack (requests, urllib3,
cryptography), so the web process and the pure modules may ask it. Clients are built by
:mod:`service.trackers.clients`, the only importer of the ``build`` modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from config.rules import ReviewSource, ReviewTarget
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
    label: str
    """Its name as people write it, in messages: ``GitHub``, ``Jira``, ``PagerDuty``."""
    webhook: WebhookSource
    """Its signature check and pure parser."""
    dialect: Dialect
    """The markup its text is written in."""
    place: Callable[[str], str]
    """A container (repository, project) as scope names it: ``github:owner/repo``, ``jira:KEY``."""
    page_url: Callable[[Settings, ItemRef], str | None]
    """An item's page, built from the settings; None when they cannot say."""
    split_key: Callable[[str], tuple[str, str]]
    """An item's key as (its container, its number or id there): ``OPS-42`` -> (``OPS``, ``42``)."""
    join_key: Callable[[str, str], str]
    """The other way: (``OPS``, ``42``) -> ``OPS-42``; with no number, what every key there starts with."""
    in_text: Callable[[str], str]
    """How text names an item of this key (where it is first mentioned is where it is looked for)."""
    review_kind: ReviewSource | None
    """Its name as a review target, when it has tasks: reviews open in it, follow-ups are its
    issues. None for PagerDuty, whose incidents are no tasks."""
    project_shape: re.Pattern[str] | None
    """What a container's name looks like (``owner/repo``, ``OPS``): ``import`` takes one."""
    details_in_review: bool
    """Its incidents' opening details are quoted in the review: PagerDuty shows them only behind
    the alert, where a GitHub or Jira incident's body is the page the review links to."""
    assignees_are_accounts: bool
    """Its items name their assignees by account (GitHub login, Jira account id). PagerDuty names
    them for display only, so its history says who was assigned and who acknowledged."""
    issue_types: bool
    """Its reviews are opened as an issue type (``jira_issue_type``), checked with the target."""
    remote_links: bool
    """Its incidents take a link to a review kept in another tracker (Jira's remote links);
    elsewhere the "review opened" comment is the link."""
    build: str
    """The module whose ``build_client`` and ``limiter`` make its client (imported by clients.py only)."""

    @property
    def has_tasks(self) -> bool:
        """Reviews can open in it and its issues can be follow-ups."""
        return self.review_kind is not None


TRACKERS: dict[str, Tracker] = {
    entry.name: entry
    for entry in (
        Tracker(
            name="github",
            label="GitHub",
            webhook=github_webhook.SOURCE,
            dialect=MARKDOWN,
            place=github_refs.place,
            page_url=github_refs.page_url,
            split_key=github_refs.split_key,
            join_key=github_refs.join_key,
            in_text=github_refs.in_text,
            review_kind="github",
            project_shape=github_refs.PROJECT,
            details_in_review=False,
            assignees_are_accounts=True,
            issue_types=False,
            remote_links=False,
            build="service.trackers.github.build",
        ),
        Tracker(
            name="jira",
            label="Jira",
            webhook=jira_webhook.SOURCE,
            dialect=WIKI,
            place=jira_refs.place,
            page_url=jira_refs.page_url,
            split_key=jira_refs.split_key,
            join_key=jira_refs.join_key,
            in_text=jira_refs.in_text,
            review_kind="jira",
            project_shape=jira_refs.PROJECT,
            details_in_review=False,
            assignees_are_accounts=True,
            issue_types=True,
            remote_links=True,
            build="service.trackers.jira.build",
        ),
        Tracker(
            name="pagerduty",
            label="PagerDuty",
            webhook=pagerduty_webhook.SOURCE,
            dialect=PLAIN,
            place=pagerduty_refs.place,
            page_url=pagerduty_refs.page_url,
            split_key=pagerduty_refs.split_key,
            join_key=pagerduty_refs.join_key,
            in_text=pagerduty_refs.in_text,
            review_kind=None,
            project_shape=None,
            details_in_review=True,
            assignees_are_accounts=False,
            issue_types=False,
            remote_links=False,
            build="service.trackers.pagerduty.build",
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


def project_of(ref: ItemRef) -> str:
    """The container the item lives in: a GitHub repository, a Jira project key ("" for PagerDuty)."""
    return TRACKERS[ref.source].split_key(ref.key)[0]


def is_task_ref(text: str) -> bool:
    """True when ``text`` is spelled as a ref in a tracker with tasks (``github:…``, ``jira:…``):
    the key of a follow-up whose item linked an issue, rather than one minted from its words."""
    name, colon, _ = text.partition(":")
    return bool(colon) and name in TRACKERS and TRACKERS[name].has_tasks


def review_place(ref: ItemRef) -> ReviewTarget:
    """The repository or project a review (or another task) ``ref`` lives in, as a review target;
    ValueError for an item of a tracker without tasks."""
    kind = TRACKERS[ref.source].review_kind
    if kind is None:
        raise ValueError(f"{ref} is not a task: {TRACKERS[ref.source].label} holds no reviews")
    return ReviewTarget(kind, project_of(ref))


def markup_of_review(review_ref: str) -> Markup:
    """What a kept lesson's sections are written in: its review tracker's markup, or Markdown
    for a review imported from a file (``markdown:PATH``)."""
    source = review_ref.partition(":")[0]
    return TRACKERS[source].dialect.markup if source in TRACKERS else "markdown"
