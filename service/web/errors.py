"""Every error answer the app gives, in the form its reader asked for, with the pages' security
headers: a browser that opens a wrong address gets a page (with the CSP and ``no-store``, like
every page); a program gets JSON.

- ``/api/…``: always RFC 9457 problem details (``application/problem+json``), whatever the
  ``Accept``, since the API's description promises that shape for every error.
- ``/webhooks/…``, ``/healthz``, ``/readyz``: ``{"status": "error", "reason": …}``, the shape
  the trackers' deliveries and health checks have always been answered in (docs/http.md).
- anything else (the log's pages, unknown paths): a page when the request prefers ``text/html``
  (browsers say so), else problem details. ``curl`` and other clients that send ``*/*`` or no
  ``Accept`` get JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from flask import g, jsonify, render_template, request
from jinja2 import TemplateError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Response

from service.web.blueprint import security_headers

PROBLEM = "application/problem+json"
LEGACY_PATHS = ("/webhooks/", "/healthz", "/readyz")
TITLES = {400: "Bad request", 401: "Sign in first", 404: "Not found", 405: "Method not allowed"}
"""Page headings; problem details use the HTTP reason phrase, as RFC 9457 asks of ``about:blank``."""


def answer(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """The error answer for this request (see the module's docstring)."""
    response: Response
    if request.path.startswith(LEGACY_PATHS) or request.path == "/webhooks":
        response = jsonify(status="error", reason=detail)
    elif request.path.startswith("/api/") or not wants_html():
        response = problem(status, detail)
    else:
        response = _page(status, detail)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return security_headers(response)


def from_exception(error: HTTPException, detail: str | None = None) -> Response:
    """An HTTP exception werkzeug or a view raised; a 405 names the methods the path takes."""
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return answer(error.code or 500, detail or error.description or "", headers)


def problem(status: int, detail: str) -> Response:
    """RFC 9457 problem details: ``type`` ``about:blank`` (the status says it all), ``title``
    the status's reason phrase, ``detail`` what was wrong with this request."""
    response = jsonify(type="about:blank", title=_phrase(status), status=status, detail=detail)
    response.status_code = status
    response.mimetype = PROBLEM
    return response


def wants_html() -> bool:
    """A browser's ``Accept`` puts ``text/html`` first; ``*/*`` and a missing header mean JSON."""
    best = request.accept_mimetypes.best_match(["application/json", PROBLEM, "text/html"])
    return best == "text/html"


def _page(status: int, detail: str) -> Response:
    title = TITLES.get(status, _phrase(status))
    try:
        html = render_template("error.html", title=title, message=detail, user=g.get("user"))
    except TemplateError:  # never an error while answering one
        return Response(f"{status} {title}: {detail}\n", status, mimetype="text/plain")
    return Response(html, status, mimetype="text/html")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
