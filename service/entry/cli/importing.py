"""``import``: past post-incident reviews (a tracker's, or Markdown files) into the learning
log, so it starts with what the organisation learned before lessonloop."""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from config.settings import Settings
from service import lesson
from service.domain.events import ItemRef
from service.entry.cli.shared import Commands, migrated
from service.infra.failures import Permanent, RetryLater
from service.infra.runtime import Runtime
from service.learning import importer
from service.store import lessons, links, reviews
from service.trackers.github.client import GitHubClient
from service.trackers.jira.client import JiraClient
from workers.share_lesson import referenced_items


def add_parser(commands: Commands) -> None:
    command = commands.add_parser("import", help="past post-incident reviews into the learning log")
    command.add_argument("source", metavar="SOURCE", help="github:owner/repo, jira:PROJECT or markdown:DIR")
    command.add_argument("--since", help="only reviews from this date on (YYYY-MM-DD; trackers only)")
    command.add_argument("--label", help="the label past reviews carry (default: [review] labels' first)")
    command.add_argument("--jql", help="jira: the query that finds past reviews (instead of project and label)")
    command.add_argument("--dry-run", action="store_true", help="say what would be imported; keep nothing")
    command.add_argument(
        "--share", action="store_true", help="also post each imported lesson on its incident and related items"
    )
    command.set_defaults(run=import_reviews)


def import_reviews(settings: Settings, args: argparse.Namespace) -> int:
    try:
        source = importer.ImportSource.parse(args.source)
        since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=UTC) if args.since else None
    except ValueError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 2
    runtime = migrated(settings)
    label = args.label or (settings.review.labels[0] if settings.review.labels else "post-incident-review")
    try:
        if source.kind == "markdown":
            found: list[importer.Candidate | importer.Outcome] = list(importer.from_markdown(Path(source.where)))
        else:
            runtime.with_clients()
            client = runtime.client(source.kind)
            if isinstance(client, GitHubClient):
                items = client.labelled(source.where, label, since)
            elif isinstance(client, JiraClient):
                jql = args.jql or f'project = "{source.where}" AND labels = "{label}"'
                if since is not None and not args.jql:
                    jql += f' AND created >= "{since:%Y/%m/%d}"'
                items = client.search_items(jql + " ORDER BY created ASC")
            else:
                raise ValueError(f"{source.kind} keeps no reviews to import")
            found = list(importer.from_items(items, runtime.marker_keys(), client.whoami().id))
    except (ValueError, RetryLater, Permanent) as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 1
    template = lesson.load_template(settings.review.template)

    def related(candidate: importer.Candidate) -> None:
        """Items a tracker review names become related to it, as for a live one."""
        if candidate.ref.startswith("markdown:"):
            return
        for ref in referenced_items(runtime, candidate.body, (candidate.url,)):
            links.add(runtime.engine, ItemRef.parse(candidate.ref), ref, "text")

    tally: dict[str, int] = {"imported": 0, "skipped": 0, "failed": 0}
    progress = sys.stderr.isatty()
    for number, each in enumerate(found, start=1):
        outcome = (
            each
            if isinstance(each, importer.Outcome)
            else importer.import_one(runtime.engine, each, template, source, args.dry_run, related)
        )
        tally[outcome.status] += 1
        if progress:
            print(f"\r[{number}/{len(found)}] {outcome.status:<8} {outcome.ref[:60]:<60}", end="", file=sys.stderr)
        if not progress or outcome.status != "imported":
            said = "would import" if args.dry_run and outcome.status == "imported" else outcome.status
            print(f"{said}: {outcome.ref}" + (f" ({outcome.reason})" if outcome.reason else ""))
        if args.share and outcome.status == "imported" and not args.dry_run:
            _share_imported(runtime, outcome.ref)
    if progress:
        print(file=sys.stderr)
    verb = "would import" if args.dry_run else "imported"
    print(f"{verb} {tally['imported']}, skipped {tally['skipped']}, failed {tally['failed']} from {source}")
    return 1 if tally["failed"] else 0


def _share_imported(runtime: Runtime, review_ref: str) -> None:
    """Post an imported lesson like a captured one: it needs a tracker review and incident."""
    if review_ref.startswith("markdown:"):
        print(f"  not shared: {review_ref} is a file, not a tracker item")
        return
    # a review from before lessonloop names no incident in a marker: it is its own incident, and
    # the lesson goes on it and on every item its text names
    incident = importer.incident_of(review_ref, runtime.engine) or ItemRef.parse(review_ref)
    if reviews.review(runtime.engine, review_ref) is None:
        if reviews.review_of(runtime.engine, incident) is not None:
            print(f"  not shared: {incident} has a review of its own already")
            return
        try:
            reviews.save_incident(runtime.engine, runtime.client(incident.source).get_item(incident))
        except (RetryLater, Permanent) as error:
            print(f"  not shared: {incident}: {error}")
            return
        kept = lessons.get(runtime.engine, review_ref)
        reviews.save_review(
            runtime.engine,
            incident_ref=incident,
            ref=ItemRef.parse(review_ref),
            url=kept.review_url if kept else "",
            template=runtime.settings.review.template,
            due_on=None,
        )
    runtime.queue.enqueue(
        "workers.sync_lesson.resync_review",
        review_ref,
        job_id="share-import-" + hashlib.sha256(review_ref.encode()).hexdigest()[:24],
    )
    print(f"  queued to share: {review_ref} on {incident} and its related items")
