"""The learning figures for a window of days, read from the store: what ``lessonloop lessons
stats`` prints, ``/api/v1/stats`` answers and ``/insights`` shows. One function, so the three
can never disagree about a count (follow-ups and share reach included)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine

from service.learning import figures
from service.store import followup_figures
from service.store import review_rows as rows


def since(engine: Engine, start: date, today: date) -> tuple[figures.Progress, list[rows.ReviewProgress]]:
    """The figures of the reviews opened (and follow-ups recorded) from ``start`` on, and the
    rows they were computed from (for per-month and per-group views)."""
    moment = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    reviews = rows.load(engine, moment)
    summary = figures.summarise(
        reviews,
        start,
        today,
        followup_figures_since(engine, moment, today),
        imported=rows.imported_since(engine, moment),
    )
    return summary, reviews


def last_days(engine: Engine, days: int, today: date | None = None) -> figures.Progress:
    """The figures of the last ``days`` days (``lessons stats --days``)."""
    today = today or datetime.now(UTC).date()
    return since(engine, figures.window_start(today, days), today)[0]


def followup_figures_since(engine: Engine, moment: datetime, today: date) -> figures.FollowupFigures:
    """What :func:`service.learning.figures.summarise_followups` gives for the follow-ups recorded
    since ``moment``, the same figures, from the database's counts rather than every row."""
    counted = followup_figures.since(engine, moment, today)
    within, median = figures.done_timing(counted.done_dates)
    return figures.FollowupFigures(
        opened=counted.opened,
        adopted=counted.adopted,
        not_opened=counted.not_opened,
        done=counted.done,
        not_doing=counted.not_doing,
        open=counted.open,
        open_past_due=counted.open_past_due,
        done_within_due=within,
        median_days_to_done=median,
    )
