"""Fixtures that build on each other: settings -> store -> redis -> make_runtime -> runtime -> app
-> client.

Real parts only: a real Redis on an emptied database (a ``redis-server`` this test process
started itself, :mod:`tests.redis_server`), a real store on SQLite and on PostgreSQL (each test
in its own schema), real RQ workers run in-process.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import Connection, Engine, event
from werkzeug.serving import make_server

from config.settings import Settings, load_settings
from service.entry.app import create_app
from service.infra.queue import queue as make_queue
from service.infra.runtime import Runtime
from service.store import migrate
from service.store.engine import make_engine
from tests import redis_server, stores
from tests.payloads import GITHUB_SECRET, JIRA_SECRET, JIRA_TOKEN, PAGERDUTY_SECRET

pytest_plugins = ["tests.doubles.pytest_plugin"]


def _given_redis(url: str) -> str:
    """``LESSONLOOP_TEST_REDIS_URL``, with each pytest-xdist worker on a database of its own
    (15, 14, ... for gw0, gw1, ...): they empty their database around every test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base, _, database = url.rstrip("/").rpartition("/")
    if not (database.isascii() and database.isdigit()):
        base, database = url.rstrip("/"), "15"
    return f"{base}/{int(database) - int(worker or 0)}"


REDIS_URL = (
    _given_redis(os.environ["LESSONLOOP_TEST_REDIS_URL"])
    if os.environ.get("LESSONLOOP_TEST_REDIS_URL")
    else f"{redis_server.url()}/15"
)
POSTGRES_URL = os.environ.get("LESSONLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


RULES_TOML = """
[lesson]
share = ["github:acme/*"]   # the organisation's own repositories, where follow-ups live

[review]
due_days = 5
labels = ["post-incident-review"]
jira_issue_type = "Task"

[[rules]]
source = "github"
labels = ["incident"]
review = "github:acme/postmortems"

[[rules]]
source = "jira"
issue_types = ["Incident"]
review = "jira:OPS"

[[rules]]
source = "pagerduty"
urgency = ["high"]
review = "jira:OPS"
"""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default in pyproject.toml) starts two test processes per core.

    The tests spend about half their time waiting rather than computing: on processes they
    started (a worker's start, a lease that must lapse, a SIGTERM), on sockets, on PostgreSQL.
    With one process per core a core sat idle through those waits; with two, one computes while
    the other waits. On the project's 2-core machine that took test_worker.py from 132 s to 102 s
    of wall time."""
    return 2 * (os.cpu_count() or 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (the ones that run real processes for ten seconds or more) run
    first, in their usual order, then the rest. pytest-xdist hands tests out in this order, so
    the long ones are spread over the workers at the start and the short ones even out the end;
    left where they fall, a long one started last kept one worker busy after the other finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


_TEST_KNOBS = {
    "LESSONLOOP_TEST_REDIS_URL",
    "LESSONLOOP_TEST_POSTGRES_URL",
    "LESSONLOOP_WALKTHROUGH_REDIS_URL",
    "LESSONLOOP_REFRESH_SCREENSHOTS",
}


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read the caller's settings: none of their ``LESSONLOOP_*``, ``REDIS_URL`` or
    ``DATABASE_URL``, and a working directory with no ``lessonloop.toml`` (the walkthrough
    leaves one in the clone's root)."""
    for name in list(os.environ):
        if (name.startswith("LESSONLOOP_") and name not in _TEST_KNOBS) or name in ("REDIS_URL", "DATABASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


_connected: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Every engine that has lent out a connection in this test process (weakly: an engine nobody
holds is collected with its pool)."""


@event.listens_for(Engine, "engine_connect")
def _remember_the_engine(connection: Connection) -> None:
    _connected.add(connection.engine)


@pytest.fixture(autouse=True)
def no_leftover_connections() -> Iterator[None]:
    """Each test's store connections are closed when it ends, whoever opened them (an app a test
    built, a runtime it made by hand): a thousand tests would otherwise hold PostgreSQL's
    hundred connections between them. SQLAlchemy's own event says which engines connected."""
    yield
    for engine in list(_connected):
        engine.dispose()


def base_env() -> dict[str, str]:
    return {
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "LESSONLOOP_JIRA_WEBHOOK_SECRET": JIRA_SECRET,
        "LESSONLOOP_JIRA_AUTOMATION_TOKEN": JIRA_TOKEN,
        "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": PAGERDUTY_SECRET,
        "REDIS_URL": REDIS_URL,
        "LESSONLOOP_LOG_FORMAT": "console",
    }


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> stores.Templates:
    """The migrated stores tests' stores are copied from, made once per test process."""
    return stores.Templates(tmp_path_factory.mktemp("store-templates"), POSTGRES_URL)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, store_templates: stores.Templates) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a PostgreSQL schema of its own. A runtime
    (``make_runtime``) made on it gets it migrated, from the template."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lessonloop.db'}"
        store_templates.offer(url)
        yield url
        store_templates.withdraw(url)
        return
    problem = stores.postgres_problem(POSTGRES_URL)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {problem}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} unreachable: {problem}")
    with stores.postgres_schema(POSTGRES_URL) as schema:
        url = stores.schema_url(POSTGRES_URL, schema)
        store_templates.offer(url, schema)
        yield url
        store_templates.withdraw(url)


