"""The long-lived things a process needs, built once from settings: store engine, Redis, queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis import Redis
from rq import Queue
from sqlalchemy import Engine

from config.settings import API_CREDENTIALS, Settings
from service.infra import queue as jobs_queue
from service.infra.failures import Permanent
from service.store.engine import make_engine
from service.text.markers import MarkerKeys
from service.trackers.base import TrackerClient


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: Redis
    queue: Queue
    clients: dict[str, TrackerClient] = field(default_factory=dict)
    """The tracker clients with credentials; built by :meth:`with_clients` (workers only)."""
    _marker_keys: MarkerKeys | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        redis = jobs_queue.connect(settings.redis_url)
        return cls(settings, make_engine(settings.database_url), redis, jobs_queue.queue(redis))

    def with_clients(self) -> Runtime:
        """Build the tracker clients, with the marker keys (``LESSONLOOP_MARKER_KEY``, or the
        key the store generated once: the store must be migrated first)."""
        from service.trackers.clients import build_clients

        self.clients = {
            str(source): client
            for source, client in build_clients(self.settings, self.marker_keys(), redis=self.redis).items()
        }
        return self

    def marker_keys(self) -> MarkerKeys:
        """The keys that sign and verify markers, read once (the store must be migrated)."""
        if self._marker_keys is None:
            from service.store.instance import marker_keys

            self._marker_keys = marker_keys(self.engine, self.settings)
        return self._marker_keys

    def client(self, source: str) -> TrackerClient:
        """The client for ``source``, or a permanent error that says which settings it needs."""
        found = self.clients.get(source)
        if found is None:
            raise MissingCredentials(source)
        return found


class MissingCredentials(Permanent):
    """A job needs a tracker whose API credentials are not set: no tracker was asked, so this is
    no tracker's error; replaying the delivery once they are set runs it again."""

    def __init__(self, source: str) -> None:
        super().__init__(f"no API credentials for {source}: set {API_CREDENTIALS.get(source, source)}")
        self.source = source


def all_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings, for the log redactor."""
    values: list[str] = []
    for tracker in (settings.github, settings.jira, settings.pagerduty):
        for name in type(tracker).model_fields:
            value = getattr(tracker, name)
            items = value if isinstance(value, tuple) else (value,)
            values.extend(item.get_secret_value() for item in items if hasattr(item, "get_secret_value"))
    values.extend(key.get_secret_value() for key in settings.marker_keys)
    if settings.jira.email and settings.jira.api_token is not None:  # what Basic auth base64-encodes
        values.append(f"{settings.jira.email}:{settings.jira.api_token.get_secret_value()}")
    web = settings.web
    values.extend(
        item.get_secret_value()
        for item in (web.oidc_client_secret, web.session_key, web.metrics_token)
        if item is not None
    )
    return values
