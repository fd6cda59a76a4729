"""lessonloop: turns every closed incident into a blameless lesson the whole organisation keeps.

Commands: serve, web, worker, init, check, replay, link, import, lessons, followups."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from redis.exceptions import LockError, RedisError
from sqlalchemy.exc import SQLAlchemyError

from config.settings import DEFAULT_CONFIG_FILE, SOURCES, Settings, SettingsError, load_settings
from service.entry import supervisor
from service.entry.server import PortInUse, default_count, reserve_port
from service.infra import local_redis, logs
from service.infra.runtime import Runtime, all_secrets
from service.store import deliveries, migrate
from service.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from service.store.lessons import Lesson

EXIT_SETTINGS = 2
EXIT_UNAVAILABLE = 3


EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """The command's exit code. Output to a pipe closed early (``lessonloop lessons list |
    head -1``) ends it quietly, as Python's documentation on SIGPIPE recommends: the rest of
    its output goes to /dev/null, and the code is the shell's for a closed pipe."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.run is _lessons_lint:  # text in, findings out: a broken settings file does not stop it
        return _lessons_lint(None, args)
    if args.run is _init:  # writes the settings file: reads none
        return _init(args)
    try:
        settings = load_settings(config_file=args.config)
    except SettingsError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    logs.configure(settings.server.log_level, settings.server.log_format, all_secrets(settings))
    if args.run is not _check:  # check prints them among its warnings
        for note in settings.environment_notes:
            logs.get(__name__).warning(note)
    try:
        return int(args.run(settings, args) or 0)
    except SettingsError as error:  # a setting that only the command's own options make wrong
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    except (local_redis.RedisUnavailable, StoreUnavailable, PortInUse) as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except RedisError as error:
        print(
            f"lessonloop: Redis at {_safe_redis(settings)} (REDIS_URL) did not answer: "
            f"{type(error).__name__}: {_first_line(error)}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    except SQLAlchemyError as error:
        print(
            f"lessonloop: the store at {_safe_db(settings)} (DATABASE_URL) did not answer: "
            f"{type(error).__name__}: {_first_line(error)}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lessonloop", description=__doc__)
    parser.add_argument("--config", help="settings file (default: $LESSONLOOP_CONFIG or ./lessonloop.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def web_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        command.add_argument(
            "--port", type=int, default=8000, help="port to listen on (default 8000; 0: a free one, printed)"
        )
        command.add_argument(
            "--processes",
            "--workers",  # gunicorn's name for the same thing, kept so older scripts keep working
            dest="processes",
            type=int,
            default=None,
            metavar="N",
            help="web processes sharing the port (default: [server] web_processes; 0 or unset: 2 per core, at most 4)",
        )
        command.add_argument(
            "--threads",
            type=int,
            default=1,
            help="threads running the app in each web process (default 1; requests are read whole before a thread "
            "sees them)",
        )

    serve = commands.add_parser("serve", help="web and worker together: the single-machine way to run it")
    web_options(serve)
    serve.add_argument(
        "--worker-processes",
        type=int,
        default=None,
        metavar="N",
        help="worker processes beside the web (default: [server] worker_processes, 2)",
    )
    serve.set_defaults(run=_serve)

    web = commands.add_parser("web", help="the webhook receiver alone (granian)")
    web_options(web)
    web.set_defaults(run=_web)

    worker = commands.add_parser("worker", help="an RQ worker alone")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check", help="validate the settings and print them, secrets masked")
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask each tracker who we are, and whether each rule's review target can take reviews",
    )
    check.set_defaults(run=_check)

    replay = commands.add_parser("replay", help="run a recorded delivery again, or every failed one")
    replay.add_argument("deliveries", nargs="*", help="delivery numbers, or SOURCE:DELIVERY-ID")
    replay.add_argument("--failed", action="store_true", help="every delivery whose job failed")
    replay.set_defaults(run=_replay)

    link = commands.add_parser("link", help="relate two items, so a lesson on one is posted on the other")
    link.add_argument("first", metavar="REF", help="github:owner/repo#N, jira:KEY-N or pagerduty:ID")
    link.add_argument("second", metavar="REF")
    link.set_defaults(run=_link)

    importing = commands.add_parser("import", help="past post-incident reviews into the learning log")
    importing.add_argument("source", metavar="SOURCE", help="github:owner/repo, jira:PROJECT or markdown:DIR")
    importing.add_argument("--since", help="only reviews from this date on (YYYY-MM-DD; trackers only)")
    importing.add_argument("--label", help="the label past reviews carry (default: [review] labels' first)")
    importing.add_argument("--jql", help="jira: the query that finds past reviews (instead of project and label)")
    importing.add_argument("--dry-run", action="store_true", help="say what would be imported; keep nothing")
    importing.add_argument(
        "--share", action="store_true", help="also post each imported lesson on its incident and related items"
    )
    importing.set_defaults(run=_import)

    lessons_command = commands.add_parser("lessons", help="the learning log: list, show, search, export, stats, lint")
    actions = lessons_command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="newest lessons first")
    listing.add_argument("--limit", type=_at_least_one, default=20)
    listing.set_defaults(run=_lessons_list)
    show = actions.add_parser("show", help="one lesson, by its review's or incident's ref")
    show.add_argument("ref")
    show.set_defaults(run=_lessons_show)
    search = actions.add_parser("search", help="lessons containing every word given (full text, best first)")
    search.add_argument("terms", nargs="+")
    search.add_argument("--limit", type=_at_least_one, default=20)
    search.set_defaults(run=_lessons_search)
    export = actions.add_parser("export", help="the whole log as JSON or Markdown")
    export.add_argument("--format", choices=("json", "markdown"), default="json")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(run=_lessons_export)
    stats = actions.add_parser("stats", help="how fast lessons are captured and how far they are shared")
    stats.add_argument("--days", type=int, default=90, help="reviews opened in the last DAYS days (default 90)")
    stats.add_argument("--format", choices=("text", "json"), default="text")
    stats.set_defaults(run=_lessons_stats)
    lint = actions.add_parser(
        "lint",
        help="sentences that put a person, not a process, at the centre",
        description="Print each sentence that puts a person rather than a process at "
        "the centre, with a question about the conditions to ask instead. Exit 1 when "
        "it found any, 0 when none, 2 on input it cannot read.",
    )
    lint.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="lesson text to read (default, or -: standard input)"
    )
    lint.add_argument("--format", choices=("text", "json"), default="text")
    lint.add_argument(
        "--markup",
        choices=("markdown", "jira", "plain"),
        default="markdown",
        help="what the text is written in (default markdown)",
    )
    lint.set_defaults(run=_lessons_lint)

    init = commands.add_parser(
        "init",
        help="write a lessonloop.toml with rules for the trackers whose secrets are set",
        description="Write the settings file (--config, $LESSONLOOP_CONFIG or ./lessonloop.toml) with a "
        "rule for each tracker whose webhook secret is set in the environment. Asks nothing; refuses to "
        "replace a file that exists unless --force.",
    )
    init.add_argument("--force", action="store_true", help="replace the file if it exists")
    init.set_defaults(run=_init)

    followups_command = commands.add_parser("followups", help="the follow-ups of every lesson and their state")
    followup_actions = followups_command.add_subparsers(dest="action", required=True, metavar="ACTION")
    followup_list = followup_actions.add_parser("list", help="ref, lesson, state, due date and age of each")
    followup_list.add_argument("--open", action="store_true", help="only those still open")
    followup_list.add_argument("--overdue", action="store_true", help="only those open past their due date")
    followup_list.add_argument("--format", choices=("text", "json"), default="text")
    followup_list.set_defaults(run=_followups_list)
    return parser


