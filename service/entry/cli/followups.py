"""``followups list``: the follow-ups every lesson named, their state and age, so what was
promised after an incident can be seen from a terminal."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from config.settings import Settings
from service.entry.cli.shared import Commands, migrated
from service.learning.export import followup_dict
from service.store import followups


def add_parser(commands: Commands) -> None:
    command = commands.add_parser("followups", help="the follow-ups of every lesson and their state")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="ref, lesson, state, due date and age of each")
    listing.add_argument("--open", action="store_true", help="only those still open")
    listing.add_argument("--overdue", action="store_true", help="only those open past their due date")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=list_followups)


def list_followups(settings: Settings, args: argparse.Namespace) -> int:
    today = datetime.now(UTC).date()
    rows = []
    for one, title in followups.listing(migrated(settings).engine):
        shown = followup_dict(one, today) | {"lesson": title}
        if (args.open or args.overdue) and one.state != followups.OPEN:
            continue
        if args.overdue and not shown["overdue"]:
            continue
        if (args.open or args.overdue) and not one.tracked:
            continue
        rows.append(shown)
    if args.format == "json":
        print(json.dumps({"followups": rows}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no follow-ups")
        return 0
    for row in rows:
        state = str(row["state"]) if row["origin"] != followups.NOT_OPENED else "not opened"
        due = str(row["due_on"] or "-")
        ref = str(row["ref"] or "-")
        print(
            f"{ref:<32}  {state:<10}  due {due:<10}  {row['age_days']:>4} d  "
            f"{row['review']}  {_one_line(str(row['lesson']))}: {_one_line(str(row['text']))[:80]}"
        )
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())
