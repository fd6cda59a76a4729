"""The questions managers bring to ``/insights``, answered for one view (a span of days, and
services or labels when asked): how many reviews become lessons and how fast, month by month;
whether follow-ups are done by their due date or lie open past it; how far each lesson
reaches; the same per incident tracker, label and service. Counts and durations only, never
per person.

Pure: the rows ``service.store.insight_reviews`` and ``service.store.insight_followups``
count, in; figures out, every month of the span present (an empty month is news too) and
each marked partial when the span covers only part of it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

from service.learning.figures import FollowupFigures, Spread
from service.store.insight_followups import FollowupRows
from service.store.insight_reviews import Ranked, ReviewRows
from service.store.insight_scope import GROUP_KINDS, TOTAL

GROUPS_SHOWN = 20
"""Groups of each kind kept, the most reviewed first: a table a reader can take in."""


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM, UTC
    partial: bool  # the view covers only part of it, or it is still going on
    reviews_opened: int = 0
    captured_of_opened: int = 0  # of the reviews opened this month, how many have a lesson by now
    lessons_captured: int = 0  # lessons captured this month (before the view's end)
    close_to_lesson: Spread = Spread()  # of the lessons captured this month, seconds
    reach: Spread = Spread()  # of the lessons captured this month, items each was posted on

    @property
    def capture_rate(self) -> float | None:
        return self.captured_of_opened / self.reviews_opened if self.reviews_opened else None


@dataclass(frozen=True)
class FollowupMonth:
    """The listed follow-ups recorded in one month, by how they stand now (states count only
    follow-ups with a task lessonloop follows)."""

    month: str
    partial: bool
    listed: int = 0
    done: int = 0
    done_by_due: int = 0  # done on or before their due day
    done_late: int = 0  # done after it
    open: int = 0
    open_past_due: int = 0  # counted in ``open`` too
    not_doing: int = 0

    @property
    def done_without_due(self) -> int:
        return self.done - self.done_by_due - self.done_late

    @property
    def done_within_due(self) -> float | None:
        """Of those done that had a due date, the share done by it."""
        dated = self.done_by_due + self.done_late
        return self.done_by_due / dated if dated else None


@dataclass(frozen=True)
class Group:
    name: str
    reviews_opened: int
    lessons_captured: int
    close_to_lesson: Spread
    followups_past_due: int  # follow-ups recorded in the span for its incidents, open past their due day

    @property
    def capture_rate(self) -> float | None:
        return self.lessons_captured / self.reviews_opened if self.reviews_opened else None


@dataclass(frozen=True)
class Totals:
    """The whole view: what the page's tiles say."""

    reviews_opened: int = 0
    lessons_captured: int = 0  # of the reviews opened, how many have a lesson now
    reviews_open: int = 0
    reviews_overdue: int = 0
    close_to_lesson: Spread = Spread()
    items_per_lesson: Spread = Spread()
    comments_by_tracker: dict[str, int] = field(default_factory=dict)
    followups: FollowupFigures = FollowupFigures()

    @property
    def capture_rate(self) -> float | None:
        return self.lessons_captured / self.reviews_opened if self.reviews_opened else None


@dataclass(frozen=True)
class Insights:
    first_day: date
    last_day: date  # the view's last day as shown: its ``to``, or today when that is earlier
    months: list[Month]
    followup_months: list[FollowupMonth]
    groups: dict[str, list[Group]]  # per kind of GROUP_KINDS
    totals: Totals

    @property
    def empty(self) -> bool:
        """No review opened and no follow-up recorded in the view: nothing to chart."""
        return not self.totals.reviews_opened and not any(month.listed for month in self.followup_months)


