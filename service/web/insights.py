"""``/insights``: the questions managers bring, answered for a view they choose (``from``,
``to``, ``service``, ``label`` in the query string), and ``/insights.csv``, any of its tables
as a file.

A view's figures, charts and tables are computed together and cached by the log's generation
(:mod:`service.web.cache`), so the page and its CSV files read the same numbers, and a view
asked again costs a lookup. A bad parameter is a 400 that names it, answered before anything is
computed or cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app, g, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from service.infra.runtime import Runtime
from service.learning import insight_figures
from service.learning.figures import duration
from service.store import insight_followups, insight_reviews, lessons
from service.store.insight_scope import Scope
from service.web import csv_tables, errors, filters, insight_charts, insight_tables
from service.web.blueprint import blueprint
from service.web.cache import cached
from service.web.filters import BadFilter, InsightQuery


@dataclass(frozen=True)
class View:
    insights: insight_figures.Insights
    charts: dict[str, Markup]
    tables: dict[str, insight_tables.Table]


def _runtime() -> Runtime:
    return current_app.extensions["lessonloop"]


@blueprint.get("/insights")
def insights_page() -> Response | str:
    today = datetime.now(UTC).date()
    try:
        query = filters.read_insights(request.args, today)
    except BadFilter as error:
        return errors.answer(400, str(error))
    engine = _runtime().engine
    return render_template(
        "insights.html",
        query=query,
        view=_view(query, today),
        suggestions=cached("filter values", lambda: lessons.filter_values(engine)),
        cell=insight_tables.on_page,
        duration=duration,
        user=g.user,
    )


@blueprint.get("/insights.csv")
def insights_csv() -> Response:
    """One table of a view (``table``: ``months``, ``followups``, ``reach``, ``comments``,
    ``trackers``, ``services``, ``labels``) as ``text/csv``, offered as a download."""
    today = datetime.now(UTC).date()
    try:
        query = filters.read_insights(request.args, today)
        name = filters.read_choice(request.args, "table", insight_tables.NAMES)
    except BadFilter as error:
        return errors.answer(400, str(error))
    view = _view(query, today)
    span = f"{view.insights.first_day.isoformat()}-to-{view.insights.last_day.isoformat()}"
    return Response(
        csv_tables.text(view.tables[name]),
        200,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="lessonloop-{name}-{span}.csv"',
        },
    )


def _view(query: InsightQuery, today: date) -> View:
    key = (
        "insights",
        query.first_day,
        query.last_day,
        tuple(sorted({one.lower() for one in query.services})),
        tuple(sorted({one.lower() for one in query.labels})),
        today,
    )
    view: View = cached(key, lambda: _compute(query, today))
    return view


def _compute(query: InsightQuery, today: date) -> View:
    engine = _runtime().engine
    last_day = min(query.last_day, today)
    scope = Scope(
        start=datetime.combine(query.first_day, time.min, tzinfo=UTC),
        end=datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC),
        services=query.services,
        labels=query.labels,
    )
    figures = insight_figures.build(
        insight_reviews.load(engine, scope, today),
        insight_followups.load(engine, scope, today),
        query.first_day,
        last_day,
        today,
    )
    return View(figures, insight_charts.draw(figures), insight_tables.tables(figures))
