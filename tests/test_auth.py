"""Sign-in for the learning log: which mode on which address, and who gets in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.settings import Settings, SettingsError
from service.entry import cli
from service.entry.app import create_app
from service.infra.runtime import Runtime
from service.web.auth import _local_path, resolve_mode
from tests.conftest import RULES_TOML, base_env
from tests.web_data import keep


def test_none_only_on_loopback(make_settings: Callable[..., Settings]) -> None:
    unset = make_settings()
    assert resolve_mode(unset, "127.0.0.1") == "none"  # a newcomer sees the log at once
    assert resolve_mode(unset, "::1") == "none" and resolve_mode(unset, "localhost") == "none"
    for host in ("0.0.0.0", "::", "10.1.2.3", "example.com"):
        with pytest.raises(SettingsError) as raised:
            resolve_mode(unset, host)
        assert "\n" not in str(raised.value) and "LESSONLOOP_AUTH" in str(raised.value)
        with pytest.raises(SettingsError):
            resolve_mode(make_settings(LESSONLOOP_AUTH="none"), host)
    assert resolve_mode(make_settings(LESSONLOOP_AUTH="proxy"), "0.0.0.0") == "proxy"


def test_oidc_needs_its_settings(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(SettingsError, match="LESSONLOOP_OIDC_CLIENT_ID, LESSONLOOP_OIDC_CLIENT_SECRET"):
        make_settings(LESSONLOOP_AUTH="oidc", LESSONLOOP_OIDC_ISSUER="https://id.example")
    with pytest.raises(SettingsError, match="LESSONLOOP_AUTH"):
        make_settings(LESSONLOOP_AUTH="everyone")
    with pytest.raises(SettingsError, match="LESSONLOOP_SESSION_KEY"):
        make_settings(LESSONLOOP_SESSION_KEY="short")


def test_web_refuses_to_start_open_beyond_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in (base_env() | {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LESSONLOOP_AUTH", raising=False)
    assert cli.main(["web", "--host", "0.0.0.0", "--port", "1"]) == cli.EXIT_SETTINGS
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "set LESSONLOOP_AUTH=oidc" in message
    assert not (tmp_path / "x.db").exists()  # stopped before touching anything


def test_no_open_redirect_after_sign_in() -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)", ""):
        assert _local_path(target) is None
    # what a browser reads as //evil.example once it drops tabs and line breaks
    for target in ("/\t/evil.example/phish", "/\n/evil.example", "/\r\n/x", " //evil.example", "/\x7f/x", "/\x00"):
        assert _local_path(target) is None, repr(target)
    assert _local_path("/lessons?q=dns") == "/lessons?q=dns"
    assert _local_path("/lessons?q=a%20b") == "/lessons?q=a%20b"


@pytest.mark.parametrize("next_", ["/%09/evil.example/phish", "/%0a/evil.example", "/%0d%0a/x", "//evil.example"])
def test_an_odd_next_is_a_400_never_a_redirect_or_a_500(proxied, next_: str) -> None:
    client = proxied()
    answer = client.get(f"/signin?next={next_}", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "only a path on this site" in answer.get_data(as_text=True)


def test_a_page_number_in_another_script_is_a_400(client) -> None:
    assert client.get("/lessons?page=\u00b2").status_code == 400
    assert client.get("/api/v1/lessons?page=\u0663").status_code == 400  # ARABIC-INDIC DIGIT THREE


def test_the_sign_in_redirect_keeps_the_path_percent_encoded(proxied) -> None:
    client = proxied()
    answer = client.get("/lessons/%0a?q=%0d", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/signin?next=/lessons/%250A?q%3D%250d"


def test_metrics_answers_other_machines_only_with_a_token_or_when_public(proxied) -> None:
    local, remote = {"REMOTE_ADDR": "127.0.0.1"}, {"REMOTE_ADDR": "192.0.2.1"}
    closed = proxied()
    assert closed.get("/metrics", environ_base=local).status_code == 200
    refused = closed.get("/metrics", environ_base=remote)
    assert refused.status_code == 403 and "LESSONLOOP_METRICS_TOKEN" in refused.get_data(as_text=True)
    assert proxied(LESSONLOOP_METRICS_PUBLIC="1").get("/metrics", environ_base=remote).status_code == 200
    tokened = proxied(LESSONLOOP_METRICS_TOKEN="metrics-token-123456")
    assert tokened.get("/metrics", environ_base=remote).status_code == 401
    auth = {"Authorization": "Bearer metrics-token-123456"}
    assert tokened.get("/metrics", environ_base=remote, headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("base_url", "remote", "secure"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1", False),
        ("http://localhost:8000", "::1", False),
        ("http://[::1]:8000", "::1", False),
        ("https://127.0.0.1:8000", "127.0.0.1", True),
        ("http://lessons.acme.example", "127.0.0.1", True),  # a proxy on this host, HTTPS to the browser
        ("http://10.1.2.3:8000", "10.9.9.9", True),
    ],
)
def test_the_session_cookie_is_secure_unless_plain_http_on_loopback(
    runtime: Runtime, make_settings: Callable[..., Settings], base_url: str, remote: str, secure: bool
) -> None:
    from service.web.auth import _LogSessions

    app = create_app(make_settings(LESSONLOOP_SESSION_KEY="k" * 40), runtime)
    with app.test_request_context("/lessons", base_url=base_url, environ_base={"REMOTE_ADDR": remote}):
        assert isinstance(app.session_interface, _LogSessions)
        assert app.session_interface.get_cookie_secure(app) is secure


@pytest.fixture
def proxied(runtime: Runtime, make_settings: Callable[..., Settings], trackers: dict[str, str]):
    def build(config_file: Path | None = None, **env: str):
        extra = {"config_file": config_file} if config_file else {}
        settings = make_settings(**extra, **trackers, LESSONLOOP_AUTH="proxy", **env)
        keep(runtime.engine, 1, "DNS resolver timeouts")
        app = create_app(settings, Runtime(settings, runtime.engine, runtime.redis, runtime.queue))
        return app.test_client()

    return build


def test_proxy_header_is_believed_only_from_trusted_proxies(proxied, tmp_path: Path) -> None:
    client = proxied()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    stranger = {"REMOTE_ADDR": "10.9.8.7"}
    user = {"X-Forwarded-Email": "ana@acme.example"}
    page = client.get("/lessons", headers=user, environ_base=proxy)
    assert page.status_code == 200 and "ana@acme.example" in page.get_data(as_text=True)
    assert client.get("/api/v1/lessons", headers=user, environ_base=proxy).status_code == 200
    assert client.get("/api/v1/lessons", headers=user, environ_base=stranger).status_code == 401
    assert client.get("/api/v1/lessons", environ_base=proxy).mimetype == "application/problem+json"
    redirect = client.get("/lessons?q=dns", environ_base=proxy)
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith("/signin?next=")
    assert client.get("/healthz", environ_base=stranger).status_code == 200
    assert client.get("/readyz", environ_base=stranger).status_code == 200


def test_proxy_users_limited_to_allowed_domains(proxied, tmp_path: Path) -> None:
    config = tmp_path / "web.toml"
    config.write_text(
        RULES_TOML + '[web]\nallowed_email_domains = ["acme.example"]\ntrusted_proxies = ["10.0.0.0/8"]\n'
    )
    client = proxied(config_file=config, LESSONLOOP_AUTH_PROXY_HEADER="X-Auth-User")
    proxy = {"REMOTE_ADDR": "10.1.1.1"}
    assert (
        client.get("/api/v1/lessons", headers={"X-Auth-User": "ana@acme.example"}, environ_base=proxy).status_code
        == 200
    )
    assert (
        client.get("/api/v1/lessons", headers={"X-Auth-User": "eve@evil.example"}, environ_base=proxy).status_code
        == 401
    )
    assert (
        client.get(
            "/api/v1/lessons", headers={"X-Auth-User": "ana@acme.example"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        ).status_code
        == 401
    )  # loopback not listed now


def test_none_mode_serves_only_loopback_peers(client, runtime: Runtime) -> None:
    assert client.get("/api/v1/lessons").status_code == 200
    assert client.get("/api/v1/lessons", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 401


def test_no_secret_in_any_page(proxied) -> None:
    client = proxied(LESSONLOOP_SESSION_KEY="s" * 40, LESSONLOOP_METRICS_TOKEN="metrics-token-123456")
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    user = {"X-Forwarded-Email": "ana@acme.example"}
    for path in ("/lessons", "/insights", "/lessons/github:acme/postmortems%231", "/api/v1/lessons", "/signin"):
        text = client.get(path, headers=user, environ_base=proxy).get_data(as_text=True)
        for secret in ("s" * 40, "metrics-token-123456", "test-token", base_env()["LESSONLOOP_GITHUB_WEBHOOK_SECRET"]):
            assert secret not in text, (path, secret)