def _init(args: argparse.Namespace) -> int:
    from config.starter import starter_file

    path = Path(args.config or os.environ.get("LESSONLOOP_CONFIG") or DEFAULT_CONFIG_FILE)
    if path.exists() and not args.force:
        print(f"lessonloop: {path} exists; `lessonloop init --force` replaces it", file=sys.stderr)
        return EXIT_SETTINGS
    text = starter_file(os.environ)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"lessonloop: cannot write {path}: {error.strerror}", file=sys.stderr)
        return EXIT_SETTINGS
    try:
        settings = load_settings(config_file=path)
    except SettingsError as error:  # the environment holds a mistake of its own: say it now
        print(f"wrote {path}; the settings do not load yet: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"wrote {path}: rules for {', '.join(settings.enabled_sources) or 'no tracker'}")
    for note in settings.warnings():
        print(f"warning: {note}")
    print("next: lessonloop check --online")
    return 0


def _at_least_one(text: str) -> int:
    """A count the user asks for: 0 would print "no lessons" about a log that has some."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _followups_list(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from service.learning.export import followup_dict
    from service.store import followups

    today = datetime.now(UTC).date()
    rows = []
    for one, title in followups.listing(_migrated(settings).engine):
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


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Web and worker as child processes of this one; :mod:`service.entry.supervisor` keeps the
    workers running and stops them all on SIGINT or SIGTERM. Children get sessions of their own,
    so a Ctrl-C reaches only this process, which then stops them together."""
    _sign_in_mode(settings, args.host)
    if args.port:  # before saying "listening": the web child would fail on it, after
        reserve_port(args.host, args.port).close()
    # before any child exists: a Ctrl-C from then on stops every child, however soon it comes
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    redis_process = local_redis.ensure(settings.redis_url)
    _migrated(settings).engine.dispose()
    base = [sys.executable, "-m", "service.entry.cli", *_config_args(args)]
    web = subprocess.Popen(
        [*base, "web", "--host", args.host, "--port", str(args.port), "--threads", str(args.threads)]
        + (["--processes", str(args.processes)] if args.processes else []),
        start_new_session=True,
    )
    count = args.worker_processes or settings.server.worker_processes
    workers = [supervisor.WorkerSupervisor([*base, "worker"]) for _ in range(max(1, count))]
    for worker in workers:
        worker.start()
    logs.say(f"lessonloop: listening on {_serve_where(settings, args)}")
    try:
        return supervisor.watch(web, stop)
    finally:
        supervisor.stop_all(web, workers, redis_process)


def _serve_where(settings: Settings, args: argparse.Namespace) -> str:
    sources = ", ".join(settings.enabled_sources) or (
        "none enabled: set LESSONLOOP_GITHUB_WEBHOOK_SECRET, LESSONLOOP_JIRA_WEBHOOK_SECRET or "
        "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET to enable a source"
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # with --port 0 only the web knows its port: its own line ("web listening on") says it
    where = f"http://{shown}:{args.port}" if args.port else f"a free port of {shown} (the web's line says which)"
    return f"{where} (store {_safe_db(settings)}, sources: {sources})"


def _web(settings: Settings, args: argparse.Namespace) -> int:
    """The receiver: granian's worker processes, each building the app on the settings this
    command loaded (:func:`service.entry.server.app_for_worker`). The store is migrated here, once,
    before the workers start."""
    from service.entry.server import serve

    _sign_in_mode(settings, args.host)
    processes = args.processes or settings.server.web_processes or default_count()
    if processes < 1 or args.threads < 1:
        raise SettingsError("--processes and --threads take a number of at least 1")
    _migrated(settings).engine.dispose()  # no store connection crosses into the workers forked next
    return serve(settings, args.host, args.port, args.threads, processes)


def _sign_in_mode(settings: Settings, host: str) -> str:
    """Who may read the learning log when listening on ``host``; a SettingsError when the log
    would be open to everyone beyond this machine."""
    from service.web.auth import resolve_mode

    return resolve_mode(settings, host)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Migrates the store (or waits while another process does) before anything reads it: the
    tracker clients read the instance's marker keys, so a worker started before the web on a
    fresh store would otherwise stop at a missing table."""
    from workers.runner import run_worker

    run_worker(_migrated(settings).with_clients(), burst=args.burst)
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(_masked(settings), indent=2, default=str))
    for note in settings.warnings():
        print(f"warning: {note}")
    problems = 0
    runtime = Runtime.build(settings)
    try:
        runtime.redis.ping()
        print(f"redis: ok ({_safe_redis(settings)})")
    except RedisError as error:
        problems += 1
        print(f"redis: unavailable at {_safe_redis(settings)}: {_first_line(error)}")
    try:
        if migrate.pending(runtime.engine):
            print(f"store: ok ({_safe_db(settings)}); migrations pending (applied on start)")
        else:
            counts = ", ".join(f"{count} {status}" for status, count in deliveries.counts(runtime.engine).items())
            print(f"store: ok ({_safe_db(settings)}); deliveries: {counts}")
    except SQLAlchemyError as error:
        problems += 1
        print(f"store: unavailable at {_safe_db(settings)}: {_first_line(error)}")
    print("webhooks: " + "; ".join(_secret_counts(settings, source) for source in SOURCES))
    if settings.marker_keys:
        print(f"markers: signed with LESSONLOOP_MARKER_KEY ({len(settings.marker_keys)} key(s); the first signs)")
    else:
        print(
            "markers: signed with the key generated once and kept in the store (set LESSONLOOP_MARKER_KEY "
            "to manage it yourself)"
        )
    if settings.people:
        print(
            f"people: {len(settings.people)} mapped across trackers (ids checked for their form; the accounts "
            "themselves are not looked up: none of the API paths lessonloop calls looks up users)"
        )
    if args.online:
        problems += _check_online(settings)
    return 1 if problems else 0


def _check_online(settings: Settings) -> int:
    from service.infra.failures import Permanent, RetryLater
    from service.loop.targets import check_targets
    from service.text.markers import MarkerKeys
    from service.trackers.registry import build_clients

    problems = 0
    # identities and review targets are read here and nothing is written, so no marker is ever signed
    clients = build_clients(settings, MarkerKeys([secrets.token_hex(32)]), redis=Runtime.build(settings).redis)
    if not clients:
        print("online: no tracker has API credentials set")
    for source, client in clients.items():
        try:
            identity = client.whoami()
            print(f"{source}: signed in as {identity.name} ({identity.id})")
            if identity.kind == "app":
                problems += _check_github_app(settings, client)
        except (RetryLater, Permanent, LockError) as error:
            problems += 1
            print(f"{source}: {error} (API at {_api_url(settings, source)})")
    lines, missing = check_targets(settings, clients)
    for line in lines:
        print(line)
    return problems + missing


def _check_github_app(settings: Settings, client: object) -> int:
    """Which installation, which repositories it sees, and any repository a rule uses that it cannot."""
    from service.trackers.errors import TrackerError
    from service.trackers.github import GitHubClient

    assert isinstance(client, GitHubClient) and client.app is not None
    app = client.app
    wanted = sorted(
        {rule.target.container for rule in settings.rules if rule.target and rule.target.source == "github"}
        | {project for rule in settings.rules if rule.source == "github" for project in rule.projects}
    )
    installations: dict[int, list[str]] = {}
    problems = 0
    if app.installation_id is not None:
        installations[app.installation_id] = []
    else:  # found per repository, as the worker does
        for repository in wanted:
            try:
                installations.setdefault(app.installation_of(repository), [])
            except TrackerError as error:
                problems += 1
                print(f"github: a rule uses {repository}, which the App cannot see: {error.message}")
    for installation in sorted(installations):
        seen = app.repositories(installation)
        print(f"github: installation {installation} sees {len(seen)} repositories: {', '.join(seen) or '-'}")
        if app.installation_id is not None:
            for repository in wanted:
                if repository.lower() not in {name.lower() for name in seen}:
                    problems += 1
                    print(f"github: a rule uses {repository}, which installation {installation} cannot see")
    return problems


def _api_url(settings: Settings, source: str) -> str:
    return {
        "github": settings.github.api_url,
        "jira": settings.jira.url or "-",
        "pagerduty": settings.pagerduty.api_url,
    }.get(source, "-")


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from service.infra.queue import requeue_delivery

    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
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


def _link(settings: Settings, args: argparse.Namespace) -> int:
    from service.domain.events import ItemRef
    from service.store import lessons, links, reviews

    try:
        first, second = ItemRef.parse(args.first), ItemRef.parse(args.second)
    except ValueError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 2
    if first == second:
        print("lessonloop: an item cannot be linked to itself", file=sys.stderr)
        return 2
    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
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


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from service import lesson
    from service.infra.failures import Permanent, RetryLater
    from service.learning import importer
    from service.trackers.github import GitHubClient
    from service.trackers.jira import JiraClient

    try:
        source = importer.ImportSource.parse(args.source)
        since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=UTC) if args.since else None
    except ValueError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 2
    runtime = _migrated(settings)
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
        from service.domain.events import ItemRef
        from service.store import links
        from workers.sync_lesson import referenced_items

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
    from service.domain.events import ItemRef
    from service.infra.failures import Permanent, RetryLater
    from service.learning import importer
    from service.store import lessons, reviews

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


def _lessons_list(settings: Settings, args: argparse.Namespace) -> int:
    from service.store import lessons

    return _print_lessons(lessons.listing(_migrated(settings).engine, limit=args.limit))


def _lessons_search(settings: Settings, args: argparse.Namespace) -> int:
    from service.store import lessons

    found, _ = lessons.search(_migrated(settings).engine, " ".join(args.terms), per_page=max(1, args.limit))
    return _print_lessons(found)


def _print_lessons(found: list) -> int:
    if not found:
        print("no lessons")
        return 0
    for item in found:
        took = _duration(item.seconds_to_lesson)
        print(
            f"{item.captured_at:%Y-%m-%d}  {item.review_ref:<32}  {item.incident_ref:<32}  {took:>9}  "
            f"{item.incident_title}"
        )
    return 0


def _lessons_show(settings: Settings, args: argparse.Namespace) -> int:
    from service.domain.events import ItemRef
    from service.learning.export import lesson_markdown
    from service.store import lessons

    if not args.ref.startswith("markdown:"):  # an imported Markdown review is named by its path
        try:
            ItemRef.parse(args.ref)
        except ValueError as error:
            print(f"lessonloop: {error}", file=sys.stderr)
            return 2
    engine = _migrated(settings).engine
    found = lessons.find(engine, args.ref)
    if found is None:
        print(f"lessonloop: no lesson for {args.ref}", file=sys.stderr)
        return 1
    from service.store import followups

    print(lesson_markdown(found, followups.of_review(engine, found.review_ref)))
    related = _related_text(engine, found)
    if related:
        print(related)
    if found.review_ref.startswith("markdown:"):
        return 0
    print(_reach_text(settings, engine, found))
    return 0


def _related_text(engine: Engine, found: Lesson) -> str:
    from service.learning.similar import first_sentence, related_to

    others = related_to(engine, found)
    if not others:
        return ""
    lines = ["## Related lessons", ""]
    for other in others:
        learned = first_sentence(
            other.sections.get("what_we_learned", ""), "jira" if other.review_ref.startswith("jira:") else "markdown"
        )
        lines.append(f"- {other.incident_title or other.review_ref} ({other.review_ref}): {learned}")
    return "\n".join(lines) + "\n"


def _reach_text(settings: Settings, engine: Engine, found: Lesson) -> str:
    """Where the lesson was posted, and what it names that was not posted on (over the cap)."""
    from service.loop.reach import of_lesson, posted_on
    from service.loop.scope import OUTSIDE

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


def _lessons_export(settings: Settings, args: argparse.Namespace) -> int:
    from service.learning.export import export_json, export_markdown
    from service.store import followups, lessons

    engine = _migrated(settings).engine
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


def _lessons_stats(settings: Settings, args: argparse.Namespace) -> int:
    from service.learning import figures, stats

    if args.days < 1:
        print("lessonloop: --days must be at least 1", file=sys.stderr)
        return 2
    summary = stats.last_days(_migrated(settings).engine, args.days)
    if args.format == "json":
        print(json.dumps(figures.as_dict(summary), indent=2))
    else:
        sys.stdout.write(figures.render(summary))
    return 0


def _lessons_lint(settings: Settings | None, args: argparse.Namespace) -> int:
    """Reads no settings and no store: lint works on a laptop with nothing running."""
    from service.lesson.blame import find_blame
    from service.lesson.blame_rules import BlameRulesError

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


def _migrated(settings: Settings) -> Runtime:
    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
    return runtime


def _duration(seconds: int | None) -> str:
    from service.learning.figures import duration

    return "-" if seconds is None else duration(seconds)


def _pruned_reason(settings: Settings, delivery: deliveries.Delivery) -> str:
    if delivery.status == deliveries.FAILED:
        return f"failed and not replayed for {deliveries.KEEP_FAILED_DAYS} days"
    return f"{delivery.status} more than {settings.server.keep_bodies_days} days ago, [server] keep_bodies_days"


def _find_delivery(runtime: Runtime, name: str) -> deliveries.Delivery | None:
    if name.isascii() and name.isdigit():
        return deliveries.get(runtime.engine, int(name))
    source, _, delivery_id = name.partition(":")
    return deliveries.find(runtime.engine, source, delivery_id) if delivery_id else None


def _secret_counts(settings: Settings, source: str) -> str:
    """How many secrets verify a source's deliveries: two while rotating, never their values."""
    secrets_held = len(settings.webhook_secrets(source))
    tokens = len(settings.automation_tokens(source))
    if not secrets_held and not tokens:
        return f"{source} off (no secret)"
    counted = f"{source} {secrets_held} secret{'s' if secrets_held != 1 else ''}"
    return counted + (f" and {tokens} Automation token{'s' if tokens != 1 else ''}" if tokens else "")


def _masked(settings: Settings) -> dict[str, object]:
    def mask(value: object) -> object:
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, dict):
            return {key: mask(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [mask(item) for item in value]
        return value

    data = mask(settings.model_dump(exclude={"environment_notes"}))
    assert isinstance(data, dict)
    data["database_url"] = _safe_db(settings)
    data["redis_url"] = _safe_redis(settings)
    data["enabled_sources"] = list(settings.enabled_sources)
    data["rules"] = [
        rule.model_dump(exclude_none=True, exclude_defaults=True) | {"source": rule.source} for rule in settings.rules
    ]
    return data


def _safe_db(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _safe_redis(settings: Settings) -> str:
    return local_redis.safe_url(settings.redis_url)


def _config_args(args: argparse.Namespace) -> list[str]:
    return ["--config", args.config] if args.config else []


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


if __name__ == "__main__":
    sys.exit(main())
