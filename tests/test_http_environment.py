"""Tracker clients read the proxy and CA settings from the environment once, when built, not on
every request (``requests`` does that by default, at about a third of a millisecond a call)."""

from __future__ import annotations

import pytest

from service.trackers.github import GitHubClient
from service.trackers.jira import JiraClient
from tests.doubles.pytest_plugin import MARKER_KEYS


def test_proxies_from_the_environment_are_kept_and_no_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = GitHubClient("token", "https://api.github.com", keys=MARKER_KEYS)
    assert client.api.session.trust_env is False
    assert client.api.session.proxies.get("https") == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "github.example")
    inside = GitHubClient("token", "https://github.example/api/v3", keys=MARKER_KEYS)
    assert "https" not in inside.api.session.proxies


def test_a_ca_bundle_named_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    jira = JiraClient("https://jira.example", email="a@example.com", api_token="t", keys=MARKER_KEYS)
    assert jira.api.session.verify == str(bundle)
    assert jira.api.session.trust_env is False
