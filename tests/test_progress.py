"""The learning-progress figures (``lessonloop lessons stats``), from rows made here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from service.learning import figures as progress
from service.store.review_rows import ReviewProgress

TODAY = date(2026, 11, 22)
CLOSED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def row(
    incident: str,
    review: str,
    *,
    opened_after: timedelta = timedelta(minutes=1),
    lesson_after: timedelta | None = None,
    status: str = "closed",
    due_on: date | None = None,
    shared_on: tuple[str, ...] = (),
) -> ReviewProgress:
    return ReviewProgress(
        incident_ref=incident,
        review_ref=review,
        status=status,
        due_on=due_on,
        opened_at=CLOSED + opened_after,
        incident_closed_at=CLOSED,
        lesson_captured_at=CLOSED + lesson_after if lesson_after is not None else None,
        shared_on=shared_on,
    )


ROWS = [
    row(
        "github:acme/web#1",
        "github:acme/postmortems#1",
        lesson_after=timedelta(hours=5),
        shared_on=("github:acme/postmortems#1", "github:acme/web#1"),
    ),
    row(
        "jira:OPS-42",
        "jira:OPS-43",
        lesson_after=timedelta(days=2, hours=3),
        shared_on=("github:acme/web#7", "jira:OPS-42", "jira:OPS-43", "pagerduty:PGR0VU2"),
    ),
    row(
        "pagerduty:PGR0VU2",
        "jira:OPS-44",
        lesson_after=timedelta(days=6),
        shared_on=("jira:OPS-44", "pagerduty:PGR0VU2"),
    ),
    row("pagerduty:PX1", "jira:OPS-45", status="open", due_on=TODAY - timedelta(days=1)),  # overdue
    row("github:acme/web#2", "github:acme/postmortems#2", status="open", due_on=TODAY + timedelta(days=3)),
]


def test_counts_rates_and_spreads() -> None:
    figures = progress.summarise(ROWS, TODAY - timedelta(days=90), TODAY)
    assert (figures.reviews_opened, figures.lessons_captured) == (5, 3)
    assert figures.capture_rate == 0.6
    assert (figures.reviews_open, figures.reviews_overdue) == (2, 1)
    hours = 3600
    assert figures.close_to_lesson == progress.Spread(3, (2 * 24 + 3) * hours, 6 * 24 * hours)
    assert figures.review_to_lesson.median == (2 * 24 + 3) * hours - 60  # opened a minute after the close
    assert figures.items_per_lesson == progress.Spread(3, 2, 4)
    assert figures.comments_by_tracker == {"github": 3, "jira": 3, "pagerduty": 2}
    assert figures.by_incident_tracker == {
        "github": {"opened": 2, "captured": 1},
        "jira": {"opened": 1, "captured": 1},
        "pagerduty": {"opened": 2, "captured": 1},
    }


def test_rendered_as_text_and_json() -> None:
    figures = progress.summarise(ROWS, date(2026, 8, 24), TODAY)
    text = progress.render(figures)
    assert "Reviews opened since 2026-08-24" in text
    assert "lessons captured         3 (60% of reviews)" in text
    assert "reviews still open       2, 1 past their due date" in text
    assert "incident closed → lesson median 2d 3h, 90th percentile 6d 0h (3 lessons)" in text
    assert "(1 lesson)" in progress.render(progress.summarise(ROWS[:1], TODAY, TODAY))
    assert "lesson posted on         median 2 items, 90th percentile 4 items (3 lessons)" in text
    assert "github 3, jira 3, pagerduty 2" in text
    assert "pagerduty 1 of 2 captured" in text
    exported = json.loads(json.dumps(progress.as_dict(figures)))
    assert exported["since"] == "2026-08-24" and exported["capture_rate"] == 0.6
    assert exported["close_to_lesson"] == {"count": 3, "median": 183600, "p90": 518400}


def test_nothing_yet_and_unknown_times() -> None:
    empty = progress.summarise([], TODAY, TODAY)
    assert empty.capture_rate is None and empty.close_to_lesson == progress.Spread()
    assert "incident closed → lesson -" in progress.render(empty)
    skewed = ReviewProgress(
        "jira:OPS-1", "jira:OPS-2", "closed", None, CLOSED, CLOSED + timedelta(hours=1), CLOSED, ()
    )  # the tracker's clock put the close after the lesson
    figures = progress.summarise([skewed], TODAY, TODAY)
    assert figures.lessons_captured == 1 and figures.close_to_lesson.count == 0


def test_nearest_rank_percentiles() -> None:
    assert progress.spread([5]) == progress.Spread(1, 5, 5)
    assert progress.spread(list(range(1, 11))) == progress.Spread(10, 5, 9)
    assert progress.spread([None, 3, None, 1]) == progress.Spread(2, 1, 3)
