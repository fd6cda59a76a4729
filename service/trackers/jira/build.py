"""The Jira client as the settings ask for it, with its share of the rate limiter."""

from __future__ import annotations

from redis import Redis

from config.settings import Settings
from service.text.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.http.ratelimit import RateLimiter, credential_key, per_minute
from service.trackers.http.retry import RetryPolicy
from service.trackers.jira.client import JiraClient


def limiter(settings: Settings, redis: Redis) -> RateLimiter | None:
    """One budget per site and credential; None without credentials."""
    jira = settings.jira
    if jira.url is None or jira.auth_kind == "none":
        return None
    secret = jira.pat if jira.auth_kind == "pat" else jira.api_token
    assert secret is not None
    who = f"{jira.email or ''}\0{secret.get_secret_value()}"
    return RateLimiter(
        redis,
        "jira",
        credential_key("jira", jira.url, who),
        per_minute(jira.requests_per_minute, settings.rate_limits.time_scale),
        settings.rate_limits.max_wait_seconds,
    )


def build_client(
    settings: Settings, keys: MarkerKeys, retry: RetryPolicy, redis: Redis | None, shared: RateLimiter | None
) -> TrackerClient | None:
    if settings.jira.url is None or settings.jira.auth_kind == "none":
        return None
    client = JiraClient.from_settings(settings.jira, keys, retry)
    client.api.limiter = shared
    return client
