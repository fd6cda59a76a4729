"""``link``: relates two items by hand, so a lesson kept on one is posted on the other too."""

from __future__ import annotations

import argparse
import hashlib
import sys

from config.settings import Settings
from service.domain.events import ItemRef
from service.entry.cli.shared import Commands, migrated
from service.store import lessons, links, reviews


def add_parser(commands: Commands) -> None:
    command = commands.add_parser("link", help="relate two items, so a lesson on one is posted on the other")
    command.add_argument("first", metavar="REF", help="github:owner/repo#N, jira:KEY-N or pagerduty:ID")
    command.add_argument("second", metavar="REF")
    command.set_defaults(run=link)


def link(settings: Settings, args: argparse.Namespace) -> int:
    try:
        first, second = ItemRef.parse(args.first), ItemRef.parse(args.second)
    except ValueError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 2
    if first == second:
        print("lessonloop: an item cannot be linked to itself", file=sys.stderr)
        return 2
    runtime = migrated(settings)
    new = links.add(runtime.engine, first, second, "manual")
    # a lesson already kept for either side goes to the newly related item now
    queued = None
    for ref in (first, second):
        record = reviews.review(runtime.engine, ref) or reviews.review_of(runtime.engine, ref)
        if record is not None and lessons.get(runtime.engine, record.ref) is not None:
            job_id = "resync-" + hashlib.sha256(f"{record.ref} {first} {second}".encode()).hexdigest()[:24]
            runtime.queue.enqueue("workers.sync_lesson.resync_review", record.ref, job_id=job_id)
            queued = record.ref
            break
    print(f"{'linked' if new else 'already linked'}: {first} <-> {second}")
    if queued:
        print(f"queued: the lesson of {queued} will be posted on the newly related item")
    return 0
