"""The PagerDuty client as the settings ask for it, with its share of the rate limiter."""

from __future__ import annotations

from redis import Redis

from config.settings import Settings
from service.text.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.http.ratelimit import RateLimiter, credential_key, per_minute
from service.trackers.http.retry import RetryPolicy
from service.trackers.pagerduty.client import PagerDutyClient


def limiter(settings: Settings, redis: Redis) -> RateLimiter | None:
    """The API token's budget; None without one."""
    pagerduty = settings.pagerduty
    if pagerduty.api_token is None:
        return None
    return RateLimiter(
        redis,
        "pagerduty",
        credential_key("pagerduty", pagerduty.api_url, pagerduty.api_token.get_secret_value()),
        per_minute(pagerduty.requests_per_minute, settings.rate_limits.time_scale),
        settings.rate_limits.max_wait_seconds,
    )


def build_client(
    settings: Settings, keys: MarkerKeys, retry: RetryPolicy, redis: Redis | None, shared: RateLimiter | None
) -> TrackerClient | None:
    if settings.pagerduty.api_token is None or not settings.pagerduty.from_email:
        return None
    client = PagerDutyClient.from_settings(settings.pagerduty, keys, retry)
    client.api.limiter = shared
    return client
