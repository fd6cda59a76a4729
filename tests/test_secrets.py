"""Secrets stay secret: a token is loaded without the newline its file ends in, no error text
carries a header value, and the log redactor finds a secret in any form it may take there."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import structlog

from config.settings import load_settings
from service.infra import logs
from service.infra.runtime import all_secrets
from service.trackers.errors import PermanentTrackerError
from service.trackers.github.client import GitHubClient
from service.trackers.http.retry import RetryPolicy
from service.trackers.jira.client import JiraClient
from tests.conftest import REDIS_URL
from tests.doubles.pytest_plugin import MARKER_KEYS
from tests.processes import run_lessonloop

NO_RETRY = RetryPolicy(attempts=1)

# --- tokens are stripped when loaded ------------------------------------------------------------


def test_a_token_is_stripped_of_surrounding_whitespace(tmp_path: Path) -> None:
    mounted = tmp_path / "token"
    mounted.write_text("ghp_fromfile\n")
    from_env = load_settings(
        {
            "LESSONLOOP_GITHUB_TOKEN": " ghp_fromenv\n",
            "LESSONLOOP_JIRA_URL": "https://j.test",
            "LESSONLOOP_JIRA_EMAIL": "a@b.test",
            "LESSONLOOP_JIRA_API_TOKEN": "jira-token\r\n",
            "LESSONLOOP_PAGERDUTY_API_TOKEN": "\tpd-token\n",
            "LESSONLOOP_GITHUB_WEBHOOK_SECRET": " s1 , s2\n",
        }
    )
    assert from_env.github.token is not None and from_env.github.token.get_secret_value() == "ghp_fromenv"
    assert from_env.jira.api_token is not None and from_env.jira.api_token.get_secret_value() == "jira-token"
    assert from_env.pagerduty.api_token is not None and from_env.pagerduty.api_token.get_secret_value() == "pd-token"
    assert [s.get_secret_value() for s in from_env.github.webhook_secrets] == ["s1 , s2"]
    from_file = load_settings({"LESSONLOOP_GITHUB_TOKEN_FILE": str(mounted)})
    assert from_file.github.token is not None and from_file.github.token.get_secret_value() == "ghp_fromfile"


@pytest.mark.parametrize("how", ["env", "file"])
def test_check_online_works_with_a_token_that_ends_in_a_newline(
    tmp_path: Path,
    redis,
    github_double,
    how: str,
) -> None:
    env = {
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
        "LESSONLOOP_GITHUB_API_URL": github_double.base_url,
    }
    if how == "env":
        env["LESSONLOOP_GITHUB_TOKEN"] = "test-token\n"
    else:
        (tmp_path / "token").write_text("test-token\n")
        env["LESSONLOOP_GITHUB_TOKEN_FILE"] = str(tmp_path / "token")
    result = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "github: signed in as " in result.stdout and "(lessonloop-bot)" in result.stdout


# --- error text carries no header value -----------------------------------------------------------


def test_a_refused_header_is_named_by_type_host_and_path_only(github_double) -> None:
    client = GitHubClient("ghp_leaky\n", github_double.base_url, NO_RETRY, keys=MARKER_KEYS)
    with pytest.raises(PermanentTrackerError) as caught:
        client.whoami()
    text = str(caught.value)
    assert "ghp_leaky" not in text and "Bearer" not in text
    assert "InvalidHeader" in text and "/user" in text and "127.0.0.1" in text


@pytest.mark.parametrize(
    ("credentials", "said"),
    [
        ({"pat": "dc_leaky_pat\n"}, "(127.0.0.1"),  # refused before sending: type, host and path
        ({"email": "a@b.test", "api_token": "leaky\ntoken"}, "401"),  # base64 has no newline: the tracker refuses
    ],
)
def test_the_jira_client_names_no_header_value_either(
    jira_double,
    credentials: dict[str, str],
    said: str,
) -> None:
    client = JiraClient(jira_double.base_url, retry=NO_RETRY, keys=MARKER_KEYS, **credentials)
    with pytest.raises(PermanentTrackerError) as caught:
        client.whoami()
    text = str(caught.value)
    for secret in credentials.values():
        assert secret.strip() not in text
    assert "Bearer" not in text and "Basic" not in text and said in text


# --- the log redactor finds every form ------------------------------------------------------------

SECRET = 'ghp_"quoted"\\back/slash+ü'


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        repr(SECRET),
        repr(SECRET + "\n"),
        json.dumps(SECRET),
        json.dumps(SECRET, ensure_ascii=False),
        json.dumps(json.dumps(SECRET)),
        quote(SECRET, safe=""),
        quote(SECRET, safe="").lower(),
        quote_plus(SECRET),
        quote(SECRET),
        base64.b64encode(SECRET.encode()).decode(),
    ],
    ids=[
        "raw",
        "repr",
        "repr-newline",
        "json",
        "json-utf8",
        "json-twice",
        "percent",
        "percent-lower",
        "plus",
        "path",
        "base64",
    ],
)
def test_the_redactor_finds_a_secret_in_any_form(form: str) -> None:
    redact = logs.Redactor([SECRET + "\n"])  # as it was before loading stripped it, even
    event = redact(None, "info", {"event": f"request failed: InvalidHeader {form} end", "nested": {"x": [form]}})
    assert "***" in event["event"] and form not in event["event"]
    assert event["event"].startswith("request failed: InvalidHeader ") and event["event"].endswith(" end")
    assert form not in json.dumps(event["nested"])


def test_the_redactor_finds_basic_auth_of_email_and_token() -> None:
    settings = load_settings(
        {
            "LESSONLOOP_JIRA_URL": "https://j.test",
            "LESSONLOOP_JIRA_EMAIL": "bot@acme.test",
            "LESSONLOOP_JIRA_API_TOKEN": "ATATT3xFfGF0",
        }
    )
    header = "Basic " + base64.b64encode(b"bot@acme.test:ATATT3xFfGF0").decode()
    event = logs.Redactor(all_secrets(settings))(None, "info", {"event": f"sent {header}"})
    assert event["event"].startswith("sent Basic ***") and header.split()[1].rstrip("=") not in event["event"]


def test_configured_logs_redact_an_escaped_secret(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("info", "json", ["ghp_topsecret"])
        logs.get("test").warning("refused", error="InvalidHeader: 'Bearer ghp_topsecret\\n'")
        logging.getLogger("rq.worker").warning("raw %s", json.dumps({"auth": "ghp_topsecret"}))
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "ghp_topsecret" not in err and err.count("***") == 2
