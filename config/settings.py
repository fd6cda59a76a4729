"""Settings: a TOML file for rules and non-secret knobs, the environment for everything else.

The environment wins over the file. Secrets come only from the environment, or from a file
whose path the environment names (``<NAME>_FILE``), so they never sit in a config file that
gets committed or printed. Loading is a pure function of (environment, file text) so tests and
``lessonloop check`` see exactly what the service sees.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from config.people import Accounts, validate_people
from config.rules import ReviewDefaults, ReviewTarget, Rule, default_rules, share_patterns

SOURCES: tuple[str, ...] = ("github", "jira", "pagerduty")

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_DATABASE_URL = "sqlite:///lessonloop.db"
DEFAULT_CONFIG_FILE = "lessonloop.toml"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class SettingsError(Exception):
    """A missing or wrong setting. ``str()`` is one line that names the setting."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _positive_int(value: Any) -> Any:
    """A count of requests: a whole number above zero (TOML ``80``; not ``80.0``, ``"80"`` or ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return value


PositiveCount = Annotated[int, BeforeValidator(_positive_int)]


class GitHubSettings(_Strict):
    webhook_secrets: tuple[SecretStr, ...] = ()
    token: SecretStr | None = None
    app_id: int | None = Field(None, gt=0)
    app_private_key: SecretStr | None = None
    """The App's PEM private key (``LESSONLOOP_GITHUB_APP_PRIVATE_KEY`` or ``…_FILE``)."""
    app_installation_id: int | None = Field(None, gt=0)
    """Else found per repository (``GET /repos/{owner}/{repo}/installation``) and cached."""
    api_url: str = "https://api.github.com"
    web_url: str | None = None
    """Where people see issues (links in lessons are recognised by it); by default derived
    from ``api_url``: ``api.github.com`` -> ``github.com``, ``HOST/api/v3`` -> ``HOST``."""

    writes_per_minute: PositiveCount = 80
    """Content-generating requests (POST, PATCH, PUT, DELETE) a minute: GitHub's secondary rate limit."""
    writes_per_hour: PositiveCount = 500
    """The same requests an hour: GitHub's secondary rate limit."""

    @field_validator("web_url")
    @classmethod
    def _web(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("api_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("app_private_key")
    @classmethod
    def _pem(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        text = v.get_secret_value().replace("\\n", "\n").strip() + "\n"  # a PEM in one env line keeps \n
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            load_pem_private_key(text.encode("utf-8"), password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"LESSONLOOP_GITHUB_APP_PRIVATE_KEY: not a PEM private key without a passphrase "
                f"({str(error).splitlines()[0] if str(error) else type(error).__name__})"
            ) from None
        return SecretStr(text)

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> GitHubSettings:
        app = self.app_id is not None or self.app_private_key is not None or self.app_installation_id is not None
        if app and self.token is not None:
            raise ValueError("set either LESSONLOOP_GITHUB_TOKEN or the LESSONLOOP_GITHUB_APP_* settings, not both")
        if app and (self.app_id is None or self.app_private_key is None):
            raise ValueError("LESSONLOOP_GITHUB_APP_ID and LESSONLOOP_GITHUB_APP_PRIVATE_KEY are needed together")
        return self

    @property
    def signs_in(self) -> bool:
        return self.token is not None or self.app_id is not None


class JiraSettings(_Strict):
    webhook_secrets: tuple[SecretStr, ...] = ()
    automation_tokens: tuple[SecretStr, ...] = ()
    url: str | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    pat: SecretStr | None = None
    requests_per_minute: PositiveCount | None = None
    """Jira publishes no fixed number: unset, lessonloop paces itself only by Jira's 429s."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @model_validator(mode="after")
    def _auth_pairs(self) -> JiraSettings:
        if (self.email is None) != (self.api_token is None):
            missing = "LESSONLOOP_JIRA_API_TOKEN" if self.api_token is None else "LESSONLOOP_JIRA_EMAIL"
            raise ValueError(f"{missing} is required too: Jira Cloud signs in with an email and an API token")
        if self.pat is not None and self.api_token is not None:
            raise ValueError(
                "set either LESSONLOOP_JIRA_PAT (Data Center) or LESSONLOOP_JIRA_EMAIL + "
                "LESSONLOOP_JIRA_API_TOKEN (Cloud), not both"
            )
        return self

    @property
    def auth_kind(self) -> Literal["cloud", "pat", "none"]:
        if self.pat is not None:
            return "pat"
        if self.api_token is not None:
            return "cloud"
        return "none"


class PagerDutySettings(_Strict):
    webhook_secrets: tuple[SecretStr, ...] = ()
    api_token: SecretStr | None = None
    from_email: str | None = None
    api_url: str = "https://api.pagerduty.com"
    requests_per_minute: PositiveCount = 900
    """PagerDuty's REST API rate limit."""

    @field_validator("api_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class RateLimitSettings(_Strict):
    """How workers wait for the trackers' rate limits (the limits themselves live per tracker)."""

    max_wait_seconds: float = Field(5.0, ge=0, le=300)
    """A call waits this long in the worker for a free slot; a longer wait reschedules the job."""
    time_scale: float = Field(1.0, gt=0, le=1)
    """Multiplies every window (a minute becomes ``60 * time_scale`` seconds). For tests and
    benchmarks that need the limits' shape in less time; 1 in production."""


class ServerSettings(_Strict):
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, gt=0, le=64 * 1024 * 1024)
    sweep_seconds: int = Field(60, ge=5, le=3600)
    """How often the worker looks for recorded deliveries with no live job, and how old one
    must be before it counts as lost (a fresh one may still be on its way into Redis)."""
    job_timeout_seconds: int = Field(600, ge=2, le=24 * 3600)
    read_timeout_seconds: int = Field(10, ge=1, le=300)
    """How long the web server waits for a request's headers (and for the first byte on an idle
    kept-alive connection), then as long again for its body, before it drops the connection:
    totals, not pauses between bytes (docs/server.md)."""
    retry_seconds: float = Field(15.0, gt=0, le=3600)
    """The first wait after a tracker fault (or an incident another job holds): it doubles with
    each attempt, up to an hour, and is never shorter than the tracker asked."""
    keep_bodies_days: int = Field(30, ge=1, le=36500)
    """Bodies of deliveries done or ignored are dropped this long after (their rows stay);
    failed ones are kept until replayed, or for 90 days."""
    web_processes: int = Field(0, ge=0, le=64)
    """Granian worker processes ``lessonloop web`` (and ``serve``'s web) runs on its port, each with
    ``--threads`` threads; 0: two for each core this process may run on, at most 4. A delivery
    is mostly Python, and the threads of one process share one core (docs/server.md)."""
    worker_processes: int = Field(2, ge=1, le=64)
    """Worker processes ``lessonloop serve`` keeps running beside the web: jobs mostly wait on
    trackers and the store, so two keep one core busy."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"


class LessonSettings(_Strict):
    max_related_items: int = Field(25, ge=2, le=1000)
    """How many items (the incident and the review included) get a lesson comment; items the
    lesson names beyond that are listed, not written to. Items linked by hand always get it."""
    blame_check: Literal["comment", "off"] = "comment"
    """``comment``: a complete lesson with sentences that put a person rather than a process at
    the centre gets one comment on its review quoting them with questions to ask instead (once
    per distinct set of sentences; the lesson is kept and shared all the same). ``off``: none."""
    share: tuple[str, ...] = ()
    """Globs (``github:acme/*``, ``jira:OPS``) added to every rule's scope: where lessons may be
    shared, follow-ups adopted and reminded, beyond each rule's own repositories and projects."""

    @field_validator("share", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("share")
    @classmethod
    def _share(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return share_patterns(value)


class FollowupSettings(_Strict):
    """The ``[followups]`` table: how the items of "What we'll change" become tracked tasks."""

    open_in: str | None = None
    """``github:owner/repo`` or ``jira:KEY`` where new follow-up tasks open; empty: where the review is."""
    labels: tuple[str, ...] = ("follow-up",)
    due_days: int = Field(28, ge=0, le=3650)
    create: bool = True
    """False: only items that link an existing issue are tracked (adopted); none is opened."""
    max_per_lesson: int = Field(10, ge=0, le=200)
    """Follow-ups one lesson may have tracked, adopted and opened together; items beyond are
    listed as not tracked, with this setting named."""
    reminders_per_day: PositiveCount = 50
    """Follow-up reminders posted in one day across the organisation; the rest wait for the next
    day (each item gets at most one a week in any case)."""

    @field_validator("open_in")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None:
            ReviewTarget.parse(value)
        return value

    @property
    def target(self) -> ReviewTarget | None:
        return None if self.open_in is None else ReviewTarget.parse(self.open_in)


class WebSettings(_Strict):
    """Who may read the learning log (pages and API) and ``/metrics``."""

    auth: Literal["oidc", "proxy", "none"] | None = None
    """``LESSONLOOP_AUTH``; unset means ``none`` on a loopback address, and stops start-up on
    any other (see ``service.web.auth.resolve_mode``)."""
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    proxy_header: str = "X-Forwarded-Email"
    session_key: SecretStr | None = None
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    """``LESSONLOOP_METRICS_PUBLIC=1``: ``/metrics`` answers any peer without a token. Unset,
    a peer that is not on this machine needs ``LESSONLOOP_METRICS_TOKEN``."""
    allowed_email_domains: tuple[str, ...] = ()
    """Empty: any address the OpenID provider vouches for."""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    docs_url: str | None = None
    """Where people can read lessonloop's ``docs/`` folder (a repository's or an internal copy):
    an empty log links its setup guides there. Unset, it names the files."""

    @field_validator("oidc_issuer", "docs_url")
    @classmethod
    def _issuer(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("session_key")
    @classmethod
    def _session_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {entry!r}") from None
        return v

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(domain.strip().lower().lstrip("@") for domain in v if domain.strip())

    @model_validator(mode="after")
    def _oidc_complete(self) -> WebSettings:
        if self.auth == "oidc":
            missing = [
                name
                for name, value in (
                    ("LESSONLOOP_OIDC_ISSUER", self.oidc_issuer),
                    ("LESSONLOOP_OIDC_CLIENT_ID", self.oidc_client_id),
                    ("LESSONLOOP_OIDC_CLIENT_SECRET", self.oidc_client_secret),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"LESSONLOOP_AUTH=oidc needs {', '.join(missing)}")
        return self


class Settings(_Strict):
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


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or value[-3:] == "://":
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


# --- environment and file mapping -------------------------------------------------------------

# environment variable -> (path in the settings tree, secret?)
_ENV: dict[str, tuple[tuple[str, ...], bool]] = {
    "REDIS_URL": (("redis_url",), False),
    "DATABASE_URL": (("database_url",), False),
    "LESSONLOOP_REDIS_URL": (("redis_url",), False),
    "LESSONLOOP_DATABASE_URL": (("database_url",), False),
    "LESSONLOOP_MAX_BODY_BYTES": (("server", "max_body_bytes"), False),
    "LESSONLOOP_SWEEP_SECONDS": (("server", "sweep_seconds"), False),
    "LESSONLOOP_JOB_TIMEOUT_SECONDS": (("server", "job_timeout_seconds"), False),
    "LESSONLOOP_READ_TIMEOUT_SECONDS": (("server", "read_timeout_seconds"), False),
    "LESSONLOOP_RETRY_SECONDS": (("server", "retry_seconds"), False),
    "LESSONLOOP_KEEP_BODIES_DAYS": (("server", "keep_bodies_days"), False),
    "LESSONLOOP_WEB_PROCESSES": (("server", "web_processes"), False),
    "LESSONLOOP_WORKER_PROCESSES": (("server", "worker_processes"), False),
    "LESSONLOOP_LOG_LEVEL": (("server", "log_level"), False),
    "LESSONLOOP_LOG_FORMAT": (("server", "log_format"), False),
    "LESSONLOOP_MARKER_KEY": (("marker_keys",), True),
    "LESSONLOOP_GITHUB_WEBHOOK_SECRET": (("github", "webhook_secrets"), True),
    "LESSONLOOP_GITHUB_TOKEN": (("github", "token"), True),
    "LESSONLOOP_GITHUB_APP_ID": (("github", "app_id"), False),
    "LESSONLOOP_GITHUB_APP_PRIVATE_KEY": (("github", "app_private_key"), True),
    "LESSONLOOP_GITHUB_APP_INSTALLATION_ID": (("github", "app_installation_id"), False),
    "LESSONLOOP_GITHUB_API_URL": (("github", "api_url"), False),
    "LESSONLOOP_GITHUB_WEB_URL": (("github", "web_url"), False),
    "LESSONLOOP_JIRA_WEBHOOK_SECRET": (("jira", "webhook_secrets"), True),
    "LESSONLOOP_JIRA_AUTOMATION_TOKEN": (("jira", "automation_tokens"), True),
    "LESSONLOOP_JIRA_URL": (("jira", "url"), False),
    "LESSONLOOP_JIRA_EMAIL": (("jira", "email"), False),
    "LESSONLOOP_JIRA_API_TOKEN": (("jira", "api_token"), True),
    "LESSONLOOP_JIRA_PAT": (("jira", "pat"), True),
    "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": (("pagerduty", "webhook_secrets"), True),
    "LESSONLOOP_PAGERDUTY_API_TOKEN": (("pagerduty", "api_token"), True),
    "LESSONLOOP_PAGERDUTY_FROM": (("pagerduty", "from_email"), False),
    "LESSONLOOP_PAGERDUTY_API_URL": (("pagerduty", "api_url"), False),
    "LESSONLOOP_AUTH": (("web", "auth"), False),
    "LESSONLOOP_OIDC_ISSUER": (("web", "oidc_issuer"), False),
    "LESSONLOOP_OIDC_CLIENT_ID": (("web", "oidc_client_id"), False),
    "LESSONLOOP_OIDC_CLIENT_SECRET": (("web", "oidc_client_secret"), True),
    "LESSONLOOP_AUTH_PROXY_HEADER": (("web", "proxy_header"), False),
    "LESSONLOOP_SESSION_KEY": (("web", "session_key"), True),
    "LESSONLOOP_METRICS_TOKEN": (("web", "metrics_token"), True),
    "LESSONLOOP_METRICS_PUBLIC": (("web", "metrics_public"), False),
}
_ROTATED_FIELDS = {"webhook_secrets", "automation_tokens"}
"""One secret a variable (a comma is part of it), and a second in ``<NAME>_PREVIOUS`` while
rotating; in the ``_FILE`` forms, one secret a line."""
_COMMA_LISTS = {"marker_keys"}
"""Comma-separated, the first signs: a marker key is generated (hex), never chosen by a vendor."""
_ALIASES = {"LESSONLOOP_REDIS_URL": "REDIS_URL", "LESSONLOOP_DATABASE_URL": "DATABASE_URL"}
_SECRET_PATHS = {path for path, secret in _ENV.values() if secret}

# keys the file may hold, per table; everything else in the file is a mistake worth a clear error
_FILE_TABLES = {
    "server": {
        "max_body_bytes",
        "sweep_seconds",
        "job_timeout_seconds",
        "read_timeout_seconds",
        "log_level",
        "log_format",
        "retry_seconds",
        "keep_bodies_days",
        "web_processes",
        "worker_processes",
    },
    "rate_limits": {"max_wait_seconds", "time_scale"},
    "github": {"api_url", "web_url", "writes_per_minute", "writes_per_hour"},
    "jira": {"url", "email", "requests_per_minute"},
    "pagerduty": {"api_url", "from_email", "requests_per_minute"},
    "lesson": {"max_related_items", "blame_check", "share"},
    "followups": {"open_in", "labels", "due_days", "create", "max_per_lesson", "reminders_per_day"},
    "web": {"allowed_email_domains", "trusted_proxies", "docs_url"},
}
_FILE_TOP = {"redis_url", "database_url", "review", "rules", "people", *_FILE_TABLES}


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
        data = _read_file(path, named_by)
        data["config_file"] = str(path)
    elif explicit:
        raise SettingsError(f"{named_by}: no such file: {path}")

    from_env: dict[tuple[str, ...], str] = {}  # where each setting from the environment came from
    for name, (tree_path, secret) in _ENV.items():
        value = _env_value(environ, name, secret)
        if value is None:
            continue
        if name in _ALIASES:
            plain = _env_value(environ, _ALIASES[name], secret)
            if plain is not None and plain != value:
                raise SettingsError(f"{name}: {_ALIASES[name]} is set too, to another value: set one of them")
        from_env[tree_path] = name
        if tree_path[-1] in _ROTATED_FIELDS:
            _put(data, tree_path, _rotated(environ, name, value))
        elif tree_path[-1] in _COMMA_LISTS:
            items = [part.strip() for part in value.split(",") if part.strip()]
            if not items:
                raise SettingsError(f"{name}: is set but holds no secret")
            _put(data, tree_path, items)
        else:
            _put(data, tree_path, value)
    data["environment_notes"] = unknown_variables(environ)

    rules_from_file = "rules" in data
    data["rules_from_file"] = rules_from_file
    if not rules_from_file:
        data["rules"] = [rule.model_dump() for rule in default_rules(_enabled_from_raw(data))]

    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(_one_line(error, path, from_env)) from None
    return settings


def _read_file(path: Path, named_by: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{named_by}: cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML: {error}") from None
    for key, value in data.items():
        if key not in _FILE_TOP:
            close = difflib.get_close_matches(key, sorted(_FILE_TOP), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SettingsError(f"{path}: unknown setting '{key}'{hint}")
        if key in _FILE_TABLES:
            if not isinstance(value, dict):
                raise SettingsError(f"{path}: [{key}] must be a table")
            for sub in value:
                if (key, sub) in _SECRET_PATHS or sub in {
                    "token",
                    "api_token",
                    "pat",
                    "webhook_secret",
                    "secret",
                    "oidc_client_secret",
                    "session_key",
                    "metrics_token",
                }:
                    raise SettingsError(
                        f"{path}: [{key}] {sub}: secrets are read only from the environment "
                        f"(or a file it names with *_FILE), never from the config file"
                    )
                if sub not in _FILE_TABLES[key]:
                    close = difflib.get_close_matches(sub, sorted(_FILE_TABLES[key]), n=1, cutoff=0.6)
                    hint = f" (did you mean '{key}.{close[0]}'?)" if close else ""
                    raise SettingsError(f"{path}: unknown setting '{key}.{sub}'{hint}")
    return data


def _env_value(environ: Mapping[str, str], name: str, secret: bool) -> str | None:
    """The value of ``name``, from the environment or (secrets) the file ``<NAME>_FILE`` names,
    stripped of surrounding whitespace: a mounted secret file or ``$(cat token)`` commonly ends in
    a newline, and a token with one is refused as a header value and would be quoted in errors."""
    value = environ.get(name)
    value = value.strip() if value is not None else None
    if value == "":
        value = None
    file_name = environ.get(f"{name}_FILE") if secret else None
    if file_name:
        if value is not None:
            raise SettingsError(f"{name}: set either {name} or {name}_FILE, not both")
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SettingsError(f"{name}_FILE: cannot read {file_name}: {error.strerror}") from None
        if not value:
            raise SettingsError(f"{name}_FILE: {file_name} is empty")
    return value


def _rotated(environ: Mapping[str, str], name: str, value: str) -> list[str]:
    """The secrets of a rotated variable: its value, then ``<NAME>_PREVIOUS``'s. A value read
    from a ``_FILE`` holds one secret a line; one from the environment is one secret, commas
    and all (GitHub's own example secret has a comma in it)."""
    from_file = bool(environ.get(f"{name}_FILE"))
    secrets = [line.strip() for line in value.splitlines() if line.strip()] if from_file else [value]
    previous = _env_value(environ, f"{name}_PREVIOUS", secret=True)
    if previous is not None:
        if environ.get(f"{name}_PREVIOUS_FILE"):
            secrets += [line.strip() for line in previous.splitlines() if line.strip()]
        else:
            secrets.append(previous)
    return secrets


def environment_names() -> tuple[str, ...]:
    """The variables settings are read from (their ``_FILE`` and ``_PREVIOUS`` forms aside)."""
    return ("LESSONLOOP_CONFIG", *_ENV)


def file_keys() -> dict[str, frozenset[str]]:
    """The settings file's keys: each table's own, and under "" the top-level ones."""
    return {"": frozenset(_FILE_TOP - set(_FILE_TABLES))} | {t: frozenset(k) for t, k in _FILE_TABLES.items()}


def known_variables() -> set[str]:
    """Every ``LESSONLOOP_*`` name lessonloop reads (the tests' own knobs aside)."""
    names = {"LESSONLOOP_CONFIG", *(name for name in _ENV if name.startswith("LESSONLOOP_"))}
    for name, (path, secret) in _ENV.items():
        if secret:
            names.add(f"{name}_FILE")
        if path[-1] in _ROTATED_FIELDS:
            names |= {f"{name}_PREVIOUS", f"{name}_PREVIOUS_FILE"}
    return names


def unknown_variables(environ: Mapping[str, str]) -> tuple[str, ...]:
    """One note per ``LESSONLOOP_*`` variable that lessonloop does not read, with the closest
    name it does: a typo in a secret's name would otherwise leave a source off without a word."""
    known = known_variables()
    notes = []
    for name in sorted(environ):
        if not name.startswith("LESSONLOOP_") or name in known or name.startswith("LESSONLOOP_TEST_"):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        notes.append(f"{name} is not a lessonloop setting and is ignored{hint}")
    return tuple(notes)


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SettingsError(f"[{part}] must be a table")
    node[path[-1]] = value


def _enabled_from_raw(data: Mapping[str, Any]) -> list[str]:
    enabled = []
    for source in SOURCES:
        table = data.get(source) or {}
        if table.get("webhook_secrets") or table.get("automation_tokens"):
            enabled.append(source)
    return enabled


_MESSAGES = {
    "tuple_type": "must be a list of strings",
    "list_type": "must be a list of strings",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "missing": "is required",
}


def _in_our_words(kind: str, message: str, loc: tuple[Any, ...]) -> str:
    """pydantic's message, said as the settings' documentation says it: an unknown key with the
    closest known one, a type by what the operator writes in TOML."""
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        return "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
    if kind in _MESSAGES:
        if kind in ("string_type", "int_type", "int_parsing") and loc and isinstance(loc[-1], int):
            return _MESSAGES["tuple_type"]  # an item of a list: say what the list holds
        return _MESSAGES[kind]
    return message.removeprefix("Value error, ")


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at ``loc`` (a path into the settings, list indexes included) accepts."""
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if part == "rules":
            model = Rule
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    names = set(model.model_fields)
    names |= {field.alias for field in model.model_fields.values() if field.alias}
    return sorted(names)


def _one_line(error: ValidationError, path: Path, from_env: Mapping[tuple[str, ...], str]) -> str:
    """The first problem, named as the operator wrote it: the environment variable when the
    value came from there, else the file's key."""
    first = error.errors()[0]
    message = _in_our_words(first["type"], first["msg"], first["loc"])
    raw_loc = first["loc"][:-1] if first["loc"] and isinstance(first["loc"][-1], int) else first["loc"]
    loc = tuple(str(part) for part in raw_loc)  # a list's item is named by its list
    if "LESSONLOOP_" in message:
        return message
    if message.startswith("rules["):
        return f"{path}: {message}"
    name = from_env.get(loc)
    if name is None and loc and loc[0] == "rules" and len(loc) > 1:
        name = f"{path}: rules[{int(loc[1]) + 1}]" + ("." + ".".join(loc[2:]) if loc[2:] else "")
    elif name is None and loc:
        name = f"{path}: " + ".".join(loc)
    elif name is None:
        return message
    return f"{name}: {message}"
