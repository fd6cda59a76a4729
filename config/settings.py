"""Settings: a TOML file for rules and non-secret knobs, the environment for everything else.

The environment wins over the file, and secrets come only from the environment
(:mod:`config.environment`). Loading is a pure function of (environment, file text) so tests
and ``lessonloop check`` see exactly what the service sees.

Callers import from here: the whole model (:class:`Settings`), :func:`load_settings`, and
(re-exported, see ``__all__``) the tables' models of :mod:`config.sections`, the variables'
names of :mod:`config.environment`, and :class:`~config.errors.SettingsError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError, field_validator, model_validator

from config.environment import (
    enabled_from_raw,
    environment_names,
    file_keys,
    known_variables,
    merge_environment,
    read_file,
    unknown_variables,
)
from config.errors import SettingsError, one_line
from config.people import Accounts, validate_people
from config.rules import ReviewDefaults, Rule, default_rules
from config.sections import (
    FollowupSettings,
    GitHubSettings,
    JiraSettings,
    LessonSettings,
    PagerDutySettings,
    RateLimitSettings,
    ServerSettings,
    Strict,
    WebSettings,
)
from config.sources import SOURCES

__all__ = [
    "API_CREDENTIALS",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_REDIS_URL",
    "SOURCES",
    "FollowupSettings",
    "GitHubSettings",
    "JiraSettings",
    "LessonSettings",
    "PagerDutySettings",
    "RateLimitSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "WebSettings",
    "environment_names",
    "file_keys",
    "known_variables",
    "load_settings",
    "unknown_variables",
    "webhook_secret_env",
]

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_DATABASE_URL = "sqlite:///lessonloop.db"
DEFAULT_CONFIG_FILE = "lessonloop.toml"


class Settings(Strict):
    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    config_file: str | None = None
    server: ServerSettings = ServerSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    github: GitHubSettings = GitHubSettings()
    jira: JiraSettings = JiraSettings()
    pagerduty: PagerDutySettings = PagerDutySettings()
    review: ReviewDefaults = ReviewDefaults()
    lesson: LessonSettings = LessonSettings()
    people: dict[str, Accounts] = {}
    """``[people]``: one person's accounts across the trackers, keyed by email."""
    followups: FollowupSettings = FollowupSettings()
    web: WebSettings = WebSettings()
    marker_keys: tuple[SecretStr, ...] = ()
    """``LESSONLOOP_MARKER_KEY``: the first signs markers, all verify. Empty: the key generated
    once and kept in the store is used."""
    rules: tuple[Rule, ...] = ()
    rules_from_file: bool = False
    environment_notes: tuple[str, ...] = ()  # unknown LESSONLOOP_* variables (unknown_variables)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        if v.startswith(("redis://", "rediss://")):
            database = urlsplit(v).path.strip("/")
            if database and not database.isdigit():
                raise ValueError(
                    f"the database after the host must be a number (redis://HOST:6379/0), got {database!r}"
                )
        return v

    @field_validator("people")
    @classmethod
    def _people(cls, v: dict[str, Accounts]) -> dict[str, Accounts]:
        validate_people(v)
        return v

    @field_validator("marker_keys")
    @classmethod
    def _marker_keys(cls, v: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(key.get_secret_value()) < 16 for key in v):
            raise ValueError("each marker key must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return v

    @field_validator("database_url")
    @classmethod
    def _database(cls, v: str) -> str:
        if v.startswith("postgres://"):
            v = "postgresql://" + v.removeprefix("postgres://")
        if not v.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST/DB")
        return v

    @model_validator(mode="after")
    def _rules_need_enabled_sources(self) -> Settings:
        for index, rule in enumerate(self.rules, start=1):
            if rule.source not in self.enabled_sources:
                raise ValueError(
                    f"rules[{index}] is for source '{rule.source}', which is not enabled: "
                    f"set {webhook_secret_env(rule.source)} or remove the rule"
                )
        return self

    @property
    def enabled_sources(self) -> tuple[str, ...]:
        return tuple(s for s in SOURCES if self.webhook_secrets(s) or self.automation_tokens(s))

    def webhook_secrets(self, source: str) -> tuple[SecretStr, ...]:
        return getattr(self, source).webhook_secrets

    def automation_tokens(self, source: str) -> tuple[SecretStr, ...]:
        return self.jira.automation_tokens if source == "jira" else ()

    def has_api_credentials(self, source: str) -> bool:
        if source == "github":
            return self.github.signs_in
        if source == "jira":
            return self.jira.url is not None and self.jira.auth_kind != "none"
        return self.pagerduty.api_token is not None and bool(self.pagerduty.from_email)

    def rules_for(self, source: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.source == source)

    def containers_in(self, source: str) -> set[str]:
        """The repositories or projects of tracker ``source`` that the rules read incidents from
        or open reviews in."""
        named = {rule.target.container for rule in self.rules if rule.target and rule.target.source == source}
        return named | {project for rule in self.rules_for(source) for project in rule.projects}

    def warnings(self) -> list[str]:
        """Things that are allowed but probably not what the operator wants."""
        notes: list[str] = list(self.environment_notes)
        if not self.enabled_sources:
            notes.append(
                "no source is enabled: set LESSONLOOP_GITHUB_WEBHOOK_SECRET, "
                "LESSONLOOP_JIRA_WEBHOOK_SECRET or LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET"
            )
        for source in self.enabled_sources:
            if source != "pagerduty" and not self.rules_for(source):
                notes.append(
                    f"{source} is enabled but no rule selects its incidents: {source} deliveries get no review"
                )
        for source in sorted(
            {rule.source for rule in self.rules}
            | {rule.target.source if rule.target else rule.source for rule in self.rules}
        ):
            if not self.has_api_credentials(source):
                notes.append(
                    f"the rules need the {source} API (to open reviews or comment on incidents), "
                    f"but its credentials are not set: {API_CREDENTIALS[source]}"
                )
        unheard = sorted({rule.target.source for rule in self.rules if rule.target} - set(self.enabled_sources))
        for source in unheard:
            notes.append(
                f"reviews open in {source}, but {source} is not enabled: lessons written there are never heard "
                f"(set {webhook_secret_env(source)} and add lessonloop's webhook there)"
            )
        if "pagerduty" in self.enabled_sources and not self.rules_for("pagerduty"):
            notes.append(
                'PagerDuty has no tasks: add a [[rules]] entry with source = "pagerduty" and '
                'review = "jira:KEY" or "github:owner/repo" to say where its reviews go'
            )
        return notes


API_CREDENTIALS = {
    "github": "LESSONLOOP_GITHUB_TOKEN (or LESSONLOOP_GITHUB_APP_ID and LESSONLOOP_GITHUB_APP_PRIVATE_KEY)",
    "jira": "LESSONLOOP_JIRA_URL and LESSONLOOP_JIRA_EMAIL + LESSONLOOP_JIRA_API_TOKEN (or LESSONLOOP_JIRA_PAT)",
    "pagerduty": "LESSONLOOP_PAGERDUTY_API_TOKEN and LESSONLOOP_PAGERDUTY_FROM",
}


def webhook_secret_env(source: str) -> str:
    return f"LESSONLOOP_{source.upper()}_WEBHOOK_SECRET"


def load_settings(environ: Mapping[str, str] | None = None, config_file: str | Path | None = None) -> Settings:
    """Build validated settings from the environment and the optional TOML file.

    ``config_file`` overrides ``LESSONLOOP_CONFIG``; a file named explicitly must exist, the
    default ``lessonloop.toml`` is optional.
    """
    environ = os.environ if environ is None else environ
    named_by = "--config" if config_file is not None else "LESSONLOOP_CONFIG"
    explicit = config_file is not None or bool(environ.get("LESSONLOOP_CONFIG"))
    path = Path(config_file or environ.get("LESSONLOOP_CONFIG") or DEFAULT_CONFIG_FILE)

    data: dict[str, Any] = {}
    if path.is_file():
        data = read_file(path, named_by)
        data["config_file"] = str(path)
    elif explicit:
        raise SettingsError(f"{named_by}: no such file: {path}")

    from_env = merge_environment(environ, data)
    data["environment_notes"] = unknown_variables(environ)

    rules_from_file = "rules" in data
    data["rules_from_file"] = rules_from_file
    if not rules_from_file:
        data["rules"] = [rule.model_dump() for rule in default_rules(enabled_from_raw(data))]

    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(one_line(error, Settings, path, from_env)) from None
    return settings
