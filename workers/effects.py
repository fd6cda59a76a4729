"""Writing a comment to a tracker exactly once, and editing it when its text changes.

The store remembers what was written (item, kind, key -> comment id, digest). Before each
write it records the intent (the same row with no comment id yet); after it, the comment's id.
A run that finds an intent without an id knows an earlier run may have written and crashed
before recording it: only then are the item's comments searched for our marker with the same
kind and key. A first write therefore costs one request, not a listing of the item's comments
and then the write.

A write the tracker carries out after that search (it held the request while the worker died)
doubles the comment. So a search leaves a mark (:data:`~service.store.effects.UNSETTLED`), and
every run that writes the same comment within :data:`SETTLE_SECONDS` searches again: the oldest
comment of ours stays, any other of ours with the same kind and key is deleted, and the run's
outcome says so. Only comments whose marker verifies for the item *and* whose author is
lessonloop's own identity count as ours (see :class:`~service.trackers.base.Comment`): what a
person wrote, even with a copied marker, is never touched.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from service.domain.events import ItemRef
from service.infra import logs
from service.infra.failures import Permanent
from service.infra.queue import FAILURE_TTL, RESULT_TTL
from service.infra.runtime import Runtime
from service.store import effects
from service.text.markers import Marker
from service.trackers.base import Comment, Reconciles, TrackerClient
from workers import context
from workers.jobs import exclusive

log = logs.get(__name__)

SETTLE_SECONDS = 3600
"""How long after a search that followed a crash later runs keep searching for a late write.
A tracker that applies a request it held for longer than this is not expected; see
docs/guarantees.md ("How late a write may land")."""

TIDY_AFTER_SECONDS = 600
"""A search that followed a crash also schedules one more search this much later, so that a
duplicate is tidied even when no delivery about the item follows."""


def digest_of(text: str) -> str:
    """Short enough to ride in the marker, long enough that two texts never share one."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def post_once(
    runtime: Runtime,
    client: TrackerClient,
    item: ItemRef,
    kind: str,
    key: str,
    text: str,
    *,
    append_only_digest_of: str | None = None,
) -> str:
    """Make sure ``item`` carries one comment of ``kind``/``key`` with ``text``.

    Returns what happened: "unchanged", "added", "edited", or "added anew" (an append-only
    tracker gets a new note when the text changed, since the old one cannot change).

    ``append_only_digest_of``: on a tracker whose comments cannot be edited, the text whose
    change alone is worth a new note (the lesson without its follow-ups' states, which change
    on their own schedule); editable trackers always follow ``text``.
    """
    return post_and_tidy(runtime, client, item, kind, key, text, append_only_digest_of=append_only_digest_of)[0]


def post_and_tidy(
    runtime: Runtime,
    client: TrackerClient,
    item: ItemRef,
    kind: str,
    key: str,
    text: str,
    *,
    append_only_digest_of: str | None = None,
) -> tuple[str, str]:
    """:func:`post_once`, and what it tidied for the job's outcome: "" or "; deleted our
    duplicate comment ..." (it is logged either way)."""
    same = text if client.capabilities.edit_comments or append_only_digest_of is None else append_only_digest_of
    digest = digest_of(same)
    marker = Marker(kind, {"key": key, "digest": digest})
    done, mark = effects.get_with_mark(runtime.engine, str(item), kind, key)
    tidied = ""
    if done is not None and (not done.comment_id or mark is not None):
        done, tidied = _look(runtime, client, item, kind, key, mark)
    if done is not None and done.digest == digest:
        return "unchanged", tidied
    if done is not None and client.capabilities.edit_comments:
        # an edit needs no intent: repeated after a crash, it writes the same text again
        client.edit_comment(item, done.comment_id, text, marker)
        outcome, comment_id = "edited", done.comment_id
    else:
        effects.put(runtime.engine, str(item), kind, key, effects.INTENT, digest)
        comment_id = client.add_comment(item, text, marker).id
        outcome = "added" if done is None else "added anew"
    effects.put(runtime.engine, str(item), kind, key, comment_id, digest)
    return outcome, tidied


