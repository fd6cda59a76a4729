"""The figures, charts, tables and CSV files of ``/insights``, from rows made here (no store,
no app): months and partial months, totals by the rules ``lessons stats`` follows, whole-number
ticks and units on the axes, and CSV cells a spreadsheet cannot run."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import date

import pytest

from service.learning import insight_figures
from service.learning.figures import FollowupFigures, Spread
from service.store.insight_followups import FollowupMonth, FollowupRows
from service.store.insight_reviews import GroupCount, OpenedMonth, Ranked, ReviewRows
from service.web import charts, csv_tables, insight_charts, insight_tables

TODAY = date(2026, 3, 10)
HOUR = 3600


def reviews(**changes: object) -> ReviewRows:
    rows = ReviewRows(
        opened=[OpenedMonth("2026-01", 4, 3, 1, 1), OpenedMonth("2026-03", 2, 1, 1, 0)],
        reach={"2026-01": Ranked(3, 2, 4), "2026-03": Ranked(1, 3, 3), "": Ranked(4, 2, 4)},
        close_to_lesson={"2026-01": Ranked(3, 5 * HOUR, 30 * HOUR), "": Ranked(4, 5 * HOUR, 30 * HOUR)},
        groups=[
            GroupCount("service", "edge", 2, 1),
            GroupCount("service", "billing", 4, 3),
            GroupCount("service", "api", 2, 2),
            GroupCount("source", "jira", 6, 4),
        ],
        group_close_to_lesson={("service", "billing"): Ranked(3, HOUR, 2 * HOUR)},
        comments_by_tracker={"github": 3, "jira": 5},
    )
    return dataclasses.replace(rows, **changes)


def followups(**changes: object) -> FollowupRows:
    rows = FollowupRows(
        months=[
            FollowupMonth("2026-01", 5, 3, 1, 1, 3, 1, 1, 1, 1, 0),
            FollowupMonth("2026-02", 2, 2, 0, 0, 0, 0, 0, 1, 0, 1),
        ],
        middle_days_to_done=(2.0, 5.0),
        past_due={("service", "billing"): 1},
    )
    return dataclasses.replace(rows, **changes)


def test_every_month_of_the_span_is_there_and_the_cut_ones_are_partial() -> None:
    figures = insight_figures.build(reviews(), followups(), date(2025, 12, 15), TODAY, TODAY)
    assert [(m.month, m.partial) for m in figures.months] == [
        ("2025-12", True),  # the view starts on the 15th
        ("2026-01", False),
        ("2026-02", False),  # empty, and still there
        ("2026-03", True),  # still going on
    ]
    january = figures.months[1]
    assert (january.reviews_opened, january.captured_of_opened, january.lessons_captured) == (4, 3, 3)
    assert january.capture_rate == 0.75 and figures.months[2].capture_rate is None
    assert january.close_to_lesson == Spread(3, 5 * HOUR, 30 * HOUR) and january.reach == Spread(3, 2, 4)
    assert figures.months[2].close_to_lesson == Spread() and figures.months[2].reach == Spread()
    assert [m.listed for m in figures.followup_months] == [0, 5, 2, 0]


@pytest.mark.parametrize(
    ("name", "first", "last", "partial"),
    [
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31), False),
        ("2026-01", date(2026, 1, 2), date(2026, 1, 31), True),
        ("2026-01", date(2026, 1, 1), date(2026, 1, 30), True),
        ("2024-02", date(2024, 1, 1), date(2024, 2, 29), False),  # a leap February, whole
        ("2026-03", date(2026, 1, 1), date(2026, 3, 31), True),  # whole in the view, but today is in it
    ],
)
def test_a_month_is_partial_when_the_view_cuts_it_or_it_is_not_over(
    name: str, first: date, last: date, partial: bool
) -> None:
    assert insight_figures.is_partial(name, first, last, TODAY) is partial


def test_months_cross_the_year() -> None:
    assert insight_figures.month_names(date(2025, 11, 30), date(2026, 2, 1)) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]


def test_totals_follow_the_rules_of_lessons_stats() -> None:
    totals = insight_figures.build(reviews(), followups(), date(2026, 1, 1), TODAY, TODAY).totals
    assert (totals.reviews_opened, totals.lessons_captured, totals.reviews_open, totals.reviews_overdue) == (6, 4, 2, 1)
    assert totals.capture_rate == pytest.approx(4 / 6)
    assert totals.close_to_lesson == Spread(4, 5 * HOUR, 30 * HOUR) and totals.items_per_lesson == Spread(4, 2, 4)
    assert totals.followups == FollowupFigures(
        opened=5,
        adopted=1,
        not_opened=1,
        done=3,
        not_doing=1,
        open=2,
        open_past_due=1,
        done_within_due=0.5,  # one done by its due day, one after it; the third had none
        median_days_to_done=3.5,  # an even number done: the mean of the two middle ones
    )
    nothing = insight_figures.followup_figures(FollowupRows([], (), {}))
    assert nothing.done_within_due is None and nothing.median_days_to_done is None


def test_groups_most_reviewed_first_with_their_times_and_late_follow_ups() -> None:
    groups = insight_figures.build(reviews(), followups(), date(2026, 1, 1), TODAY, TODAY).groups
    assert [g.name for g in groups["service"]] == ["billing", "api", "edge"]  # ties by name
    billing = groups["service"][0]
    assert billing.close_to_lesson == Spread(3, HOUR, 2 * HOUR) and billing.followups_past_due == 1
    assert billing.capture_rate == 0.75 and groups["service"][2].followups_past_due == 0
    assert [g.name for g in groups["source"]] == ["jira"] and groups["label"] == []
    many = [GroupCount("label", f"l{n:02d}", 1, 0) for n in range(30)]
    assert len(insight_figures.build(reviews(groups=many), followups(), TODAY, TODAY, TODAY).groups["label"]) == 20


def test_a_view_with_neither_reviews_nor_follow_ups_is_empty() -> None:
    empty = insight_figures.build(
        ReviewRows([], {}, {}, [], {}, {}), FollowupRows([], (), {}), date(2026, 1, 1), TODAY, TODAY
    )
    assert empty.empty and [m.reviews_opened for m in empty.months] == [0, 0, 0]
    assert insight_charts.draw(empty) == {}  # each chart's place says why instead
    only_followups = insight_figures.build(reviews(opened=[]), followups(), date(2026, 1, 1), TODAY, TODAY)
    assert not only_followups.empty  # follow-ups recorded without a review opened: still news


# --- charts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("largest", "expected"),
    [
        (0, [0, 1]),
        (0.4, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (9, [0, 5, 10]),
        (100, [0, 25, 50, 75, 100]),
        (130, [0, 50, 100, 150]),
        (9000, [0, 2500, 5000, 7500, 10000]),
    ],
)
def test_ticks_are_whole_numbers_from_zero_past_the_largest(largest: float, expected: list[int]) -> None:
    scale = charts.ticks(largest)
    assert scale == expected and scale[-1] >= largest
    assert all(tick == int(tick) for tick in scale)


def _axis_numbers(svg: str) -> list[str]:
    return re.findall(r'<text class="axis" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>', svg)


def test_a_chart_names_its_units_draws_whole_ticks_and_marks_partial_months() -> None:
    svg = str(
        charts.bars(
            "Reviews",
            ["2026-01", "2026-02", "2026-03"],
            [charts.Series("opened", [1, 2, 3]), charts.Series("captured", [1, 1, None])],
            unit="reviews",
            partial=[False, False, True],
        )
    )
    assert _axis_numbers(svg) == ["0", "1", "2", "3"]  # never 0.75 of a review
    assert ">reviews</text>" in svg and ">month (UTC)</text>" in svg
    assert svg.count('<rect class="partial"') == 2  # the band behind March, and its swatch in the legend
    assert "<title>2026-03: partial month</title>" in svg and ">partial month</li>" in svg
    whole = str(charts.lines("Rate", ["2026-01"], [charts.Series("rate", [50])], unit="%", ceiling=100))
    assert _axis_numbers(whole) == ["0", "25", "50", "75", "100"] and "partial" not in whole


def test_time_to_lesson_is_drawn_in_days_when_hours_would_run_high() -> None:
    slow = reviews(close_to_lesson={"2026-01": Ranked(3, 50 * HOUR, 100 * HOUR), "": Ranked(3, HOUR, HOUR)})
    drawn = insight_charts.draw(insight_figures.build(slow, followups(), date(2026, 1, 1), TODAY, TODAY))
    assert ">days</text>" in drawn["speed"] and _axis_numbers(drawn["speed"]) == ["0", "2", "4", "6"]
    fast = insight_charts.draw(insight_figures.build(reviews(), followups(), date(2026, 1, 1), TODAY, TODAY))
    assert ">hours</text>" in fast["speed"] and set(fast) == {"volume", "rate", "speed", "followups", "reach"}


# --- tables and CSV ---------------------------------------------------------------------------------


def _tables() -> dict[str, insight_tables.Table]:
    figures = insight_figures.build(reviews(), followups(), date(2026, 1, 1), TODAY, TODAY)
    return insight_tables.tables(figures)


def test_the_page_and_the_csv_write_the_same_rows_each_for_its_reader() -> None:
    months = _tables()["months"]
    page = [[insight_tables.on_page(c, v) for c, v in zip(months.columns, row, strict=True)] for row in months.rows]
    assert page[0] == ["2026-01", "4", "3", "75%", "5h 00m / 1d 6h"]
    assert page[2] == ["2026-03 (partial)", "2", "1", "50%", "–"]
    rows = list(csv.reader(io.StringIO(csv_tables.text(months))))
    assert rows[0] == [
        "month",
        "partial",
        "reviews_opened",
        "lessons_captured",
        "capture_rate",
        "close_to_lesson_median_hours",
        "close_to_lesson_p90_hours",
    ]
    assert rows[1] == ["2026-01", "no", "4", "3", "0.75", "5.00", "30.00"]
    assert rows[3] == ["2026-03", "yes", "2", "1", "0.5", "", ""]
    assert len(rows) == len(months.rows) + 1
    followed = list(csv.reader(io.StringIO(csv_tables.text(_tables()["followups"]))))
    assert followed[1] == ["2026-01", "no", "5", "1", "1", "1", "1", "0", "0"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(start: str) -> None:
    hostile = f'{start}HYPERLINK("https://evil.example","x")'
    table = insight_tables.Table(
        "labels",
        "Per label",
        (insight_tables.Column("Label", insight_tables.TEXT, "label"), insight_tables.Column("n", "count", "n")),
        ((hostile, 3), ("sev1", 2)),
    )
    rows = list(csv.reader(io.StringIO(csv_tables.text(table), newline="")))
    assert rows[1] == ["'" + hostile, "3"] and rows[2] == ["sev1", "2"]
    assert csv_tables.inert("-3") == "'-3" and csv_tables.inert("3") == "3" and csv_tables.inert("") == ""


def test_csv_lines_end_in_crlf_and_quote_what_needs_it() -> None:
    table = insight_tables.Table(
        "services", "Per service", (insight_tables.Column("Service", insight_tables.TEXT, "service"),), (('a, "b"',),)
    )
    assert csv_tables.text(table) == 'service\r\n"a, ""b"""\r\n'
