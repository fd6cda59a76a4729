"""Writing a comment to a tracker exactly once, and editing it when its text changes.

The store remembers what was written (item, kind, key -> comment id, digest). Before each
write it records the intent (the same row with no comment id yet); after it, the comment's id.
A run that finds an intent without an id knows an earlier run may have written and crashed
before recording it: only then are the item's comments searched for our marker with the same
kind and key. A first write therefore costs one request, not a listing of the item's comments
and then the write.
"""

from __future__ import annotations

import hashlib

from service.events import ItemRef
from service.markers import Marker
from service.runtime import Runtime
from service.store import effects
from service.trackers.base import TrackerClient


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
    same = text if client.capabilities.edit_comments or append_only_digest_of is None else append_only_digest_of
    digest = digest_of(same)
    marker = Marker(kind, {"key": key, "digest": digest})
    done = effects.get(runtime.engine, str(item), kind, key)
    if done is not None and not done.comment_id:
        done = _recover(runtime, client, item, kind, key)
    if done is not None and done.digest == digest:
        return "unchanged"
    if done is not None and client.capabilities.edit_comments:
        # an edit needs no intent: repeated after a crash, it writes the same text again
        client.edit_comment(item, done.comment_id, text, marker)
        outcome, comment_id = "edited", done.comment_id
    else:
        effects.put(runtime.engine, str(item), kind, key, effects.INTENT, digest)
        comment_id = client.add_comment(item, text, marker).id
        outcome = "added" if done is None else "added anew"
    effects.put(runtime.engine, str(item), kind, key, comment_id, digest)
    return outcome


def _recover(runtime: Runtime, client: TrackerClient, item: ItemRef, kind: str, key: str) -> effects.Effect | None:
    """The newest comment of ours with this kind and key, written before a crash lost its
    record; None when there is none, so the write happens now."""
    for comment in reversed(client.find_comments(item, kind)):
        if comment.marker is not None and comment.marker.get("key") == key:
            found = effects.Effect(str(item), kind, key, comment.id, comment.marker.get("digest") or "")
            effects.put(runtime.engine, found.item_ref, kind, key, found.comment_id, found.digest)
            return found
    return None