def _look(
    runtime: Runtime, client: TrackerClient, item: ItemRef, kind: str, key: str, mark: effects.Effect | None
) -> tuple[effects.Effect | None, str]:
    """Our comment with this kind and key as the tracker has it (None: none, write it now), and
    what was tidied. Where comments are edited in place there is one: the oldest stays and the
    others are deleted. Where they are append-only (PagerDuty) the newest note is the current
    text and the older ones its history, and nothing can be deleted."""
    ours = [c for c in client.find_comments(item, kind) if c.marker is not None and c.marker.get("key") == key]
    tidied = ""
    if client.capabilities.edit_comments and isinstance(client, Reconciles):
        kept = ours[:1]
        tidied = _delete_duplicates(client, item, ours[1:])
        if looked(runtime, str(item), kind, key, mark):
            schedule_tidy(runtime, "workers.effects.tidy_comments", str(item), kind, key)
    else:
        kept = ours[-1:]
    if not kept:
        return None, tidied
    found = _recorded(runtime, item, kind, key, kept[0])
    return found, tidied


def _recorded(runtime: Runtime, item: ItemRef, kind: str, key: str, comment: Comment) -> effects.Effect:
    digest = (comment.marker.get("digest") if comment.marker else None) or ""
    found = effects.Effect(str(item), kind, key, comment.id, digest)
    effects.put(runtime.engine, found.item_ref, kind, key, found.comment_id, found.digest)
    return found


def _delete_duplicates(client: Reconciles, item: ItemRef, duplicates: list[Comment]) -> str:
    """Delete comments of ours that doubled the one kept; a tracker that refuses is named in the
    outcome and holds nothing up (the comment kept is right either way)."""
    deleted, refused = [], []
    for comment in duplicates:
        try:
            client.delete_comment(item, comment.id)
        except Permanent as error:
            log.warning("could not delete a duplicate comment of ours", item=str(item), comment=comment.id)
            refused.append(f"{comment.id} ({error})")
            continue
        log.info("deleted a duplicate comment of ours", item=str(item), comment=comment.id)
        deleted.append(comment.id)
    said = ""
    if deleted:
        said += f"; deleted our duplicate comment{'s' if len(deleted) > 1 else ''} {', '.join(deleted)} on {item}"
    if refused:
        said += f"; could not delete our duplicate comments on {item}: {', '.join(refused)}"
    return said


def looked(runtime: Runtime, item_ref: str, kind: str, key: str, mark: effects.Effect | None) -> bool:
    """After a search: set the mark that makes later runs search again (True: it is new), or
    drop it once it is older than :data:`SETTLE_SECONDS` (this search was the last)."""
    now = datetime.now(UTC)
    if mark is None:
        effects.put(runtime.engine, item_ref, effects.UNSETTLED + kind, key, now.isoformat(), "")
        return True
    try:
        since = datetime.fromisoformat(mark.comment_id)
    except ValueError:
        since = now - timedelta(seconds=SETTLE_SECONDS + 1)
    if since.tzinfo is None or now - since > timedelta(seconds=SETTLE_SECONDS):
        effects.drop(runtime.engine, item_ref, effects.UNSETTLED + kind, key)
    return False


def schedule_tidy(runtime: Runtime, function: str, *args: str) -> None:
    """Queue ``function(*args)`` for :data:`TIDY_AFTER_SECONDS` from now (RQ's scheduler starts
    it), once per item, kind and key. Redis away: the runs that follow still search."""
    job_id = "tidy-" + digest_of("\n".join(args))
    try:
        runtime.queue.enqueue_in(
            timedelta(seconds=TIDY_AFTER_SECONDS),
            function,
            *args,
            job_id=job_id,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=f"look again for a late write: {' '.join(args)}",
        )
    except RedisError as error:
        log.warning("could not schedule a second look for a late write", job=job_id, error=type(error).__name__)


def tidy_comments(item_ref: str, kind: str, key: str) -> str:
    """The RQ job :func:`schedule_tidy` queues after a search: search once more and delete our
    duplicates, under the item's lock. A comment of ours is only ever added where none is
    recorded (the row holds an intent while one is added), so a writer holding another lock (a
    lesson's is its review's) adds none while this one looks."""
    runtime = context.runtime()
    with exclusive(runtime, item_ref):
        done, mark = effects.get_with_mark(runtime.engine, item_ref, kind, key)
        if done is None or mark is None:
            return "nothing to look for"
        if not done.comment_id:  # a write in flight: the run making it searches first itself
            return "a write is in flight"
        item = ItemRef.parse(item_ref)
        tidied = _look(runtime, runtime.client(item.source), item, kind, key, mark)[1]
    outcome = tidied.lstrip("; ") or f"no duplicate of {kind} {key} on {item_ref}"
    log.info("looked again for a late write", item=item_ref, kind=kind, outcome=outcome)
    return outcome
