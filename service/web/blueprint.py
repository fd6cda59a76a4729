"""The learning log's blueprint: pages, API and sign-in share it (and its sign-in check), and
every answer from it carries the security headers."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask
from werkzeug.wrappers import Response

from config.settings import Settings

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@blueprint.after_request
def security_headers(response: Response) -> Response:
    """No script runs on these pages at all: lesson text is untrusted, and the CSP makes an
    injected script inert even if one got past the sanitiser."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if not response.headers.get("Cache-Control"):
        response.headers["Cache-Control"] = "private, no-store"
    return response


def install(app: Flask, settings: Settings, session_key: Callable[[], str]) -> None:
    from service.web import api, assets, auth, compression, insights, metrics, pages  # noqa: F401 - importing them adds their routes

    auth.install(app, settings, session_key)
    app.register_blueprint(blueprint)
    metrics.install(app)
    compression.install(app)