def build(reviews: ReviewRows, followups: FollowupRows, first_day: date, last_day: date, today: date) -> Insights:
    names = month_names(first_day, last_day)
    partial = {name: is_partial(name, first_day, last_day, today) for name in names}
    opened = {row.month: row for row in reviews.opened}
    months = [
        Month(
            month=name,
            partial=partial[name],
            reviews_opened=opened[name].reviews_opened if name in opened else 0,
            captured_of_opened=opened[name].captured_by_now if name in opened else 0,
            lessons_captured=reviews.reach.get(name, Ranked()).count,
            close_to_lesson=_spread(reviews.close_to_lesson.get(name)),
            reach=_spread(reviews.reach.get(name)),
        )
        for name in names
    ]
    recorded = {row.month: row for row in followups.months}
    followup_months = [
        FollowupMonth(name, partial[name])
        if name not in recorded
        else FollowupMonth(
            month=name,
            partial=partial[name],
            listed=recorded[name].listed,
            done=recorded[name].done,
            done_by_due=recorded[name].done_by_due,
            done_late=recorded[name].done_late,
            open=recorded[name].open,
            open_past_due=recorded[name].open_past_due,
            not_doing=recorded[name].not_doing,
        )
        for name in names
    ]
    return Insights(
        first_day=first_day,
        last_day=last_day,
        months=months,
        followup_months=followup_months,
        groups={kind: _groups(reviews, followups, kind) for kind in GROUP_KINDS},
        totals=Totals(
            reviews_opened=sum(row.reviews_opened for row in reviews.opened),
            lessons_captured=sum(row.captured_by_now for row in reviews.opened),
            reviews_open=sum(row.still_open for row in reviews.opened),
            reviews_overdue=sum(row.past_due for row in reviews.opened),
            close_to_lesson=_spread(reviews.close_to_lesson.get(TOTAL)),
            items_per_lesson=_spread(reviews.reach.get(TOTAL)),
            comments_by_tracker=dict(reviews.comments_by_tracker),
            followups=followup_figures(followups),
        ),
    )


def followup_figures(rows: FollowupRows) -> FollowupFigures:
    """The view's follow-ups as ``lessons stats`` sums them up (the same fields, the same
    rules: a median of two middle values is their mean, in days to a tenth)."""

    def total(name: str) -> int:
        return sum(getattr(month, name) for month in rows.months)

    dated = total("done_by_due") + total("done_late")
    middle = rows.middle_days_to_done
    return FollowupFigures(
        opened=total("opened"),
        adopted=total("adopted"),
        not_opened=total("not_opened"),
        done=total("done"),
        not_doing=total("not_doing"),
        open=total("open"),
        open_past_due=total("open_past_due"),
        done_within_due=total("done_by_due") / dated if dated else None,
        median_days_to_done=round(sum(middle) / len(middle), 1) if middle else None,
    )


def month_names(first_day: date, last_day: date) -> list[str]:
    """``YYYY-MM`` of every month from ``first_day``'s to ``last_day``'s, both included."""
    names = []
    year, month = first_day.year, first_day.month
    while (year, month) <= (last_day.year, last_day.month):
        names.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return names


def is_partial(name: str, first_day: date, last_day: date, today: date) -> bool:
    """Whether the month ``name`` is only partly in the figures: the view starts after its
    first day or ends before its last, or the month is still going on."""
    year, month = int(name[:4]), int(name[5:7])
    start, end = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    return first_day > start or last_day < end or start <= today <= end


def _groups(reviews: ReviewRows, followups: FollowupRows, kind: str) -> list[Group]:
    found = [
        Group(
            name=row.name,
            reviews_opened=row.reviews_opened,
            lessons_captured=row.lessons_captured,
            close_to_lesson=_spread(reviews.group_close_to_lesson.get((kind, row.name))),
            followups_past_due=followups.past_due.get((kind, row.name), 0),
        )
        for row in reviews.groups
        if row.kind == kind
    ]
    return sorted(found, key=lambda group: (-group.reviews_opened, group.name))[:GROUPS_SHOWN]


def _spread(ranked: Ranked | None) -> Spread:
    return Spread() if ranked is None or not ranked.count else Spread(ranked.count, ranked.median, ranked.p90)
