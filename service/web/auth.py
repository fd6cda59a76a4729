"""Who is reading: sign-in for the learning log's pages and API (``LESSONLOOP_AUTH``).

- ``oidc``: OpenID Connect through Authlib's Flask client (authorization code with PKCE); the
  signed-in address is kept in Flask's signed session cookie, signed with
  ``LESSONLOOP_SESSION_KEY`` or the key the store generated once.
- ``proxy``: a reverse proxy that signed the user in (oauth2-proxy and the like) names them in
  ``LESSONLOOP_AUTH_PROXY_HEADER``; the header is believed only on a connection from
  ``[web] trusted_proxies``, since anyone else can send it.
- ``none``: everyone is let in, so only on a loopback address: start-up refuses any other, and
  a request from a non-loopback peer is refused too (the app may be served by something that
  did not run the start-up check).

``[web] allowed_email_domains``, when set, limits ``oidc`` and ``proxy`` users to those domains.
Pages send a reader without a user to ``/signin``; the API answers 401 as problem details.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import quote

from flask import Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from werkzeug.wrappers import Response

from config.settings import Settings, SettingsError
from service.infra import logs
from service.web import errors
from service.web.blueprint import blueprint

log = logs.get(__name__)

Mode = Literal["oidc", "proxy", "none"]
AUTH_ENDPOINTS = {"web.signin", "web.signin_callback", "web.signout"}
SESSION_HOURS = 12


def resolve_mode(settings: Settings, host: str) -> Mode:
    """The sign-in mode for a server listening on ``host``; a SettingsError (one line, saying
    what to set) when ``none`` would open the log beyond this machine."""
    mode: Mode = settings.web.auth or "none"
    if mode == "none" and not is_loopback(host):
        reason = "LESSONLOOP_AUTH=none" if settings.web.auth else "with LESSONLOOP_AUTH unset, sign-in is off, which"
        raise SettingsError(
            f"{reason} is allowed only on a loopback address, and the server would listen on {host}: "
            "set LESSONLOOP_AUTH=oidc (with LESSONLOOP_OIDC_ISSUER, LESSONLOOP_OIDC_CLIENT_ID, "
            "LESSONLOOP_OIDC_CLIENT_SECRET) or LESSONLOOP_AUTH=proxy, or listen on 127.0.0.1"
        )
    return mode


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _LogSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, for the learning log's paths only, with the key read
    from the store on first use: webhooks, health checks and ``/metrics`` never need it, and
    must keep answering while the store is down."""

    def __init__(self, session_key: Callable[[], str]) -> None:
        self.session_key = session_key
        self.key: str | None = None
        self.lock = threading.Lock()

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` on every answer but plain HTTP between two ends of this machine (a browser
        on the same host, with the server on a loopback address): elsewhere the session must
        never travel unencrypted, also when a proxy in front speaks HTTPS to the browser."""
        plain_local = not request.is_secure and is_loopback(request.remote_addr) and is_loopback(_host_name())
        return not plain_local

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(NO_SESSION_PATHS):
            return None
        with self.lock:
            if self.key is None:
                self.key = self.session_key()
        app.secret_key = self.key
        return super().open_session(app, request)


NO_SESSION_PATHS = ("/webhooks/", "/healthz", "/readyz", "/metrics")


def install(app: Flask, settings: Settings, session_key: Callable[[], str]) -> None:
    """Sessions and, for ``oidc``, the OpenID client; the check and the routes are below."""
    app.session_interface = _LogSessions(session_key)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="lessonloop_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    mode: Mode = settings.web.auth or "none"
    app.extensions["lessonloop_auth"] = mode
    if mode == "oidc":
        from authlib.integrations.flask_client import OAuth  # Authlib ships no types

        oauth = OAuth(app)
        assert settings.web.oidc_client_secret is not None and settings.web.oidc_issuer  # validated
        oauth.register(
            "oidc",
            client_id=settings.web.oidc_client_id,
            client_secret=settings.web.oidc_client_secret.get_secret_value(),
            server_metadata_url=f"{settings.web.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256", "timeout": 10},
        )
        app.extensions["lessonloop_oauth"] = oauth


def _settings() -> Settings:
    return current_app.extensions["lessonloop"].settings


def _mode() -> Mode:
    return current_app.extensions.get("lessonloop_auth", "none")


@blueprint.before_request
def require_user() -> Response | None:
    g.user = current_user(_settings())
    if g.user is not None or request.endpoint in AUTH_ENDPOINTS or request.endpoint == "web.static":
        return None
    if request.path.startswith("/api/"):
        return errors.answer(401, "sign in first: no user on this request")
    return redirect(url_for("web.signin", next=_local_path(_requested_path()) or "/lessons"))


@blueprint.get("/signin")
def signin() -> Any:
    settings, mode = _settings(), _mode()
    target = _local_path(request.args.get("next") or "/lessons")
    if target is None:
        return Response("next: only a path on this site, such as /lessons?q=dns\n", 400, {"Content-Type": "text/plain"})
    if current_user(settings) is not None:
        return redirect(target)
    if mode == "oidc":
        session["next"] = target
        client = current_app.extensions["lessonloop_oauth"].oidc
        return client.authorize_redirect(url_for("web.signin_callback", _external=True))
    return render_template("signin.html", mode=mode, header=settings.web.proxy_header, user=None), 401


@blueprint.get("/signin/callback")
def signin_callback() -> Any:
    settings, mode = _settings(), _mode()
    if mode != "oidc":
        abort(404)
    client = current_app.extensions["lessonloop_oauth"].oidc
    try:
        token = client.authorize_access_token()
    except Exception as error:  # noqa: BLE001 - any failure of the provider's answer: sign in again
        log.warning("OpenID sign-in failed", error_type=type(error).__name__)
        return render_template("signin.html", mode=mode, failed=True, user=None), 401
    claims = token.get("userinfo") or {}
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is not True or not allowed(email, settings):
        log.info("OpenID sign-in refused", domain=email.rpartition("@")[2] or "-")
        return render_template("signin.html", mode=mode, refused=True, user=None), 403
    target = _local_path(str(session.pop("next", ""))) or "/lessons"
    session.clear()
    session.permanent = True
    session["user"] = email
    return redirect(target)


@blueprint.post("/signout")
def signout() -> str:
    """A page of our own, not a redirect to the provider: the CSP's ``form-action 'self'`` also
    holds for where a form's answer redirects."""
    session.clear()
    return render_template("signin.html", mode=_mode(), signed_out=True, user=None)


def current_user(settings: Settings) -> str | None:
    mode = current_app.extensions.get("lessonloop_auth", "none")
    if mode == "none":
        return "local" if is_loopback(request.remote_addr) else None
    if mode == "proxy":
        if not _trusted(request.remote_addr, settings.web.trusted_proxies):
            return None
        value = (request.headers.get(settings.web.proxy_header) or "").strip()
        if not value or len(value) > 320 or not allowed(value, settings):
            return None
        return value
    user = session.get("user")
    return str(user) if user else None


def allowed(user: str, settings: Settings) -> bool:
    domains = settings.web.allowed_email_domains
    return not domains or user.rpartition("@")[2].lower() in domains


def _trusted(address: str | None, networks: tuple[str, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(networks))


@cache
def _networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in networks)


def _host_name() -> str:
    """The name in this request's ``Host``, without its port (``[::1]:8000`` -> ``::1``)."""
    host = request.host
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _requested_path() -> str:
    """The path and query of this request, percent-encoded as they arrived (not decoded)."""
    path = quote(request.path, safe="/%:@!$&'()*+,;=-._~")
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path


def _local_path(target: str) -> str | None:
    """``target`` when it is a path on this site as a browser would read it, else None (an
    open redirect). Browsers drop tabs and line breaks inside a URL and read a backslash as a
    slash, so ``/\t/evil.example`` is ``//evil.example``: any control character, backslash or
    leading ``//`` refuses it."""
    target = target.rstrip("?")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(character) < 0x20 or ord(character) == 0x7F or character.isspace() for character in target):
        return None
    return target
