"""The numbers behind every chart of ``/insights``, as tables: one description of each table
that the page shows as HTML and ``/insights.csv`` writes as CSV, so the two always hold the
same rows.

A cell keeps its value (a count, a share, a spread of durations); how it is written is chosen
by its column's kind, for a reader on the page ("75%", "1d 3h / 3d 4h") or for a spreadsheet
(0.75, hours as decimals, each spread as two columns).

Pure: ``service.learning.insight_figures.Insights`` in, tables out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from service.learning.figures import Spread, duration
from service.learning.insight_figures import Insights

TEXT, MONTH, COUNT, SHARE, TIMES, ITEMS = "text", "month", "count", "share", "times", "items"
"""Column kinds: a name; a month (and whether it is partial); a whole number; a share of 1;
a spread of durations in seconds; a spread of item counts."""


@dataclass(frozen=True)
class MonthCell:
    month: str  # YYYY-MM
    partial: bool


@dataclass(frozen=True)
class Column:
    title: str  # as the page heads it
    kind: str
    csv: str  # the CSV header, or the stem of the two a spread takes


@dataclass(frozen=True)
class Table:
    name: str  # its ``table=`` in ``/insights.csv`` and in the file's name
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[object, ...], ...]
    filter: str = ""
    """For a table of groups, the log's filter its names are values of (``source``,
    ``service``, ``label``)."""


GROUP_TABLES = (
    ("source", "trackers", "Per incident tracker", "Incident tracker"),
    ("service", "services", "Per service", "Service"),
    ("label", "labels", "Per label", "Label"),
)
"""Per kind of group: its table's name, caption and first column's title."""
NAMES = ("months", "followups", "reach", "comments", *(name for _, name, _, _ in GROUP_TABLES))


@dataclass(frozen=True)
class _Field:
    """A column, and how one row's value in it is read from the figures the row is made of."""

    column: Column
    value: Callable[[Any], object]


def _field(title: str, kind: str, csv: str, value: Callable[[Any], object] | None = None) -> _Field:
    """A column whose value is the attribute its CSV header names, unless ``value`` reads it."""
    return _Field(Column(title, kind, csv), value or attrgetter(csv))


def _table(name: str, caption: str, fields: Sequence[_Field], items: Iterable[Any], filter: str = "") -> Table:
    """A table of ``fields``, a row for each of ``items``."""
    columns = tuple(one.column for one in fields)
    return Table(name, caption, columns, tuple(tuple(one.value(item) for one in fields) for item in items), filter)


_MONTH = _field("Month", MONTH, "month", lambda month: MonthCell(month.month, month.partial))
_OPENED = _field("Reviews opened", COUNT, "reviews_opened")
_CAPTURED = _field("Lessons captured", COUNT, "lessons_captured")
_RATE = _field("Capture rate", SHARE, "capture_rate")
_CLOSE_TO_LESSON = _field("Close → lesson (median / 90th)", TIMES, "close_to_lesson")

_MONTHS = (_MONTH, _OPENED, _CAPTURED, _RATE, _CLOSE_TO_LESSON)
_FOLLOWUPS = (
    _MONTH,
    _field("Listed", COUNT, "listed"),
    _field("Done by due date", COUNT, "done_by_due_date", attrgetter("done_by_due")),
    _field("Done late", COUNT, "done_late"),
    _field("Done, no due date", COUNT, "done_without_due_date", attrgetter("done_without_due")),
    _field("Open past due", COUNT, "open_past_due"),
    _field("Open, not past due", COUNT, "open_not_past_due", lambda month: month.open - month.open_past_due),
    _field("Not doing", COUNT, "not_doing"),
)
_REACH = (_MONTH, _CAPTURED, _field("Items reached (median / 90th)", ITEMS, "items_reached", attrgetter("reach")))
_COMMENTS = (
    _field("Tracker", TEXT, "tracker", itemgetter(0)),
    _field("Lesson comments", COUNT, "lesson_comments", itemgetter(1)),
)
_PAST_DUE = _field("Follow-ups open past due", COUNT, "followups_open_past_due", attrgetter("followups_past_due"))


def tables(insights: Insights) -> dict[str, Table]:
    """Every table of the page, by name."""
    found = [
        _table("months", "Reviews and lessons per month", _MONTHS, insights.months),
        _table(
            "followups", "Follow-ups per month recorded, by how they stand now", _FOLLOWUPS, insights.followup_months
        ),
        _table("reach", "Items each lesson was posted on, per month captured", _REACH, insights.months),
        _table("comments", "Lesson comments per tracker", _COMMENTS, insights.totals.comments_by_tracker.items()),
    ]
    found += [
        _table(
            name,
            caption,
            (_field(first, TEXT, kind, attrgetter("name")), _OPENED, _CAPTURED, _RATE, _CLOSE_TO_LESSON, _PAST_DUE),
            insights.groups[kind],
            filter=kind,
        )
        for kind, name, caption, first in GROUP_TABLES
    ]
    return {table.name: table for table in found}


# --- writing a cell -----------------------------------------------------------------------------


def on_page(column: Column, value: object) -> str:
    """A cell as the page shows it; "–" for a figure there is none of."""
    if isinstance(value, MonthCell):
        return f"{value.month} (partial)" if value.partial else value.month
    if column.kind == SHARE:
        return f"{value:.0%}" if isinstance(value, int | float) else "–"
    if isinstance(value, Spread):
        if not value.count or value.median is None or value.p90 is None:
            return "–"
        if column.kind == TIMES:
            return f"{duration(value.median)} / {duration(value.p90)}"
        return f"{value.median} / {value.p90}"
    return str(value)


def csv_header(column: Column) -> list[str]:
    if column.kind == MONTH:
        return [column.csv, "partial"]
    if column.kind == TIMES:
        return [f"{column.csv}_median_hours", f"{column.csv}_p90_hours"]
    if column.kind == ITEMS:
        return [f"{column.csv}_median", f"{column.csv}_p90"]
    return [column.csv]


def in_csv(column: Column, value: object) -> list[str]:
    """A cell as a spreadsheet reads it: shares as fractions, durations in hours to the
    hundredth, a spread as its median and its 90th percentile, a missing figure empty."""
    if isinstance(value, MonthCell):
        return [value.month, "yes" if value.partial else "no"]
    if column.kind == SHARE:
        return [f"{value:.4g}" if isinstance(value, int | float) else ""]
    if isinstance(value, Spread):
        figures = (value.median, value.p90) if value.count else (None, None)
        if column.kind == TIMES:
            return ["" if one is None else f"{one / 3600:.2f}" for one in figures]
        return ["" if one is None else str(one) for one in figures]
    return [str(value)]
