"""``lessons``: the learning log from a terminal (list, show, search, export, stats), and
``lessons lint``, which checks a lesson's text for blaming language with nothing running."""

from __future__ import annotations

import argparse
import json
import os
import sys

from sqlalchemy import Engine

from config.settings import Settings
from service.domain.events import ItemRef
from service.entry.cli.shared import Commands, migrated
from service.learning import figures, stats
from service.learning.export import export_json, export_markdown, lesson_markdown
from service.learning.similar import first_sentence, related_to
from service.lesson.blame import find_blame
from service.lesson.blame_rules import BlameRulesError
from service.loop.reach import of_lesson, posted_on
from service.loop.scope import OUTSIDE
from service.store import followups, lessons
from service.store.lessons import Lesson
from service.trackers.registry import markup_of_review


def add_parser(commands: Commands) -> None:
    command = commands.add_parser("lessons", help="the learning log: list, show, search, export, stats, lint")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="newest lessons first")
    listing.add_argument("--limit", type=_at_least_one, default=20)
    listing.set_defaults(run=list_lessons)
    show_action = actions.add_parser("show", help="one lesson, by its review's or incident's ref")
    show_action.add_argument("ref")
    show_action.set_defaults(run=show)
    search_action = actions.add_parser("search", help="lessons containing every word given (full text, best first)")
    search_action.add_argument("terms", nargs="+")
    search_action.add_argument("--limit", type=_at_least_one, default=20)
    search_action.set_defaults(run=search)
    export_action = actions.add_parser("export", help="the whole log as JSON or Markdown")
    export_action.add_argument("--format", choices=("json", "markdown"), default="json")
    export_action.add_argument("--output", "-o", help="file to write (default: standard output)")
    export_action.set_defaults(run=export)
    stats_action = actions.add_parser("stats", help="how fast lessons are captured and how far they are shared")
    stats_action.add_argument("--days", type=int, default=90, help="reviews opened in the last DAYS days (default 90)")
    stats_action.add_argument("--format", choices=("text", "json"), default="text")
    stats_action.set_defaults(run=show_stats)
    lint_action = actions.add_parser(
        "lint",
        help="sentences that put a person, not a process, at the centre",
        description="Print each sentence that puts a person rather than a process at "
        "the centre, with a question about the conditions to ask instead. Exit 1 when "
        "it found any, 0 when none, 2 on input it cannot read.",
    )
    lint_action.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="lesson text to read (default, or -: standard input)"
    )
    lint_action.add_argument("--format", choices=("text", "json"), default="text")
    lint_action.add_argument(
        "--markup",
        choices=("markdown", "jira", "plain"),
        default="markdown",
        help="what the text is written in (default markdown)",
    )
    # text in, findings out: a broken settings file does not stop it
    lint_action.set_defaults(run=lint, reads_settings=False)


