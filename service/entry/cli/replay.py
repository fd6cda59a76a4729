"""``replay``: runs recorded deliveries again, named or every failed one, from the bytes the
store kept (so a fixed parser or a tracker that is back applies to them)."""

from __future__ import annotations

import argparse
import sys

from config.settings import Settings
from service.entry.cli.shared import Commands, migrated
from service.infra.queue import requeue_delivery
from service.infra.runtime import Runtime
from service.store import deliveries


def add_parser(commands: Commands) -> None:
    command = commands.add_parser("replay", help="run a recorded delivery again, or every failed one")
    command.add_argument("deliveries", nargs="*", help="delivery numbers, or SOURCE:DELIVERY-ID")
    command.add_argument("--failed", action="store_true", help="every delivery whose job failed")
    command.set_defaults(run=replay)


def replay(settings: Settings, args: argparse.Namespace) -> int:
    runtime = migrated(settings)
    targets: list[deliveries.Delivery] = []
    if args.failed:
        targets.extend(deliveries.list_by_status(runtime.engine, [deliveries.FAILED], limit=10_000))
    for name in args.deliveries:
        found = _find_delivery(runtime, name)
        if found is None:
            print(f"lessonloop: no recorded delivery {name}", file=sys.stderr)
            return 1
        if deliveries.is_pruned(found):
            print(
                f"lessonloop: delivery {name} cannot be replayed: its body was dropped "
                f"({_pruned_reason(settings, found)}); only its record is kept",
                file=sys.stderr,
            )
            return 1
        targets.append(found)
    pruned = [delivery for delivery in targets if deliveries.is_pruned(delivery)]
    for delivery in pruned:  # failed ones, past their keep
        print(
            f"lessonloop: skipping delivery {delivery.id}: its body was dropped ({_pruned_reason(settings, delivery)})",
            file=sys.stderr,
        )
    targets = [delivery for delivery in targets if not deliveries.is_pruned(delivery)]
    if not targets:
        if args.failed:
            print("nothing to replay")
            return 0
        print(
            "lessonloop: name deliveries to replay (numbers, or SOURCE:DELIVERY-ID), or use --failed", file=sys.stderr
        )
        return 2
    for delivery in targets:
        deliveries.reopen(runtime.engine, delivery.id)
        requeue_delivery(
            runtime.queue,
            delivery.id,
            delivery.event_kind,
            deliveries.job_id_for(delivery.id),
            settings.server.job_timeout_seconds,
            stale_job_ids=[delivery.job_id],
        )
        print(
            f"queued delivery {delivery.id} ({delivery.source} {delivery.event_name}, {delivery.item_ref or '-'})"
            + (f"; it had failed: {delivery.last_error}" if delivery.last_error else "")
        )
    return 0


def _pruned_reason(settings: Settings, delivery: deliveries.Delivery) -> str:
    if delivery.status == deliveries.FAILED:
        return f"failed and not replayed for {deliveries.KEEP_FAILED_DAYS} days"
    return f"{delivery.status} more than {settings.server.keep_bodies_days} days ago, [server] keep_bodies_days"


def _find_delivery(runtime: Runtime, name: str) -> deliveries.Delivery | None:
    if name.isascii() and name.isdigit():
        return deliveries.get(runtime.engine, int(name))
    source, _, delivery_id = name.partition(":")
    return deliveries.find(runtime.engine, source, delivery_id) if delivery_id else None
