"""The learning log as JSON (``/api/v1``): the same search, filters and figures as the pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, jsonify, request, url_for
from werkzeug.wrappers import Response

from service import progress as figures
from service.reach import posted_on
from service.runtime import Runtime
from service.store import lessons
from service.store import progress as progress_rows
from service.web import filters, views
from service.web.blueprint import blueprint
from service.web.filters import BadFilter

MAX_PER_PAGE = 100


def _runtime() -> Runtime:
    return current_app.extensions["lessonloop"]


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify(status="error", reason=reason), status


@blueprint.get("/api/v1/lessons")
def api_lessons() -> Any:
    try:
        query = filters.read(request.args)
        per_page = _int(request.args.get("per_page"), "per_page", filters.PER_PAGE, 1, MAX_PER_PAGE)
    except BadFilter as error:
        return _error(400, str(error))
    found, following = lessons.search(_runtime().engine, query.q, query.filters, query.page, per_page)
    next_url = None
    if following is not None:
        args = query.link_args(page=following) + (f"&per_page={per_page}" if per_page != filters.PER_PAGE else "")
        next_url = url_for("web.api_lessons", _external=True) + "?" + args.lstrip("&")
    return jsonify(lessons=[views.api_lesson(lesson) for lesson in found], next=next_url)


@blueprint.get("/api/v1/lessons/<path:ref>")
def api_lesson(ref: str) -> Any:
    runtime = _runtime()
    found = lessons.find(runtime.engine, ref) if len(ref) <= 300 else None
    if found is None:
        return _error(404, f"no lesson for {ref}")
    facts = lessons.incident_facts(runtime.engine, found.incident_ref)
    return jsonify(
        views.api_lesson(found)
        | {
            "posted_on": posted_on(runtime.engine, found.review_ref),
            "service": facts.service,
            "labels": list(facts.labels),
        }
    )


@blueprint.get("/api/v1/stats")
def api_stats() -> Any:
    """What ``lessonloop lessons stats --format json`` prints, for ``days`` (default 90)."""
    try:
        days = _int(request.args.get("days"), "days", 90, 1, 36_500)
    except BadFilter as error:
        return _error(400, str(error))
    today = datetime.now(UTC).date()
    since = figures.window_start(today, days)
    rows = progress_rows.load(_runtime().engine, datetime.combine(since, datetime.min.time(), tzinfo=UTC))
    return jsonify(figures.as_dict(figures.summarise(rows, since, today)))


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value.strip() == "":
        return default
    if not (value.strip().isascii() and value.strip().isdigit()) or not low <= int(value) <= high:
        raise BadFilter(f"{name}: a whole number from {low} to {high}")
    return int(value)
