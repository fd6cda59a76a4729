"""The incident's timeline as lines in the review's header: time in UTC, minutes since the first
event, what happened, who. Part of the header, never a lesson section, and made of tracker text,
so every word from the tracker is escaped like a title."""

from __future__ import annotations

from datetime import UTC, datetime

from service.domain.events import Markup
from service.domain.history import History, HistoryEntry
from service.lesson.stub import escape, link
from service.trackers.registry import dialect_of


def render_timeline(history: History, markup: Markup, cap: int) -> str:
    """At most ``cap`` lines; with more, the first ones, the last ones and a link to the rest."""
    if cap <= 0:
        return ""
    entries = sorted(history.entries, key=lambda entry: _utc(entry.at))
    lines: list[str] = []
    if entries:
        first = _utc(entries[0].at)
        total = len(entries) + history.omitted
        if total > cap:
            tail = max(1, cap // 3)
            head = max(1, cap - tail - 1)  # one line goes to "N more"
            hidden = len(entries) - head - tail + history.omitted
            lines += [_line(entry, first, markup) for entry in entries[:head]]
            more = f"{hidden} more events"
            where = link("the full history", history.url, markup) if history.url else ""
            lines.append(_bullet(markup) + (f"… {more}: {where}" if where else f"… {more}"))
            lines += [_line(entry, first, markup) for entry in entries[-tail:]]
        else:
            lines += [_line(entry, first, markup) for entry in entries]
    if history.problem:
        lines.append(
            _bullet(markup)
            + _emphasis(f"The timeline could not be read in full: {escape(history.problem, markup)}", markup)
        )
    if not lines:
        return ""
    return _title(markup) + "\n\n" + "\n".join(lines)


def _line(entry: HistoryEntry, first: datetime, markup: Markup) -> str:
    moment = _utc(entry.at)
    minutes = int((moment - first).total_seconds() // 60)
    who = f", by {escape(entry.who, markup)}" if entry.who else ""
    return f"{_bullet(markup)}{moment:%Y-%m-%d %H:%M} (+{minutes} min) {escape(entry.what, markup)}{who}"


def _title(markup: Markup) -> str:
    return dialect_of(markup).strong("Timeline (UTC; minutes since the first event)")


def _bullet(markup: Markup) -> str:
    return dialect_of(markup).bullet


def _emphasis(text: str, markup: Markup) -> str:
    return f"_{text}_" if markup in ("markdown", "jira") else text


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
