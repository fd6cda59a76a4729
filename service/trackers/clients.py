"""Build the tracker clients whose credentials are set, keyed by source, each with its share of
the rate limiter when a Redis is given (workers); without one (``check --online``) they send
unpaced. Also what each tracker's client class says of it without credentials (its markup)."""

from __future__ import annotations

from typing import assert_never

from redis import Redis

from config.settings import Settings
from service.domain.events import Markup, Source
from service.text.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.github.client import GitHubClient
from service.trackers.http.ratelimit import (
    GITHUB_UNHINTED_HOLD,
    RateLimiter,
    credential_key,
    github_budgets,
    per_minute,
)
from service.trackers.http.retry import RetryPolicy
from service.trackers.jira.client import JiraClient
from service.trackers.pagerduty.client import PagerDutyClient


def build_clients(
    settings: Settings, keys: MarkerKeys, retry: RetryPolicy = RetryPolicy(), redis: Redis | None = None
) -> dict[Source, TrackerClient]:
    """One client per tracker with credentials; a tracker without them is simply absent. Every
    client signs the markers it writes, and believes only the ones it can verify, with ``keys``.
    ``redis`` keeps what all workers share (a GitHub App's installation tokens, the rate limits)."""
    clients: dict[Source, TrackerClient] = {}
    shared = limiters(settings, redis)
    if settings.github.signs_in:
        github = GitHubClient.from_settings(settings.github, keys, retry, redis)
        github.api.limiter = shared.get("github")
        clients["github"] = github
    if settings.jira.url is not None and settings.jira.auth_kind != "none":
        jira = JiraClient.from_settings(settings.jira, keys, retry)
        jira.api.limiter = shared.get("jira")
        clients["jira"] = jira
    if settings.pagerduty.api_token is not None and settings.pagerduty.from_email:
        pagerduty = PagerDutyClient.from_settings(settings.pagerduty, keys, retry)
        pagerduty.api.limiter = shared.get("pagerduty")
        clients["pagerduty"] = pagerduty
    return clients


def client_class(source: Source) -> type[TrackerClient]:
    """The client class that speaks to ``source``."""
    match source:
        case "github":
            return GitHubClient
        case "jira":
            return JiraClient
        case "pagerduty":
            return PagerDutyClient
        case _:
            assert_never(source)


def markup_of(source: Source) -> Markup:
    """What text in ``source`` is written in, as its client says (``markup``): for a lesson kept
    from a review in ``source``, whether or not that tracker's credentials are set here."""
    return client_class(source).markup


def limiters(settings: Settings, redis: Redis | None) -> dict[str, RateLimiter]:
    """The shared limiter of each tracker with credentials, at the limits the settings give."""
    if redis is None:
        return {}
    scale = settings.rate_limits.time_scale
    wait = settings.rate_limits.max_wait_seconds
    found: dict[str, RateLimiter] = {}
    github, jira, pagerduty = settings.github, settings.jira, settings.pagerduty
    if github.signs_in:
        # a token, or a GitHub App (its installations share the app's budget here: the stricter reading)
        who = github.token.get_secret_value() if github.token is not None else f"app:{github.app_id}"
        found["github"] = RateLimiter(
            redis,
            "github",
            credential_key("github", github.api_url, who),
            github_budgets(github.writes_per_minute, github.writes_per_hour, scale),
            wait,
            unhinted_hold=GITHUB_UNHINTED_HOLD * scale,
        )
    if jira.url is not None and jira.auth_kind != "none":
        secret = jira.pat if jira.auth_kind == "pat" else jira.api_token
        assert secret is not None
        who = f"{jira.email or ''}\0{secret.get_secret_value()}"
        found["jira"] = RateLimiter(
            redis,
            "jira",
            credential_key("jira", jira.url, who),
            per_minute(jira.requests_per_minute, scale),
            wait,
        )
    if pagerduty.api_token is not None:
        found["pagerduty"] = RateLimiter(
            redis,
            "pagerduty",
            credential_key("pagerduty", pagerduty.api_url, pagerduty.api_token.get_secret_value()),
            per_minute(pagerduty.requests_per_minute, scale),
            wait,
        )
    return found
