"""The GitHub client as the settings ask for it, with its share of the rate limiter."""

from __future__ import annotations

from redis import Redis

from config.settings import Settings
from service.text.markers import MarkerKeys
from service.trackers.base import TrackerClient
from service.trackers.github.client import GitHubClient
from service.trackers.http.ratelimit import GITHUB_UNHINTED_HOLD, RateLimiter, credential_key, github_budgets
from service.trackers.http.retry import RetryPolicy


def limiter(settings: Settings, redis: Redis) -> RateLimiter | None:
    """A token's budget, or a GitHub App's (its installations share the app's budget here: the
    stricter reading); None without credentials."""
    github = settings.github
    if not github.signs_in:
        return None
    who = github.token.get_secret_value() if github.token is not None else f"app:{github.app_id}"
    scale = settings.rate_limits.time_scale
    return RateLimiter(
        redis,
        "github",
        credential_key("github", github.api_url, who),
        github_budgets(github.writes_per_minute, github.writes_per_hour, scale),
        settings.rate_limits.max_wait_seconds,
        unhinted_hold=GITHUB_UNHINTED_HOLD * scale,
    )


def build_client(
    settings: Settings, keys: MarkerKeys, retry: RetryPolicy, redis: Redis | None, shared: RateLimiter | None
) -> TrackerClient | None:
    if not settings.github.signs_in:
        return None
    client = GitHubClient.from_settings(settings.github, keys, retry, redis)
    client.api.limiter = shared
    return client
