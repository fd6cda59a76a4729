"""Tracker clients read the proxy and CA settings from the environment once, when built, not on
every request (``requests`` did that on every call, at about a third of a millisecond each)."""

from __future__ import annotations

import pytest
import urllib3

from service.trackers.github import GitHubClient
from service.trackers.jira import JiraClient
from tests.doubles.pytest_plugin import MARKER_KEYS


def test_proxies_from_the_environment_are_kept_and_no_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = GitHubClient("token", "https://api.github.com", keys=MARKER_KEYS)
    assert client.api.transport.proxy == "http://proxy.example:3128"
    assert isinstance(client.api.transport.pool, urllib3.ProxyManager)
    monkeypatch.setenv("NO_PROXY", "github.example")
    inside = GitHubClient("token", "https://github.example/api/v3", keys=MARKER_KEYS)
    assert inside.api.transport.proxy is None
    assert not isinstance(inside.api.transport.pool, urllib3.ProxyManager)


def test_a_proxy_that_names_a_user_is_signed_in_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://ops:s3cret@proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = GitHubClient("token", "https://api.github.com", keys=MARKER_KEYS)
    pool = client.api.transport.pool
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.proxy_headers == {"proxy-authorization": "Basic b3BzOnMzY3JldA=="}


def test_a_ca_bundle_named_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    jira = JiraClient("https://jira.example", email="a@example.com", api_token="t", keys=MARKER_KEYS)
    assert jira.api.transport.verify == str(bundle)
    assert jira.api.transport.pool.connection_pool_kw["ca_certs"] == str(bundle)
