"""The numbers behind every chart of ``/insights``, as tables: one description of each table
that the page shows as HTML and ``/insights.csv`` writes as CSV, so the two always hold the
same rows.

A cell keeps its value (a count, a share, a spread of durations); how it is written is chosen
by its column's kind, for a reader on the page ("75%", "1d 3h / 3d 4h") or for a spreadsheet
(0.75, hours as decimals, each spread as two columns).

Pure: ``service.learning.insight_figures.Insights`` in, tables out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.learning.figures import Spread, duration
from service.learning.insight_figures import FollowupMonth, Group, Insights, Month

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


def tables(insights: Insights) -> dict[str, Table]:
    """Every table of the page, by name."""
    found = [
        _months(insights.months),
        _followups(insights.followup_months),
        _reach(insights.months),
        Table(
            "comments",
            "Lesson comments per tracker",
            (Column("Tracker", TEXT, "tracker"), Column("Lesson comments", COUNT, "lesson_comments")),
            tuple(insights.totals.comments_by_tracker.items()),
        ),
    ]
    found += [_groups(name, caption, first, insights.groups[kind], kind) for kind, name, caption, first in GROUP_TABLES]
    return {table.name: table for table in found}


def _months(months: Sequence[Month]) -> Table:
    return Table(
        "months",
        "Reviews and lessons per month",
        (
            Column("Month", MONTH, "month"),
            Column("Reviews opened", COUNT, "reviews_opened"),
            Column("Lessons captured", COUNT, "lessons_captured"),
            Column("Capture rate", SHARE, "capture_rate"),
            Column("Close → lesson (median / 90th)", TIMES, "close_to_lesson"),
        ),
        tuple(
            (MonthCell(m.month, m.partial), m.reviews_opened, m.lessons_captured, m.capture_rate, m.close_to_lesson)
            for m in months
        ),
    )


def _followups(months: Sequence[FollowupMonth]) -> Table:
    return Table(
        "followups",
        "Follow-ups per month recorded, by how they stand now",
        (
            Column("Month", MONTH, "month"),
            Column("Listed", COUNT, "listed"),
            Column("Done by due date", COUNT, "done_by_due_date"),
            Column("Done late", COUNT, "done_late"),
            Column("Done, no due date", COUNT, "done_without_due_date"),
            Column("Open past due", COUNT, "open_past_due"),
            Column("Open, not past due", COUNT, "open_not_past_due"),
            Column("Not doing", COUNT, "not_doing"),
        ),
        tuple(
            (
                MonthCell(m.month, m.partial),
                m.listed,
                m.done_by_due,
                m.done_late,
                m.done_without_due,
                m.open_past_due,
                m.open - m.open_past_due,
                m.not_doing,
            )
            for m in months
        ),
    )


def _reach(months: Sequence[Month]) -> Table:
    return Table(
        "reach",
        "Items each lesson was posted on, per month captured",
        (
            Column("Month", MONTH, "month"),
            Column("Lessons captured", COUNT, "lessons_captured"),
            Column("Items reached (median / 90th)", ITEMS, "items_reached"),
        ),
        tuple((MonthCell(m.month, m.partial), m.lessons_captured, m.reach) for m in months),
    )


def _groups(name: str, caption: str, first: str, groups: Sequence[Group], kind: str) -> Table:
    return Table(
        name,
        caption,
        (
            Column(first, TEXT, kind),
            Column("Reviews opened", COUNT, "reviews_opened"),
            Column("Lessons captured", COUNT, "lessons_captured"),
            Column("Capture rate", SHARE, "capture_rate"),
            Column("Close → lesson (median / 90th)", TIMES, "close_to_lesson"),
            Column("Follow-ups open past due", COUNT, "followups_open_past_due"),
        ),
        tuple(
            (g.name, g.reviews_opened, g.lessons_captured, g.capture_rate, g.close_to_lesson, g.followups_past_due)
            for g in groups
        ),
        filter=kind,
    )


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
