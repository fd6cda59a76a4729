"""The learning log's pages, rendered on the server; they work without JavaScript."""

from __future__ import annotations

from flask import current_app, g, redirect, render_template, request
from werkzeug.wrappers import Response

from service.infra.runtime import Runtime
from service.learning.similar import related_to
from service.store import lessons, ranking
from service.store.followups import of_review
from service.web import errors, filters, views
from service.web.api import paging
from service.web.blueprint import blueprint
from service.web.cache import RELATED, cached, remembered_count
from service.web.filters import BadFilter

GUIDES = (("setup-github.md", "GitHub"), ("setup-jira.md", "Jira"), ("setup-pagerduty.md", "PagerDuty"))
"""The setup guides an empty log points to, in ``docs/``."""
SORT_NAMES = {"incident": "incident date, newest first", "captured": "capture date, newest first"}


def _runtime() -> Runtime:
    return current_app.extensions["lessonloop"]


@blueprint.get("/")
def home() -> Response:
    return redirect("/lessons")


@blueprint.get("/lessons", endpoint="lessons")
def lessons_page() -> Response | str:
    try:
        query = filters.read(request.args)
    except BadFilter as error:
        return errors.answer(400, str(error))
    engine = _runtime().engine
    found = lessons.log_page(engine, query.q, query.filters, query.page, filters.PER_PAGE, query.sort, remembered_count)
    previous = query.page - 1 or None
    if not found.lessons and query.page > 1:  # past the end: "Newer" leads to the last page with lessons, if any
        previous = paging(query.page, None, found.total, filters.PER_PAGE).get("prev")
    return render_template(
        "lessons.html",
        rows=views.rows(engine, found.lessons),
        query=query,
        following=found.next_page,
        previous=previous,
        total=found.total,
        more=found.more,
        ranked_at_most=ranking.MAX_RANKED,
        suggestions=cached("filter values", lambda: lessons.filter_values(engine)),
        sources=filters.SOURCES,
        trackers=filters.REVIEW_TRACKERS,
        sorts=SORT_NAMES,
        enabled=_runtime().settings.enabled_sources,
        guides=GUIDES,
        docs_url=_runtime().settings.web.docs_url,
        user=g.user,
    )


@blueprint.get("/lessons/")
def lessons_slash() -> Response:
    return redirect("/lessons")


@blueprint.get("/lessons/<path:ref>")
def lesson(ref: str) -> Response | str:
    runtime = _runtime()
    found = lessons.find(runtime.engine, ref) if len(ref) <= 300 else None
    if found is None:
        return errors.answer(404, f"No lesson for {ref}.")
    tracked = of_review(runtime.engine, found.review_ref)
    return render_template(
        "lesson.html",
        row=views.row(found, tracked),
        followups=[one for one in tracked if one.listed],
        sections=views.sections(runtime.engine, runtime.settings, found),
        facts=views.facts(runtime.engine, found),
        posted=views.posted(runtime.engine, runtime.settings, found),
        outside=views.outside(runtime.engine, runtime.settings, found),
        related=[views.row(other) for other in _related(runtime, found)],
        user=g.user,
    )


def _related(runtime: Runtime, found: lessons.Lesson) -> list[lessons.Lesson]:
    """The lesson's related lessons, computed once per process until the log changes (a lesson
    or follow-up saved) or ten minutes pass: a lesson opened again and again costs one ranking."""
    return cached(("related", found.review_ref), lambda: related_to(runtime.engine, found), 600.0, RELATED)
