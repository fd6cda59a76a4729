"""The learning log's query string, read and checked once for the pages and the API: a bad
value is a 400 that names it, never a silently empty page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from config.settings import SOURCES
from service.store.search import Filters

REVIEW_TRACKERS = ("github", "jira")
MAX_QUERY = 500
MAX_VALUE = 200
MAX_PAGE = 10_000
PER_PAGE = 25
FIELDS = ("q", "source", "tracker", "label", "service", "from", "to", "sort")
SORTS = ("incident", "captured")
"""``sort``: newest incident first (when it closed) or newest lesson first (when it was
captured). Without it, a search is best first and the whole log newest captured first."""


class BadFilter(ValueError):
    """``str()`` says which parameter and what it may be."""


@dataclass(frozen=True)
class LogQuery:
    q: str = ""
    filters: Filters = field(default_factory=Filters)
    page: int = 1
    sort: str | None = None
    raw: dict[str, str] = field(default_factory=dict)
    """The parameters as given (blank ones dropped), to build links to other pages."""

    @property
    def narrowed(self) -> bool:
        """Whether words or a filter are set: ``sort`` and ``page`` only order and cut the log."""
        return bool(self.raw.keys() - {"sort", "page"})

    def link_args(self, **changes: str | int | None) -> str:
        """This query's parameters with ``changes``, as a query string (``page`` 1 left out)."""
        values: dict[str, str] = {key: value for key, value in self.raw.items() if key in FIELDS}
        for key, value in changes.items():
            if value is None or value == "" or (key == "page" and value == 1):
                values.pop(key, None)
            else:
                values[key] = str(value)
        return urlencode(values)


def read(args: Mapping[str, str]) -> LogQuery:
    raw = {key: str(args.get(key, "")).strip() for key in (*FIELDS, "page")}
    raw = {key: value for key, value in raw.items() if value}
    q = raw.get("q", "")
    if len(q) > MAX_QUERY:
        raise BadFilter(f"q: at most {MAX_QUERY} characters")
    source = _one_of("source", raw.get("source"), SOURCES)
    tracker = _one_of("tracker", raw.get("tracker"), REVIEW_TRACKERS)
    label, service = _text("label", raw.get("label")), _text("service", raw.get("service"))
    start, end = _date("from", raw.get("from")), _date("to", raw.get("to"))
    if start and end and start > end:
        raise BadFilter("from: must not be after to")
    sort = _one_of("sort", raw.get("sort"), SORTS)
    page = raw.get("page", "1")
    if not (page.isascii() and page.isdigit()) or not 1 <= int(page) <= MAX_PAGE:
        raise BadFilter(f"page: a whole number from 1 to {MAX_PAGE}")
    filters = Filters(source=source, tracker=tracker, label=label, service=service, date_from=start, date_to=end)
    return LogQuery(q=q, filters=filters, page=int(page), sort=sort, raw=raw)


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise BadFilter(f"{name}: one of {', '.join(allowed)}")
    return value


def _text(name: str, value: str | None) -> str | None:
    if value is not None and len(value) > MAX_VALUE:
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
