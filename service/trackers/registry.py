"""Build the tracker clients whose credentials are set, keyed by source."""

from __future__ import annotations

from redis import Redis

from config.settings import Settings
from service.events import Source
from service.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.github import GitHubClient
from service.trackers.jira import JiraClient
from service.trackers.pagerduty import PagerDutyClient
from service.trackers.retry import RetryPolicy


def build_clients(settings: Settings, keys: MarkerKeys, retry: RetryPolicy = RetryPolicy(),
                  redis: Redis | None = None) -> dict[Source, TrackerClient]:
    """One client per tracker with credentials; a tracker without them is simply absent. Every
    client signs the markers it writes, and believes only the ones it can verify, with ``keys``.
    ``redis`` keeps what all workers share (a GitHub App's installation tokens)."""
    clients: dict[Source, TrackerClient] = {}
    if settings.github.signs_in:
        clients["github"] = GitHubClient.from_settings(settings.github, keys, retry, redis)
    if settings.jira.url is not None and settings.jira.auth_kind != "none":
        clients["jira"] = JiraClient.from_settings(settings.jira, keys, retry)
    if settings.pagerduty.api_token is not None and settings.pagerduty.from_email:
        clients["pagerduty"] = PagerDutyClient.from_settings(settings.pagerduty, keys, retry)
    return clients
