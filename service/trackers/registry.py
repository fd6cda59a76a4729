"""Build the tracker clients whose credentials are set, keyed by source."""

from __future__ import annotations

from config.settings import Settings
from service.events import Source
from service.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.github import GitHubClient
from service.trackers.jira import JiraClient
from service.trackers.pagerduty import PagerDutyClient
from service.trackers.retry import RetryPolicy


def build_clients(settings: Settings, keys: MarkerKeys,
                  retry: RetryPolicy = RetryPolicy()) -> dict[Source, TrackerClient]:
    """One client per tracker with credentials; a tracker without them is simply absent. Every
    client signs the markers it writes, and believes only the ones it can verify, with ``keys``."""
    clients: dict[Source, TrackerClient] = {}
    if settings.github.token is not None:
        clients["github"] = GitHubClient.from_settings(settings.github, keys, retry)
    if settings.jira.url is not None and settings.jira.auth_kind != "none":
        clients["jira"] = JiraClient.from_settings(settings.jira, keys, retry)
    if settings.pagerduty.api_token is not None and settings.pagerduty.from_email:
        clients["pagerduty"] = PagerDutyClient.from_settings(settings.pagerduty, keys, retry)
    return clients
