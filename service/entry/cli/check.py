"""``check``: the settings as loaded (secrets masked), whether Redis and the store answer, and
with ``--online`` whether each tracker takes our credentials and each rule's review target
can take reviews. Exit 1 when anything it asked about did not answer as needed."""

from __future__ import annotations

import argparse
import json
import secrets

from pydantic import SecretStr
from redis.exceptions import LockError, RedisError
from sqlalchemy.exc import SQLAlchemyError

from config.settings import SOURCES, Settings
from service.entry.cli.shared import Commands, first_line, safe_db, safe_redis
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.loop.targets import check_targets
from service.store import deliveries, migrate
from service.text.markers import MarkerKeys
from service.trackers.clients import build_clients
from service.trackers.errors import TrackerError
from service.trackers.github.client import GitHubClient


def add_parser(commands: Commands) -> None:
    command = commands.add_parser("check", help="validate the settings and print them, secrets masked")
    command.add_argument(
        "--online",
        action="store_true",
        help="also ask each tracker who we are, and whether each rule's review target can take reviews",
    )
    # check prints the settings' environment notes among its warnings, not as log lines first
    command.set_defaults(run=check, logs_environment_notes=False)


def check(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(_masked(settings), indent=2, default=str))
    for note in settings.warnings():
        print(f"warning: {note}")
    problems = 0
    runtime = Runtime.build(settings)
    try:
        runtime.redis.ping()
        print(f"redis: ok ({safe_redis(settings)})")
    except RedisError as error:
        problems += 1
        print(f"redis: unavailable at {safe_redis(settings)}: {first_line(error)}")
    try:
        if migrate.pending(runtime.engine):
            print(f"store: ok ({safe_db(settings)}); migrations pending (applied on start)")
        else:
            counts = ", ".join(f"{count} {status}" for status, count in deliveries.counts(runtime.engine).items())
            print(f"store: ok ({safe_db(settings)}); deliveries: {counts}")
    except SQLAlchemyError as error:
        problems += 1
        print(f"store: unavailable at {safe_db(settings)}: {first_line(error)}")
    print("webhooks: " + "; ".join(_secret_counts(settings, source) for source in SOURCES))
    if settings.marker_keys:
        print(f"markers: signed with LESSONLOOP_MARKER_KEY ({len(settings.marker_keys)} key(s); the first signs)")
    else:
        print(
            "markers: signed with the key generated once and kept in the store (set LESSONLOOP_MARKER_KEY "
            "to manage it yourself)"
        )
    if settings.people:
        print(
            f"people: {len(settings.people)} mapped across trackers (ids checked for their form; the accounts "
            "themselves are not looked up: none of the API paths lessonloop calls looks up users)"
        )
    if args.online:
        problems += _check_online(settings)
    return 1 if problems else 0


def _check_online(settings: Settings) -> int:
    problems = 0
    # identities and review targets are read here and nothing is written, so no marker is ever signed
    clients = build_clients(settings, MarkerKeys([secrets.token_hex(32)]), redis=Runtime.build(settings).redis)
    if not clients:
        print("online: no tracker has API credentials set")
    for source, client in clients.items():
        try:
            identity = client.whoami()
            print(f"{source}: signed in as {identity.name} ({identity.id})")
            if identity.kind == "app":
                problems += _check_github_app(settings, client)
        except (RetryLater, Permanent, LockError) as error:
            problems += 1
            print(f"{source}: {error} (API at {_api_url(settings, source)})")
    lines, missing = check_targets(settings, clients)
    for line in lines:
        print(line)
    return problems + missing


def _check_github_app(settings: Settings, client: object) -> int:
    """Which installation, which repositories it sees, and any repository a rule uses that it cannot."""
    assert isinstance(client, GitHubClient) and client.app is not None
    app = client.app
    wanted = sorted(settings.containers_in("github"))
    installations: dict[int, list[str]] = {}
    problems = 0
    if app.installation_id is not None:
        installations[app.installation_id] = []
    else:  # found per repository, as the worker does
        for repository in wanted:
            try:
                installations.setdefault(app.installation_of(repository), [])
            except TrackerError as error:
                problems += 1
                print(f"github: a rule uses {repository}, which the App cannot see: {error.message}")
    for installation in sorted(installations):
        seen = app.repositories(installation)
        print(f"github: installation {installation} sees {len(seen)} repositories: {', '.join(seen) or '-'}")
        if app.installation_id is not None:
            for repository in wanted:
                if repository.lower() not in {name.lower() for name in seen}:
                    problems += 1
                    print(f"github: a rule uses {repository}, which installation {installation} cannot see")
    return problems


def _api_url(settings: Settings, source: str) -> str:
    return {
        "github": settings.github.api_url,
        "jira": settings.jira.url or "-",
        "pagerduty": settings.pagerduty.api_url,
    }.get(source, "-")


def _secret_counts(settings: Settings, source: str) -> str:
    """How many secrets verify a source's deliveries: two while rotating, never their values."""
    secrets_held = len(settings.webhook_secrets(source))
    tokens = len(settings.automation_tokens(source))
    if not secrets_held and not tokens:
        return f"{source} off (no secret)"
    counted = f"{source} {secrets_held} secret{'s' if secrets_held != 1 else ''}"
    return counted + (f" and {tokens} Automation token{'s' if tokens != 1 else ''}" if tokens else "")


def _masked(settings: Settings) -> dict[str, object]:
    def mask(value: object) -> object:
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, dict):
            return {key: mask(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [mask(item) for item in value]
        return value

    data = mask(settings.model_dump(exclude={"environment_notes"}))
    assert isinstance(data, dict)
    data["database_url"] = safe_db(settings)
    data["redis_url"] = safe_redis(settings)
    data["enabled_sources"] = list(settings.enabled_sources)
    data["rules"] = [
        rule.model_dump(exclude_none=True, exclude_defaults=True) | {"source": rule.source} for rule in settings.rules
    ]
    return data
