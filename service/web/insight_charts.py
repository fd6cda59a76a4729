"""The charts of ``/insights``, one per question, drawn from one view's figures. A chart with
nothing to show is left out, and the page says why in its place.

Pure: ``service.learning.insight_figures.Insights`` in, SVG out (``service.web.charts``).
"""

from __future__ import annotations

from markupsafe import Markup

from service.learning.figures import Spread
from service.learning.insight_figures import Insights
from service.web import charts

DAYS_FROM_HOURS = 72
"""Above this many hours the slowest figure is drawn in days, so the axis reads 2, 4, 6 days
rather than 48, 96, 144 hours."""


def draw(insights: Insights) -> dict[str, Markup]:
    """The charts there are figures for, by name: ``volume``, ``rate``, ``speed``,
    ``followups``, ``reach``."""
    months = insights.months
    labels = [month.month for month in months]
    partial = [month.partial for month in months]
    drawn: dict[str, Markup] = {}
    if any(month.reviews_opened or month.lessons_captured for month in months):
        drawn["volume"] = charts.bars(
            "Reviews opened and lessons captured per month",
            labels,
            [
                charts.Series("reviews opened", [month.reviews_opened for month in months]),
                charts.Series("lessons captured", [month.lessons_captured for month in months]),
            ],
            unit="reviews, lessons",
            partial=partial,
        )
    if any(month.capture_rate is not None for month in months):
        drawn["rate"] = charts.lines(
            "Capture rate per month: of the reviews opened that month, the share with a lesson now",
            labels,
            [charts.Series("capture rate", [_percent(month.capture_rate) for month in months])],
            unit="% of reviews",
            partial=partial,
            fmt=lambda value: f"{value:.0f}%",
            ceiling=100,
        )
    spreads = [month.close_to_lesson for month in months]
    if any(spread.count for spread in spreads):
        unit, per = _time_unit(spreads)
        drawn["speed"] = charts.lines(
            f"Incident closed to lesson, in {unit}: median and 90th percentile of the lessons captured each month",
            labels,
            [
                charts.Series("median", [_in(spread.median, per) for spread in spreads]),
                charts.Series("90th percentile", [_in(spread.p90, per) for spread in spreads]),
            ],
            unit=unit,
            partial=partial,
            fmt=lambda value: f"{value:.1f} {unit}",
        )
    followups = insights.followup_months
    if any(month.listed for month in followups):
        drawn["followups"] = charts.bars(
            "Follow-ups per month recorded: done by their due date, done late, open past due",
            labels,
            [
                charts.Series("done by due date", [month.done_by_due for month in followups]),
                charts.Series("done late", [month.done_late for month in followups]),
                charts.Series("open past due", [month.open_past_due for month in followups]),
            ],
            unit="follow-ups",
            partial=partial,
        )
    if any(month.reach.count for month in months):
        drawn["reach"] = charts.lines(
            "Items each lesson was posted on: median and 90th percentile of the lessons captured each month",
            labels,
            [
                charts.Series("median", [month.reach.median for month in months]),
                charts.Series("90th percentile", [month.reach.p90 for month in months]),
            ],
            unit="items per lesson",
            partial=partial,
        )
    return drawn


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _time_unit(spreads: list[Spread]) -> tuple[str, int]:
    """``hours`` or ``days``, whichever draws these durations with readable whole ticks, and
    the seconds in one."""
    slowest = max((spread.p90 or 0 for spread in spreads), default=0)
    return ("days", 86400) if slowest > DAYS_FROM_HOURS * 3600 else ("hours", 3600)


def _in(seconds: int | None, per: int) -> float | None:
    return None if seconds is None else seconds / per