@contextmanager
def emptied_redis(url: str) -> Iterator[Redis]:
    """A real Redis at ``url``, its database emptied before and after; the test fails when no
    Redis answers there."""
    connection = Redis.from_url(url)
    try:
        connection.ping()
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"Redis at {url} is required: {error}")
    connection.flushdb()
    try:
        yield connection
    finally:
        connection.flushdb()
        connection.close()


@pytest.fixture
def redis() -> Iterator[Redis]:
    """A real Redis on a database emptied before and after the test."""
    with emptied_redis(REDIS_URL) as connection:
        yield connection


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing answers: a connection there is refused. This socket holds
    it, bound and never listening, for the whole test (a port picked and released at once could
    be taken by another process before the test uses it)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "lessonloop.toml"
    path.write_text(RULES_TOML)
    return path


@pytest.fixture
def make_settings(rules_file: Path, database_url: str) -> Callable[..., Settings]:
    """Settings as the service would load them; keyword arguments override environment values."""

    def build(config_file: Path | None = rules_file, **env: str) -> Settings:
        values = base_env() | {"DATABASE_URL": database_url} | env
        return load_settings({k: v for k, v in values.items() if v is not None}, config_file)

    return build


@pytest.fixture
def trackers(github_double, jira_double, pagerduty_double) -> dict[str, str]:
    """The three tracker doubles, running, as the settings that point lessonloop at them.

    They hold the incidents the payload samples speak of (GitHub's Codertocat/Hello-World#1,
    Jira's OPS-42, PagerDuty's PGR0VU2) and the repository the rules open GitHub reviews in."""
    github_double.add_repo("acme/postmortems")
    github_double.add_issue(
        "Codertocat/Hello-World",
        "Checkout API returned 502s for 40 minutes",
        labels=("bug", "incident"),
        state="closed",
        assignees=("Codertocat",),
    )
    jira_double._numbers["OPS"] = itertools.count(42)  # the sample's key is OPS-42
    jira_double.add_issue("OPS", "Payment confirmations delayed by up to 25 minutes", issue_type="Incident")
    pagerduty_double.add_incident("PGR0VU2", "A little bump in the road")
    return {
        "LESSONLOOP_GITHUB_TOKEN": "test-token",
        "LESSONLOOP_GITHUB_API_URL": github_double.base_url,
        "LESSONLOOP_GITHUB_WEB_URL": github_double.html_url,
        "LESSONLOOP_JIRA_URL": jira_double.base_url,
        "LESSONLOOP_JIRA_EMAIL": jira_double.email,
        "LESSONLOOP_JIRA_API_TOKEN": jira_double.api_token,
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "user-token",
        "LESSONLOOP_PAGERDUTY_FROM": "lessonloop@example.com",
        "LESSONLOOP_PAGERDUTY_API_URL": pagerduty_double.base_url,
    }


@pytest.fixture
def settings(make_settings: Callable[..., Settings], trackers: dict[str, str]) -> Settings:
    return make_settings(**trackers)


@pytest.fixture
def make_runtime(
    redis: Redis, store_templates: stores.Templates, request: pytest.FixtureRequest
) -> Iterator[Callable[[Settings], Runtime]]:
    """Runtimes as a worker builds them, for tests that need settings of their own: the store
    migrated, the tracker clients built, and the runtime installed for in-process workers (the
    last one made is theirs). Redis is emptied before and after, as for ``redis``.

    The test's own empty store (``database_url``) is first copied from the migrated template
    (``tests/stores.py``), and then migrated as a worker migrates it, which finds it up to date;
    a test marked ``migrated_from_scratch`` has the migrations run on the empty store instead."""
    from workers import context

    made: list[Runtime] = []
    from_scratch = request.node.get_closest_marker("migrated_from_scratch") is not None

    def build(settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        if not from_scratch:
            store_templates.fill(engine)
        migrate.upgrade(engine)
        connection = Redis.from_url(settings.redis_url)
        runtime = Runtime(settings, engine, connection, make_queue(connection)).with_clients()
        context.install(runtime)
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        runtime.engine.dispose()
        runtime.redis.close()


@pytest.fixture
def runtime(settings: Settings, make_runtime: Callable[[Settings], Runtime]) -> Runtime:
    return make_runtime(settings)


@pytest.fixture
def app(runtime: Runtime):
    return create_app(runtime.settings, runtime)


@pytest.fixture
def client(app):
    from tests.openapi_check import CheckingClient

    app.test_client_class = CheckingClient  # every /api/ answer is checked against the API's description
    return app.test_client()


@contextmanager
def serving(server: Any) -> Iterator[str]:
    """``server`` (a ``socketserver`` server, bound already: to port 0, say) answering on a
    thread of its own until the block ends; its URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def live_server(app):
    """The app over real HTTP on loopback, many requests at once."""
    with serving(make_server("127.0.0.1", 0, app, threaded=True)) as url:
        yield url


class HungRedis:
    """A Redis that accepts connections and never answers a byte, and counts the connections
    made to it. Nothing accepts them as they come: they wait, open, in the listen queue, and
    :meth:`connections` takes them from it, so the count holds every connect made so far."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.accepted: list[socket.socket] = []

    def connections(self) -> int:
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])  # held open: still no answer
            except BlockingIOError:
                return len(self.accepted)

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hung_redis() -> Iterator[HungRedis]:
    hung = HungRedis()
    yield hung
    hung.close()
