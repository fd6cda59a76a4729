"""How fast incidents are reviewed and how many lessons are captured and shared: the figures
``lessonloop lessons stats`` prints. Counts and durations only, never who did what.

Pure: rows in (``service.store.review_rows``), figures out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from service.domain.events import ItemRef
from service.store.followups import Followup
from service.store.review_rows import ReviewProgress


@dataclass(frozen=True)
class FollowupFigures:
    """Follow-ups of lessons in the window: how many, how they ended, how fast. Never by person."""

    opened: int = 0
    adopted: int = 0
    not_opened: int = 0
    done: int = 0
    not_doing: int = 0
    open: int = 0
    open_past_due: int = 0
    done_within_due: float | None = None  # share of those done (with a due date) done by it
    median_days_to_done: float | None = None


@dataclass(frozen=True)
class Spread:
    """Durations in seconds: how many, the median and the 90th percentile (nearest rank)."""

    count: int = 0
    median: int | None = None
    p90: int | None = None


@dataclass(frozen=True)
class Progress:
    since: date
    reviews_opened: int
    lessons_captured: int
    reviews_open: int
    reviews_overdue: int
    close_to_lesson: Spread
    review_to_lesson: Spread
    items_per_lesson: Spread  # items each captured lesson was posted on
    comments_by_tracker: dict[str, int] = field(default_factory=dict)
    by_incident_tracker: dict[str, dict[str, int]] = field(default_factory=dict)
    followups: FollowupFigures = FollowupFigures()
    lessons_imported: int = 0  # by `lessonloop import`: written before lessonloop, in no figure above

    @property
    def capture_rate(self) -> float | None:
        return self.lessons_captured / self.reviews_opened if self.reviews_opened else None


def summarise_followups(rows: Sequence[Followup], today: date) -> FollowupFigures:
    """Figures over listed follow-ups (an item removed from its lesson no longer counts)."""
    listed = [row for row in rows if row.listed]
    tracked = [row for row in listed if row.tracked]
    done = [row for row in tracked if row.state == "done"]
    within, median = done_timing([(row.created_at, row.done_at, row.due_on) for row in done])
    return FollowupFigures(
        opened=sum(row.origin == "opened" for row in listed),
        adopted=sum(row.origin == "adopted" for row in listed),
        not_opened=sum(row.origin == "not opened" for row in listed),
        done=len(done),
        not_doing=sum(row.state == "not doing" for row in tracked),
        open=sum(row.state == "open" for row in tracked),
        open_past_due=sum(row.state == "open" and row.due_on is not None and row.due_on < today for row in tracked),
        done_within_due=within,
        median_days_to_done=median,
    )


def done_timing(
    done: Sequence[tuple[datetime, datetime | None, date | None]],
) -> tuple[float | None, float | None]:
    """Of follow-ups done, given as (created, done, due): the share of those with a due date
    done by it, and the median days from record to done (``None`` when there are none)."""
    dated = [(finished, due) for _, finished, due in done if finished is not None and due is not None]
    days = sorted(
        (finished - created).total_seconds() / 86400
        for created, finished, _ in done
        if finished is not None and finished >= created
    )
    within = sum(finished.date() <= due for finished, due in dated) / len(dated) if dated else None
    return within, (round(_median(days), 1) if days else None)


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(
    rows: Sequence[ReviewProgress],
    since: date,
    today: date,
    followups: Sequence[Followup] | FollowupFigures = (),
    imported: int = 0,
) -> Progress:
    captured = [row for row in rows if row.lesson_captured_at is not None]
    by_tracker: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_tracker.setdefault(_source(row.incident_ref), {"opened": 0, "captured": 0})
        counts["opened"] += 1
        counts["captured"] += row.lesson_captured_at is not None
    return Progress(
        since=since,
        reviews_opened=len(rows),
        lessons_captured=len(captured),
        reviews_open=sum(row.status == "open" for row in rows),
        reviews_overdue=sum(row.status == "open" and row.due_on is not None and row.due_on < today for row in rows),
        close_to_lesson=spread([_seconds(row.incident_closed_at, row.lesson_captured_at) for row in captured]),
        review_to_lesson=spread([_seconds(row.opened_at, row.lesson_captured_at) for row in captured]),
        items_per_lesson=spread([len(row.shared_on) for row in captured]),
        comments_by_tracker=dict(sorted(Counter(_source(item) for row in rows for item in row.shared_on).items())),
        by_incident_tracker=dict(sorted(by_tracker.items())),
        followups=followups if isinstance(followups, FollowupFigures) else summarise_followups(followups, today),
        lessons_imported=imported,
    )


def spread(values: Sequence[int | None]) -> Spread:
    known = sorted(value for value in values if value is not None)
    if not known:
        return Spread()
    return Spread(len(known), _rank(known, 0.5), _rank(known, 0.9))


def _rank(ordered: Sequence[int], fraction: float) -> int:
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    """None when either end is unknown, or when the tracker's clock put the end first."""
    if start is None or end is None or end < start:
        return None
    return int((end - start).total_seconds())


