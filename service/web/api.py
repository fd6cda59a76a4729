"""The learning log as JSON (``/api/v1``): the same search, filters and figures as the pages.

Described by ``openapi.json`` beside this module (served at ``/api/v1/openapi.json``); the
tests check every answer they get against it. Errors are RFC 9457 problem details
(:mod:`service.web.errors`). Lists carry their ``total`` and RFC 8288 ``Link`` headers
(``first``, ``prev``, ``next``, ``last``), and a page past the end links back to the last
page that has lessons, never to another empty one.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from flask import current_app, jsonify, request, url_for
from werkzeug.wrappers import Response

from service.infra.runtime import Runtime
from service.learning import figures, stats
from service.store import lessons
from service.web import errors, filters, views
from service.web.blueprint import blueprint
from service.web.cache import cached, remembered_count
from service.web.filters import BadFilter, LogQuery

MAX_PER_PAGE = 100


def _runtime() -> Runtime:
    return current_app.extensions["lessonloop"]


@blueprint.get("/api/v1/lessons")
def api_lessons() -> Response:
    try:
        query = filters.read(request.args)
        per_page = _int(request.args.get("per_page"), "per_page", filters.PER_PAGE, 1, MAX_PER_PAGE)
    except BadFilter as error:
        return errors.answer(400, str(error))
    engine = _runtime().engine
    found = lessons.log_page(engine, query.q, query.filters, query.page, per_page, query.sort, remembered_count)
    pages = paging(query.page, found.next_page, found.total, per_page)
    links = {rel: _page_url(query, number, per_page) for rel, number in pages.items()}
    response = jsonify(
        lessons=views.api_lessons(engine, found.lessons),
        total=found.total,
        total_is_lower_bound=found.more,
        page=query.page,
        per_page=per_page,
        next=links.get("next"),
        prev=links.get("prev"),
    )
    if links:
        response.headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    return response


def paging(page: int, following: int | None, total: int, per_page: int) -> dict[str, int]:
    """The pages a page of ``total`` lessons links to, by relation (RFC 8288 names): ``prev``
    is the page before, or the last page when ``page`` is past the end; no link leads to an
    empty page."""
    last = max(1, -(-total // per_page))
    links: dict[str, int] = {}
    if total:
        links["first"] = 1
    if page > 1 and total:
        links["prev"] = min(page - 1, last)
    if following is not None:
        links["next"] = following
    if total:
        links["last"] = last
    return links


def _page_url(query: LogQuery, page: int, per_page: int) -> str:
    args = query.link_args(page=page) + (f"&per_page={per_page}" if per_page != filters.PER_PAGE else "")
    args = args.lstrip("&")
    return url_for("web.api_lessons", _external=True) + ("?" + args if args else "")


@blueprint.get("/api/v1/lessons/<path:ref>")
def api_lesson(ref: str) -> Response:
    engine = _runtime().engine
    found = lessons.find(engine, ref) if len(ref) <= 300 else None
    if found is None:
        return errors.answer(404, f"no lesson for {ref}")
    return jsonify(views.api_lessons(engine, [found])[0])


@blueprint.get("/api/v1/stats")
def api_stats() -> Response:
    """What ``lessonloop lessons stats --format json`` prints, for ``days`` (default 90)."""
    try:
        days = _int(request.args.get("days"), "days", 90, 1, 36_500)
    except BadFilter as error:
        return errors.answer(400, str(error))
    engine = _runtime().engine
    return jsonify(cached(("stats", days), lambda: figures.as_dict(stats.last_days(engine, days))))


@blueprint.get("/api/v1/openapi.json")
def api_description() -> Response:
    """The API's OpenAPI 3.1 description, a file kept by hand beside this module."""
    return Response(description_text(), 200, mimetype="application/json")


@cache
def description_text() -> str:
    return files("service.web").joinpath("openapi.json").read_text(encoding="utf-8")


def description() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(description_text())
    return loaded


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value.strip() == "":
        return default
    if not (value.strip().isascii() and value.strip().isdigit()) or not low <= int(value) <= high:
        raise BadFilter(f"{name}: a whole number from {low} to {high}")
    return int(value)