def _at_least_one(text: str) -> int:
    """A count the user asks for: 0 would print "no lessons" about a log that has some."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def list_lessons(settings: Settings, args: argparse.Namespace) -> int:
    return _print_lessons(lessons.listing(migrated(settings).engine, limit=args.limit))


def search(settings: Settings, args: argparse.Namespace) -> int:
    found, _ = lessons.search(migrated(settings).engine, " ".join(args.terms), per_page=max(1, args.limit))
    return _print_lessons(found)


def _print_lessons(found: list[Lesson]) -> int:
    if not found:
        print("no lessons")
        return 0
    for item in found:
        took = "-" if item.seconds_to_lesson is None else figures.duration(item.seconds_to_lesson)
        print(
            f"{item.captured_at:%Y-%m-%d}  {item.review_ref:<32}  {item.incident_ref:<32}  {took:>9}  "
            f"{item.incident_title}"
        )
    return 0


def show(settings: Settings, args: argparse.Namespace) -> int:
    if not args.ref.startswith("markdown:"):  # an imported Markdown review is named by its path
        try:
            ItemRef.parse(args.ref)
        except ValueError as error:
            print(f"lessonloop: {error}", file=sys.stderr)
            return 2
    engine = migrated(settings).engine
    found = lessons.find(engine, args.ref)
    if found is None:
        print(f"lessonloop: no lesson for {args.ref}", file=sys.stderr)
        return 1
    print(lesson_markdown(found, followups.of_review(engine, found.review_ref)))
    related = _related_text(engine, found)
    if related:
        print(related)
    if found.review_ref.startswith("markdown:"):
        return 0
    print(_reach_text(settings, engine, found))
    return 0


def _related_text(engine: Engine, found: Lesson) -> str:
    others = related_to(engine, found)
    if not others:
        return ""
    lines = ["## Related lessons", ""]
    for other in others:
        learned = first_sentence(other.sections.get("what_we_learned", ""), markup_of_review(other.review_ref))
        lines.append(f"- {other.incident_title or other.review_ref} ({other.review_ref}): {learned}")
    return "\n".join(lines) + "\n"


def _reach_text(settings: Settings, engine: Engine, found: Lesson) -> str:
    """Where the lesson was posted, and what it names that was not posted on (over the cap)."""
    lines = ["## Shared on", ""]
    lines += [f"- {ref}" for ref in posted_on(engine, found.review_ref)] or ["- nowhere yet"]
    reach = of_lesson(engine, settings, found.incident_ref, found.review_ref)
    if reach.beyond:
        lines += ["", f"## Not shared (over [lesson] max_related_items = {settings.lesson.max_related_items})", ""]
        lines += [f"- {ref}" for ref in reach.beyond]
    if reach.outside:
        lines += ["", f"## {OUTSIDE[0].upper()}{OUTSIDE[1:]}", ""]
        lines += [f"- {ref}" for ref in reach.outside]
    return "\n".join(lines) + "\n"


def export(settings: Settings, args: argparse.Namespace) -> int:
    engine = migrated(settings).engine
    everything = lessons.listing(engine, limit=1_000_000)
    tracked = followups.by_review(engine)
    text = export_json(everything, tracked) if args.format == "json" else export_markdown(everything, tracked)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            print(f"lessonloop: cannot write {args.output}: {error.strerror}", file=sys.stderr)
            return 1
        print(f"wrote {len(everything)} lessons to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def show_stats(settings: Settings, args: argparse.Namespace) -> int:
    if args.days < 1:
        print("lessonloop: --days must be at least 1", file=sys.stderr)
        return 2
    summary = stats.last_days(migrated(settings).engine, args.days)
    if args.format == "json":
        print(json.dumps(figures.as_dict(summary), indent=2))
    else:
        sys.stdout.write(figures.render(summary))
    return 0


def lint(args: argparse.Namespace) -> int:
    """Reads no settings and no store: lint works on a laptop with nothing running."""
    name = "standard input" if args.file == "-" else args.file
    try:
        if args.file == "-":
            raw = sys.stdin.buffer.read()
        elif os.path.isdir(args.file):
            print(f"lessonloop: {args.file} is a folder; give a file, or - for standard input", file=sys.stderr)
            return 2
        else:
            with open(args.file, "rb") as handle:
                raw = handle.read()
        text = raw.decode("utf-8-sig")
    except OSError as error:
        print(f"lessonloop: cannot read {name}: {error.strerror or error}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as error:
        print(f"lessonloop: {name} is not UTF-8 text (byte {error.start} cannot be read)", file=sys.stderr)
        return 2
    try:
        findings = find_blame(text, args.markup)
    except BlameRulesError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(
            json.dumps(
                {"findings": [finding.as_dict() for finding in findings], "count": len(findings)},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        groups = [
            f'line {f.line}: {f.sentence}\n  rule: {f.rule} ("{f.matched}")\n  ask:  {f.suggestion}' for f in findings
        ]
        if groups:
            print("\n\n".join(groups), flush=True)  # before the count on stderr, on one terminal
        print(
            f"{len(findings)} sentence{'s' if len(findings) != 1 else ''} to reconsider"
            if findings
            else "no blaming language found",
            file=sys.stderr,
        )
    return 1 if findings else 0
