"""``remind``: once a day, a nudge on each open review past its due date (at most one a day
each); then the open follow-ups are read again from their trackers (for webhooks that were
lost) and those past their due date get a nudge, at most one a week each. Scheduled through
RQ's scheduler under a job id made of the date, so however many workers run, each day has one."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from redis.exceptions import RedisError
from rq.job import Job

from service import lesson
from service.domain.events import ItemRef
from service.infra import logs
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.store import reviews
from service.text import markers
from workers import context
from workers import track_followups as followups
from workers.effects import post_once
from workers.jobs import exclusive

log = logs.get(__name__)

REMIND_AT = time(9, 0, tzinfo=UTC)
FUNCTION = "workers.remind.remind"


def remind(day: str | None = None) -> str:
    """The RQ job. ``day`` (ISO date) is the day it stands for; reminders are keyed by it."""
    runtime = context.runtime()
    today = date.fromisoformat(day) if day else datetime.now(UTC).date()
    nudged, failed = [], []
    for review in reviews.overdue(runtime.engine, today):
        ref = ItemRef.parse(review.ref)
        client = runtime.clients.get(ref.source)
        if client is None or review.due_on is None:
            continue
        try:
            with exclusive(runtime, review.ref):
                text = lesson.render_reminder_comment(review.due_on, client.markup)
                post_once(runtime, client, ref, markers.REMINDER, today.isoformat(), text)
                reviews.mark_reminded(runtime.engine, review.ref, today)
            nudged.append(review.ref)
        except (RetryLater, Permanent) as error:  # one review's trouble does not hold up the rest
            failed.append(f"{review.ref}: {error}")
    refreshed, followups_nudged, followups_failed = followups.daily(runtime, today)
    failed += followups_failed
    if failed:
        log.warning("some reminders failed; tomorrow's run tries again", failures=failed)
    outcome = f"reminded {len(nudged)} reviews"
    if refreshed or followups_nudged:
        outcome += f"; read {refreshed} open follow-ups, nudged {followups_nudged}"
    return outcome + (f"; {len(failed)} failed" if failed else "")


def schedule(runtime: Runtime, now: datetime | None = None) -> Job | None:
    """Make sure today's run (if its time has passed and it never ran) or the next one is
    scheduled. Called by every worker on start and with each sweep; the date in the job id
    keeps it to one a day."""
    now = now or datetime.now(UTC)
    today_at = datetime.combine(now.date(), REMIND_AT)
    run_at = today_at if now < today_at else today_at + timedelta(days=1)
    candidates = [(now.date(), now)] if now >= today_at else []
    candidates.append((run_at.date(), run_at))
    for day, at in candidates:
        job_id = f"remind-{day.isoformat()}"
        try:
            if Job.exists(job_id, connection=runtime.redis):
                continue
            return runtime.queue.enqueue_at(
                at, FUNCTION, day.isoformat(), job_id=job_id, result_ttl=7 * 24 * 3600, description=f"remind for {day}"
            )
        except RedisError as error:
            log.warning("could not schedule reminders", error=str(error))
            return None
    return None
