"""The settings' tables, one model each: ``[server]``, ``[rate_limits]``, ``[github]``, ``[jira]``,
``[pagerduty]``, ``[lesson]``, ``[followups]``, ``[web]`` (``[review]`` and ``[[rules]]`` are in
:mod:`config.rules`). Each says what it accepts and refuses a wrong value with a message that
the loader turns into one line naming the setting (:mod:`config.errors`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.rules import ReviewTarget, SharePatterns, TargetText

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class Strict(BaseModel):
    """A table of settings: a key it does not know is a mistake, and nothing changes it once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _positive_int(value: Any) -> Any:
    """A count of requests: a whole number above zero (TOML ``80``; not ``80.0``, ``"80"`` or ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return value


PositiveCount = Annotated[int, BeforeValidator(_positive_int)]


class GitHubSettings(Strict):
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


class JiraSettings(Strict):
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


class PagerDutySettings(Strict):
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


class RateLimitSettings(Strict):
    """How workers wait for the trackers' rate limits (the limits themselves live per tracker)."""

    max_wait_seconds: float = Field(5.0, ge=0, le=300)
    """A call waits this long in the worker for a free slot; a longer wait reschedules the job."""
    time_scale: float = Field(1.0, gt=0, le=1)
    """Multiplies every window (a minute becomes ``60 * time_scale`` seconds). For tests and
    benchmarks that need the limits' shape in less time; 1 in production."""


class ServerSettings(Strict):
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


class LessonSettings(Strict):
    max_related_items: int = Field(25, ge=2, le=1000)
    """How many items (the incident and the review included) get a lesson comment; items the
    lesson names beyond that are listed, not written to. Items linked by hand always get it."""
    blame_check: Literal["comment", "off"] = "comment"
    """``comment``: a complete lesson with sentences that put a person rather than a process at
    the centre gets one comment on its review quoting them with questions to ask instead (once
    per distinct set of sentences; the lesson is kept and shared all the same). ``off``: none."""
    share: SharePatterns = ()
    """Globs (``github:acme/*``, ``jira:OPS``) added to every rule's scope: where lessons may be
    shared, follow-ups adopted and reminded, beyond each rule's own repositories and projects."""


class FollowupSettings(Strict):
    """The ``[followups]`` table: how the items of "What we'll change" become tracked tasks."""

    open_in: TargetText | None = None
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

    @property
    def target(self) -> ReviewTarget | None:
        return None if self.open_in is None else ReviewTarget.parse(self.open_in)


class WebSettings(Strict):
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


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or value[-3:] == "://":
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")