def _source(ref: str) -> str:
    try:
        return ItemRef.parse(ref).source
    except ValueError:
        return "other"


# --- as text and as JSON ----------------------------------------------------------------------


def render(progress: Progress) -> str:
    rate = progress.capture_rate
    lines = [
        f"Reviews opened since {progress.since:%Y-%m-%d}",
        f"  reviews opened           {progress.reviews_opened}",
        f"  lessons captured         {progress.lessons_captured}"
        + (f" ({rate:.0%} of reviews)" if rate is not None else ""),
        f"  reviews still open       {progress.reviews_open}, {progress.reviews_overdue} past their due date",
        f"  incident closed → lesson {_spread_text(progress.close_to_lesson, duration)}",
        f"  review opened → lesson   {_spread_text(progress.review_to_lesson, duration)}",
        f"  lesson posted on         {_spread_text(progress.items_per_lesson, lambda n: f'{n} items')}",
    ]
    if progress.lessons_imported:
        imported = progress.lessons_imported
        lines.append(f"  lessons imported         {imported} (written before lessonloop; not counted above)")
    if progress.comments_by_tracker:
        lines.append(
            "  lesson comments          "
            + ", ".join(f"{tracker} {count}" for tracker, count in progress.comments_by_tracker.items())
        )
    if progress.by_incident_tracker:
        lines.append(
            "  by incident tracker      "
            + "; ".join(
                f"{tracker} {counts['captured']} of {counts['opened']} captured"
                for tracker, counts in progress.by_incident_tracker.items()
            )
        )
    f = progress.followups
    if f.opened or f.adopted or f.not_opened:
        within = f"{f.done_within_due:.0%}" if f.done_within_due is not None else "-"
        median = f"{f.median_days_to_done:g} days" if f.median_days_to_done is not None else "-"
        lines += [
            f"  follow-ups               {f.opened} opened, {f.adopted} adopted, {f.not_opened} not opened",
            (
                f"  follow-ups' state        {f.done} done, {f.not_doing} not doing, {f.open} open "
                f"({f.open_past_due} past their due date)"
            ),
            f"  follow-ups done          {within} within their due date, median {median} to done",
        ]
    return "\n".join(lines) + "\n"


def as_dict(progress: Progress) -> dict[str, object]:
    figures = asdict(progress)
    figures["since"] = progress.since.isoformat()
    figures["capture_rate"] = progress.capture_rate
    return figures


def duration(seconds: int) -> str:
    """``3d 4h``, ``5h 07m``, ``0h 02m``."""
    hours, minutes = divmod(seconds // 60, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


def _spread_text(figures: Spread, unit: Callable[[int], str]) -> str:
    if not figures.count:
        return "-"
    assert figures.median is not None and figures.p90 is not None  # a count means both are known
    lessons = "1 lesson" if figures.count == 1 else f"{figures.count} lessons"
    return f"median {unit(figures.median)}, 90th percentile {unit(figures.p90)} ({lessons})"


def window_start(today: date, days: int) -> date:
    return today - timedelta(days=days)
