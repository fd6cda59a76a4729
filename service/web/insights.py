"""How the organisation learns, month by month and per incident tracker, label and service:
the figures behind ``/insights``. Counts and durations only, never per person.

Pure: the rows of ``service.store.review_rows`` in, figures out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from service.learning.figures import Spread, _seconds, _source, spread
from service.store.review_rows import ReviewProgress


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    reviews_opened: int
    lessons_captured: int
    captured_of_opened: int  # of the reviews opened this month, how many have a lesson by now
    close_to_lesson: Spread  # lessons captured this month

    @property
    def capture_rate(self) -> float | None:
        return self.captured_of_opened / self.reviews_opened if self.reviews_opened else None


@dataclass(frozen=True)
class Group:
    name: str
    reviews_opened: int
    lessons_captured: int
    close_to_lesson: Spread

    @property
    def capture_rate(self) -> float | None:
        return self.lessons_captured / self.reviews_opened if self.reviews_opened else None


def months(rows: Sequence[ReviewProgress], since: date, today: date) -> list[Month]:
    """Every month from ``since`` to ``today``, empty ones included (a gap is news too)."""
    names = _month_names(since, today)
    opened = {name: [] for name in names}  # type: dict[str, list[ReviewProgress]]
    captured = {name: [] for name in names}  # type: dict[str, list[ReviewProgress]]
    for row in rows:
        opened.setdefault(f"{row.opened_at:%Y-%m}", []).append(row)
        if row.lesson_captured_at is not None:
            captured.setdefault(f"{row.lesson_captured_at:%Y-%m}", []).append(row)
    return [
        Month(
            month=name,
            reviews_opened=len(opened.get(name, [])),
            lessons_captured=len(captured.get(name, [])),
            captured_of_opened=sum(row.lesson_captured_at is not None for row in opened.get(name, [])),
            close_to_lesson=spread(
                [_seconds(row.incident_closed_at, row.lesson_captured_at) for row in captured.get(name, [])]
            ),
        )
        for name in names
    ]


def by_incident_tracker(rows: Sequence[ReviewProgress]) -> list[Group]:
    return _groups(rows, lambda row: [_source(row.incident_ref)])


def by_label(rows: Sequence[ReviewProgress]) -> list[Group]:
    return _groups(rows, lambda row: list(row.labels))


def by_service(rows: Sequence[ReviewProgress]) -> list[Group]:
    return _groups(rows, lambda row: [row.service] if row.service else [])


def _groups(rows: Sequence[ReviewProgress], keys: Callable[[ReviewProgress], Iterable[str]]) -> list[Group]:
    members: dict[str, list[ReviewProgress]] = {}
    for row in rows:
        for key in keys(row):
            members.setdefault(key, []).append(row)
    return [
        Group(
            name=name,
            reviews_opened=len(group),
            lessons_captured=sum(row.lesson_captured_at is not None for row in group),
            close_to_lesson=spread(
                [
                    _seconds(row.incident_closed_at, row.lesson_captured_at)
                    for row in group
                    if row.lesson_captured_at is not None
                ]
            ),
        )
        for name, group in sorted(members.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


def _month_names(since: date, today: date) -> list[str]:
    names = []
    year, month = since.year, since.month
    while (year, month) <= (today.year, today.month):
        names.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return names
