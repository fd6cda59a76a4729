"""Where each setting comes from: the TOML file's keys and the environment's variables, merged
into one tree for the settings model to validate.

The environment wins over the file. Secrets come only from the environment, or from a file
whose path the environment names (``<NAME>_FILE``), so they never sit in a config file that
gets committed or printed. Which variable fills which setting, and which are secret, is one
table (``_ENV``), so both are explicit in one place.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.errors import SettingsError
from config.sources import SOURCES, Source

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


def merge_environment(environ: Mapping[str, str], data: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """Put every setting the environment gives into ``data`` (the file's tree), over the file's
    value; returns where each came from (its path in the tree -> the variable's name)."""
    from_env: dict[tuple[str, ...], str] = {}
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
    return from_env


def read_file(path: Path, named_by: str) -> dict[str, Any]:
    """The settings file's tree, every key in it known and no secret among them."""
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


def enabled_from_raw(data: Mapping[str, Any]) -> list[Source]:
    """The trackers with a webhook secret or an automation token in the merged tree, before it
    is validated: the default rules are for those."""
    enabled = []
    for source in SOURCES:
        table = data.get(source) or {}
        if table.get("webhook_secrets") or table.get("automation_tokens"):
            enabled.append(source)
    return enabled
