"""The learning log's and ``/insights``' query strings, read and checked once for the pages
and the API: a bad value is a 400 that names it, never a silently empty page. A filter given
more than once (``label=sev1&label=sev2``) keeps every value, any of which a lesson may match;
``q``, ``page``, ``from`` and ``to`` given twice are a 400, since no single answer would
honour both."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol
from urllib.parse import urlencode

from config.settings import SOURCES
from service.store.search import Filters

REVIEW_TRACKERS = ("github", "jira")
MAX_QUERY = 500
MAX_VALUE = 200
MAX_PAGE = 10_000
PER_PAGE = 25
FIELDS = ("q", "source", "tracker", "label", "service", "from", "to", "sort")
REPEATABLE = ("source", "tracker", "label", "service")
SORTS = ("incident", "captured")
"""``sort``: newest incident first (when it closed) or newest lesson first (when it was
captured). Without it, a search is best first and the whole log newest captured first."""
MAX_VALUES = 20
"""Values of one filter at most: enough for any real OR, and a bound on the query built."""
INSIGHT_FIELDS = ("from", "to", "service", "label")
DEFAULT_INSIGHT_DAYS = 365
MAX_INSIGHT_DAYS = 3660


class Args(Protocol):
    """A query string as werkzeug reads it: every value of a name, in order."""

    def getlist(self, key: str) -> list[str]: ...


class BadFilter(ValueError):
    """``str()`` says which parameter and what it may be."""


@dataclass(frozen=True)
class LogQuery:
    q: str = ""
    filters: Filters = field(default_factory=Filters)
    page: int = 1
    sort: str | None = None
    raw: dict[str, list[str]] = field(default_factory=dict)
    """The parameters as given (blank ones dropped, every value of a repeated one), to build
    links to other pages."""

    @property
    def narrowed(self) -> bool:
        """Whether words or a filter are set: ``sort`` and ``page`` only order and cut the log."""
        return bool(self.raw.keys() - {"sort", "page"})

    def link_args(self, **changes: str | int | None) -> str:
        """This query's parameters with ``changes``, as a query string (``page`` 1 left out)."""
        values: dict[str, list[str]] = {key: value for key, value in self.raw.items() if key in FIELDS}
        for key, value in changes.items():
            if value is None or value == "" or (key == "page" and value == 1):
                values.pop(key, None)
            else:
                values[key] = [str(value)]
        return urlencode(values, doseq=True)


@dataclass(frozen=True)
class InsightQuery:
    """One view of ``/insights``: the reviews opened from ``first_day`` to ``last_day`` (both
    included, UTC), of the ``services`` and ``labels`` given (any of them, any case)."""

    first_day: date
    last_day: date
    services: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    raw: dict[str, list[str]] = field(default_factory=dict)
    """The parameters as given, to build links to this view in another form (a CSV file)."""

    @property
    def narrowed(self) -> bool:
        return bool(self.services or self.labels)

    def link_args(self, **changes: str | None) -> str:
        values: dict[str, list[str]] = dict(self.raw)
        for key, value in changes.items():
            if value is None or value == "":
                values.pop(key, None)
            else:
                values[key] = [value]
        return urlencode(values, doseq=True)


def read(args: Args) -> LogQuery:
    raw = _collect(args, (*FIELDS, "page"))
    q = _single(raw, "q") or ""
    if len(q) > MAX_QUERY:
        raise BadFilter(f"q: at most {MAX_QUERY} characters")
    source = tuple(_one_of("source", value, SOURCES) for value in raw.get("source", []))
    tracker = tuple(_one_of("tracker", value, REVIEW_TRACKERS) for value in raw.get("tracker", []))
    label = tuple(_text("label", value) for value in raw.get("label", []))
    service = tuple(_text("service", value) for value in raw.get("service", []))
    start, end = _date("from", _single(raw, "from")), _date("to", _single(raw, "to"))
    if start and end and start > end:
        raise BadFilter("from: must not be after to")
    sort_value = _single(raw, "sort")
    sort = _one_of("sort", sort_value, SORTS) if sort_value else None
    page = _single(raw, "page") or "1"
    if not (page.isascii() and page.isdigit()) or not 1 <= int(page) <= MAX_PAGE:
        raise BadFilter(f"page: a whole number from 1 to {MAX_PAGE}")
    filters = Filters(source=source, tracker=tracker, label=label, service=service, date_from=start, date_to=end)
    return LogQuery(q=q, filters=filters, page=int(page), sort=sort, raw=raw)


def read_insights(args: Args, today: date) -> InsightQuery:
    """``from`` and ``to`` (``YYYY-MM-DD``; ``to`` defaults to today, ``from`` to the first of
    the month a year before ``to``), ``service`` and ``label`` (each repeatable, as in the
    log's filters). ``from`` may not be after ``to`` or today, nor more than
    ``MAX_INSIGHT_DAYS`` before ``to``: a view is bounded, and so is what it costs."""
    raw = _collect(args, INSIGHT_FIELDS)
    start, end = _date("from", _single(raw, "from")), _date("to", _single(raw, "to"))
    end = end or today
    start = start or (end - timedelta(days=DEFAULT_INSIGHT_DAYS)).replace(day=1)
    if start > today:
        raise BadFilter(f"from: must not be after today ({today.isoformat()})")
    if start > end:
        raise BadFilter("from: must not be after to")
    if (end - start).days > MAX_INSIGHT_DAYS:
        raise BadFilter(f"from: at most {MAX_INSIGHT_DAYS} days (ten years) before to")
    services = tuple(_text("service", value) for value in raw.get("service", []))
    labels = tuple(_text("label", value) for value in raw.get("label", []))
    return InsightQuery(start, end, services, labels, raw)


def read_choice(args: Args, name: str, allowed: tuple[str, ...]) -> str:
    """The one value of ``name``, which must be given and be one of ``allowed``."""
    given = _single(_collect(args, (name,)), name)
    if given is None:
        raise BadFilter(f"{name}: one of {', '.join(allowed)}")
    return _one_of(name, given, allowed)


def _collect(args: Args, keys: tuple[str, ...]) -> dict[str, list[str]]:
    """Each of ``keys`` given, its values stripped, blank and repeated ones dropped; a
    repeatable one at most ``MAX_VALUES`` times, any other once."""
    raw: dict[str, list[str]] = {}
    for key in keys:
        given = list(dict.fromkeys(value.strip() for value in args.getlist(key) if value.strip()))
        if len(given) > (MAX_VALUES if key in REPEATABLE else 1):
            raise BadFilter(
                f"{key}: at most {MAX_VALUES} values" if key in REPEATABLE else f"{key}: give it once, not {len(given)}"
            )
        if given:
            raw[key] = given
    return raw


def _single(raw: dict[str, list[str]], name: str) -> str | None:
    given = raw.get(name)
    return given[0] if given else None


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadFilter(f"{name}: one of {', '.join(allowed)}")
    return value


def _text(name: str, value: str) -> str:
    if len(value) > MAX_VALUE:
        raise BadFilter(f"{name}: at most {MAX_VALUE} characters")
    return value


def _date(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else _fail(name)
    except ValueError:
        return _fail(name)


def _fail(name: str) -> date:
    raise BadFilter(f"{name}: a date as YYYY-MM-DD")
